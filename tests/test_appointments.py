"""Appointments tools and resources through a real MCP client session: catalog, resources,
listing and paging, booking with reminders, rescheduling, cancelling and status changes,
with permissions, redaction of nested clients, bad input and audit rows.

Slots across daylight-saving changes and concurrent bookings are in test_appointments_slots.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from mcp.shared.exceptions import MCPError

from bizctx.server.paging import decode_cursor, encode_cursor
from bizctx.tools.appointments import reminder_plan
from conftest import audit_rows, count, err, ok

pytestmark = pytest.mark.anyio

TZ = "America/New_York"
READ_CAPS = ["appointments.read"]
WRITE_CAPS = ["appointments.read", "appointments.write"]
WRITER = {
    "caps": WRITE_CAPS,
    "access": {"appointments": {"read": True, "write": True}, "clients": {"read": True}},
}
TOOLS = [
    "list_services",
    "list_resources",
    "find_available_slots",
    "list_appointments",
    "book_appointment",
    "reschedule_appointment",
    "cancel_appointment",
    "set_appointment_status",
]
WRITE_TOOLS = TOOLS[4:]


# -- helpers ----------------------------------------------------------------------------------


async def read(client, uri: str) -> dict:
    return json.loads((await client.read_resource(uri)).contents[0].text)


def writes(sql, tenant_id) -> dict[str, int]:
    tables = ("appointments", "appointment_resources", "appointment_reminders", "idempotency_keys")
    return {t: count(sql, t, tenant_id) for t in tables}


def at(day: date, hhmm: str, tz: str = TZ) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), ZoneInfo(tz))


def iso(day: date, hhmm: str, tz: str = TZ) -> str:
    return at(day, hhmm, tz).isoformat()


def future_day(days: int = 10) -> date:
    return datetime.now(ZoneInfo(TZ)).date() + timedelta(days=days)


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def seed(sql, tenant_id, *, tz: str = TZ, hours: tuple[str, str] = ("09:00", "17:00")) -> SimpleNamespace:
    """A small cleaning business: two services, two cleaners and a van, one client."""
    sql.execute("UPDATE tenants SET time_zone = %s WHERE id = %s", (tz, tenant_id))

    def one(query: str, *params) -> uuid.UUID:
        return sql.execute(query, (tenant_id, *params)).fetchone()["id"]

    service = (
        "INSERT INTO services"
        " (tenant_id, code, name, duration_minutes, price, currency, required_capabilities)"
        " VALUES (%s, %s, %s, %s, %s, 'USD', %s) RETURNING id"
    )
    resource = (
        "INSERT INTO resources (tenant_id, kind, name, capabilities) VALUES (%s, %s, %s, %s) RETURNING id"
    )
    ns = SimpleNamespace(tenant_id=tenant_id)
    ns.clean = one(service, "CLEAN", "Deep clean", 60, "120.00", ["cleaning"])
    ns.windows = one(service, "WIN", "Window wash", 30, "45.50", ["cleaning", "windows"])
    ns.ana = one(resource, "staff", "Ana", ["cleaning", "windows"])
    ns.ben = one(resource, "staff", "Ben", ["cleaning"])
    ns.van = one(resource, "vehicle", "Van", [])
    for r in (ns.ana, ns.ben):
        for weekday in range(1, 8):
            sql.execute(
                "INSERT INTO resource_availability (tenant_id, resource_id, weekday, start_time, end_time)"
                " VALUES (%s, %s, %s, %s, %s)",
                (tenant_id, r, weekday, *hours),
            )
    ns.client = one(
        "INSERT INTO clients (tenant_id, first_name, last_name, email, phone)"
        " VALUES (%s, 'Ann', 'Lee', 'ann.lee@example.com', '+1 555 010 0200') RETURNING id"
    )
    ns.address = one(
        "INSERT INTO client_addresses (tenant_id, client_id, line1, city, access_notes)"
        " VALUES (%s, %s, '12 Elm Street', 'Springfield', 'key under the blue mat') RETURNING id",
        ns.client,
    )
    return ns


def prefer(sql, biz, key: str, value) -> None:
    sql.execute(
        "INSERT INTO client_preferences (tenant_id, client_id, key, value) VALUES (%s, %s, %s, %s::jsonb)",
        (biz.tenant_id, biz.client, key, json.dumps(value)),
    )


def opt_out(sql, biz, channel: str) -> None:
    sql.execute(
        "INSERT INTO opt_outs (tenant_id, client_id, channel) VALUES (%s, %s, %s)",
        (biz.tenant_id, biz.client, channel),
    )


def time_off(sql, biz, resource, start: datetime, end: datetime) -> None:
    sql.execute(
        "INSERT INTO resource_unavailability (tenant_id, resource_id, during)"
        " VALUES (%s, %s, tstzrange(%s, %s))",
        (biz.tenant_id, resource, start, end),
    )


def insert_appointment(sql, biz, starts_at: datetime, minutes: int = 60, resource=None, status="scheduled"):
    """An appointment written directly (history, or today's schedule), holding `resource`."""
    row = sql.execute(
        "INSERT INTO appointments (tenant_id, client_id, service_id, starts_at, ends_at, status)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (biz.tenant_id, biz.client, biz.clean, starts_at, starts_at + timedelta(minutes=minutes), status),
    ).fetchone()
    if resource is not None:
        sql.execute(
            "INSERT INTO appointment_resources (tenant_id, appointment_id, resource_id) VALUES (%s, %s, %s)",
            (biz.tenant_id, row["id"], resource),
        )
    return row["id"]


@pytest.fixture
async def writer(make_agent, make_tenant):
    tenant = await make_tenant(time_zone=TZ)
    return await make_agent(tenant=tenant["name"], **WRITER)


@pytest.fixture
def biz(writer, sql):
    return seed(sql, writer.tenant_id)


async def book(c, biz, day: date, hhmm: str, **extra) -> dict:
    args = {"client_id": str(biz.client), "service_id": str(biz.clean), "starts_at": iso(day, hhmm)}
    return await ok(c, "book_appointment", {**args, **extra})


def last_audit(sql, agent) -> dict:
    return audit_rows(sql, agent)[-1]


# -- permissions ------------------------------------------------------------------------------


async def test_tools_need_their_capability_and_are_hidden_without_it(make_agent, connect, sql):
    reader = await make_agent(caps=READ_CAPS, access={"appointments": {"read": True, "write": True}})
    nobody = await make_agent(caps=[], access={"appointments": {"read": True, "write": True}})
    async with connect(reader) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert set(TOOLS[:4]) <= names and not names & set(WRITE_TOOLS)
        for tool in WRITE_TOOLS:
            error = await err(c, tool, {})
            assert error["code"] == "permission_denied" and "appointments.write" in error["message"]
    async with connect(nobody) as c:
        assert not {t.name for t in (await c.list_tools()).tools} & set(TOOLS)
        for tool in TOOLS[:4]:
            error = await err(c, tool, {})
            assert error["code"] == "permission_denied" and "appointments.read" in error["message"]
        with pytest.raises(MCPError):
            await c.read_resource("bizctx://services")
    assert [r["outcome"] for r in audit_rows(sql, reader)] == ["denied"] * 4
    assert {r["name"] for r in audit_rows(sql, nobody)} >= set(TOOLS[:4])
    assert {r["outcome"] for r in audit_rows(sql, nobody)} == {"denied"}
    assert count(sql, "appointments", reader.tenant_id) == 0


async def test_a_closed_domain_denies_even_with_the_capability(make_agent, connect, sql):
    closed = await make_agent(caps=WRITE_CAPS, access={"clients": {"read": True}})
    read_only = await make_agent(caps=WRITE_CAPS, access={"appointments": {"read": True}})
    async with connect(closed) as c:
        assert not {t.name for t in (await c.list_tools()).tools} & set(TOOLS)
        for tool in TOOLS:
            assert (await err(c, tool, {}))["code"] == "permission_denied"
        resources = {r.uri for r in (await c.list_resources()).resources}
        assert "bizctx://services" not in resources and "bizctx://appointments/today" not in resources
    async with connect(read_only) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert set(TOOLS[:4]) <= names and not names & set(WRITE_TOOLS)
        for tool in WRITE_TOOLS:
            error = await err(c, tool, {})
            assert error["code"] == "permission_denied" and "write" in error["message"]
    assert {r["outcome"] for r in audit_rows(sql, closed)} == {"denied"}
    assert len(audit_rows(sql, closed)) == len(TOOLS)


# -- list_services / list_resources -------------------------------------------------------------


async def test_list_services_pages_by_name(writer, biz, connect, sql):
    sql.execute(
        "UPDATE services SET active = false WHERE tenant_id = %s AND id = %s", (biz.tenant_id, biz.windows)
    )
    async with connect(writer) as c:
        active = await ok(c, "list_services", {})
        assert [s["name"] for s in active["services"]] == ["Deep clean"]
        assert active["services"][0]["price"] == "120.00" and active["services"][0]["duration_minutes"] == 60
        assert active["services"][0]["required_capabilities"] == ["cleaning"]
        first = await ok(c, "list_services", {"include_inactive": True, "limit": 1})
        second = await ok(
            c, "list_services", {"include_inactive": True, "limit": 1, "cursor": first["next_cursor"]}
        )
        assert [s["name"] for s in first["services"] + second["services"]] == ["Deep clean", "Window wash"]
        assert second["next_cursor"] is None and second["services"][0]["active"] is False
        error = await err(c, "list_services", {"cursor": first["next_cursor"]})
        assert error["code"] == "invalid_input" and "cursor" in error["message"]
    row = last_audit(sql, writer)
    assert (row["name"], row["outcome"], row["error_code"]) == ("list_services", "error", "invalid_input")
    assert audit_rows(sql, writer)[0]["outcome"] == "ok"


async def test_list_resources_filters_by_service_kind_and_capability(writer, biz, connect, sql):
    sql.execute("UPDATE resources SET time_zone = 'Europe/Berlin' WHERE id = %s", (biz.ben,))
    async with connect(writer) as c:
        everyone = await ok(c, "list_resources", {})
        assert [r["name"] for r in everyone["resources"]] == ["Ana", "Ben", "Van"]
        ben = everyone["resources"][1]
        assert ben["time_zone"] == "Europe/Berlin" and everyone["resources"][0]["time_zone"] == TZ
        assert ben["weekly_hours"][0] == {"weekday": 1, "start": "09:00", "end": "17:00"}
        assert len(ben["weekly_hours"]) == 7
        able = await ok(c, "list_resources", {"service_id": str(biz.windows)})
        assert [r["name"] for r in able["resources"]] == ["Ana"]
        vehicles = await ok(c, "list_resources", {"kind": "vehicle"})
        assert [r["name"] for r in vehicles["resources"]] == ["Van"]
        cleaners = await ok(c, "list_resources", {"capability": "cleaning", "limit": 1})
        rest = await ok(c, "list_resources", {"capability": "cleaning", "cursor": cleaners["next_cursor"]})
        assert [r["name"] for r in cleaners["resources"] + rest["resources"]] == ["Ana", "Ben"]
        unknown = await err(c, "list_resources", {"service_id": str(uuid.uuid4())})
        assert unknown["code"] == "not_found" and "list_services" in unknown["message"]
        bad = await err(c, "list_resources", {"kind": "robot"})
        assert bad["code"] == "invalid_input" and "kind" in bad["message"]
    rows = audit_rows(sql, writer)
    assert [(r["name"], r["outcome"]) for r in rows[:5]] == [("list_resources", "ok")] * 5
    assert rows[-1]["error_code"] == "invalid_input"


# -- find_available_slots -------------------------------------------------------------------------


async def test_slots_are_working_hours_minus_time_off_and_bookings(writer, biz, connect, sql):
    day = future_day()
    insert_appointment(sql, biz, at(day, "10:00"), resource=biz.ana)
    time_off(sql, biz, biz.ana, at(day, "13:00"), at(day, "15:00"))
    async with connect(writer) as c:
        out = await ok(
            c,
            "find_available_slots",
            {
                "service_id": str(biz.clean),
                "resource_id": str(biz.ana),
                "from": iso(day, "00:00"),
                "to": iso(day + timedelta(days=1), "00:00"),
                "step_minutes": 60,
            },
        )
        assert out["time_zone"] == TZ and out["duration_minutes"] == 60 and out["next_from"] is None
        starts = [instant(s["starts_at"]) for s in out["slots"]]
        assert starts == [at(day, h) for h in ("09:00", "11:00", "12:00", "15:00", "16:00")]
        assert all(
            s["resources"] == [{"id": str(biz.ana), "name": "Ana", "kind": "staff"}] for s in out["slots"]
        )
        assert instant(out["slots"][0]["ends_at"]) == at(day, "10:00")

        both = await ok(
            c,
            "find_available_slots",
            {"service_id": str(biz.clean), "from": iso(day, "09:00"), "to": iso(day, "11:00"), "limit": 2},
        )
        assert [instant(s["starts_at"]) for s in both["slots"]] == [at(day, "09:00"), at(day, "09:30")]
        assert [r["name"] for r in both["slots"][0]["resources"]] == ["Ana", "Ben"]
        assert [r["name"] for r in both["slots"][1]["resources"]] == ["Ben"]  # Ana is booked at 10:00
        assert instant(both["next_from"]) == at(day, "10:00")
    row = last_audit(sql, writer)
    assert (row["name"], row["outcome"], row["entity_type"], row["entity_id"]) == (
        "find_available_slots",
        "ok",
        "service",
        str(biz.clean),
    )


async def test_slots_never_start_in_the_past(writer, biz, connect):
    yesterday = datetime.now(ZoneInfo(TZ)).date() - timedelta(days=1)
    async with connect(writer) as c:
        out = await ok(
            c,
            "find_available_slots",
            {"service_id": str(biz.clean), "from": iso(yesterday, "00:00"), "to": iso(yesterday, "23:00")},
        )
    assert out["slots"] == []


@pytest.mark.parametrize(
    ("patch", "words"),
    [
        ({"from": "2030-01-07T09:00:00"}, "from"),
        ({"from": "2030-01-07T09:00:00Z", "to": "2030-01-07T08:00:00Z"}, "to must be after from"),
        ({"from": "2030-01-07T09:00:00Z", "to": "2030-03-07T08:00:00Z"}, "31 days"),
        ({"step_minutes": 1}, "step_minutes"),
        ({"limit": 1000}, "limit"),
        ({"when": "soon"}, "when"),
    ],
)
async def test_bad_slot_searches_are_refused(writer, biz, connect, sql, patch, words):
    async with connect(writer) as c:
        error = await err(c, "find_available_slots", {"service_id": str(biz.clean), **patch})
    assert error["code"] == "invalid_input" and words in error["message"]
    row = last_audit(sql, writer)
    assert (row["name"], row["outcome"], row["error_code"]) == (
        "find_available_slots",
        "error",
        "invalid_input",
    )


async def test_slots_for_a_resource_that_cannot_deliver_the_service_are_refused(writer, biz, connect):
    async with connect(writer) as c:
        error = await err(
            c, "find_available_slots", {"service_id": str(biz.windows), "resource_id": str(biz.ben)}
        )
        assert error["code"] == "invalid_input" and "windows" in error["message"]
        missing = await err(c, "find_available_slots", {"service_id": str(uuid.uuid4())})
        assert missing["code"] == "not_found"


# -- book_appointment -------------------------------------------------------------------------------


async def test_booking_holds_the_resource_and_schedules_reminders(writer, biz, connect, sql):
    prefer(sql, biz, "reminder_channels", ["sms", "email", "phone"])
    prefer(sql, biz, "reminder_lead_minutes", [1440, 120])
    opt_out(sql, biz, "sms")
    day = future_day()
    async with connect(writer) as c:
        booked = await book(
            c, biz, day, "10:00", resource_id=str(biz.ben), notes="Bring ladder", location="Back door"
        )
    assert booked["status"] == "scheduled"
    assert booked["starts_at"] == iso(day, "10:00") and booked["ends_at"] == iso(day, "11:00")
    assert booked["client"] == {
        "id": str(biz.client),
        "display_name": "Ann Lee",
        "email": "ann.lee@example.com",
        "phone": "+1 555 010 0200",
    }
    assert booked["service"] == {"id": str(biz.clean), "code": "CLEAN", "name": "Deep clean"}
    assert [r["name"] for r in booked["resources"]] == ["Ben"]
    assert booked["price"] == "120.00" and booked["currency"] == "USD"
    assert booked["location"] == "Back door" and booked["notes"] == "Bring ladder"
    reminders = sorted((r["channel"], instant(r["send_at"])) for r in booked["reminders"])
    start = at(day, "10:00")
    assert reminders == sorted(
        (ch, start - timedelta(minutes=m)) for ch in ("email", "phone") for m in (1440, 120)
    )
    assert {r["status"] for r in booked["reminders"]} == {"pending"}
    held = sql.execute(
        "SELECT resource_id, during, active FROM appointment_resources WHERE appointment_id = %s",
        (booked["id"],),
    ).fetchall()
    assert len(held) == 1 and held[0]["resource_id"] == biz.ben and held[0]["active"]
    assert held[0]["during"].lower == start
    created_by = sql.execute("SELECT created_by_agent_id FROM appointments WHERE id = %s", (booked["id"],))
    assert created_by.fetchone()["created_by_agent_id"] == writer.id
    row = last_audit(sql, writer)
    assert (row["name"], row["outcome"], row["entity_type"], row["entity_id"]) == (
        "book_appointment",
        "ok",
        "appointment",
        booked["id"],
    )


async def test_reminders_default_skip_all_opt_outs_and_past_send_times(writer, biz, connect, sql):
    day = future_day()
    async with connect(writer) as c:
        default = await book(c, biz, day, "09:00")
        assert [(r["channel"], instant(r["send_at"])) for r in default["reminders"]] == [
            ("email", at(day, "09:00") - timedelta(days=1))
        ]
        prefer(sql, biz, "reminder_lead_minutes", [60 * 24 * 20, 60])
        soon = await book(c, biz, day, "11:00")
        # 20 days ahead of a booking 10 days away is in the past: not created.
        assert [(r["channel"], instant(r["send_at"])) for r in soon["reminders"]] == [
            ("email", at(day, "10:00"))
        ]
        opt_out(sql, biz, "all")
        prefer(sql, biz, "reminder_channels", ["email", "sms"])
        silent = await book(c, biz, day, "13:00")
        assert silent["reminders"] == []
    assert count(sql, "appointment_reminders", biz.tenant_id) == 2


async def test_the_schedule_is_in_the_business_zone_and_record_times_in_utc(writer, biz, connect):
    # README: schedule times carry the business's offset, as people read them; when something
    # happened (created, updated, cancelled) is UTC, like every other record time.
    day = future_day()
    async with connect(writer) as c:
        booked = await book(c, biz, day, "10:00", resource_id=str(biz.ben))
        cancelled = await ok(c, "cancel_appointment", {"appointment_id": booked["id"], "reason": "Away."})
    assert booked["starts_at"] == iso(day, "10:00") and not booked["starts_at"].endswith("Z")
    for stamp in (
        booked["created_at"],
        booked["updated_at"],
        cancelled["cancelled_at"],
        cancelled["updated_at"],
    ):
        assert stamp.endswith("Z"), stamp


async def test_booking_without_a_resource_takes_the_first_free_one(writer, biz, connect, sql):
    day = future_day()
    async with connect(writer) as c:
        first = await book(c, biz, day, "10:00")
        second = await book(c, biz, day, "10:00")
        assert [r["name"] for r in first["resources"]] == ["Ana"]
        assert [r["name"] for r in second["resources"]] == ["Ben"]
        error = await err(
            c,
            "book_appointment",
            {"client_id": str(biz.client), "service_id": str(biz.clean), "starts_at": iso(day, "10:30")},
        )
    assert error["code"] == "conflict" and "already booked" in error["message"]
    nxt = error["next_free_slots"]
    assert nxt and instant(nxt[0]["starts_at"]) == at(day, "11:00")
    assert {r["name"] for r in nxt[0]["resources"]} == {"Ana", "Ben"}
    assert count(sql, "appointments", biz.tenant_id) == 2
    assert last_audit(sql, writer)["error_code"] == "conflict"


async def test_a_taken_slot_is_a_conflict_listing_the_next_free_slots(writer, biz, connect, sql):
    day = future_day()
    async with connect(writer) as c:
        await book(c, biz, day, "09:00", resource_id=str(biz.ana))
        error = await err(
            c,
            "book_appointment",
            {
                "client_id": str(biz.client),
                "service_id": str(biz.clean),
                "starts_at": iso(day, "09:30"),
                "resource_id": str(biz.ana),
            },
        )
    assert error["code"] == "conflict" and "Ana is already booked" in error["message"]
    starts = [instant(s["starts_at"]) for s in error["next_free_slots"]]
    assert starts == [at(day, h) for h in ("10:00", "10:30", "11:00", "11:30", "12:00")]
    assert "10:00" in error["message"]
    assert count(sql, "appointments", biz.tenant_id) == 1


async def test_booking_outside_working_hours_or_during_time_off_is_a_conflict(writer, biz, connect, sql):
    day = future_day()
    time_off(sql, biz, biz.ana, at(day, "09:00"), at(day, "12:00"))
    base = {"client_id": str(biz.client), "service_id": str(biz.clean), "resource_id": str(biz.ana)}
    async with connect(writer) as c:
        late = await err(c, "book_appointment", {**base, "starts_at": iso(day, "16:30")})
        assert late["code"] == "conflict" and "not working" in late["message"]
        off = await err(c, "book_appointment", {**base, "starts_at": iso(day, "10:00")})
        assert off["code"] == "conflict"
        assert instant(off["next_free_slots"][0]["starts_at"]) == at(day, "12:00")
    assert count(sql, "appointments", biz.tenant_id) == 0


@pytest.mark.parametrize(
    ("patch", "words"),
    [
        ({"starts_at": "2030-01-07T09:00:00"}, "starts_at"),
        ({"starts_at": "2020-01-07T09:00:00Z"}, "in the past"),
        ({"client_id": "not-a-uuid"}, "client_id"),
        ({"notes": "x" * 6000}, "notes"),
        ({"price": "0"}, "price"),
    ],
)
async def test_bad_bookings_are_refused_and_write_nothing(writer, biz, connect, sql, patch, words):
    args = {
        "client_id": str(biz.client),
        "service_id": str(biz.clean),
        "starts_at": iso(future_day(), "10:00"),
    }
    async with connect(writer) as c:
        error = await err(c, "book_appointment", {**args, **patch})
    assert error["code"] == "invalid_input" and words in error["message"]
    assert writes(sql, biz.tenant_id) == dict.fromkeys(writes(sql, biz.tenant_id), 0)
    row = last_audit(sql, writer)
    assert (row["name"], row["outcome"], row["error_code"]) == ("book_appointment", "error", "invalid_input")


async def test_booking_refuses_unknown_or_unfit_references(writer, biz, make_agent, connect, sql):
    other = await make_agent(**WRITER)
    foreign = seed(sql, other.tenant_id)
    day = future_day()
    base = {"client_id": str(biz.client), "service_id": str(biz.clean), "starts_at": iso(day, "10:00")}
    async with connect(writer) as c:
        for patch in (
            {"client_id": str(foreign.client)},
            {"service_id": str(foreign.clean)},
            {"resource_id": str(foreign.ana)},
            {"address_id": str(foreign.address)},
        ):
            assert (await err(c, "book_appointment", {**base, **patch}))["code"] == "not_found"
        unfit = await err(
            c, "book_appointment", {**base, "service_id": str(biz.windows), "resource_id": str(biz.ben)}
        )
        assert unfit["code"] == "invalid_input" and "windows" in unfit["message"]
    assert count(sql, "appointments", biz.tenant_id) == 0


async def test_booking_is_idempotent_with_a_key(writer, biz, connect, sql):
    day = future_day()
    async with connect(writer) as c:
        first = await book(c, biz, day, "10:00", idempotency_key="call-42")
        again = await book(c, biz, day, "10:00", idempotency_key="call-42")
        args = {"client_id": str(biz.client), "service_id": str(biz.clean), "starts_at": iso(day, "14:00")}
        other_time = await err(c, "book_appointment", {**args, "idempotency_key": "call-42"})
    assert again == first
    # The same key for another booking is a conflict naming the first call, never its result.
    assert other_time["code"] == "conflict" and other_time["first_call_at"]
    assert count(sql, "appointments", biz.tenant_id) == 1
    assert count(sql, "appointment_reminders", biz.tenant_id) == 1


# -- redaction ------------------------------------------------------------------------------------------


def keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


async def test_redacted_client_fields_are_absent_everywhere(writer, biz, make_agent, connect, sql):
    hidden = await make_agent(
        tenant=writer.tenant_name,
        caps=WRITE_CAPS,
        access={
            "appointments": {"read": True, "write": True},
            "clients": {"read": True, "redact": ["email", "phone", "address"]},
        },
    )
    day = datetime.now(ZoneInfo(TZ)).date() + timedelta(days=3)
    today = insert_appointment(sql, biz, datetime.now(UTC).replace(microsecond=0), resource=None)
    sql.execute(
        "UPDATE appointments SET location = '12 Elm Street', address_id = %s WHERE id = %s",
        (biz.address, today),
    )
    async with connect(hidden) as c:
        booked = await book(
            c, biz, day, "10:00", location="12 Elm Street, back door", address_id=str(biz.address)
        )
        outputs = [
            booked,
            await ok(c, "list_appointments", {"client_id": str(biz.client)}),
            await ok(
                c, "reschedule_appointment", {"appointment_id": booked["id"], "starts_at": iso(day, "11:00")}
            ),
            await ok(c, "set_appointment_status", {"appointment_id": booked["id"], "status": "confirmed"}),
            await read(c, f"bizctx://appointments/{booked['id']}"),
            await read(c, "bizctx://appointments/today"),
            await ok(c, "cancel_appointment", {"appointment_id": booked["id"]}),
        ]
    for out in outputs:
        text = json.dumps(out)
        assert not keys(out) & {"email", "phone", "location", "address"}, text
        for secret in ("ann.lee@example.com", "555 010", "Elm Street", "blue mat"):
            assert secret not in text
        assert "Ann Lee" in text
    # The location the agent typed is masked in the audit row too.
    args = audit_rows(sql, hidden)[0]["arguments"]
    assert args["location"] == "[redacted]" and args["address_id"] == "[redacted]"
    # The data is stored all the same, for agents allowed to see it.
    async with connect(writer) as c:
        full = await read(c, f"bizctx://appointments/{booked['id']}")
    assert full["address"]["line1"] == "12 Elm Street" and full["client"]["email"] == "ann.lee@example.com"


async def test_client_contact_details_are_withheld_when_clients_are_closed(writer, biz, make_agent, connect):
    scheduler = await make_agent(
        tenant=writer.tenant_name, caps=WRITE_CAPS, access={"appointments": {"read": True, "write": True}}
    )
    async with connect(scheduler) as c:
        booked = await book(c, biz, future_day(), "10:00", location="12 Elm Street")
        listed = await ok(c, "list_appointments", {})
    for out in (booked, listed):
        text = json.dumps(out)
        assert "ann.lee@example.com" not in text and "555 010" not in text and "Elm" not in text
    assert booked["client"]["display_name"] == "Ann Lee" and "email" not in booked["client"]
    assert "location" not in booked and "address" not in booked


# -- list_appointments ----------------------------------------------------------------------------------


async def test_list_appointments_filters(writer, biz, connect, sql):
    day = future_day()
    other_client = sql.execute(
        "INSERT INTO clients (tenant_id, first_name) VALUES (%s, 'Bo') RETURNING id", (biz.tenant_id,)
    ).fetchone()["id"]
    a = insert_appointment(sql, biz, at(day, "09:00"), resource=biz.ana)
    b = insert_appointment(sql, biz, at(day, "11:00"), resource=biz.ben, status="confirmed")
    c_ = insert_appointment(
        sql, biz, at(day + timedelta(days=1), "09:00"), resource=biz.ana, status="cancelled"
    )
    d = insert_appointment(sql, biz, at(day, "15:00"))
    sql.execute("UPDATE appointments SET client_id = %s WHERE id = %s", (other_client, d))

    async def ids(c, **filters) -> list[str]:
        return [x["id"] for x in (await ok(c, "list_appointments", filters))["appointments"]]

    async with connect(writer) as c:
        assert await ids(c) == [str(a), str(b), str(d), str(c_)]
        assert await ids(c, resource_id=str(biz.ana)) == [str(a), str(c_)]
        assert await ids(c, client_id=str(other_client)) == [str(d)]
        # One status, like every list tool's filter (issue 20, part 8); v1's list still works.
        assert await ids(c, status="confirmed") == [str(b)]
        assert await ids(c, status=["confirmed", "cancelled"]) == [str(b), str(c_)]
        assert await ids(c, **{"from": iso(day, "10:00"), "to": iso(day, "16:00")}) == [str(b), str(d)]
        assert await ids(c, service_id=str(biz.windows)) == []
        bad = await err(c, "list_appointments", {"status": ["gone"]})
        assert bad["code"] == "invalid_input" and "status" in bad["message"]
        bad = await err(c, "list_appointments", {"status": "gone"})
        assert bad["code"] == "invalid_input" and "status" in bad["message"]
        bad = await err(c, "list_appointments", {"email": "ann.lee@example.com"})
        assert bad["code"] == "invalid_input"
        listed = {t.name: t for t in (await c.list_tools()).tools}
    assert listed["list_appointments"].input_schema["properties"]["status"]["type"] == "string"
    rows = audit_rows(sql, writer)
    assert [r["outcome"] for r in rows] == ["ok"] * 7 + ["error"] * 3
    assert rows[0]["name"] == "list_appointments"


async def test_list_appointments_pages_never_overlap_or_skip(writer, biz, connect, sql):
    day = future_day()
    # Ties on starts_at are broken by id, so equal times cannot straddle a page badly.
    original = [
        insert_appointment(sql, biz, at(day, h))
        for h in ("09:00", "09:00", "10:00", "11:00", "11:00", "12:00", "13:00")
    ]
    expected = [
        str(r["id"])
        for r in sql.execute(
            "SELECT id FROM appointments WHERE tenant_id = %s ORDER BY starts_at, id", (biz.tenant_id,)
        ).fetchall()
    ]
    assert sorted(expected) == sorted(str(i) for i in original)
    seen: list[str] = []
    cursor = None
    inserted = []
    async with connect(writer) as c:
        for page_no in range(10):
            args = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            page = await ok(c, "list_appointments", args)
            seen += [x["id"] for x in page["appointments"]]
            cursor = page["next_cursor"]
            if page_no == 0:
                # Rows land before and after the cursor between page fetches.
                inserted.append(insert_appointment(sql, biz, at(day, "08:00")))
                inserted.append(insert_appointment(sql, biz, at(day, "12:30")))
            if cursor is None:
                break
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in expected] == expected
    assert str(inserted[1]) in seen and str(inserted[0]) not in seen


