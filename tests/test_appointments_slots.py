"""Slots across daylight-saving changes (America/New_York, both directions), and bookings
raced concurrently: the exclusion constraint, not a check-then-insert, decides the winner."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from test_appointments import TZ, WRITER, at, count, iso, ok, seed

from conftest import audit_rows, error_of

pytestmark = pytest.mark.anyio


def next_transitions(tz: str) -> tuple[date, date]:
    """The next days on which the clocks go forward and back in tz (at least two days ahead,
    so the day before is in the future too)."""
    zone = ZoneInfo(tz)
    start = datetime.now(zone).date() + timedelta(days=1)
    spring = fall = None
    for i in range(1, 800):
        day = start + timedelta(days=i)
        before = datetime.combine(day - timedelta(days=1), time(12), zone).utcoffset()
        after = datetime.combine(day, time(12), zone).utcoffset()
        if spring is None and after > before:
            spring = day
        if fall is None and after < before:
            fall = day
    assert spring is not None and fall is not None
    return spring, fall


SPRING, FALL = next_transitions(TZ)


@pytest.fixture
async def writer(make_agent, make_tenant):
    tenant = await make_tenant(time_zone=TZ)
    return await make_agent(tenant=tenant["name"], **WRITER)


@pytest.fixture
def biz(writer, sql):
    return seed(sql, writer.tenant_id)


def night_shift(sql, biz, start: str, end: str):
    """A 30-minute service only Owl delivers, Owl working start-end every night."""
    tid = biz.tenant_id
    service = sql.execute(
        "INSERT INTO services (tenant_id, code, name, duration_minutes, currency, required_capabilities)"
        " VALUES (%s, 'NIGHT', 'Night check', 30, 'USD', ARRAY['night']) RETURNING id",
        (tid,),
    ).fetchone()["id"]
    owl = sql.execute(
        "INSERT INTO resources (tenant_id, kind, name, capabilities)"
        " VALUES (%s, 'staff', 'Owl', ARRAY['night']) RETURNING id",
        (tid,),
    ).fetchone()["id"]
    for weekday in range(1, 8):
        sql.execute(
            "INSERT INTO resource_availability (tenant_id, resource_id, weekday, start_time, end_time)"
            " VALUES (%s, %s, %s, %s, %s)",
            (tid, owl, weekday, start, end),
        )
    return service


async def slots(c, service, day_from: date, day_to: date, **extra) -> list[str]:
    out = await ok(
        c,
        "find_available_slots",
        {"service_id": str(service), "from": iso(day_from, "00:00"), "to": iso(day_to, "00:00"), "limit": 100}
        | extra,
    )
    return [s["starts_at"] for s in out["slots"]]


def by_local_day(starts: list[str]) -> dict[date, list[str]]:
    days: dict[date, list[str]] = defaultdict(list)
    for s in starts:
        days[datetime.fromisoformat(s).date()].append(s)
    return days


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


# -- daylight saving ------------------------------------------------------------------------------


async def test_day_hours_follow_the_wall_clock_when_clocks_go_forward(writer, biz, connect):
    before = SPRING - timedelta(days=1)
    async with connect(writer) as c:
        found = await slots(
            c, biz.clean, before, SPRING + timedelta(days=1), resource_id=str(biz.ana), step_minutes=60
        )
    days = by_local_day(found)
    hours = [f"{h:02d}:00:00" for h in range(9, 17)]
    assert [s[11:19] for s in days[before]] == hours and [s[11:19] for s in days[SPRING]] == hours
    assert all(s.endswith("-05:00") for s in days[before]) and all(s.endswith("-04:00") for s in days[SPRING])
    assert utc(days[before][0]).hour == 14 and utc(days[SPRING][0]).hour == 13


async def test_day_hours_follow_the_wall_clock_when_clocks_go_back(writer, biz, connect):
    before = FALL - timedelta(days=1)
    async with connect(writer) as c:
        found = await slots(
            c, biz.clean, before, FALL + timedelta(days=1), resource_id=str(biz.ana), step_minutes=60
        )
    days = by_local_day(found)
    hours = [f"{h:02d}:00:00" for h in range(9, 17)]
    assert [s[11:19] for s in days[before]] == hours and [s[11:19] for s in days[FALL]] == hours
    assert all(s.endswith("-04:00") for s in days[before]) and all(s.endswith("-05:00") for s in days[FALL])
    assert utc(days[before][0]).hour == 13 and utc(days[FALL][0]).hour == 14


async def test_the_skipped_hour_has_no_slots(writer, biz, connect, sql):
    night = night_shift(sql, biz, "01:30", "03:30")
    async with connect(writer) as c:
        normal = await slots(c, night, SPRING - timedelta(days=1), SPRING)
        skipped = await slots(c, night, SPRING, SPRING + timedelta(days=1))
    assert [s[11:] for s in normal] == [
        "01:30:00-05:00",
        "02:00:00-05:00",
        "02:30:00-05:00",
        "03:00:00-05:00",
    ]
    # 01:30 EST to 03:30 EDT is one real hour: two 30-minute slots, and no 02:xx local time.
    assert skipped == [f"{SPRING}T01:30:00-05:00", f"{SPRING}T03:00:00-04:00"]
    assert utc(skipped[1]) - utc(skipped[0]) == timedelta(minutes=30)


async def test_the_repeated_hour_has_slots_twice(writer, biz, connect, sql):
    night = night_shift(sql, biz, "01:00", "03:00")
    async with connect(writer) as c:
        repeated = await slots(c, night, FALL, FALL + timedelta(days=1))
        after = await slots(c, night, FALL + timedelta(days=1), FALL + timedelta(days=2))
    # 01:00 EDT to 03:00 EST is three real hours: the 01:xx hour happens twice.
    assert [s[11:] for s in repeated] == [
        "01:00:00-04:00",
        "01:30:00-04:00",
        "01:00:00-05:00",
        "01:30:00-05:00",
        "02:00:00-05:00",
        "02:30:00-05:00",
    ]
    assert [utc(s) for s in repeated] == [utc(repeated[0]) + timedelta(minutes=30 * i) for i in range(6)]
    assert len(after) == 4


async def test_a_booking_on_the_change_day_keeps_its_wall_clock_time(writer, biz, connect, sql):
    async with connect(writer) as c:
        booked = await ok(
            c,
            "book_appointment",
            {"client_id": str(biz.client), "service_id": str(biz.clean), "starts_at": iso(SPRING, "09:00")},
        )
    assert (
        booked["starts_at"] == f"{SPRING}T09:00:00-04:00" and booked["ends_at"] == f"{SPRING}T10:00:00-04:00"
    )
    # A day's lead is 24 real hours: 08:00 by the clocks of the day before (EST).
    assert [r["send_at"] for r in booked["reminders"]] == [f"{SPRING - timedelta(days=1)}T08:00:00-05:00"]


# -- concurrency --------------------------------------------------------------------------------------


async def test_twenty_concurrent_bookings_of_one_slot_make_one_appointment(app, make_agent, writer, biz, sql):
    agents = [writer] + [await make_agent(tenant=writer.tenant_name, **WRITER) for _ in range(3)]
    day = datetime.now(ZoneInfo(TZ)).date() + timedelta(days=5)
    args = {
        "client_id": str(biz.client),
        "service_id": str(biz.clean),
        "resource_id": str(biz.ana),
        "starts_at": iso(day, "10:00"),
    }
    results = await asyncio.gather(
        *(app.guard.call_tool(agents[i % 4].principal, "book_appointment", args) for i in range(20))
    )
    wins = [r.structured_content for r in results if not r.is_error]
    losses = [error_of(r) for r in results if r.is_error]
    assert len(wins) == 1 and len(losses) == 19
    assert {e["code"] for e in losses} == {"conflict"}
    for error in losses:
        assert "Ana is already booked" in error["message"]
        # Computed after the failed insert: it sees the winner's booking (10:00-11:00).
        assert datetime.fromisoformat(error["next_free_slots"][0]["starts_at"]) == at(day, "11:00")
    assert count(sql, "appointments", biz.tenant_id) == 1
    assert count(sql, "appointment_resources", biz.tenant_id) == 1
    outcomes = [r["outcome"] for a in agents for r in audit_rows(sql, a)]
    assert sorted(outcomes) == ["error"] * 19 + ["ok"]


async def test_concurrent_bookings_without_a_resource_fill_each_qualified_resource_once(
    app, writer, biz, sql
):
    day = datetime.now(ZoneInfo(TZ)).date() + timedelta(days=5)
    args = {"client_id": str(biz.client), "service_id": str(biz.clean), "starts_at": iso(day, "14:00")}
    results = await asyncio.gather(
        *(app.guard.call_tool(writer.principal, "book_appointment", args) for _ in range(12))
    )
    wins = [r.structured_content for r in results if not r.is_error]
    assert sorted(w["resources"][0]["name"] for w in wins) == ["Ana", "Ben"]
    assert all(error_of(r)["code"] == "conflict" for r in results if r.is_error)
    assert count(sql, "appointments", biz.tenant_id) == 2
    held = sql.execute(
        "SELECT count(DISTINCT resource_id) AS n FROM appointment_resources WHERE tenant_id = %s",
        (biz.tenant_id,),
    ).fetchone()["n"]
    assert held == 2


async def test_bookings_queued_behind_a_failed_one_do_not_deadlock(writer, biz, dsn, sql):
    # Three bookings of Ana at one time. The first holds her in a savepoint while the other
    # two queue behind it, then gives up (as a booking does when it loses a race). On the
    # exclusion constraint alone both queued inserts would wake, each find the other's
    # uncommitted row and wait for it: a deadlock, a second lost to its detection and a
    # call retried. Holds of one resource are taken one at a time, so the second waits
    # for the first instead and gets an ordinary conflict.
    day = datetime.now(ZoneInfo(TZ)).date() + timedelta(days=6)
    starts = at(day, "10:00")
    appointments = [
        sql.execute(
            "INSERT INTO appointments (tenant_id, client_id, service_id, starts_at, ends_at, price, currency)"
            " VALUES (%s, %s, %s, %s, %s, 120, 'USD') RETURNING id",
            (biz.tenant_id, biz.client, biz.clean, starts, starts + timedelta(hours=1)),
        ).fetchone()["id"]
        for _ in range(3)
    ]
    hold = "INSERT INTO appointment_resources (tenant_id, appointment_id, resource_id) VALUES (%s, %s, %s)"
    conns = [await psycopg.AsyncConnection.connect(dsn) for _ in range(3)]
    try:
        first, *queued = conns
        await first.execute("SAVEPOINT booking")
        await first.execute(hold, (biz.tenant_id, appointments[0], biz.ana))

        async def book(conn: psycopg.AsyncConnection, appointment: uuid.UUID) -> str:
            try:
                await conn.execute(hold, (biz.tenant_id, appointment, biz.ana))
                await conn.commit()
                return "booked"
            except psycopg.Error as exc:
                await conn.rollback()
                return type(exc).__name__

        tasks = [asyncio.create_task(book(c, a)) for c, a in zip(queued, appointments[1:], strict=True)]
        pids = [c.info.backend_pid for c in queued]
        for _ in range(200):  # both queued behind the first
            waiting = sql.execute(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ANY(%s) AND wait_event_type = 'Lock'",
                (pids,),
            ).fetchone()["n"]
            if waiting == 2:
                break
            await asyncio.sleep(0.02)
        assert waiting == 2
        await first.execute("ROLLBACK TO SAVEPOINT booking")
        await first.commit()
        outcomes = sorted(await asyncio.gather(*tasks))
    finally:
        for c in conns:
            await c.close()
    assert outcomes == ["ExclusionViolation", "booked"]
    held = sql.execute(
        "SELECT count(*) AS n FROM appointment_resources WHERE tenant_id = %s AND active", (biz.tenant_id,)
    ).fetchone()["n"]
    assert held == 1
