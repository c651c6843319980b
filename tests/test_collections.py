"""Collections ladders through the official MCP client: an overdue invoice's escalation steps
become claimable collections_contact tasks at their time (their message rendered when
claimed), collapse when already past, advance, and stop when the invoice is paid or the client
opts out. The business's zone is one where it is midday now (contact rules allow sms)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import anyio
import pytest
from test_contact_rules import zone_at

from conftest import audit_rows, count, err, error_of, ok

pytestmark = pytest.mark.anyio

BILLING = {
    "caps": ["invoices.read", "invoices.write", "clients.read", "clients.write"],
    "access": {"invoices": {"read": True, "write": True}, "clients": {"read": True, "write": True}},
}
COLLECTOR = {
    "caps": ["tasks.read", "tasks.work", "clients.read", "invoices.read", "contacts.read"],
    "access": {
        "tasks": {"read": True, "write": True, "scope": "all"},
        "clients": {"read": True},
        "invoices": {"read": True},
        "contacts": {"read": True},
    },
}


@pytest.fixture
async def books(make_tenant, make_agent, connect):
    zone = zone_at(12)
    tenant = await make_tenant(time_zone=zone)
    billing = await make_agent(**BILLING, tenant=tenant["name"], name="billing")
    collector = await make_agent(**COLLECTOR, tenant=tenant["name"], name="collector")
    today = datetime.now(ZoneInfo(zone)).date()
    async with connect(billing) as c:
        client = await ok(
            c, "upsert_client", {"first_name": "Ann", "email": "ann@example.com", "phone": "+1 555 0100"}
        )
    return {
        "tenant": tenant,
        "billing": billing,
        "collector": collector,
        "client": client["id"],
        "today": today,
    }


async def overdue(c, books, days: int, amount: str = "80.00") -> dict:
    """An invoice issued 30 days before its due date, which was `days` days ago."""
    due = books["today"] - timedelta(days=days)
    return await ok(
        c,
        "create_invoice",
        {
            "client_id": books["client"],
            "currency": "USD",
            "items": [{"description": "Deep clean", "quantity": "1", "unit_price": amount}],
            "issue_date": (due - timedelta(days=30)).isoformat(),
            "due_date": due.isoformat(),
        },
    )


def bring_forward(sql, ladder: dict, step: int) -> None:
    """The step's time comes now (as if the days until it had passed)."""
    sql.execute(
        "UPDATE collection_steps SET due_at = now() - interval '1 minute'"
        " WHERE collection_id = %s AND step = %s",
        (ladder["id"], step),
    )


def at_nine(books, day: date) -> datetime:
    return datetime.combine(day, datetime.min.time().replace(hour=9), ZoneInfo(books["tenant"]["time_zone"]))


async def test_a_ladder_collapses_past_steps_and_its_due_step_is_claimed_with_its_message(
    books, connect, sql
):
    async with connect(books["billing"]) as c:
        inv = await overdue(c, books, days=10)
        ladder = await ok(c, "start_collection", {"invoice_id": inv["id"], "idempotency_key": "collect-1"})
    steps = {s["step"]: s for s in ladder["steps"]}
    assert ladder["status"] == "active" and [s["channel"] for s in ladder["steps"]] == [
        "email",
        "sms",
        "phone",
        "email",
    ]
    due = books["today"] - timedelta(days=10)
    assert [datetime.fromisoformat(s["due_at"]) for s in ladder["steps"]] == [
        at_nine(books, due + timedelta(days=d)) for d in (0, 7, 14, 30)
    ]
    assert steps[1]["status"] == "skipped" and "Collapsed into step 2" in steps[1]["note"]
    assert steps[2]["status"] == "queued" and steps[2]["task_id"] is not None
    assert steps[3]["status"] == steps[4]["status"] == "scheduled"
    async with connect(books["collector"]) as c:
        claimed = await ok(c, "claim_next_task", {"task_types": ["collections_contact"]})
        nothing = await ok(c, "claim_next_task", {"task_types": ["collections_contact"]})
        shown = json.loads(
            (await c.read_resource(f"bizctx://invoices/{inv['id']}/collection")).contents[0].text
        )
    task, message = claimed["task"], claimed["message"]
    assert task["id"] == steps[2]["task_id"] and task["type"] == "collections_contact"
    # The payload holds references, never contact data; the message is rendered at the claim.
    assert set(task["payload"]) == {"collection_id", "step", "channel", "template", "client_id", "invoice_id"}
    assert "ann@example.com" not in json.dumps(task) and "555 0100" not in json.dumps(task)
    assert message["template"] == "payment_reminder_sms" and message["channel"] == "sms"
    assert inv["invoice_number"] in message["body"] and "80.00 USD" in message["body"]
    assert message["withheld"] == [] and nothing["task"] is None
    assert [s["task_status"] for s in shown["steps"]] == [None, "claimed", None, None]
    assert [r["name"] for r in audit_rows(sql, books["billing"])][-1] == "start_collection"