async def test_a_forged_cursor_is_invalid_input(writer, biz, connect, sql):
    for h in ("09:00", "10:00"):
        insert_appointment(sql, biz, at(future_day(), h))
    async with connect(writer) as c:
        real = (await ok(c, "list_appointments", {"limit": 1}))["next_cursor"]
        position = decode_cursor(real, kind="list_appointments")
        for forged in (
            encode_cursor({**position, "s": "yesterday"}),
            encode_cursor({**position, "i": 7}),
            encode_cursor({"k": "list_appointments", "s": 1}),
            encode_cursor({"k": "list_services", "f": "x", "n": "A", "i": str(uuid.uuid4())}),
            "not base64 at all!",
        ):
            error = await err(c, "list_appointments", {"cursor": forged})
            assert error["code"] == "invalid_input" and "cursor" in error["message"]


# -- reschedule_appointment --------------------------------------------------------------------------


async def test_reschedule_moves_the_booking_and_its_reminders(writer, biz, connect, sql):
    day = future_day()
    async with connect(writer) as c:
        booked = await book(c, biz, day, "10:00", resource_id=str(biz.ana))
        moved = await ok(
            c, "reschedule_appointment", {"appointment_id": booked["id"], "starts_at": iso(day, "14:00")}
        )
        assert moved["starts_at"] == iso(day, "14:00") and moved["ends_at"] == iso(day, "15:00")
        assert [instant(r["send_at"]) for r in moved["reminders"]] == [at(day, "14:00") - timedelta(days=1)]
        # The old time is free again: someone else can book Ana at 10:00.
        await book(c, biz, day, "10:00", resource_id=str(biz.ana))
        switched = await ok(
            c,
            "reschedule_appointment",
            {"appointment_id": booked["id"], "starts_at": iso(day, "10:00"), "resource_id": str(biz.ben)},
        )
        assert [r["name"] for r in switched["resources"]] == ["Ben"]
    held = sql.execute(
        "SELECT resource_id, lower(during) AS starts FROM appointment_resources WHERE appointment_id = %s",
        (booked["id"],),
    ).fetchall()
    assert held == [{"resource_id": biz.ben, "starts": at(day, "10:00")}]
    row = last_audit(sql, writer)
    assert (row["name"], row["outcome"], row["entity_type"], row["entity_id"]) == (
        "reschedule_appointment",
        "ok",
        "appointment",
        booked["id"],
    )


