"""Staff time off through the official MCP client (issue 17): add_time_off refuses to overlap
booked appointments unless asked to list them, list_resources and the slot search see it, and
a booking racing a time off for the same resource never ends inside it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest
from test_appointments import WRITER, future_day, iso, seed

from conftest import audit_rows, count, err, ok

pytestmark = pytest.mark.anyio

READER = {"caps": ["appointments.read"], "access": {"appointments": {"read": True}}}


@pytest.fixture
async def shop(make_agent, sql):
    """An agent that books, and its small business (test_appointments.seed)."""
    agent = await make_agent(**WRITER)
    return agent, seed(sql, agent.tenant_id)


async def book(c, biz, day, hhmm: str, resource) -> dict:
    return await ok(
        c,
        "book_appointment",
        {
            "client_id": str(biz.client),
            "service_id": str(biz.clean),
            "starts_at": iso(day, hhmm),
            "resource_id": str(resource),
        },
    )


async def test_time_off_is_recorded_listed_and_kept_out_of_slots(shop, connect, sql):
    agent, biz = shop
    day = future_day(5)
    async with connect(agent) as c:
        added = await ok(
            c,
            "add_time_off",
            {
                "resource_id": str(biz.ana),
                "starts_at": iso(day, "00:00"),
                "ends_at": iso(future_day(6), "00:00"),
                "reason": "Dentist, then the day off",
            },
        )
        listed = await ok(c, "list_resources", {})
        slots = await ok(
            c,
            "find_available_slots",
            {
                "service_id": str(biz.clean),
                "from": iso(day, "00:00"),
                "to": iso(day, "23:00"),
                "limit": 100,
            },
        )
        refused = await err(
            c,
            "book_appointment",
            {
                "client_id": str(biz.client),
                "service_id": str(biz.clean),
                "starts_at": iso(day, "10:00"),
                "resource_id": str(biz.ana),
            },
        )
    assert added["time_off"]["reason"] == "Dentist, then the day off" and added["clashes"] == []
    assert added["time_off"]["starts_at"] == iso(day, "00:00")  # in the resource's zone, with its offset
    ana = next(r for r in listed["resources"] if r["id"] == str(biz.ana))
    assert [t["id"] for t in ana["time_off"]] == [added["time_off"]["id"]]
    assert next(r for r in listed["resources"] if r["id"] == str(biz.ben))["time_off"] == []
    assert slots["slots"] and all(
        str(biz.ana) not in {r["id"] for r in s["resources"]} for s in slots["slots"]
    )
    assert refused["code"] == "conflict" and "time off" in refused["message"]
    (row,) = [r for r in audit_rows(sql, agent) if r["name"] == "add_time_off"]
    assert (row["outcome"], row["entity_type"], row["entity_id"]) == ("ok", "resource", str(biz.ana))


async def test_time_off_without_an_end_is_listed_as_ongoing(shop, connect, sql):
    agent, biz = shop
    # Only an import writes an open end (a leave of unknown length); agents give one.
    sql.execute(
        "INSERT INTO resource_unavailability (tenant_id, resource_id, during, reason)"
        " VALUES (%s, %s, tstzrange(now() - interval '1 day', NULL), 'Parental leave')",
        (agent.tenant_id, biz.ben),
    )
    async with connect(agent) as c:
        listed = await ok(c, "list_resources", {})
    ben = next(r for r in listed["resources"] if r["id"] == str(biz.ben))
    assert [(t["reason"], t["ends_at"]) for t in ben["time_off"]] == [("Parental leave", None)]


async def test_time_off_over_booked_appointments_is_refused_naming_them_unless_listed(shop, connect, sql):
    agent, biz = shop
    day = future_day(7)
    async with connect(agent) as c:
        booked = await book(c, biz, day, "10:00", biz.ana)
        args = {"resource_id": str(biz.ana), "starts_at": iso(day, "09:00"), "ends_at": iso(day, "12:00")}
        refused = await err(c, "add_time_off", args)
        nothing = count(sql, "resource_unavailability", agent.tenant_id)
        listed = await ok(c, "add_time_off", {**args, "list_clashes": True})
    assert refused["code"] == "conflict" and "list_clashes" in refused["message"]
    assert [x["appointment_id"] for x in refused["clashes"]] == [booked["id"]] and nothing == 0
    assert [x["appointment_id"] for x in listed["clashes"]] == [booked["id"]]
    assert listed["clashes"][0]["starts_at"] == iso(day, "10:00")
    assert count(sql, "resource_unavailability", agent.tenant_id) == 1


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"ends_at": "2020-01-01T00:00:00+00:00", "starts_at": "2019-12-31T00:00:00+00:00"}, "already ended"),
        ({"ends_at": "START"}, "after starts_at"),
        ({"starts_at": "2031-01-01T09:00:00"}, "timezone"),
        ({"ends_at": "2033-01-01T00:00:00+00:00"}, "at most a year"),
        ({"reason": "x" * 501}, "reason"),
        ({"resource_id": "ana"}, "resource_id"),
    ],
)
async def test_bad_time_off_is_refused_and_nothing_is_written(shop, connect, sql, change, words):
    agent, biz = shop
    args = {
        "resource_id": str(biz.ana),
        "starts_at": "2031-01-01T09:00:00+00:00",
        "ends_at": "2031-01-02T09:00:00+00:00",
        **change,
    }
    if args["ends_at"] == "START":
        args["ends_at"] = args["starts_at"]
    async with connect(agent) as c:
        error = await err(c, "add_time_off", args)
    assert error["code"] == "invalid_input" and words in error["message"]
    assert count(sql, "resource_unavailability", agent.tenant_id) == 0


async def test_time_off_needs_appointments_write_and_a_resource_of_the_tenant(make_agent, shop, connect, sql):
    agent, biz = shop
    reader = await make_agent(**READER, tenant=agent.tenant_name)
    stranger = await make_agent(**WRITER)
    args = {
        "resource_id": str(biz.ana),
        "starts_at": iso(future_day(3), "09:00"),
        "ends_at": iso(future_day(3), "17:00"),
    }
    async with connect(reader) as c:
        denied = await err(c, "add_time_off", args)
    async with connect(stranger) as c:
        foreign = await err(c, "add_time_off", args)
        unknown = await err(c, "add_time_off", {**args, "resource_id": str(uuid.uuid4())})
    assert denied["code"] == "permission_denied" and "appointments.write" in denied["message"]
    assert foreign["code"] == unknown["code"] == "not_found"
    assert count(sql, "resource_unavailability", agent.tenant_id) == 0
    assert [(r["name"], r["outcome"]) for r in audit_rows(sql, reader)] == [("add_time_off", "denied")]


async def test_a_retried_time_off_is_recorded_once(shop, connect, sql):
    agent, biz = shop
    args = {
        "resource_id": str(biz.ben),
        "starts_at": iso(future_day(4), "09:00"),
        "ends_at": iso(future_day(4), "13:00"),
        "idempotency_key": "off-1",
    }
    async with connect(agent) as c:
        first = await ok(c, "add_time_off", args)
        again = await ok(c, "add_time_off", args)
        clash = await err(c, "add_time_off", {**args, "reason": "Other"})
    assert again == first and clash["code"] == "conflict"
    assert count(sql, "resource_unavailability", agent.tenant_id) == 1


async def test_a_booking_racing_time_off_never_ends_inside_it(app, make_agent, shop, sql):
    """Two agents at once, many times: one books Ana at 10:00, the other takes her day off.
    Whichever wins, the database never holds both (the hold lock and the trigger's check)."""
    agent, biz = shop
    other = await make_agent(**WRITER, tenant=agent.tenant_name)
    outcomes = set()
    for n in range(8):
        day = future_day(20 + n)
        booking = app.guard.call_tool(
            agent.principal,
            "book_appointment",
            {
                "client_id": str(biz.client),
                "service_id": str(biz.clean),
                "starts_at": iso(day, "10:00"),
                "resource_id": str(biz.ana),
            },
        )
        time_off = app.guard.call_tool(
            other.principal,
            "add_time_off",
            {"resource_id": str(biz.ana), "starts_at": iso(day, "00:00"), "ends_at": iso(day, "23:00")},
        )
        booked, off = await asyncio.gather(booking, time_off)
        outcomes.add((booked.is_error, off.is_error))
        assert booked.is_error != off.is_error  # exactly one of them wins
    both = sql.execute(
        "SELECT count(*) AS n FROM appointment_resources ar JOIN resource_unavailability u"
        " ON u.tenant_id = ar.tenant_id AND u.resource_id = ar.resource_id AND u.during && ar.during"
        " WHERE ar.tenant_id = %s AND ar.active",
        (agent.tenant_id,),
    ).fetchone()["n"]
    assert both == 0


async def test_an_import_may_record_an_appointment_during_time_off(shop, sql):
    """Only agents' holds are kept out of time off: history recorded by an operator is kept."""
    agent, biz = shop
    day = future_day(9)
    sql.execute(
        "INSERT INTO resource_unavailability (tenant_id, resource_id, during)"
        " VALUES (%s, %s, tstzrange(%s, %s))",
        (
            agent.tenant_id,
            biz.ana,
            datetime.fromisoformat(iso(day, "00:00")),
            datetime.fromisoformat(iso(day, "23:00")),
        ),
    )
    appointment = sql.execute(
        "INSERT INTO appointments (tenant_id, client_id, service_id, starts_at, ends_at, price, currency)"
        " VALUES (%s, %s, %s, %s, %s, 120, 'USD') RETURNING id",
        (agent.tenant_id, biz.client, biz.clean, iso(day, "10:00"), iso(day, "11:00")),
    ).fetchone()["id"]
    sql.execute(
        "INSERT INTO appointment_resources (tenant_id, appointment_id, resource_id) VALUES (%s, %s, %s)",
        (agent.tenant_id, appointment, biz.ana),
    )
    assert count(sql, "appointment_resources", agent.tenant_id) == 1