async def test_a_ladder_advances_and_stops_when_the_invoice_is_paid(books, connect, sql):
    async with connect(books["billing"]) as c:
        inv = await overdue(c, books, days=3)
        ladder = await ok(c, "start_collection", {"invoice_id": inv["id"]})
    assert [s["status"] for s in ladder["steps"]] == ["queued", "scheduled", "scheduled", "scheduled"]
    # A week passes for step 2 (its time, brought forward).
    bring_forward(sql, ladder, 2)
    async with connect(books["collector"]) as c:
        first = await ok(c, "claim_next_task", {"task_types": ["collections_contact"]})
        second = await ok(c, "claim_next_task", {"task_types": ["collections_contact"]})
    assert first["message"]["template"] == "payment_reminder_email"
    assert second["message"]["template"] == "payment_reminder_sms"
    async with connect(books["billing"]) as c:
        await ok(c, "record_payment", {"invoice_id": inv["id"], "amount": "80.00", "method": "card"})
        paid_view = json.loads(
            (await c.read_resource(f"bizctx://invoices/{inv['id']}/collection")).contents[0].text
        )
    bring_forward(sql, ladder, 3)
    async with connect(books["collector"]) as c:
        after = await ok(c, "claim_next_task", {"task_types": ["collections_contact"]})
    assert paid_view["status"] == "completed" and paid_view["end_reason"] == "The invoice was paid."
    assert after["task"] is None  # step 3's time came, but the invoice is paid: no task
    row = sql.execute("SELECT status, end_reason FROM collections WHERE id = %s", (ladder["id"],)).fetchone()
    assert (row["status"], row["end_reason"]) == ("completed", "The invoice was paid.")
    steps = sql.execute(
        "SELECT step, status, note FROM collection_steps WHERE collection_id = %s ORDER BY step",
        (ladder["id"],),
    ).fetchall()
    assert [(s["step"], s["status"]) for s in steps] == [
        (1, "queued"),
        (2, "queued"),
        (3, "skipped"),
        (4, "skipped"),
    ]
    assert steps[2]["note"] == "The invoice was paid."


async def test_opt_outs_skip_a_step_or_stop_the_ladder(books, connect, sql):
    async with connect(books["billing"]) as c:
        first = await overdue(c, books, days=8)  # step 2 (sms) is the one due
        await ok(c, "set_client_preference", {"client_id": books["client"], "opt_out": ["sms"]})
        skipped = await ok(c, "start_collection", {"invoice_id": first["id"]})
        second = await overdue(c, books, days=1, amount="20.00")
        running = await ok(c, "start_collection", {"invoice_id": second["id"]})
        await ok(c, "set_client_preference", {"client_id": books["client"], "opt_out": ["all"]})
        third = await overdue(c, books, days=2, amount="30.00")
        refused = await err(c, "start_collection", {"invoice_id": third["id"]})
    async with connect(books["collector"]) as c:
        claimed = await ok(c, "claim_next_task", {"task_types": ["collections_contact"]})
        after = json.loads(
            (await c.read_resource(f"bizctx://invoices/{second['id']}/collection")).contents[0].text
        )
    by_step = {s["step"]: s for s in skipped["steps"]}
    assert by_step[2]["status"] == "skipped" and by_step[2]["note"] == "The client opted out of sms."
    assert [s["status"] for s in running["steps"]] == ["queued", "scheduled", "scheduled", "scheduled"]
    assert refused["code"] == "policy_blocked" and refused["rule"] == "opt_out"
    # After the opt-out of all, the running ladder stops and its unclaimed task is cancelled.
    assert claimed["task"] is None
    assert after["status"] == "stopped" and after["end_reason"] == "The client opted out of all contact."
    assert [s["status"] for s in after["steps"]] == ["queued", "skipped", "skipped", "skipped"]
    assert after["steps"][0]["task_status"] == "cancelled"


