"""Time off: when a resource (a staff member, a van) is not bookable. Recorded under the
resource's hold lock, so no booking slips in between the check for clashes and the record
(sql/migrations/0100_time_off.sql)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from bizctx.server.errors import Conflict, InvalidInput, NotFound
from bizctx.server.guard import Call

from .availability import when as when_text
from .models import TimeOff, appointments

LOCK_RESOURCE_HOLDS = appointments.query("lock_resource_holds")
TIME_OFF_CLASHES = appointments.query("time_off_clashes")
INSERT_TIME_OFF = appointments.query("insert_time_off")

MAX_TIME_OFF = timedelta(days=366)


class AddTimeOffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource_id: UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime = Field(description="At most a year after starts_at.")
    reason: str | None = Field(default=None, max_length=500, description="e.g. Vacation.")
    list_clashes: bool = Field(default=False, description="true: recorded even over bookings, listed.")

    @model_validator(mode="after")
    def _span(self) -> AddTimeOffIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_TIME_OFF:
            raise ValueError("time off may last at most a year; record a longer absence in parts")
        return self


class Clash(BaseModel):
    appointment_id: UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    service_name: str


class AddTimeOffOut(BaseModel):
    time_off: TimeOff
    resource_id: UUID
    clashes: list[Clash] = Field(
        description="Booked appointments it overlaps (only with list_clashes): reschedule or cancel them."
    )


@appointments.tool(action="write", idempotent=True, title="Add time off", entity=("resource", "resource_id"))
async def add_time_off(call: Call, args: AddTimeOffIn) -> AddTimeOffOut:
    """Record time off for a resource (a vacation, a van in the shop): it is not bookable then.
    Refused when bookings overlap it, naming them; with list_clashes it is recorded anyway and
    they are listed to reschedule."""
    if args.ends_at <= datetime.now(UTC):
        raise InvalidInput("That time off has already ended; give a range that ends in the future.")
    resource = await call.tx.one(LOCK_RESOURCE_HOLDS, resource_id=args.resource_id)
    if resource is None:
        raise NotFound(f"No resource {args.resource_id}; list them with list_resources.")
    tz = ZoneInfo(resource["time_zone"])
    clashes = [
        Clash(**{**r, "starts_at": r["starts_at"].astimezone(tz), "ends_at": r["ends_at"].astimezone(tz)})
        for r in await call.tx.all(
            TIME_OFF_CLASHES, resource_id=args.resource_id, starts_at=args.starts_at, ends_at=args.ends_at
        )
    ]
    if clashes and not args.list_clashes:
        first = clashes[0]
        raise Conflict(
            f"{resource['name']} has {len(clashes)} booked appointment(s) then, the first "
            f"{first.service_name} at {when_text(first.starts_at)}; reschedule or cancel them first, or "
            "call again with list_clashes=true to record the time off anyway.",
            clashes=[c.model_dump(mode="json") for c in clashes],
        )
    row = await call.tx.row(
        INSERT_TIME_OFF,
        resource_id=args.resource_id,
        starts_at=args.starts_at,
        ends_at=args.ends_at,
        reason=args.reason,
    )
    return AddTimeOffOut(
        time_off=TimeOff.local(row, resource["time_zone"]), resource_id=args.resource_id, clashes=clashes
    )