async def test_rescheduling_into_a_taken_slot_is_a_conflict_with_next_free_slots(writer, biz, connect, sql):
    day = future_day()
    async with connect(writer) as c:
        mine = await book(c, biz, day, "09:00", resource_id=str(biz.ana))
        await book(c, biz, day, "13:00", resource_id=str(biz.ana))
        error = await err(
            c, "reschedule_appointment", {"appointment_id": mine["id"], "starts_at": iso(day, "12:30")}
        )
        assert error["code"] == "conflict" and "already booked" in error["message"]
        starts = [instant(s["starts_at"]) for s in error["next_free_slots"]]
        assert starts[0] == at(day, "14:00")
        closed = await err(
            c, "reschedule_appointment", {"appointment_id": mine["id"], "starts_at": iso(day, "16:30")}
        )
        assert closed["code"] == "conflict" and "not working" in closed["message"]
        current = await read(c, f"bizctx://appointments/{mine['id']}")
    assert current["starts_at"] == iso(day, "09:00")
    assert last_audit(sql, writer)["error_code"] is None  # the resource read
    assert [r["error_code"] for r in audit_rows(sql, writer)[-3:-1]] == ["conflict", "conflict"]


async def test_reschedule_refuses_finished_unknown_and_bad_input(writer, biz, connect, sql):
    day = future_day()
    done = insert_appointment(sql, biz, at(day, "09:00"), resource=biz.ana, status="completed")
    async with connect(writer) as c:
        error = await err(
            c, "reschedule_appointment", {"appointment_id": str(done), "starts_at": iso(day, "10:00")}
        )
        assert error["code"] == "conflict" and "completed" in error["message"]
        assert "book_appointment" in error["message"]
        missing = await err(
            c, "reschedule_appointment", {"appointment_id": str(uuid.uuid4()), "starts_at": iso(day, "10:00")}
        )
        assert missing["code"] == "not_found"
        naive = await err(
            c, "reschedule_appointment", {"appointment_id": str(done), "starts_at": "2030-01-07T10:00:00"}
        )
        assert naive["code"] == "invalid_input" and "starts_at" in naive["message"]
    assert sql.execute("SELECT starts_at FROM appointments WHERE id = %s", (done,)).fetchone()[
        "starts_at"
    ] == at(day, "09:00")
    assert count(sql, "idempotency_keys", biz.tenant_id) == 0
    assert last_audit(sql, writer)["error_code"] == "invalid_input"


