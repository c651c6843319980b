"""Booking: a service for a client at a time, on a resource free for all of it.

The exclusion constraint on appointment_resources makes a double booking impossible whatever
runs concurrently (the loser gets 23P01 and the next free slots). Reminders follow two client
preferences (set with set_client_preference):
  reminder_channels      JSON array of "email" | "sms" | "phone"; default ["email"];
                         [] means no reminders.
  reminder_lead_minutes  JSON array of minutes before the start; default [1440] (a day).
One pending reminder per channel and lead time, except channels the client opted out of
(an "all" opt-out skips every channel) and send times already past.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import psycopg
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bizctx.server.errors import InvalidInput, NotFound
from bizctx.server.guard import Call
from bizctx.server.redact import Redact

from .availability import BOOKABLE_RESOURCES, taken
from .availability import when as when_text
from .catalog import GET_SERVICE, check_resource
from .models import AppointmentDetail, Location, appointments, get_appointment_detail

BOOKING_CLIENT = appointments.query("booking_client")
INSERT_APPOINTMENT = appointments.query("insert_appointment")
INSERT_APPOINTMENT_RESOURCE = appointments.query("insert_appointment_resource")
INSERT_REMINDERS = appointments.query("insert_reminders")

REMINDER_CHANNELS_KEY = "reminder_channels"
REMINDER_LEAD_KEY = "reminder_lead_minutes"
DEFAULT_REMINDER_CHANNELS = ("email",)
DEFAULT_REMINDER_LEAD_MINUTES = (1440,)
MAX_REMINDER_LEAD_MINUTES = 60 * 24 * 30


class BookAppointmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: UUID
    service_id: UUID = Field(description="Sets the length and price.")
    starts_at: AwareDatetime
    resource_id: UUID | None = Field(default=None, description="Omit: the first free qualified one.")
    location: Location = Field(default=None, max_length=500, description="Where, as free text.")
    address_id: Annotated[UUID | None, Redact("clients", "address")] = Field(
        default=None, description="The client's address (get_client) where it happens."
    )
    notes: str | None = Field(default=None, max_length=5000)


@appointments.tool(action="write", idempotent=True, title="Book an appointment", entity=("appointment", "id"))
async def book_appointment(call: Call, args: BookAppointmentIn) -> AppointmentDetail:
    """Book a service for a client. A taken or closed time is a conflict listing
    next_free_slots. Reminders follow the client's preferences (default: e-mail a day ahead).
    Returns the appointment."""
    return await get_appointment_detail(call, await book(call, args))


async def book(call: Call, args: BookAppointmentIn, series_id: UUID | None = None) -> UUID:
    """Book one appointment (an occurrence of `series_id`, if given): its id, or the error an
    agent can act on (a taken time is a Conflict with the next free slots)."""
    if args.starts_at <= datetime.now(UTC):
        raise InvalidInput("starts_at is in the past; pick a future time (find_available_slots lists them).")
    # The service, the client and the resources in one round trip (the resources' end is
    # the service's duration after starts_at, worked out by the query).
    service, client, candidates = await parties(
        call,
        args.client_id,
        args.service_id,
        args.address_id,
        resources=dict(
            service_id=args.service_id,
            resource_ids=[args.resource_id] if args.resource_id else None,
            starts_at=args.starts_at,
            ends_at=None,
            exclude_appointment_id=None,
        ),
    )
    tz = service["time_zone"]
    starts_at = args.starts_at
    ends_at = starts_at + timedelta(minutes=service["duration_minutes"])
    when = when_text(starts_at.astimezone(ZoneInfo(tz)))
    if args.resource_id is not None:
        check_resource(candidates[0] if candidates else None, args.resource_id, service)
    usable = [c for c in candidates if c["working"] and not c["time_off"]]
    if not usable:
        if args.resource_id is not None:
            why = "has time off" if candidates[0]["time_off"] else "is not working"
            message = f"{candidates[0]['name']} {why} at {when} for {service['duration_minutes']} minutes."
        else:
            message = f"No resource able to deliver {service['name']!r} works at {when} for that long."
        raise await taken(
            call, message, args.service_id, time_zone=tz, after=starts_at, resource_id=args.resource_id
        )
    # Unbooked ones first; whether a resource is free is the constraint's to say, not ours.
    usable.sort(key=lambda c: c["booked"])
    for resource in usable:
        appointment_id = await _insert_booking(call, args, service, ends_at, resource["id"], series_id)
        if appointment_id is not None:
            break
    else:
        who = usable[0]["name"] if args.resource_id else f"Every resource able to deliver {service['name']!r}"
        raise await taken(
            call,
            f"{who} is already booked at {when}.",
            args.service_id,
            time_zone=tz,
            after=starts_at,
            resource_id=args.resource_id,
        )
    channels, send_ats = reminder_plan(
        client["reminder_channels"], client["reminder_lead_minutes"], client["opted_out"], starts_at
    )
    await call.tx.send(INSERT_REMINDERS, appointment_id=appointment_id, channels=channels, send_ats=send_ats)
    return appointment_id


async def parties(
    call: Call,
    client_id: UUID,
    service_id: UUID,
    address_id: UUID | None = None,
    *,
    resources: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The active service and the live client (with their reminder preferences) a booking is
    for, or the error an agent can act on; with `resources` (BOOKABLE_RESOURCES' parameters),
    those rows too, read in the same round trip."""
    steps: list[tuple[Any, dict[str, Any]]] = [
        (GET_SERVICE, {"service_id": service_id}),
        (
            BOOKING_CLIENT,
            {
                "client_id": client_id,
                "address_id": address_id,
                "channels_key": REMINDER_CHANNELS_KEY,
                "lead_key": REMINDER_LEAD_KEY,
            },
        ),
    ]
    if resources is not None:
        steps.append((BOOKABLE_RESOURCES, resources))
    found = await call.tx.many(*steps)
    if not found[0]:
        raise NotFound(f"No service {service_id}; list the services with list_services.")
    service = found[0][0]
    if not service["active"]:
        raise InvalidInput(f"Service {service['name']!r} is retired; pick an active one from list_services.")
    client = found[1][0] if found[1] else None
    if client is None:
        raise NotFound(f"No client {client_id}; find clients with search_clients.")
    if not client["address_ok"]:
        raise NotFound(f"The client has no address {address_id}; get_client lists their addresses.")
    return service, client, found[2] if resources is not None else []