async def test_starting_and_stopping_are_refused_when_they_make_no_sense(books, make_agent, connect, sql):
    reader = await make_agent(
        caps=["invoices.read"], access={"invoices": {"read": True}}, tenant=books["tenant"]["name"]
    )
    async with connect(books["billing"]) as c:
        current = await overdue(c, books, days=-5)  # due in five days
        late = await overdue(c, books, days=4)
        not_due = await err(c, "start_collection", {"invoice_id": current["id"]})
        await ok(c, "start_collection", {"invoice_id": late["id"]})
        twice = await err(c, "start_collection", {"invoice_id": late["id"]})
        missing = await err(c, "start_collection", {"invoice_id": "00000000-0000-0000-0000-000000000000"})
        bad = await err(c, "stop_collection", {"invoice_id": late["id"]})
        never = await err(c, "stop_collection", {"invoice_id": current["id"], "reason": "x"})
        stopped = await ok(c, "stop_collection", {"invoice_id": late["id"], "reason": "Payment plan agreed."})
        again = await err(c, "stop_collection", {"invoice_id": late["id"], "reason": "Payment plan agreed."})
    async with connect(reader) as c:
        denied = await err(c, "start_collection", {"invoice_id": late["id"]})
        listed = {t.name for t in (await c.list_tools()).tools}
    assert not_due["code"] == "conflict" and "not overdue" in not_due["message"]
    assert twice["code"] == "conflict" and "already runs" in twice["message"]
    assert missing["code"] == never["code"] == "not_found"
    assert bad["code"] == "invalid_input" and "reason" in bad["message"]
    assert stopped["status"] == "stopped" and stopped["end_reason"] == "Payment plan agreed."
    assert [s["status"] for s in stopped["steps"]] == ["queued", "skipped", "skipped", "skipped"]
    assert stopped["steps"][0]["task_status"] == "cancelled"
    assert again["code"] == "conflict"
    assert denied["code"] == "permission_denied" and "start_collection" not in listed
    assert count(sql, "collections", books["billing"].tenant_id) == 1


async def test_the_client_context_shows_a_risk_profile_from_the_data(books, make_agent, connect):
    clerk = await make_agent(
        caps=["clients.read"], access={"clients": {"read": True}}, tenant=books["tenant"]["name"]
    )
    client = books["client"]
    contact = {"client_id": client, "channel": "email", "summary": "About the invoice"}
    async with connect(books["billing"]) as c:
        late = await overdue(c, books, days=10)
        await ok(c, "record_payment", {"invoice_id": late["id"], "amount": "80.00", "method": "card"})
        await overdue(c, books, days=2, amount="15.00")
        await ok(c, "log_interaction", {**contact, "direction": "outbound"})
        await ok(c, "log_interaction", {**contact, "direction": "inbound", "summary": "Will pay Friday"})
        await ok(c, "log_interaction", {**contact, "direction": "outbound"})
        full = (await ok(c, "get_client_context", {"client_id": client}))["risk_profile"]
    async with connect(clerk) as c:
        partial = (await ok(c, "get_client_context", {"client_id": client}))["risk_profile"]
    assert full["outbound_90d"] == 2 and full["response_rate_90d"] == "0.5"
    assert full["avg_payment_delay_days"] == "10" and full["overdue_invoices"] == 1
    assert full["last_outbound_at"] > full["last_inbound_at"]
    # No invoices read: how they pay is withheld, how they answer is not.
    assert partial["avg_payment_delay_days"] is None and partial["overdue_invoices"] is None
    assert partial["response_rate_90d"] == "0.5"


async def test_a_ladder_follows_the_tenants_own_steps(app, books, connect):
    from bizctx.ops import collections as ladders

    await ladders.set_ladder(
        app.db,
        books["tenant"]["name"],
        [ladders.Step(2, "phone", "payment_reminder_phone"), ladders.Step(5, "email", "final_notice_email")],
    )
    async with connect(books["billing"]) as c:
        inv = await overdue(c, books, days=1)
        ladder = await ok(c, "start_collection", {"invoice_id": inv["id"]})
    due = books["today"] - timedelta(days=1)
    assert [(s["step"], s["channel"], s["template"], s["status"]) for s in ladder["steps"]] == [
        (1, "phone", "payment_reminder_phone", "scheduled"),
        (2, "email", "final_notice_email", "scheduled"),
    ]
    assert datetime.fromisoformat(ladder["steps"][0]["due_at"]) == at_nine(books, due + timedelta(days=2))