async def test_reschedule_with_a_key_applies_once(writer, biz, connect, sql):
    day = future_day()
    async with connect(writer) as c:
        booked = await book(c, biz, day, "09:00", resource_id=str(biz.ana))
        args = {"appointment_id": booked["id"], "starts_at": iso(day, "11:00"), "idempotency_key": "move-1"}
        first = await ok(c, "reschedule_appointment", args)
        await ok(
            c, "reschedule_appointment", {"appointment_id": booked["id"], "starts_at": iso(day, "15:00")}
        )
        retried = await ok(c, "reschedule_appointment", args)
        # The retry answers with the first call's result and moves nothing back.
        assert retried == first and retried["starts_at"] == iso(day, "11:00")
        assert (await read(c, f"bizctx://appointments/{booked['id']}"))["starts_at"] == iso(day, "15:00")
        # The same key with another start time is a conflict (v1 said "success" and left 11:00).
        reused = await err(c, "reschedule_appointment", {**args, "starts_at": iso(day, "14:00")})
        assert reused["code"] == "conflict" and "idempotency_key" in reused["message"]
    assert count(sql, "idempotency_keys", biz.tenant_id) == 1


# -- cancel_appointment / set_appointment_status -----------------------------------------------------


async def test_cancel_frees_the_resource_and_cancels_reminders(writer, biz, connect, sql):
    day = future_day()
    async with connect(writer) as c:
        booked = await book(c, biz, day, "10:00", resource_id=str(biz.ana))
        cancelled = await ok(
            c, "cancel_appointment", {"appointment_id": booked["id"], "reason": "Client is ill"}
        )
        assert cancelled["status"] == "cancelled" and cancelled["cancellation_reason"] == "Client is ill"
        assert cancelled["cancelled_at"] is not None
        assert {r["status"] for r in cancelled["reminders"]} == {"cancelled"}
        again = await ok(c, "cancel_appointment", {"appointment_id": booked["id"]})
        assert again["cancelled_at"] == cancelled["cancelled_at"]
        await book(c, biz, day, "10:00", resource_id=str(biz.ana))
    row = audit_rows(sql, writer)[1]
    assert (row["name"], row["outcome"], row["entity_type"], row["entity_id"]) == (
        "cancel_appointment",
        "ok",
        "appointment",
        booked["id"],
    )