async def _insert_booking(
    call: Call,
    args: BookAppointmentIn,
    service: dict[str, Any],
    ends_at: datetime,
    resource_id: UUID,
    series_id: UUID | None,
) -> UUID | None:
    """Insert the appointment holding the resource, in a savepoint: its id, or None when the
    exclusion constraint says the resource is taken."""
    appointment_id = uuid4()
    try:
        async with call.tx.savepoint():  # both inserts ride with the block's one wait
            await call.tx.send(
                INSERT_APPOINTMENT,
                id=appointment_id,
                client_id=args.client_id,
                service_id=args.service_id,
                starts_at=args.starts_at,
                ends_at=ends_at,
                location=args.location,
                address_id=args.address_id,
                notes=args.notes,
                price=service["price"],
                currency=service["currency"],
                series_id=series_id,
            )
            await call.tx.send(
                INSERT_APPOINTMENT_RESOURCE, appointment_id=appointment_id, resource_id=resource_id
            )
        return appointment_id
    except psycopg.errors.ExclusionViolation:
        return None


def _as_list(value: Any, scalar: type) -> list[Any] | None:
    """A preference value as a list: a JSON array, or one bare value of the expected type;
    None for anything else (the caller then uses the default)."""
    if isinstance(value, list):
        return value
    if isinstance(value, scalar) and not isinstance(value, bool):
        return [value]
    return None


def reminder_plan(
    channels_pref: Any, leads_pref: Any, opted_out: list[str], starts_at: datetime
) -> tuple[list[str], list[datetime]]:
    """The (channel, send_at) pairs of an appointment's reminders, from the client's
    preferences (see the module docstring): unknown entries are ignored, a value of the wrong
    shape falls back to the default, opted-out channels are dropped."""
    channels = _as_list(channels_pref, str)
    if channels is None:
        channels = list(DEFAULT_REMINDER_CHANNELS)
    leads = _as_list(leads_pref, int)
    if leads is None:
        leads = list(DEFAULT_REMINDER_LEAD_MINUTES)
    if "all" in opted_out:
        return [], []
    wanted = dict.fromkeys(
        c for c in channels if isinstance(c, str) and c in ("email", "sms", "phone") and c not in opted_out
    )
    minutes = dict.fromkeys(
        m
        for m in leads
        if isinstance(m, int) and not isinstance(m, bool) and 0 < m <= MAX_REMINDER_LEAD_MINUTES
    )
    pairs = [(c, starts_at - timedelta(minutes=m)) for c in wanted for m in minutes]
    return [c for c, _ in pairs], [t for _, t in pairs]
