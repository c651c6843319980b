"""Every KPI of get_kpis on the demo business, this month and last, against an independent
computation in Python from the raw rows (issue 18, part 4): the named SQL and this file must
agree on each figure, in each currency."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.rows import dict_row
from test_demo import demo_settings, seed  # noqa: F401 (the fixture)

from bizctx.ops import demo, operators
from bizctx.server.access import parse_access_patterns
from bizctx.server.app import open_app
from bizctx.server.guard import Principal

pytestmark = pytest.mark.anyio

MINOR = {"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3}
EVERYTHING = {
    "goals": {"read": True},
    "invoices": {"read": True},
    "appointments": {"read": True},
    "clients": {"read": True},
    "tasks": {"read": True, "scope": "assigned"},
}


def rounded(value: Decimal | None, places: int) -> Decimal | None:
    if value is None:
        return None
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def expected(conn: psycopg.Connection, tenant_id, tz: ZoneInfo, start: date, end: date) -> dict:
    """Each KPI of [start, end] (inclusive), computed from the rows: {(kpi, currency): value}."""
    lo = datetime.combine(start, time(0), tz)
    hi = datetime.combine(end + timedelta(days=1), time(0), tz)
    today = datetime.now(tz).date()
    rows = lambda q: conn.execute(q, (tenant_id,)).fetchall()  # noqa: E731
    out: dict[tuple[str, str | None], Decimal | None] = {}
    money: dict[str, defaultdict] = {k: defaultdict(Decimal) for k in ("invoiced", "collected")}
    invoices = rows(
        "SELECT id, status, currency, total, balance_due, issue_date, due_date FROM invoices"
        " WHERE tenant_id = %s"
    )
    for i in invoices:
        if i["status"] in ("open", "partial", "paid") and start <= i["issue_date"] <= end:
            money["invoiced"][i["currency"]] += i["total"]
    for p in rows("SELECT amount, currency, paid_at FROM payments WHERE tenant_id = %s"):
        if lo <= p["paid_at"] < hi:
            money["collected"][p["currency"]] += p["amount"]
    for r in rows("SELECT amount, currency, refunded_at FROM refunds WHERE tenant_id = %s"):
        if lo <= r["refunded_at"] < hi:
            money["collected"][r["currency"]] -= r["amount"]
    for name, key in (("revenue_invoiced", "invoiced"), ("revenue_collected", "collected")):
        for currency, value in money[key].items():
            out[(name, currency)] = rounded(value, MINOR[currency])
    owed, late = defaultdict(Decimal), defaultdict(Decimal)
    for i in invoices:
        if i["status"] in ("open", "partial"):
            owed[i["currency"]] += i["balance_due"]
            if i["due_date"] < today:
                late[i["currency"]] += i["balance_due"]
    out |= {("receivables", c): rounded(v, MINOR[c]) for c, v in owed.items()}
    out |= {("overdue_amount", c): rounded(v, MINOR[c]) for c, v in late.items()}
    last_paid: dict = {}
    for p in rows(
        "SELECT p.invoice_id, p.paid_at FROM payments p JOIN invoices i ON i.id = p.invoice_id"
        " WHERE p.tenant_id = %s AND i.status = 'paid'"
    ):
        day = p["paid_at"].astimezone(tz).date()
        last_paid[p["invoice_id"]] = max(day, last_paid.get(p["invoice_id"], day))
    issued = {i["id"]: i["issue_date"] for i in invoices}
    waits = [(d - issued[i]).days for i, d in last_paid.items() if start <= d <= end]
    out[("avg_days_to_pay", None)] = rounded(Decimal(sum(waits)) / len(waits), 1) if waits else None

    visits = rows("SELECT status, starts_at, created_at FROM appointments WHERE tenant_id = %s")
    out[("appointments_booked", None)] = Decimal(sum(lo <= v["created_at"] < hi for v in visits))
    started = [v for v in visits if lo <= v["starts_at"] < hi]
    done = sum(v["status"] == "completed" for v in started)
    missed = sum(v["status"] == "no_show" for v in started)
    out[("appointments_completed", None)] = Decimal(done)
    out[("no_show_rate", None)] = (
        rounded(Decimal(100 * missed) / (done + missed), 1) if done + missed else None
    )
    staff = {
        r["id"] for r in rows("SELECT id FROM resources WHERE tenant_id = %s AND kind = 'staff' AND active")
    }
    hours = defaultdict(Decimal)
    for a in rows(
        "SELECT resource_id, weekday, start_time, end_time FROM resource_availability WHERE tenant_id = %s"
    ):
        if a["resource_id"] in staff:
            span = datetime.combine(date.min, a["end_time"]) - datetime.combine(date.min, a["start_time"])
            hours[a["weekday"]] += Decimal(span.total_seconds()) / 3600
    working = sum(
        (hours[(start + timedelta(days=n)).isoweekday()] for n in range((end - start).days + 1)), Decimal(0)
    )
    booked = Decimal(0)
    for h in rows("SELECT resource_id, during FROM appointment_resources WHERE tenant_id = %s AND active"):
        if h["resource_id"] in staff:
            overlap = min(h["during"].upper, hi) - max(h["during"].lower, lo)
            booked += max(Decimal(overlap.total_seconds()) / 3600, Decimal(0))
    out[("staff_utilisation", None)] = rounded(100 * booked / working, 1) if working else None

    clients = rows("SELECT created_at FROM clients WHERE tenant_id = %s AND deleted_at IS NULL")
    out[("new_clients", None)] = Decimal(sum(lo <= c["created_at"] < hi for c in clients))

    events = rows(
        "SELECT id, task_id, from_status, to_status, at, detail FROM task_events"
        " WHERE tenant_id = %s ORDER BY id"
    )
    # Held calls for approval are not the queue's work.
    approvals = {t["id"] for t in rows("SELECT id FROM tasks WHERE tenant_id = %s AND type = 'approval'")}
    ended = [e for e in events if lo <= e["at"] < hi and e["task_id"] not in approvals]
    completed = sum(e["to_status"] == "completed" for e in ended)
    dead = sum(e["to_status"] == "dead" for e in ended)
    out[("task_throughput", None)] = Decimal(completed)
    out[("task_failure_rate", None)] = (
        rounded(Decimal(100 * dead) / (completed + dead), 1) if completed + dead else None
    )
    # From the event that made the task pending (or the run_after it then had) to its claim.
    waited, before = [], {}
    for e in events:
        if e["to_status"] == "claimed" and e["from_status"] == "pending" and lo <= e["at"] < hi:
            last = before[e["task_id"]]
            scheduled = datetime.fromisoformat(last["detail"].get("run_after", last["at"].isoformat()))
            waited.append(Decimal((e["at"] - max(last["at"], scheduled)).total_seconds()) / 60)
        before[e["task_id"]] = e
    out[("avg_minutes_to_claim", None)] = rounded(sum(waited) / len(waited), 1) if waited else None
    return out


async def test_every_kpi_on_the_demo_agrees_with_an_independent_computation(demo_settings):  # noqa: F811
    await seed(demo_settings)
    async with open_app(demo_settings, migrate=False) as app:
        capabilities = [f"{domain}.read" for domain in EVERYTHING]
        analyst = await operators.create_agent(
            app.db, demo.TENANT, "analyst", capabilities, parse_access_patterns(EVERYTHING)
        )
        principal = Principal(analyst.agent["tenant_id"], analyst.agent["id"], "memory")
        result = await app.guard.call_tool(principal, "get_kpis", {})
    assert not result.is_error, result.content[0].text
    got = result.structured_content
    tz = ZoneInfo(demo.TIME_ZONE)
    with psycopg.connect(demo_settings.database_url, row_factory=dict_row) as conn:
        tenant_id = analyst.agent["tenant_id"]
        now = expected(
            conn, tenant_id, tz, date.fromisoformat(got["period_from"]), date.fromisoformat(got["period_to"])
        )
        then = expected(
            conn,
            tenant_id,
            tz,
            date.fromisoformat(got["previous_from"]),
            date.fromisoformat(got["previous_to"]),
        )
    assert got["withheld"] == [] and len({k["name"] for k in got["kpis"]}) == 13
    point_in_time = {"receivables", "overdue_amount"}
    for kpi in got["kpis"]:
        key = (kpi["name"], kpi["currency"])
        value = None if kpi["value"] is None else Decimal(kpi["value"])
        previous = None if kpi["previous"] is None else Decimal(kpi["previous"])
        assert value == now.get(key, Decimal(0) if kpi["unit"] != "days" else None), (key, kpi, now.get(key))
        if kpi["name"] in point_in_time:
            assert previous is None, kpi
        else:
            want = then.get(key, Decimal(0) if kpi["unit"] not in ("days", "percent", "minutes") else None)
            assert previous == want, (key, kpi, want)
    # Every figure the rows give has its KPI entry (no currency dropped).
    shown = {(k["name"], k["currency"]) for k in got["kpis"]}
    assert {k for k, v in now.items() if v is not None} <= shown
    # The demo has something to measure in each domain this month.
    figures = {(k["name"], k["currency"]): k["value"] for k in got["kpis"]}
    assert Decimal(figures[("receivables", "USD")]) > 0 and Decimal(figures[("new_clients", None)]) >= 200