async def test_cancel_refuses_finished_and_bad_input(writer, biz, connect, sql):
    done = insert_appointment(sql, biz, at(future_day(), "09:00"), status="completed")
    async with connect(writer) as c:
        error = await err(c, "cancel_appointment", {"appointment_id": str(done)})
        assert error["code"] == "conflict" and "completed" in error["message"]
        assert error["current_status"] == "completed" and error["allowed_statuses"] == []
        bad = await err(c, "cancel_appointment", {"appointment_id": str(done), "reason": "x" * 2000})
        assert bad["code"] == "invalid_input" and "reason" in bad["message"]
        other = await err(c, "cancel_appointment", {"appointment_id": str(uuid.uuid4())})
        assert other["code"] == "not_found"
    assert (
        sql.execute("SELECT status FROM appointments WHERE id = %s", (done,)).fetchone()["status"]
        == "completed"
    )
    assert [r["error_code"] for r in audit_rows(sql, writer)] == ["conflict", "invalid_input", "not_found"]


async def test_status_moves_forward_only(writer, biz, connect, sql):
    day = future_day()
    async with connect(writer) as c:
        booked = await book(c, biz, day, "10:00", resource_id=str(biz.ana))
        for status in ("confirmed", "in_progress", "completed"):
            out = await ok(c, "set_appointment_status", {"appointment_id": booked["id"], "status": status})
            assert out["status"] == status
        back = await err(c, "set_appointment_status", {"appointment_id": booked["id"], "status": "confirmed"})
        assert back["code"] == "conflict" and "completed" in back["message"] and "final" in back["message"]
        skip = await book(c, biz, day, "12:00", resource_id=str(biz.ana))
        early = await err(c, "set_appointment_status", {"appointment_id": skip["id"], "status": "completed"})
        assert early["code"] == "conflict" and early["allowed_statuses"] == [
            "confirmed",
            "in_progress",
            "cancelled",
            "no_show",
        ]
        no_show = await ok(c, "set_appointment_status", {"appointment_id": skip["id"], "status": "no_show"})
        assert no_show["status"] == "no_show" and {r["status"] for r in no_show["reminders"]} == {"cancelled"}
        await book(c, biz, day, "12:00", resource_id=str(biz.ana))  # no_show freed Ana
        bad = await err(c, "set_appointment_status", {"appointment_id": skip["id"], "status": "cancelled"})
        assert bad["code"] == "invalid_input" and "status" in bad["message"]
    assert sql.execute("SELECT status FROM appointments WHERE id = %s", (booked["id"],)).fetchone()[
        "status"
    ] == ("completed")
    rows = [r for r in audit_rows(sql, writer) if r["name"] == "set_appointment_status"]
    assert [r["outcome"] for r in rows] == ["ok"] * 3 + ["error", "error", "ok", "error"]
    assert rows[0]["entity_id"] == booked["id"] and rows[0]["entity_type"] == "appointment"


