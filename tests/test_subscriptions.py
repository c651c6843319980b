"""Subscriptions that bill, through the official MCP client (issue 17): create, pause, cancel
and list; the billing run invoices each due period once, with the items as lines, however
often it runs and however runs race, and HTTP serve runs it on a schedule."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from test_audit_cli import bizctx
from test_cli_and_stdio import bizctx_command
from test_invoice_catalog import service
from test_invoices import READ, WRITE, seed_client
from test_transports import free_port

from bizctx.ops.billing import run_billing
from bizctx.tools.subscriptions import first_period_start, next_period_start
from conftest import audit_rows, count, err, ok

pytestmark = pytest.mark.anyio


@pytest.fixture
async def writer(make_agent):
    return await make_agent(**WRITE)


def today(sql, agent) -> date:
    return sql.execute(
        "SELECT (now() AT TIME ZONE t.time_zone)::date AS d FROM tenants t WHERE t.id = %s",
        (agent.tenant_id,),
    ).fetchone()["d"]


def plan(client_id: str, **extra) -> dict:
    return {
        "client_id": client_id,
        "plan_name": "Weekly clean, monthly plan",
        "currency": "USD",
        "billing_cycle": "monthly",
        "items": [{"description": "Weekly clean", "quantity": 4, "unit_price": "45.50", "tax_pct": "10"}],
        **extra,
    }


def backdate(sql, subscription_id: str, months: int) -> None:
    """Make a subscription, and the periods it billed, look `months` older: what passing time
    would do."""
    ago = {"m": months, "id": subscription_id}
    sql.execute(
        "UPDATE subscriptions SET starts_on = starts_on - make_interval(months => %(m)s),"
        " next_billing_on = next_billing_on - make_interval(months => %(m)s),"
        " ends_on = ends_on - make_interval(months => %(m)s),"
        " paused_until = paused_until - make_interval(months => %(m)s) WHERE id = %(id)s",
        ago,
    )
    sql.execute(
        "UPDATE subscription_periods SET period_start = period_start - make_interval(months => %(m)s),"
        " period_end = period_end - make_interval(months => %(m)s) WHERE subscription_id = %(id)s",
        ago,
    )


def periods(sql, subscription_id: str) -> list[dict]:
    return sql.execute(
        "SELECT p.period_start, p.period_end, p.invoice_id, i.total, i.status, i.notes"
        " FROM subscription_periods p JOIN invoices i ON i.id = p.invoice_id"
        " WHERE p.subscription_id = %s ORDER BY p.period_start",
        (subscription_id,),
    ).fetchall()


# -- the period arithmetic ------------------------------------------------------------------------


def test_periods_start_on_the_billing_day_or_the_last_day_of_a_shorter_month():
    assert first_period_start(date(2027, 1, 10), 31) == date(2027, 1, 31)
    assert first_period_start(date(2027, 1, 10), 5) == date(2027, 2, 5)
    starts = [date(2027, 1, 31)]
    for _ in range(3):
        starts.append(next_period_start(starts[-1], 31, 1))
    assert starts == [date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)]
    assert next_period_start(date(2027, 11, 30), 30, 3) == date(2028, 2, 29)
    assert next_period_start(date(2028, 2, 29), 29, 12) == date(2029, 2, 28)


# -- create / list ----------------------------------------------------------------------------------


async def test_a_subscription_takes_its_prices_from_the_catalog_and_is_listed(writer, connect, sql):
    client_id = seed_client(sql, writer)
    clean = service(sql, writer, "120.00", tax_pct="8.25", name="Deep clean")
    async with connect(writer) as c:
        made = await ok(
            c,
            "create_subscription",
            plan(
                client_id,
                items=[
                    {"service_id": clean, "quantity": 1},
                    {"description": "Supplies", "quantity": "2", "unit_price": "7.333", "discount_pct": "10"},
                ],
            ),
        )
        listed = await ok(c, "list_subscriptions", {"client_id": client_id})
    day = today(sql, writer)
    assert (made["status"], made["billing_cycle"], made["billing_day"]) == ("active", "monthly", day.day)
    assert made["starts_on"] == made["next_billing_on"] == day.isoformat() and made["last_billed"] is None
    assert [(i["description"], i["unit_price"], i["tax_pct"]) for i in made["items"]] == [
        ("Deep clean", "120.00", "8.25"),
        ("Supplies", "7.333", "0"),
    ]
    # 120.00 + round(2 x 7.333 x 0.9) = 120.00 + 13.20, before tax.
    assert made["amount"] == "133.20" and Decimal(made["amount"]) == Decimal("120.00") + Decimal("13.20")
    assert made["client"]["id"] == client_id and made["created_by_agent_id"] == str(writer.id)
    assert [s["id"] for s in listed["subscriptions"]] == [made["id"]]
    (row,) = [r for r in audit_rows(sql, writer) if r["name"] == "create_subscription"]
    assert (row["outcome"], row["entity_type"], row["entity_id"]) == ("ok", "subscription", made["id"])


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"items": []}, "items"),
        ({"billing_cycle": "weekly"}, "billing_cycle"),
        ({"billing_day": 32}, "billing_day"),
        ({"starts_on": "2020-01-01"}, "starts_on"),
        ({"starts_on": "2030-01-10", "ends_on": "2030-01-01"}, "ends_on"),
        ({"items": [{"description": "No price", "quantity": 1}]}, "unit_price"),
        ({"items": [{"description": "Free", "quantity": 0, "unit_price": "1"}]}, "quantity"),
        ({"currency": "usd1"}, "currency"),
        ({"plan_name": "  "}, "plan_name"),
    ],
)
async def test_bad_subscriptions_are_refused_and_nothing_is_written(writer, connect, sql, change, words):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        error = await err(c, "create_subscription", {**plan(client_id), **change})
    assert error["code"] == "invalid_input" and words in error["message"]
    assert count(sql, "subscriptions", writer.tenant_id) == 0
    assert count(sql, "subscription_items", writer.tenant_id) == 0


async def test_an_unknown_client_or_a_service_in_another_currency_is_refused(writer, connect, sql):
    client_id = seed_client(sql, writer)
    euro = service(sql, writer, "100.00", currency="EUR")
    async with connect(writer) as c:
        unknown = await err(c, "create_subscription", plan(str(uuid.uuid4())))
        other = await err(
            c, "create_subscription", plan(client_id, items=[{"service_id": euro, "quantity": 1}])
        )
        missing = await err(c, "pause_subscription", {"subscription_id": str(uuid.uuid4())})
    assert unknown["code"] == "not_found" and "No client" in unknown["message"]
    assert other["code"] == "invalid_input" and "priced in EUR" in other["message"]
    assert missing["code"] == "not_found" and "list_subscriptions" in missing["message"]
    assert count(sql, "subscriptions", writer.tenant_id) == 0


async def test_subscriptions_need_invoices_rights_and_hide_redacted_contact_fields(
    writer, make_agent, connect, sql
):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        made = await ok(c, "create_subscription", plan(client_id))
    reader = await make_agent(**READ, tenant=writer.tenant_name)
    closed = await make_agent(
        caps=["invoices.read"], access={"clients": {"read": True}}, tenant=writer.tenant_name
    )
    redacting = await make_agent(
        caps=["invoices.read"],
        access={"invoices": {"read": True}, "clients": {"read": True, "redact": ["email", "phone"]}},
        tenant=writer.tenant_name,
    )
    stranger = await make_agent(**WRITE)
    async with connect(reader) as c:
        denied = await err(c, "create_subscription", plan(client_id))
        denied_cancel = await err(c, "cancel_subscription", {"subscription_id": made["id"], "reason": "x"})
        seen = await ok(c, "list_subscriptions", {})
    async with connect(closed) as c:
        domain_closed = await err(c, "list_subscriptions", {})
    async with connect(redacting) as c:
        result = await c.call_tool("list_subscriptions", {})
    async with connect(stranger) as c:
        foreign = await err(c, "pause_subscription", {"subscription_id": made["id"]})
        theirs = await ok(c, "list_subscriptions", {})
    assert denied["code"] == denied_cancel["code"] == "permission_denied"
    assert "invoices.write" in denied["message"]
    assert [s["id"] for s in seen["subscriptions"]] == [made["id"]]
    assert domain_closed["code"] == "permission_denied"
    (shown,) = result.structured_content["subscriptions"]
    assert set(shown["client"]) == {"id", "display_name"}
    assert "@example.com" not in result.content[0].text and "555 0100" not in result.content[0].text
    assert foreign["code"] == "not_found" and theirs["subscriptions"] == []
    assert count(sql, "subscriptions", writer.tenant_id) == 1
    assert [(r["name"], r["outcome"]) for r in audit_rows(sql, reader)] == [
        ("create_subscription", "denied"),
        ("cancel_subscription", "denied"),
        ("list_subscriptions", "ok"),
    ]


# -- the billing run ----------------------------------------------------------------------------------


async def test_the_billing_run_invoices_a_due_period_once_with_the_items_as_lines(app, writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        made = await ok(c, "create_subscription", plan(client_id))
    first = await run_billing(app.db, writer.tenant_name)
    again = await run_billing(app.db, writer.tenant_name)
    async with connect(writer) as c:
        (listed,) = (await ok(c, "list_subscriptions", {}))["subscriptions"]
        invoice = await ok(c, "get_invoice", {"invoice_id": listed["last_billed"]["invoice_id"]})
    day = today(sql, writer)
    following = next_period_start(day, day.day, 1)
    assert [(str(r["subscription_id"]), r["period_start"], r["period_end"]) for r in first] == [
        (made["id"], day, following - timedelta(days=1))
    ]
    assert again == []
    assert listed["next_billing_on"] == following.isoformat()
    assert listed["last_billed"]["period_start"] == day.isoformat()
    assert (invoice["status"], invoice["client"]["id"], invoice["currency"]) == ("open", client_id, "USD")
    assert invoice["invoice_number"] is not None and invoice["issue_date"] == day.isoformat()
    assert [
        (i["description"], i["quantity"], i["net_amount"], i["tax_amount"]) for i in invoice["items"]
    ] == [("Weekly clean", "4", "182.00", "18.20")]
    assert invoice["total"] == "200.20"
    assert "Weekly clean, monthly plan" in invoice["notes"] and day.isoformat() in invoice["notes"]
    assert count(sql, "invoices", writer.tenant_id) == 1


async def test_billing_runs_repeated_and_raced_invoice_each_missed_period_once(app, writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        made = await ok(c, "create_subscription", plan(client_id))
        other = await ok(c, "create_subscription", plan(client_id, billing_cycle="quarterly"))
    backdate(sql, made["id"], 3)  # three periods missed, and today's due
    runs = await asyncio.gather(*(run_billing(app.db) for _ in range(4)))
    rows = [r for run in runs for r in run if r["tenant_name"] == writer.tenant_name]
    assert all("error" not in r for r in rows), rows
    assert sorted((str(r["subscription_id"]), r["period_start"]) for r in rows) == sorted(
        (str(p), s)
        for p, s in [(made["id"], p["period_start"]) for p in periods(sql, made["id"])]
        + [(other["id"], today(sql, writer))]
    )
    billed = periods(sql, made["id"])
    assert len(billed) == 4 and len({p["invoice_id"] for p in billed}) == 4
    assert [p["period_end"] + timedelta(days=1) for p in billed[:-1]] == [
        p["period_start"] for p in billed[1:]
    ]
    assert {p["total"] for p in billed} == {Decimal("200.20")}
    assert len(periods(sql, other["id"])) == 1
    assert count(sql, "invoices", writer.tenant_id) == 5
    assert await run_billing(app.db, writer.tenant_name) == []


async def test_paused_periods_are_not_billed_and_billing_resumes_with_the_next(app, writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        made = await ok(c, "create_subscription", plan(client_id))
        paused = await ok(c, "pause_subscription", {"subscription_id": made["id"]})
        nothing = await run_billing(app.db, writer.tenant_name)
        backdate(sql, made["id"], 2)  # two periods passed while paused
        resumed = await ok(c, "pause_subscription", {"subscription_id": made["id"], "resume": True})
        billed = await run_billing(app.db, writer.tenant_name)
        not_paused = await err(c, "pause_subscription", {"subscription_id": made["id"], "resume": True})
        past = await err(c, "pause_subscription", {"subscription_id": made["id"], "until": "2020-01-01"})
    day = today(sql, writer)
    assert (paused["status"], paused["paused_until"], nothing) == ("paused", None, [])
    # The period that had started when it was paused was billed then, not dropped.
    assert paused["last_billed"]["period_start"] == day.isoformat()
    assert (resumed["status"], resumed["next_billing_on"]) == ("active", day.isoformat())
    assert [r["period_start"] for r in billed] == [day]  # only the period that starts after the pause
    assert len(periods(sql, made["id"])) == 2
    assert not_paused["code"] == "conflict" and past["code"] == "invalid_input"


async def test_a_resume_after_a_pause_that_ended_unnoticed_bills_from_its_end(app, writer, connect, sql):
    client_id = seed_client(sql, writer)
    day = today(sql, writer)
    async with connect(writer) as c:
        made = await ok(c, "create_subscription", plan(client_id))
        await ok(
            c,
            "pause_subscription",
            {"subscription_id": made["id"], "until": (day + timedelta(days=20)).isoformat()},
        )
        # Two months on, the pause ended a little after the first paused period began, and no
        # billing run has noticed: the next period, and today's, started after it ended.
        backdate(sql, made["id"], 2)
        sql.execute(
            "UPDATE subscriptions SET paused_until = %s WHERE id = %s",
            (day - timedelta(days=40), made["id"]),
        )
        resumed = await ok(c, "pause_subscription", {"subscription_id": made["id"], "resume": True})
    billed = await run_billing(app.db, writer.tenant_name)
    starts = [p["period_start"] for p in periods(sql, made["id"])]
    assert resumed["status"] == "active" and date.fromisoformat(
        resumed["next_billing_on"]
    ) >= day - timedelta(days=40)
    assert len(billed) == 2 and starts[-1] == day and len(starts) == 3


async def test_a_pause_with_an_end_resumes_by_itself_at_the_billing_run(app, writer, connect, sql):
    client_id = seed_client(sql, writer)
    day = today(sql, writer)
    async with connect(writer) as c:
        made = await ok(c, "create_subscription", plan(client_id))
        until = (day + timedelta(days=40)).isoformat()
        paused = await ok(c, "pause_subscription", {"subscription_id": made["id"], "until": until})
    assert paused["paused_until"] == until
    assert await run_billing(app.db, writer.tenant_name) == []
    # Time passes: the pause ends today, two periods after it began.
    backdate(sql, made["id"], 2)
    sql.execute("UPDATE subscriptions SET paused_until = %s WHERE id = %s", (day, made["id"]))
    billed = await run_billing(app.db, writer.tenant_name)
    after = sql.execute(
        "SELECT status, paused_until FROM subscriptions WHERE id = %s", (made["id"],)
    ).fetchone()
    assert (after["status"], after["paused_until"]) == ("active", None)
    assert [r["period_start"] for r in billed] == [day]  # not the two that started while paused


async def test_a_cancelled_subscription_bills_nothing_more_and_cancelling_again_changes_nothing(
    app, writer, connect, sql
):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        made = await ok(c, "create_subscription", plan(client_id))
        await run_billing(app.db, writer.tenant_name)
        cancelled = await ok(
            c, "cancel_subscription", {"subscription_id": made["id"], "reason": "Moved away."}
        )
        again = await ok(c, "cancel_subscription", {"subscription_id": made["id"], "reason": "Again."})
        pause = await err(c, "pause_subscription", {"subscription_id": made["id"]})
        backdate(sql, made["id"], 2)
        later = await run_billing(app.db, writer.tenant_name)
        listed = await ok(c, "list_subscriptions", {"status": "cancelled"})
    assert (cancelled["status"], cancelled["cancel_reason"], cancelled["next_billing_on"]) == (
        "cancelled",
        "Moved away.",
        None,
    )
    assert again["cancelled_at"] == cancelled["cancelled_at"] and again["cancel_reason"] == "Moved away."
    assert pause["code"] == "conflict" and pause["status"] == "cancelled"
    assert later == [] and len(periods(sql, made["id"])) == 1  # the invoice issued before stays
    assert [s["id"] for s in listed["subscriptions"]] == [made["id"]]


@pytest.mark.parametrize(("auto_renew", "billed", "status"), [(False, 1, "ended"), (True, 2, "active")])
async def test_a_term_ends_or_renews_period_by_period(app, writer, connect, sql, auto_renew, billed, status):
    client_id = seed_client(sql, writer)
    day = today(sql, writer)
    async with connect(writer) as c:
        made = await ok(
            c, "create_subscription", plan(client_id, ends_on=day.isoformat(), auto_renew=auto_renew)
        )
    backdate(sql, made["id"], 1)  # the term was last month's period; today's starts after it
    rows = await run_billing(app.db, writer.tenant_name)
    state = sql.execute(
        "SELECT status, ends_on, next_billing_on FROM subscriptions WHERE id = %s", (made["id"],)
    )
    after = state.fetchone()
    assert len(rows) == billed and after["status"] == status
    if auto_renew:
        assert after["ends_on"] == next_period_start(day, day.day, 1) - timedelta(days=1)
    else:
        assert after["next_billing_on"] is None


@pytest.mark.parametrize(("currency", "price", "amount"), [("JPY", "333", "999"), ("KWD", "0.3335", "1.001")])
async def test_amounts_are_exact_to_the_currencys_minor_unit(
    app, writer, connect, sql, currency, price, amount
):
    client_id = seed_client(sql, writer)
    items = [{"description": "Visit", "quantity": 3, "unit_price": price}]
    async with connect(writer) as c:
        made = await ok(c, "create_subscription", plan(client_id, currency=currency, items=items))
    (row,) = await run_billing(app.db, writer.tenant_name)
    assert made["amount"] == amount
    total = sql.execute("SELECT total FROM invoices WHERE id = %s", (row["invoice_id"],)).fetchone()["total"]
    assert total == Decimal(amount)


async def test_the_cli_runs_the_billing_once(writer, connect, sql, dsn, tmp_path):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        made = await ok(c, "create_subscription", plan(client_id))
    env = {"DATABASE_URL": dsn, "BIZCTX_DATA_DIR": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    first = bizctx(env, "billing", "run", "--tenant", writer.tenant_name)
    second = bizctx(env, "billing", "run", "--tenant", writer.tenant_name)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert made["id"] in first.stdout and "invoiced as" in first.stdout
    assert second.stdout.strip() == "nothing due"
    assert len(periods(sql, made["id"])) == 1


async def test_http_serve_runs_the_billing_on_its_schedule(writer, connect, sql, dsn, tmp_path):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        made = await ok(c, "create_subscription", plan(client_id))
    backdate(sql, made["id"], 1)  # last month's period and today's are due
    env = {
        "DATABASE_URL": dsn,
        "BIZCTX_DATA_DIR": str(tmp_path),
        "PATH": os.environ.get("PATH", ""),
        "BIZCTX_BILLING_RUN_SECONDS": "0.5",
    }
    server = await asyncio.create_subprocess_exec(
        *bizctx_command(),
        "serve",
        "--transport",
        "streamable-http",
        "--port",
        str(free_port()),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(periods(sql, made["id"])) < 2:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # a few more runs: still once each
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(server.communicate(), timeout=30)
    assert len(periods(sql, made["id"])) == 2, stderr.decode()[-2000:]


# -- import and export ----------------------------------------------------------------------------


async def test_an_exported_subscription_reimports_unchanged_and_an_import_is_billed(
    app, writer, make_tenant, connect, sql, tmp_path
):
    from test_import import export_text, load, write

    client_id = seed_client(sql, writer)
    clean = service(sql, writer, "120.00", tax_pct="10")
    async with connect(writer) as c:
        made = await ok(
            c, "create_subscription", plan(client_id, items=[{"service_id": clean, "quantity": 2}])
        )
    exported = await export_text(app, writer.tenant_name, "subscriptions", "jsonl")
    assert made["id"] in exported  # no external_ref: named by its id
    again = await load(app, writer.tenant_name, "subscriptions", write(tmp_path, "s.jsonl", exported))
    assert (again.errors, again.inserted, again.updated, again.unchanged) == ([], 0, 0, 1)
    assert await export_text(app, writer.tenant_name, "subscriptions", "jsonl") == exported
    # Imported elsewhere, it is a subscription like any other: the billing run bills it.
    await run_billing(app.db, writer.tenant_name)
    (period,) = periods(sql, made["id"])
    assert period["total"] == Decimal("264.00")  # 2 x 120.00 + 10% tax


async def test_bad_subscription_rows_are_all_reported_and_nothing_is_written(app, writer, sql, tmp_path):
    from test_import import load, write

    client = sql.execute(
        "UPDATE clients SET external_ref = 'C-1' WHERE id = %s RETURNING external_ref",
        (seed_client(sql, writer),),
    ).fetchone()["external_ref"]
    item = '[{""description"": ""Clean"", ""quantity"": ""1"", ""unit_price"": ""10.00""}]'
    header = ",".join(
        ("external_ref", "client_ref", "plan_name", "status", "billing_cycle", "currency", "starts_on")
        + ("next_billing_on", "paused_until", "items")
    )
    rows = [
        f'S-1,{client},Plan,active,weekly,EUR,2030-01-01,2030-01-01,,"{item}"',
        f'S-2,{client},Plan,active,monthly,EUR,2030-01-01,,,"{item}"',
        f'S-3,{client},Plan,active,monthly,EUR,2030-01-01,2030-01-01,2030-02-01,"{item}"',
        f"S-4,{client},Plan,active,monthly,EUR,2030-01-01,2030-01-01,,[]",
        f'S-5,nobody,Plan,active,monthly,EUR,2030-01-01,2030-01-01,,"{item.replace("10.00", "ten")}"',
    ]
    result = await load(
        app, writer.tenant_name, "subscriptions", write(tmp_path, "s.csv", "\n".join([header, *rows]))
    )
    found = {(e.line, e.column) for e in result.errors}
    # Line 1 is the header.
    assert found == {
        (2, "billing_cycle"),
        (3, "next_billing_on"),
        (4, "paused_until"),
        (5, "items"),
        (6, "client_ref"),
        (6, "items"),
    }, result.errors
    assert not result.imported and count(sql, "subscriptions", writer.tenant_id) == 0


async def test_an_import_cannot_move_billing_back_into_the_past_or_off_the_billing_day(
    app, writer, connect, sql, tmp_path
):
    from test_import import export_text, load, write

    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        made = await ok(c, "create_subscription", plan(client_id))
    before = await export_text(app, writer.tenant_name, "subscriptions", "jsonl")
    await run_billing(app.db, writer.tenant_name)
    day = today(sql, writer)
    record = json.loads(before)
    rows = [
        {**record, "plan_name": "Renamed"},  # exported before the run: its next_billing_on is billed
        {**record, "external_ref": "NEW-1", "next_billing_on": "2020-01-31", "starts_on": "2020-01-01"},
        {**record, "external_ref": "NEW-2", "next_billing_on": (day + timedelta(days=1)).isoformat(),
         "billing_day": str((day + timedelta(days=3)).day), "starts_on": day.isoformat()},
        {**record, "external_ref": "NEW-3", "currency": "JPY", "items": None},
    ]  # fmt: skip
    file = write(tmp_path, "s.jsonl", "".join(json.dumps(r) + "\n" for r in rows[:3]))
    result = await load(app, writer.tenant_name, "subscriptions", file)
    messages = {(e.line, e.column): e.message for e in result.errors}
    assert "the end of the last period billed" in messages[(1, "next_billing_on")]
    assert (
        "before today" in messages[(2, "next_billing_on")]
        and "every period since" in messages[(2, "next_billing_on")]
    )
    assert "not on the billing day" in messages[(3, "next_billing_on")]
    # The currency of a subscription changes only with its items, priced in the new one.
    now_next = sql.execute(
        "SELECT next_billing_on FROM subscriptions WHERE id = %s", (made["id"],)
    ).fetchone()
    changed = {k: v for k, v in rows[3].items() if k != "items"} | {
        "external_ref": made["id"],
        "next_billing_on": now_next["next_billing_on"].isoformat(),
    }
    currency = await load(
        app, writer.tenant_name, "subscriptions", write(tmp_path, "c.jsonl", json.dumps(changed) + "\n")
    )
    assert [(e.column, "give the items too" in e.message) for e in currency.errors] == [("currency", True)]
    assert (
        sql.execute("SELECT plan_name FROM subscriptions WHERE id = %s", (made["id"],)).fetchone()[
            "plan_name"
        ]
        != "Renamed"
    )


async def test_an_import_without_some_columns_keeps_what_they_hold(app, writer, connect, sql, tmp_path):
    from test_import import load, write

    client_id = seed_client(sql, writer)
    day = today(sql, writer)
    async with connect(writer) as c:
        made = await ok(
            c,
            "create_subscription",
            plan(client_id, ends_on=(day + timedelta(days=200)).isoformat(), auto_renew=False),
        )
        await ok(c, "cancel_subscription", {"subscription_id": made["id"], "reason": "Moved away."})
    before = sql.execute("SELECT * FROM subscriptions WHERE id = %s", (made["id"],)).fetchone()
    file = write(tmp_path, "s.csv", f"external_ref,plan_name\n{made['id']},Renamed plan\n")
    result = await load(app, writer.tenant_name, "subscriptions", file)
    after = sql.execute("SELECT * FROM subscriptions WHERE id = %s", (made["id"],)).fetchone()
    assert (result.errors, result.updated) == ([], 1)
    assert after["plan_name"] == "Renamed plan"
    kept = (
        "status",
        "cancelled_at",
        "cancel_reason",
        "ends_on",
        "auto_renew",
        "billing_day",
        "next_billing_on",
    )
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}


async def test_a_billing_run_refuses_a_period_inside_one_already_billed(app, writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        made = await ok(c, "create_subscription", plan(client_id))
    await run_billing(app.db, writer.tenant_name)
    # By hand, behind bizctx's back: billing moved back onto the period just billed.
    sql.execute("UPDATE subscriptions SET next_billing_on = starts_on WHERE id = %s", (made["id"],))
    (row,) = await run_billing(app.db, writer.tenant_name)
    assert "starts inside one already billed" in row["error"] and len(periods(sql, made["id"])) == 1


async def test_a_term_that_ends_before_its_first_period_or_an_amount_too_large_is_refused(
    writer, connect, sql
):
    client_id = seed_client(sql, writer)
    day = today(sql, writer)
    later = day + timedelta(days=10)
    async with connect(writer) as c:
        never = await err(
            c,
            "create_subscription",
            plan(
                client_id,
                starts_on=day.isoformat(),
                billing_day=later.day,
                ends_on=(day + timedelta(days=5)).isoformat(),
                auto_renew=False,
            ),
        )
        huge = await err(
            c,
            "create_subscription",
            plan(
                client_id,
                items=[{"description": "Tower", "quantity": "9999999999", "unit_price": "99999999999999"}],
            ),
        )
    assert never["code"] == "invalid_input" and "nothing would be billed" in never["message"]
    assert huge["code"] == "invalid_input" and "too large" in huge["message"]
    assert count(sql, "subscriptions", writer.tenant_id) == 0
