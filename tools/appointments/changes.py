"""Changes to a booked appointment: reschedule, cancel, and its status along its life.

The database holds the rules: the status transitions are the table appointment_transitions,
read by the trigger that refuses any other (BZ001), by the importer, and by the messages here;
a final appointment's times cannot move (BZ002)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bizctx.server.errors import Conflict, InvalidInput, NotFound
from bizctx.server.guard import Call

from .availability import BOOKABLE_RESOURCES, taken
from .availability import when as when_text
from .booking import INSERT_APPOINTMENT_RESOURCE
from .catalog import GET_SERVICE, check_resource
from .models import AppointmentDetail, appointments, get_appointment_detail

LOCK_APPOINTMENT = appointments.query("lock_appointment")
MOVE_APPOINTMENT = appointments.query("move_appointment")
SET_APPOINTMENT_STATUS = appointments.query("set_appointment_status")
RELEASE_APPOINTMENT_RESOURCES = appointments.query("release_appointment_resources")
NEXT_STATUSES = appointments.query("next_statuses")


async def _locked(call: Call, appointment_id: UUID) -> dict[str, Any]:
    """The appointment's state, locked until commit: changes of one appointment take turns."""
    state = await call.tx.one(LOCK_APPOINTMENT, appointment_id=appointment_id)
    if state is None:
        raise NotFound(f"No appointment {appointment_id}; find appointments with list_appointments.")
    return state


class RescheduleAppointmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appointment_id: UUID
    starts_at: AwareDatetime
    resource_id: UUID | None = Field(
        default=None, description="Onto this resource alone; omit: keep its own."
    )


@appointments.tool(
    action="write",
    idempotent=True,
    title="Reschedule an appointment",
    entity=("appointment", "appointment_id"),
)
async def reschedule_appointment(call: Call, args: RescheduleAppointmentIn) -> AppointmentDetail:
    """Move an appointment to a new start (same length), reminders too. A taken or closed time
    is a conflict listing next_free_slots. Returns the appointment."""
    state = await _locked(call, args.appointment_id)
    if state["final"]:
        raise Conflict(
            f"Appointment {args.appointment_id} is {state['status']} and cannot be rescheduled; "
            "book a new one with book_appointment.",
            current_status=state["status"],
        )
    if args.starts_at <= datetime.now(UTC):
        raise InvalidInput("starts_at is in the past; pick a future time (find_available_slots lists them).")
    duration = state["ends_at"] - state["starts_at"]
    minutes = int(duration.total_seconds() // 60)
    starts_at, ends_at = args.starts_at, args.starts_at + duration
    switching = args.resource_id is not None and state["resource_ids"] != [args.resource_id]
    targets = [args.resource_id] if args.resource_id is not None else state["resource_ids"]
    # The service and the resources at the new time, in one round trip.
    found, rows = await call.tx.many(
        (GET_SERVICE, {"service_id": state["service_id"]}),
        (
            BOOKABLE_RESOURCES,
            dict(
                service_id=state["service_id"],
                resource_ids=targets,
                starts_at=starts_at,
                ends_at=ends_at,
                exclude_appointment_id=args.appointment_id,
            ),
        ),
    )
    if not found:
        raise NotFound(f"No service {state['service_id']}; list the services with list_services.")
    service = found[0]
    tz = service["time_zone"]
    when = when_text(starts_at.astimezone(ZoneInfo(tz)))
    if args.resource_id is not None:
        check_resource(rows[0] if rows else None, args.resource_id, service)
    for r in rows:
        if not r["working"] or r["time_off"]:
            why = "has time off" if r["time_off"] else "is not working"
            raise await taken(
                call,
                f"{r['name']} {why} at {when} for {minutes} minutes.",
                state["service_id"],
                time_zone=tz,
                after=starts_at,
                resource_id=r["id"],
                duration_minutes=minutes,
                exclude_appointment_id=args.appointment_id,
            )
    try:
        async with call.tx.savepoint():
            if switching:
                await call.tx.send(RELEASE_APPOINTMENT_RESOURCES, appointment_id=args.appointment_id)
            await call.tx.send(
                MOVE_APPOINTMENT, appointment_id=args.appointment_id, starts_at=starts_at, ends_at=ends_at
            )
            if switching:
                await call.tx.send(
                    INSERT_APPOINTMENT_RESOURCE,
                    appointment_id=args.appointment_id,
                    resource_id=args.resource_id,
                )
            # Read inside the block: the moves ride with it, and a taken time fails here.
            moved = await get_appointment_detail(call, args.appointment_id)
    except psycopg.errors.ExclusionViolation:
        names = ", ".join(r["name"] for r in rows) or "The resource"
        raise await taken(
            call,
            f"{names} is already booked at {when}.",
            state["service_id"],
            time_zone=tz,
            after=starts_at,
            resource_id=targets[0] if targets else None,
            duration_minutes=minutes,
            exclude_appointment_id=args.appointment_id,
        ) from None
    return moved


class CancelAppointmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appointment_id: UUID
    reason: str | None = Field(default=None, max_length=1000)


@appointments.tool(
    action="write",
    destructive=True,
    idempotent=True,
    title="Cancel an appointment",
    entity=("appointment", "appointment_id"),
)
async def cancel_appointment(call: Call, args: CancelAppointmentIn) -> AppointmentDetail:
    """Cancel a scheduled or confirmed appointment: resources freed, reminders cancelled.
    Returns the appointment."""
    return await _set_status(call, args.appointment_id, "cancelled", args.reason)


class SetAppointmentStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appointment_id: UUID
    status: Literal["confirmed", "in_progress", "completed", "no_show"] = Field(
        description="scheduled > confirmed > in_progress > completed; no_show (frees resources) before "
        "in_progress."
    )


@appointments.tool(
    action="write",
    idempotent=True,
    title="Set an appointment's status",
    entity=("appointment", "appointment_id"),
)
async def set_appointment_status(call: Call, args: SetAppointmentStatusIn) -> AppointmentDetail:
    """Move an appointment forward (cancel_appointment cancels); another move is a conflict
    naming the allowed ones. Returns the appointment."""
    return await _set_status(call, args.appointment_id, args.status, None)


async def _set_status(call: Call, appointment_id: UUID, status: str, reason: str | None) -> AppointmentDetail:
    state = await _locked(call, appointment_id)
    try:
        async with call.tx.savepoint():
            await call.tx.execute(
                SET_APPOINTMENT_STATUS, appointment_id=appointment_id, status=status, reason=reason
            )
    except psycopg.Error as exc:
        if exc.sqlstate != "BZ001":
            raise
        current = state["status"]
        allowed = await call.tx.value(NEXT_STATUSES, status=current)
        can = f"it can move to {', '.join(allowed)}" if allowed else "that is final"
        raise Conflict(
            f"Appointment {appointment_id} is {current} and cannot become {status}; {can}.",
            current_status=current,
            allowed_statuses=list(allowed),
        ) from None
    return await get_appointment_detail(call, appointment_id)