async def test_status_change_with_a_key_returns_the_first_result(writer, biz, connect, sql):
    async with connect(writer) as c:
        booked = await book(c, biz, future_day(), "10:00")
        args = {"appointment_id": booked["id"], "status": "confirmed", "idempotency_key": "confirm-1"}
        first = await ok(c, "set_appointment_status", args)
        await ok(c, "set_appointment_status", {"appointment_id": booked["id"], "status": "in_progress"})
        retried = await ok(c, "set_appointment_status", args)
    assert retried == first and retried["status"] == "confirmed"
    assert sql.execute("SELECT status FROM appointments WHERE id = %s", (booked["id"],)).fetchone() == {
        "status": "in_progress"
    }
    assert count(sql, "idempotency_keys", biz.tenant_id) == 1


# -- resources -------------------------------------------------------------------------------------------


async def test_appointment_resources(writer, biz, make_agent, connect, sql):
    now = datetime.now(ZoneInfo(TZ))
    today = now.date()
    noon = insert_appointment(sql, biz, at(today, "12:00"), resource=biz.ana)
    insert_appointment(sql, biz, at(today + timedelta(days=1), "00:30"))
    insert_appointment(sql, biz, at(today - timedelta(days=1), "23:30"))
    async with connect(writer) as c:
        catalog = await read(c, "bizctx://services")
        assert [s["name"] for s in catalog["services"]] == ["Deep clean", "Window wash"] and not catalog[
            "truncated"
        ]
        day = await read(c, "bizctx://appointments/today")
        assert day["date"] == today.isoformat() and day["time_zone"] == TZ
        assert [a["id"] for a in day["appointments"]] == [str(noon)]
        one = await read(c, f"bizctx://appointments/{noon}")
        assert one["starts_at"] == iso(today, "12:00") and one["resources"][0]["name"] == "Ana"
        with pytest.raises(MCPError) as info:
            await c.read_resource(f"bizctx://appointments/{uuid.uuid4()}")
        assert "list_appointments" in str(info.value)
    stranger = await make_agent(**WRITER)
    async with connect(stranger) as c:
        with pytest.raises(MCPError):
            await c.read_resource(f"bizctx://appointments/{noon}")
        assert (await read(c, "bizctx://appointments/today"))["appointments"] == []
    rows = audit_rows(sql, writer)
    assert [(r["kind"], r["name"], r["outcome"]) for r in rows[:3]] == [
        ("resource", "bizctx://services", "ok"),
        ("resource", "bizctx://appointments/today", "ok"),
        ("resource", "bizctx://appointments/{appointment_id}", "ok"),
    ]
    assert rows[2]["entity_id"] == str(noon)


