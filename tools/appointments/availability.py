"""Availability: free slots of a service, and whether resources can take a given time.

bizctx_resource_hours (sql/migrations/0015_appointments_changes.sql) turns weekly hours
(wall times in the resource's zone, else the business's) into instants, right across DST.
Slots start every `step_minutes` (default 30) from the start of each block of working hours.
A taken time is answered with the next free slots (`taken`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bizctx.server.errors import Conflict, InvalidInput
from bizctx.server.guard import Call

from .catalog import check_resource, get_service
from .models import ResourceRef, ServiceRef, Slot, appointments

FIND_AVAILABLE_SLOTS = appointments.query("find_available_slots")
RESOURCE_FOR_SERVICE = appointments.query("resource_for_service")
COUNT_SERVICE_RESOURCES = appointments.query("count_service_resources")
# Which of some resources can deliver a service at a time: working, off, already booked.
BOOKABLE_RESOURCES = appointments.query("bookable_resources")

DEFAULT_STEP_MINUTES = 30
DEFAULT_SLOT_DAYS = 7
MAX_SLOT_DAYS = 31
# Start times one search may try: 7 days in 5-minute steps, 31 days in 23-minute ones.
MAX_SLOT_STARTS = 2016
# (start time, resource) pairs one search may try: its cost. 1,940 start times of 8 resources
# took 1.5 s alone (bench/fairness_bench.py); this is 7 days in 15-minute steps of 6.
MAX_SLOT_CANDIDATES = 4032
# A conflict lists this many next free slots, searched this far ahead.
NEXT_FREE_SLOTS = 5
NEXT_FREE_DAYS = 14


async def find_slots(
    call: Call,
    service_id: UUID,
    *,
    time_zone: str,
    from_at: datetime,
    to_at: datetime,
    resource_id: UUID | None = None,
    limit: int = NEXT_FREE_SLOTS,
    step_minutes: int = DEFAULT_STEP_MINUTES,
    duration_minutes: int | None = None,
    exclude_appointment_id: UUID | None = None,
) -> list[Slot]:
    """Free slots, earliest first, each with the resources free for all of it (the slot
    search of find_available_slots, also used to answer a conflict)."""
    rows = await call.tx.all(
        FIND_AVAILABLE_SLOTS,
        service_id=service_id,
        resource_id=resource_id,
        from_at=from_at,
        to_at=to_at,
        step_minutes=step_minutes,
        limit=limit,
        duration_minutes=duration_minutes,
        exclude_appointment_id=exclude_appointment_id,
    )
    tz = ZoneInfo(time_zone)
    slots: list[Slot] = []
    for r in rows:
        ref = ResourceRef(id=r["resource_id"], name=r["resource_name"], kind=r["resource_kind"])
        if slots and slots[-1].starts_at == r["starts_at"]:
            slots[-1].resources.append(ref)
        else:
            slots.append(
                Slot(
                    starts_at=r["starts_at"].astimezone(tz),
                    ends_at=r["ends_at"].astimezone(tz),
                    resources=[ref],
                )
            )
    return slots


def when(value: datetime) -> str:
    return value.strftime("%a %Y-%m-%d %H:%M %Z")


async def taken(
    call: Call,
    message: str,
    service_id: UUID,
    *,
    time_zone: str,
    after: datetime,
    resource_id: UUID | None,
    duration_minutes: int | None = None,
    exclude_appointment_id: UUID | None = None,
) -> Conflict:
    """A conflict listing the next free slots. Runs after the failed statement (its
    savepoint rolled back), so it sees the booking that won."""
    slots = await find_slots(
        call,
        service_id,
        time_zone=time_zone,
        from_at=after,
        to_at=after + timedelta(days=NEXT_FREE_DAYS),
        resource_id=resource_id,
        duration_minutes=duration_minutes,
        exclude_appointment_id=exclude_appointment_id,
    )
    if slots:
        nxt = "Next free: " + ", ".join(when(s.starts_at) for s in slots) + "; book one of next_free_slots."
    else:
        nxt = (
            f"Nothing is free in the {NEXT_FREE_DAYS} days after it; try find_available_slots further ahead."
        )
    return Conflict(
        f"{message} {nxt}",
        next_free_slots=[s.model_dump(mode="json") for s in slots],
    )


class FindAvailableSlotsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_id: UUID
    from_at: AwareDatetime | None = Field(
        default=None, alias="from", description="Earliest start; default now."
    )
    to_at: AwareDatetime | None = Field(
        default=None,
        alias="to",
        description=f"Slots start before it; default from + {DEFAULT_SLOT_DAYS} days, at most "
        f"+ {MAX_SLOT_DAYS}.",
    )
    resource_id: UUID | None = Field(default=None, description="Only this resource.")
    limit: int = Field(default=20, ge=1, le=100)
    step_minutes: int = Field(
        default=DEFAULT_STEP_MINUTES,
        ge=5,
        le=240,
        description="From the start of working hours.",
    )


class FindAvailableSlotsOut(BaseModel):
    service: ServiceRef
    duration_minutes: int
    time_zone: str = Field(description="The business time zone the times are given in.")
    step_minutes: int
    slots: list[Slot] = Field(description="Earliest first; empty when nothing is free.")
    next_from: datetime | None = Field(
        default=None, description="More slots exist: call again with this as from to see them."
    )


@appointments.tool(
    action="read",
    title="Find free slots",
    entity=("service", "service_id"),
    costly="fewer days, a larger step_minutes, or one resource",
)
async def find_available_slots(call: Call, args: FindAvailableSlotsIn) -> FindAvailableSlotsOut:
    """Free start times for a service between from and to: qualified resources' hours minus
    time off and bookings, in the business time zone. Each slot lists its free resources."""
    now = datetime.now(UTC)
    from_at = args.from_at or now
    to_at = args.to_at or from_at + timedelta(days=DEFAULT_SLOT_DAYS)
    if to_at <= from_at:
        raise InvalidInput("to must be after from; omit to for the next 7 days.")
    if to_at - from_at > timedelta(days=MAX_SLOT_DAYS):
        raise InvalidInput(f"from..to spans more than {MAX_SLOT_DAYS} days; ask for a shorter range.")
    starts = (to_at - from_at) // timedelta(minutes=args.step_minutes)
    if starts > MAX_SLOT_STARTS:
        # The search's cost grows with the start times it tries: bounded, so one call cannot hold
        # the database for seconds (31 days in 5-minute steps took 3.4 s).
        raise InvalidInput(
            f"from..to in {args.step_minutes}-minute steps is {starts} start times; at most "
            f"{MAX_SLOT_STARTS} per call: ask for a shorter range or a larger step_minutes."
        )
    service = await get_service(call, args.service_id)
    if not service["active"]:
        raise InvalidInput(f"Service {service['name']!r} is retired; pick an active one from list_services.")
    if args.resource_id is not None:
        row = await call.tx.one(
            RESOURCE_FOR_SERVICE, service_id=args.service_id, resource_id=args.resource_id
        )
        check_resource(row, args.resource_id, service)
        able = 1
    else:
        able = await call.tx.value(COUNT_SERVICE_RESOURCES, service_id=args.service_id)
    if starts * able > MAX_SLOT_CANDIDATES:
        raise InvalidInput(
            f"from..to in {args.step_minutes}-minute steps is {starts} start times for each of {able} "
            f"resources, {starts * able} in all; at most {MAX_SLOT_CANDIDATES:,} per call: pass "
            "resource_id, a shorter range or a larger step_minutes."
        )
    slots = await find_slots(
        call,
        args.service_id,
        time_zone=service["time_zone"],
        from_at=from_at,
        to_at=to_at,
        resource_id=args.resource_id,
        limit=args.limit + 1,
        step_minutes=args.step_minutes,
    )
    return FindAvailableSlotsOut(
        service=ServiceRef(**service),
        duration_minutes=service["duration_minutes"],
        time_zone=service["time_zone"],
        step_minutes=args.step_minutes,
        slots=slots[: args.limit],
        next_from=slots[args.limit].starts_at if len(slots) > args.limit else None,
    )