# -- found by a hostile review (each was a failing probe first) --------------------------------


async def test_two_agents_starting_one_ladder_get_one_and_a_clear_conflict(books, make_agent, connect, sql):
    other = await make_agent(**BILLING, tenant=books["tenant"]["name"], name="billing-2")
    async with connect(books["billing"]) as c:
        inv = await overdue(c, books, days=10)
    answers: list = []

    async def start(agent) -> None:
        async with connect(agent) as c:
            answers.append(await c.call_tool("start_collection", {"invoice_id": inv["id"]}))

    async with anyio.create_task_group() as tg:
        tg.start_soon(start, books["billing"])
        tg.start_soon(start, other)
    refused = [error_of(a) for a in answers if a.is_error]
    assert len(answers) == 2 and len(refused) == 1
    assert refused[0]["code"] == "conflict" and "already runs" in refused[0]["message"]
    assert count(sql, "collections", books["billing"].tenant_id) == 1


async def test_a_claimed_step_that_ran_out_is_not_handed_out_again_once_paid(books, make_agent, connect, sql):
    other = await make_agent(**COLLECTOR, tenant=books["tenant"]["name"], name="collector-2")
    async with connect(books["billing"]) as c:
        inv = await overdue(c, books, days=10)
        await ok(c, "start_collection", {"invoice_id": inv["id"]})
    async with connect(books["collector"]) as c:
        first = await ok(c, "claim_next_task", {"task_types": ["collections_contact"], "lease_seconds": 60})
    async with connect(books["billing"]) as c:
        await ok(c, "record_payment", {"invoice_id": inv["id"], "amount": "80.00", "method": "card"})
    # The collector went silent: its lease runs out (brought forward).
    sql.execute(
        "UPDATE tasks SET lease_expires_at = now() - interval '1 s' WHERE id = %s", (first["task"]["id"],)
    )
    async with connect(other) as c:
        again = await ok(c, "claim_next_task", {"task_types": ["collections_contact"]})
        shown = json.loads(
            (await c.read_resource(f"bizctx://invoices/{inv['id']}/collection")).contents[0].text
        )
    assert again["task"] is None
    assert shown["status"] == "completed" and shown["steps"][1]["task_status"] == "cancelled"


async def test_a_queued_step_is_skipped_when_its_channel_is_opted_out(books, connect):
    async with connect(books["billing"]) as c:
        inv = await overdue(c, books, days=10)  # step 2 (sms) is queued
        await ok(c, "start_collection", {"invoice_id": inv["id"]})
        await ok(c, "set_client_preference", {"client_id": books["client"], "opt_out": ["sms"]})
    async with connect(books["collector"]) as c:
        got = await ok(c, "claim_next_task", {"task_types": ["collections_contact"]})
        shown = json.loads(
            (await c.read_resource(f"bizctx://invoices/{inv['id']}/collection")).contents[0].text
        )
    assert got["task"] is None
    step = shown["steps"][1]
    assert (step["status"], step["note"], step["task_status"]) == (
        "skipped",
        "The client opted out of sms.",
        "cancelled",
    )
    assert shown["status"] == "active" and shown["steps"][2]["status"] == "scheduled"  # the ladder goes on


async def test_a_worker_with_assigned_scope_gets_no_ladder_it_was_not_given(books, make_agent, connect, sql):
    narrow = await make_agent(
        caps=["tasks.read", "tasks.work", "contacts.read"],
        access={"tasks": {"read": True, "write": True, "scope": "assigned"}, "contacts": {"read": True}},
        tenant=books["tenant"]["name"],
    )
    async with connect(books["billing"]) as c:
        inv = await overdue(c, books, days=10)
        ladder = await ok(c, "start_collection", {"invoice_id": inv["id"]})
    bring_forward(sql, ladder, 3)
    async with connect(narrow) as c:
        got = await ok(c, "claim_next_task", {})
        listed = await ok(c, "list_tasks", {})
    async with connect(books["collector"]) as c:  # scope all: the ladder's work is there
        claimed = [
            (await ok(c, "claim_next_task", {"task_types": ["collections_contact"]}))["task"] for _ in "ab"
        ]
    assert got["task"] is None and listed["tasks"] == []
    assert sorted(t["payload"]["step"] for t in claimed) == [2, 3]
    for task in claimed:  # the ladder's starter's work, naming references only
        assert task["created_by_agent_id"] == str(books["billing"].id)
        assert inv["invoice_number"] not in task["title"]