# -- reminder preferences and the published contract ----------------------------------------------


def test_reminder_preferences_of_the_wrong_shape_fall_back_to_defaults():
    start = datetime(2030, 1, 7, 15, 0, tzinfo=UTC)
    day_before = start - timedelta(days=1)
    assert reminder_plan(None, None, [], start) == (["email"], [day_before])
    assert reminder_plan({"sms": True}, "soon", [], start) == (["email"], [day_before])
    assert reminder_plan("sms", 30, [], start) == (["sms"], [start - timedelta(minutes=30)])
    assert reminder_plan(
        ["sms", "mail", "sms", 7, ["email"]], [60, -5, True, 10**9, {"m": 1}], [], start
    ) == (
        ["sms"],
        [start - timedelta(minutes=60)],
    )
    assert reminder_plan([], [60], [], start) == ([], [])
    assert reminder_plan(["sms", "phone"], [60], ["phone"], start) == (
        ["sms"],
        [start - timedelta(minutes=60)],
    )
    assert reminder_plan(["sms"], [60], ["all"], start) == ([], [])


async def test_tools_publish_schemas_and_hints(writer, connect):
    async with connect(writer) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools if t.name in TOOLS}
    assert set(tools) == set(TOOLS)
    for name, tool in tools.items():
        assert tool.description and tool.output_schema and tool.input_schema["additionalProperties"] is False
        assert tool.annotations.read_only_hint is (name in TOOLS[:4])
    assert tools["cancel_appointment"].annotations.destructive_hint is True
    assert "from" in tools["find_available_slots"].input_schema["properties"]
    assert "idempotency_key" in tools["book_appointment"].input_schema["properties"]
