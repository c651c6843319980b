"""Recurring bookings: book_series books each occurrence of a weekly, biweekly or monthly rule
as an ordinary appointment (the same checks, the same exclusion constraint), reporting the
ones it could not book with why and the next free slots; cancel_series cancels what has not
started yet (sql/migrations/0110_series.sql).

Occurrences keep the first one's wall time in the business time zone, so a 10:00 visit stays
at 10:00 across a daylight-saving change (its UTC offset moves instead)."""

from __future__ import annotations

import calendar
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from bizctx.server.bounds import NonBlank
from bizctx.server.errors import Conflict, InvalidInput, NotFound
from bizctx.server.guard import Call

from .availability import RESOURCE_FOR_SERVICE
from .booking import BookAppointmentIn, book, parties
from .catalog import check_resource
from .models import Location, Slot, appointments

INSERT_SERIES = appointments.query("insert_series")
CANCEL_SERIES = appointments.query("cancel_series")

MAX_OCCURRENCES = 52
MAX_SPAN = timedelta(days=2 * 366)

Frequency = Literal["weekly", "biweekly", "monthly"]


def occurrence_dates(
    first: date, frequency: str, monthly_by: str | None, until: date | None, count: int | None
) -> list[tuple[date | None, str | None]]:
    """The rule's dates from `first`: (date, None) each, or (None, why) for a month without
    such a day (a 31st, a 5th Tuesday), until `until` (inclusive) or `count` dates, never past
    MAX_SPAN (so a count may come back short: the caller says so)."""
    last = min(until, first + MAX_SPAN) if until is not None else first + MAX_SPAN
    dates: list[tuple[date | None, str | None]] = []
    for n in itertools.count():
        if frequency == "monthly":
            years, month0 = divmod(first.month - 1 + n, 12)
            year, month = first.year + years, month0 + 1
            day, skipped = _monthly(first, year, month, monthly_by)
            # A month without the day is in the rule only if the whole month is.
            end = day or date(year, month, calendar.monthrange(year, month)[1])
        else:
            day, skipped = first + timedelta(weeks=n * (1 if frequency == "weekly" else 2)), None
            end = day
        if end > last:
            break
        dates.append((day, skipped))
        if count is not None and sum(d is not None for d, _ in dates) == count:
            break
    return dates


def _monthly(first: date, year: int, month: int, monthly_by: str | None) -> tuple[date | None, str | None]:
    days_in_month = calendar.monthrange(year, month)[1]
    name = f"{calendar.month_name[month]} {year}"
    if monthly_by == "date":
        if first.day > days_in_month:
            return None, f"{name} has no day {first.day}"
        return date(year, month, first.day), None
    nth = (first.day - 1) // 7  # 0: the first such weekday of the month
    offset = (first.weekday() - date(year, month, 1).weekday()) % 7
    day = 1 + offset + 7 * nth
    if day > days_in_month:
        return None, f"{name} has no {_ordinal(nth + 1)} {calendar.day_name[first.weekday()]}"
    return date(year, month, day), None


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


class BookSeriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: UUID
    service_id: UUID
    starts_at: AwareDatetime = Field(description="The first; the others keep its wall time.")
    frequency: Frequency
    monthly_by: Literal["date", "weekday"] | None = Field(
        default=None, description="Monthly: the same date (default), or weekday (the 2nd Tuesday)."
    )
    until: date | None = Field(default=None, description="Last date; or give count.")
    count: int | None = Field(default=None, ge=1, le=MAX_OCCURRENCES)
    resource_id: UUID | None = Field(
        default=None, description="Omit: the first free qualified one each time."
    )
    location: Location = Field(default=None, max_length=500, description="Where, as free text.")
    notes: str | None = Field(default=None, max_length=5000)

    @model_validator(mode="after")
    def _rule(self) -> BookSeriesIn:
        if (self.until is None) == (self.count is None):
            raise ValueError("give either until or count")
        if self.frequency != "monthly" and self.monthly_by is not None:
            raise ValueError("monthly_by is for frequency monthly")
        return self


class Occurrence(BaseModel):
    n: int = Field(description="1 for the first date of the rule.")
    starts_at: datetime | None = Field(description="In the business time zone; null when skipped.")
    status: Literal["booked", "conflict", "skipped"]
    appointment_id: UUID | None = None
    reason: str | None = Field(default=None, description="Why it was not booked.")
    next_free_slots: list[Slot] | None = Field(default=None, description="For a conflict: book one instead.")


class Series(BaseModel):
    id: UUID
    frequency: Frequency
    monthly_by: str | None
    time_zone: str


class BookSeriesOut(BaseModel):
    series: Series
    booked: int = Field(description="How many occurrences were booked.")
    occurrences: list[Occurrence] = Field(
        description="Every date of the rule: booked, or why not (a conflict with the next free slots, "
        "or a month without such a day)."
    )


@appointments.tool(
    action="write", idempotent=True, title="Book a recurring series", entity=("series", "series.id")
)
async def book_series(call: Call, args: BookSeriesIn) -> BookSeriesOut:
    """Book a recurring series for a client, until a date or for a count, each occurrence as
    book_appointment would at the first one's wall time (business time zone). One that cannot be
    booked is reported with why and the next free slots; the rest are booked. Returns every
    occurrence and the series_id (cancel_series)."""
    if args.starts_at <= datetime.now(UTC):
        raise InvalidInput("starts_at is in the past; the first occurrence must be in the future.")
    service, _, _ = await parties(call, args.client_id, args.service_id)
    if args.resource_id is not None:
        row = await call.tx.one(
            RESOURCE_FOR_SERVICE, service_id=args.service_id, resource_id=args.resource_id
        )
        check_resource(row, args.resource_id, service)
    tz = ZoneInfo(service["time_zone"])
    first = args.starts_at.astimezone(tz)
    if args.until is not None and not first.date() <= args.until <= first.date() + MAX_SPAN:
        raise InvalidInput(
            f"until must be between the first occurrence ({first.date()}) and two years after it."
        )
    monthly_by = args.monthly_by or ("date" if args.frequency == "monthly" else None)
    dates = occurrence_dates(first.date(), args.frequency, monthly_by, args.until, args.count)
    made = sum(d is not None for d, _ in dates)
    if made > MAX_OCCURRENCES:
        raise InvalidInput(
            f"That rule makes {made} occurrences, more than {MAX_OCCURRENCES}; give an earlier until."
        )
    if args.count is not None and made < args.count:
        raise InvalidInput(
            f"That rule reaches only {made} of the {args.count} occurrences within two years of the first; "
            "give a smaller count."
        )
    series_id = await call.tx.value(
        INSERT_SERIES,
        client_id=args.client_id,
        service_id=args.service_id,
        resource_id=args.resource_id,
        frequency=args.frequency,
        monthly_by=monthly_by,
        first_starts_at=args.starts_at,
        time_zone=str(tz),
        until_date=args.until,
        occurrences=args.count,
    )
    occurrences = []
    for n, (day, skipped) in enumerate(dates, start=1):
        if day is None:
            occurrences.append(Occurrence(n=n, starts_at=None, status="skipped", reason=skipped))
            continue
        # The wall time of the first, on this date; a time a DST change skips moves on by the gap.
        starts_at = (
            datetime.combine(day, first.timetz().replace(tzinfo=None), tz).astimezone(UTC).astimezone(tz)
        )
        occurrences.append(await _book_one(call, args, series_id, n, starts_at))
    booked = sum(o.status == "booked" for o in occurrences)
    if booked == 0:
        # Nothing to keep: the series row goes with the call, and the agent sees every reason.
        raise Conflict(
            f"None of the {len(occurrences)} occurrences could be booked; each one's reason and next free "
            "slots are in occurrences. Pick another time or resource.",
            occurrences=[o.model_dump(mode="json") for o in occurrences],
        )
    return BookSeriesOut(
        series=Series(id=series_id, frequency=args.frequency, monthly_by=monthly_by, time_zone=str(tz)),
        booked=booked,
        occurrences=occurrences,
    )


async def _book_one(
    call: Call, args: BookSeriesIn, series_id: UUID, n: int, starts_at: datetime
) -> Occurrence:
    one = BookAppointmentIn(
        client_id=args.client_id,
        service_id=args.service_id,
        starts_at=starts_at,
        resource_id=args.resource_id,
        location=args.location,
        notes=args.notes,
    )
    try:
        async with call.tx.savepoint():
            appointment_id = await book(call, one, series_id)
    except Conflict as exc:
        slots = exc.details.get("next_free_slots")
        return Occurrence(
            n=n, starts_at=starts_at, status="conflict", reason=exc.message, next_free_slots=slots
        )
    return Occurrence(n=n, starts_at=starts_at, status="booked", appointment_id=appointment_id)


class CancelSeriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    series_id: UUID
    reason: NonBlank = Field(max_length=1000)


class CancelSeriesOut(BaseModel):
    series_id: UUID
    cancelled: list[UUID] = Field(description="The appointments cancelled now (not yet started ones).")


@appointments.tool(
    action="write", destructive=True, idempotent=True, title="Cancel a series", entity=("series", "series_id")
)
async def cancel_series(call: Call, args: CancelSeriesIn) -> CancelSeriesOut:
    """Cancel a recurring series from now on: its occurrences not yet started are cancelled, as
    cancel_appointment does. Returns the appointments cancelled."""
    row: dict[str, Any] | None = await call.tx.one(
        CANCEL_SERIES, series_id=args.series_id, reason=args.reason
    )
    if row is None:
        raise NotFound(f"No series {args.series_id}; book_series returns a series id.")
    return CancelSeriesOut(series_id=row["series_id"], cancelled=row["cancelled_ids"])
