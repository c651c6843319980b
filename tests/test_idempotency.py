"""idempotency_key: one contract for every write tool, kept by the guard. A retry with the
key (same agent, same tool, same arguments) returns the first result and writes nothing; the
same key with other arguments is a conflict naming the first call's time; keys are one
agent's own. The first test walks every write tool in the registry."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import psycopg
import pytest
from test_appointments import future_day, iso, seed
from test_mem_docs import note

from bizctx.ops import operators
from bizctx.server.access import parse_access_patterns
from bizctx.server.app import load_domains
from bizctx.server.registry import Registry
from conftest import ALL_RIGHTS, audit_rows, count, err, error_of, ok, without_policies

pytestmark = pytest.mark.anyio

WRITE_TOOLS = sorted(t.name for t in Registry(load_domains()).tools.values() if t.action == "write")


def tenant_state(sql, tenant_id) -> dict[str, str]:
    """A digest of every row the tenant has in every table but the audit log (and its month
    partitions, migration 0170): equal before and after a call means the call wrote nothing,
    not even an update in place."""
    tables = [
        r["relname"]
        for r in sql.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " AND n.nspname = 'public' JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'"
            " WHERE c.relkind IN ('r', 'p') AND c.relname <> 'audit_logs' AND NOT c.relispartition ORDER BY 1"
        )
    ]
    return {
        table: sql.execute(
            psycopg.sql.SQL(
                "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS d"
                " FROM {} t WHERE tenant_id = %s"
            ).format(psycopg.sql.Identifier(table)),
            (tenant_id,),
        ).fetchone()["d"]
        for table in tables
    }


class Setup:
    """Makes what a write tool acts on, through the tools themselves, as the first agent (and
    a requester, for approvals: nobody decides their own request)."""

    def __init__(self, c, requester, biz, sql) -> None:
        self.c, self.requester, self.biz, self.sql = c, requester, biz, sql
        self.day = future_day(12)
        self.slot = iter(["09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"])

    async def appointment(self) -> str:
        args = {"client_id": str(self.biz.client), "service_id": str(self.biz.clean)}
        starts_at = iso(self.day, next(self.slot))
        booked = await ok(self.c, "book_appointment", {**args, "starts_at": starts_at})
        return booked["id"]

    async def invoice(self) -> str:
        items = [{"description": "Deep clean", "quantity": "1", "unit_price": "100.00"}]
        invoice = await ok(
            self.c, "create_invoice", {"client_id": str(self.biz.client), "currency": "USD", "items": items}
        )
        return invoice["id"]

    async def payment(self) -> str:
        done = await ok(
            self.c,
            "record_payment",
            {"invoice_id": await self.invoice(), "amount": "100.00", "method": "card"},
        )
        return done["payment"]["id"]

    async def overdue_invoice(self) -> str:
        items = [{"description": "Deep clean", "quantity": "1", "unit_price": "100.00"}]
        due = future_day(-20)
        invoice = await ok(
            self.c,
            "create_invoice",
            {
                "client_id": str(self.biz.client),
                "currency": "USD",
                "items": items,
                "issue_date": (due - timedelta(days=30)).isoformat(),
                "due_date": due.isoformat(),
            },
        )
        return invoice["id"]

    async def task(self, **extra: Any) -> str:
        return (await ok(self.c, "create_task", {"type": "call", "title": "Call Ann", **extra}))["id"]

    async def due_reminder(self) -> str:
        """An e-mail reminder of a booked appointment, due a minute ago (booking only schedules
        reminders ahead)."""
        appointment = await self.appointment()
        return str(
            self.sql.execute(
                "INSERT INTO appointment_reminders (tenant_id, appointment_id, channel, send_at)"
                " VALUES (%s, %s, 'email', now() - interval '1 minute') RETURNING id",
                (self.biz.tenant_id, appointment),
            ).fetchone()["id"]
        )

    async def claimed_task(self, **extra: Any) -> str:
        task_id = await self.task(priority=1000, **extra)
        claimed = await ok(self.c, "claim_next_task", {"task_types": ["call"]})
        assert claimed["task"]["id"] == task_id
        return task_id

    async def dead_task(self) -> str:
        task_id = await self.claimed_task(max_attempts=1)
        dead = await ok(self.c, "fail_task", {"task_id": task_id, "error": "No answer.", "retryable": True})
        assert dead["status"] == "dead"
        return task_id


async def write_case(tool: str, s: Setup) -> tuple[dict[str, Any], dict[str, Any]]:
    """Arguments for one successful call of `tool`, and other arguments for the same tool."""
    client = str(s.biz.client)
    if tool == "upsert_client":
        return {"first_name": "Dora"}, {"first_name": "Dan"}
    if tool == "log_interaction":
        args = {"client_id": client, "channel": "phone", "summary": "Called about Friday"}
        return args, {**args, "summary": "Called about Monday"}
    if tool == "set_client_preference":
        args = {"client_id": client, "key": "pets", "value": ["dog"]}
        return args, {**args, "value": ["cat"]}
    if tool == "book_appointment":
        args = {"client_id": client, "service_id": str(s.biz.clean), "starts_at": iso(s.day, "09:00")}
        return args, {**args, "starts_at": iso(s.day, "10:00")}
    if tool == "reschedule_appointment":
        args = {"appointment_id": await s.appointment(), "starts_at": iso(s.day, "15:00")}
        return args, {**args, "starts_at": iso(s.day, "16:00")}
    if tool == "cancel_appointment":
        args = {"appointment_id": await s.appointment(), "reason": "The client is away."}
        return args, {**args, "reason": "The client moved."}
    if tool == "set_appointment_status":
        args = {"appointment_id": await s.appointment(), "status": "confirmed"}
        return args, {**args, "status": "no_show"}
    if tool == "create_invoice":
        args = {
            "client_id": client,
            "currency": "USD",
            "items": [{"description": "Clean", "quantity": 1, "unit_price": "80"}],
        }
        return args, {**args, "items": [{"description": "Clean", "quantity": 1, "unit_price": "90"}]}
    if tool == "record_payment":
        args = {"invoice_id": await s.invoice(), "amount": "40.00", "method": "card"}
        return args, {**args, "amount": "30.00"}
    if tool == "void_invoice":
        args = {"invoice_id": await s.invoice(), "reason": "Issued twice."}
        return args, {**args, "reason": "Wrong client."}
    if tool == "book_series":
        args = {
            "client_id": client,
            "service_id": str(s.biz.clean),
            "starts_at": iso(s.day, "13:00"),
            "frequency": "weekly",
            "count": 2,
        }
        return args, {**args, "count": 3}
    if tool == "cancel_series":
        made = await ok(
            s.c,
            "book_series",
            {
                "client_id": client,
                "service_id": str(s.biz.clean),
                "starts_at": iso(s.day, "15:00"),
                "frequency": "weekly",
                "count": 2,
            },
        )
        args = {"series_id": made["series"]["id"], "reason": "The client moved away."}
        return args, {**args, "reason": "The client passed the work to another firm."}
    if tool in ("record_delivery", "record_feedback"):
        appointment = await s.appointment()
        for status in ("in_progress", "completed"):
            await ok(s.c, "set_appointment_status", {"appointment_id": appointment, "status": status})
        if tool == "record_feedback":
            args = {"appointment_id": appointment, "overall_rating": 5}
            return args, {**args, "overall_rating": 4}
        args = {
            "appointment_id": appointment,
            "started_at": iso(s.day, "09:00"),
            "ended_at": iso(s.day, "10:00"),
        }
        return args, {**args, "ended_at": iso(s.day, "10:30")}
    if tool == "add_time_off":
        args = {
            "resource_id": str(s.biz.ben),
            "starts_at": iso(s.day, "09:00"),
            "ends_at": iso(s.day, "12:00"),
        }
        return args, {**args, "ends_at": iso(s.day, "13:00")}
    if tool == "issue_invoice":
        items = [{"description": "Clean", "quantity": 1, "unit_price": "80"}]
        drafted = await ok(
            s.c, "create_invoice", {"client_id": client, "currency": "USD", "items": items, "draft": True}
        )
        args = {"invoice_id": drafted["id"]}
        return args, {**args, "due_date": (future_day(60)).isoformat()}
    if tool == "refund_payment":
        args = {"payment_id": await s.payment(), "amount": "10.00", "reason": "Scratched the floor."}
        return args, {**args, "amount": "20.00"}
    if tool in ("create_subscription", "pause_subscription", "cancel_subscription"):
        items = [{"description": "Weekly clean", "quantity": 4, "unit_price": "45.50"}]
        plan = {"client_id": client, "plan_name": "Monthly", "currency": "USD", "billing_cycle": "monthly"}
        if tool == "create_subscription":
            return {**plan, "items": items}, {**plan, "items": items, "billing_cycle": "annual"}
        made = await ok(s.c, "create_subscription", {**plan, "items": items})
        if tool == "pause_subscription":
            args = {"subscription_id": made["id"], "until": future_day(30).isoformat()}
            return args, {**args, "until": future_day(60).isoformat()}
        args = {"subscription_id": made["id"], "reason": "The client moved away."}
        return args, {**args, "reason": "Too expensive."}
    if tool == "create_task":
        return {"type": "call", "title": "Call Ann"}, {"type": "call", "title": "Call Ben"}
    if tool == "upsert_goal":
        args = {"name": "Collect more", "goal_type": "revenue", "target_value": "5000", "target_unit": "USD"}
        return args, {**args, "target_value": "6000"}
    if tool == "cancel_task":
        args = {"task_id": await s.task(), "reason": "Not needed any more."}
        return args, {**args, "reason": "Done by phone."}
    if tool == "retry_dead_task":
        first, second = await s.dead_task(), await s.dead_task()
        return {"task_id": first}, {"task_id": second}
    if tool == "request_approval":
        args = {"task_id": await s.task(), "reason": "A refund over 500."}
        return args, {**args, "reason": "A refund over 900."}
    if tool == "claim_next_task":
        await s.task()
        return {"lease_seconds": 60}, {"lease_seconds": 120}
    if tool == "complete_task":
        args = {"task_id": await s.claimed_task(), "result": {"reached": True}}
        return args, {**args, "result": {"reached": False}}
    if tool == "fail_task":
        args = {"task_id": await s.claimed_task(), "error": "No answer.", "retryable": True}
        return args, {**args, "error": "Busy line."}
    if tool == "decide_approval":
        async with s.requester() as r:
            held = await ok(
                r, "create_task", {"type": "refund", "title": "Refund", "requires_approval": True}
            )
        args = {"task_id": held["id"], "decision": "approve", "reason": "Fine."}
        return args, {**args, "decision": "reject"}
    if tool == "remember":
        return note("The gate sticks in winter.", 5), note("The gate is fixed.", 6)
    if tool == "forget":
        doc = await ok(s.c, "remember", note("Old price list.", 7))
        other = await ok(s.c, "remember", note("Older price list.", 8))
        return {"mem_doc_id": doc["id"]}, {"mem_doc_id": other["id"]}
    if tool == "start_collection":
        first, second = await s.overdue_invoice(), await s.overdue_invoice()
        return {"invoice_id": first}, {"invoice_id": second}
    if tool == "stop_collection":
        invoice = await s.overdue_invoice()
        await ok(s.c, "start_collection", {"invoice_id": invoice})
        args = {"invoice_id": invoice, "reason": "Payment plan agreed."}
        return args, {**args, "reason": "Disputed."}
    if tool == "claim_due_reminders":
        await s.due_reminder()
        return {"channels": ["email"]}, {"channels": ["email"], "limit": 2}
    if tool == "complete_reminder":
        reminder = await s.due_reminder()
        claimed = await ok(s.c, "claim_due_reminders", {"channels": ["email"]})
        assert [r["reminder_id"] for r in claimed["reminders"]] == [reminder]
        args = {"reminder_id": reminder, "outcome": "sent"}
        return args, {**args, "outcome": "failed", "error": "Bounced."}
    raise AssertionError(f"{tool} is a write tool with no idempotency case here: add one")


@pytest.mark.parametrize("tool", WRITE_TOOLS)
async def test_every_write_tool_keeps_the_one_idempotency_contract(
    tool, app, make_agent, make_tenant, connect, sql
):
    tenant = await make_tenant(time_zone="America/New_York")
    await without_policies(app, tenant["name"])  # gated calls have their own test below
    first = await make_agent(**ALL_RIGHTS, tenant=tenant["name"])
    second = await make_agent(**ALL_RIGHTS, tenant=tenant["name"])
    biz = seed(sql, first.tenant_id)
    async with connect(first) as c:
        args, other = await write_case(tool, Setup(c, lambda: connect(second), biz, sql))
        keyed = {**args, "idempotency_key": "key-1"}
        done = await c.call_tool(tool, keyed)
        assert not done.is_error, done.content[0].text
        assert not (done.meta or {}).get("bizctx/replayed")
        before = tenant_state(sql, first.tenant_id)
        # 1. The same key with the same arguments: the first result, nothing written.
        again = await c.call_tool(tool, keyed)
        assert not again.is_error and again.structured_content == done.structured_content
        assert (again.meta or {}).get("bizctx/replayed") is True
        assert tenant_state(sql, first.tenant_id) == before
        # 2. The same key with other arguments: a conflict naming the first call, nothing written.
        clash = error_of(await c.call_tool(tool, {**other, "idempotency_key": "key-1"}))
        assert clash["code"] == "conflict" and clash["idempotency_key"] == "key-1"
        assert clash["first_call_at"] and "idempotency_key" in clash["message"]
        assert json.dumps(done.structured_content)[:40] not in json.dumps(clash)
        assert tenant_state(sql, first.tenant_id) == before
    # 3. Keys are per agent: another agent's call with the same key runs as its own call.
    async with connect(second) as c:
        theirs = await c.call_tool(tool, keyed)
    assert not (theirs.meta or {}).get("bizctx/replayed")
    if theirs.is_error:  # the domain may refuse it (the slot is taken, the task is held) ...
        assert "first_call_at" not in error_of(theirs)  # ... but never as a used key
    rows = [r for r in audit_rows(sql, first) if r["name"] == tool][-3:]
    assert [(r["outcome"], r["replayed"], r["error_code"]) for r in rows] == [
        ("ok", False, None),
        ("ok", True, None),
        ("error", False, "conflict"),
    ]
    assert rows[0]["entity_id"] == rows[1]["entity_id"]


async def test_the_same_amount_or_instant_written_differently_is_the_same_call(
    make_agent, make_tenant, connect, sql
):
    tenant = await make_tenant(time_zone="America/New_York")
    agent = await make_agent(**ALL_RIGHTS, tenant=tenant["name"])
    biz = seed(sql, agent.tenant_id)
    day = future_day(12)
    async with connect(agent) as c:
        s = Setup(c, None, biz, sql)
        invoice_id = await s.invoice()
        pay = {"invoice_id": invoice_id, "method": "card", "idempotency_key": "pay-1"}
        paid = await ok(c, "record_payment", {**pay, "amount": "5.00"})
        for amount in (5, "5", "5.0000", 5.0):
            assert await ok(c, "record_payment", {**pay, "amount": amount}) == paid
        book = {"client_id": str(biz.client), "service_id": str(biz.clean), "idempotency_key": "b-1"}
        booked = await ok(c, "book_appointment", {**book, "starts_at": iso(day, "09:00")})
        in_utc = datetime.fromisoformat(iso(day, "09:00")).astimezone(UTC).isoformat()  # the same instant
        assert await ok(c, "book_appointment", {**book, "starts_at": in_utc}) == booked
        # Defaults applied: leaving out a field is the same call as giving its default.
        task = await ok(c, "create_task", {"type": "call", "title": "Call Ann", "idempotency_key": "t-1"})
        same = {
            "type": "call",
            "title": "Call Ann",
            "priority": 0,
            "max_attempts": 5,
            "idempotency_key": "t-1",
        }
        assert await ok(c, "create_task", same) == task
    assert count(sql, "payments", agent.tenant_id) == 1
    assert count(sql, "appointments", agent.tenant_id) == 1
    assert count(sql, "tasks", agent.tenant_id) == 1


@pytest.fixture
async def pair(make_agent):
    first = await make_agent(**ALL_RIGHTS, name="first")
    return first, await make_agent(**ALL_RIGHTS, tenant=first.tenant_name, name="second")


def preference(sql, client_id: str) -> object:
    row = sql.execute(
        "SELECT value FROM client_preferences WHERE client_id = %s AND key = 'pets'", (client_id,)
    ).fetchone()
    return None if row is None else row["value"]


def writes(sql, tenant_id) -> dict[str, int]:
    """Rows of the tables these tools write, so a replay can be shown to write none."""
    tables = ("client_preferences", "opt_outs", "task_events", "approval_events", "mem_docs")
    return {table: count(sql, table, tenant_id) for table in tables}


async def test_a_retry_with_the_key_returns_the_first_result_and_writes_nothing(pair, connect, sql):
    first, second = pair
    async with connect(first) as c:
        client = await ok(c, "upsert_client", {"first_name": "Ann"})
        pets = {"client_id": client["id"], "key": "pets", "value": ["dog"], "idempotency_key": "pref-1"}
        set_first = await ok(c, "set_client_preference", pets)
        # Changed since (by a person, say): the retry must not put the dog back.
        sql.execute("UPDATE client_preferences SET value = '[\"cat\"]' WHERE client_id = %s", (client["id"],))

        done = await ok(c, "create_task", {"type": "call", "title": "Done"})
        failed = await ok(c, "create_task", {"type": "call", "title": "Failed"})
        held = await ok(c, "create_task", {"type": "call", "title": "Held"})
        claimed = [(await ok(c, "claim_next_task", {}))["task"]["id"] for _ in range(2)]
        assert sorted(claimed) == sorted([done["id"], failed["id"]])
        complete = {"task_id": done["id"], "result": {"ok": True}, "idempotency_key": "done-1"}
        fail = {
            "task_id": failed["id"],
            "error": "no answer",
            "retryable": False,
            "idempotency_key": "fail-1",
        }
        ask = {"task_id": held["id"], "reason": "refund over 500", "idempotency_key": "ask-1"}
        doc = await ok(c, "remember", note("The gate sticks in winter.", 5))
        forget = {"mem_doc_id": doc["id"], "idempotency_key": "forget-1"}
        calls = [
            ("complete_task", complete),
            ("fail_task", fail),
            ("request_approval", ask),
            ("forget", forget),
        ]
        results = [await ok(c, tool, args) for tool, args in calls]
        before = writes(sql, first.tenant_id)
        retried_pref = await ok(c, "set_client_preference", pets)
        retried = [await ok(c, tool, args) for tool, args in calls]
        after = writes(sql, first.tenant_id)
        gone = await err(c, "forget", {"mem_doc_id": doc["id"]})  # without the key: it is gone
    async with connect(second) as c:
        decide = {"task_id": held["id"], "decision": "approve", "reason": "fine", "idempotency_key": "ok-1"}
        decided = await ok(c, "decide_approval", decide)
        before_decision_retry = writes(sql, first.tenant_id)
        decided_again = await ok(c, "decide_approval", decide)
        after_decision_retry = writes(sql, first.tenant_id)

    assert retried_pref == set_first and set_first["preferences"]["pets"] == ["dog"]
    assert preference(sql, client["id"]) == ["cat"]  # the retry wrote nothing
    assert retried == results
    assert results[0]["status"] == "completed" and results[1]["status"] == "dead"
    assert results[2]["task"]["status"] == "awaiting_approval" and results[3]["forgotten"] is True
    assert after == before
    assert gone["code"] == "not_found"
    assert decided_again == decided and decided["task"]["status"] == "pending"
    assert after_decision_retry == before_decision_retry
    # Every call, replayed or not, has its audit row.
    names = [r["name"] for r in audit_rows(sql, first) if r["outcome"] == "ok"]
    for tool in ("set_client_preference", "complete_task", "fail_task", "request_approval", "forget"):
        assert names.count(tool) == 2, tool
    # A replayed call is audited as about the same task as the first.
    completions = [r for r in audit_rows(sql, first) if r["name"] == "complete_task"]
    assert [(r["entity_type"], r["entity_id"]) for r in completions] == [("task", done["id"])] * 2


async def test_the_same_key_with_other_arguments_is_a_conflict_and_writes_nothing(pair, connect, sql):
    first, second = pair
    async with connect(first) as c:
        client = await ok(c, "upsert_client", {"first_name": "Ann"})
        pets = {"client_id": client["id"], "key": "pets", "value": ["dog"], "idempotency_key": "pref-1"}
        await ok(c, "set_client_preference", pets)
        clash = await err(c, "set_client_preference", {**pets, "value": ["cat"]})
        # An omitted field is not the same call as the field given.
        clash_omitted = await err(c, "set_client_preference", {**pets, "reason": "asked"})
    async with connect(second) as c:
        # Keys are one agent's own: another agent's "pref-1" is a different call.
        theirs = await ok(c, "set_client_preference", {**pets, "value": ["fish"]})
    assert clash["code"] == "conflict" and "idempotency_key" in clash["message"]
    assert clash["idempotency_key"] == "pref-1" and clash_omitted["code"] == "conflict"
    assert theirs["preferences"]["pets"] == ["fish"] and preference(sql, client["id"]) == ["fish"]
    rows = audit_rows(sql, first)
    assert [(r["outcome"], r["error_code"]) for r in rows[-2:]] == [("error", "conflict")] * 2


async def test_a_bad_key_is_refused_and_a_failed_call_keeps_no_key(pair, connect, sql):
    first, _ = pair
    async with connect(first) as c:
        doc = await ok(c, "remember", note("Keys are under the mat.", 6))
        empty = await err(c, "forget", {"mem_doc_id": doc["id"], "idempotency_key": ""})
        long = await err(c, "forget", {"mem_doc_id": doc["id"], "idempotency_key": "k" * 201})
        missing = await err(
            c, "forget", {"mem_doc_id": "00000000-0000-0000-0000-000000000000", "idempotency_key": "f"}
        )
        # The key of a call that failed was rolled back with it: it is free for a real call.
        forgotten = await ok(c, "forget", {"mem_doc_id": doc["id"], "idempotency_key": "f"})
    assert empty["code"] == long["code"] == "invalid_input" and "idempotency_key" in empty["message"]
    assert missing["code"] == "not_found" and forgotten["mem_doc_id"] == doc["id"]
    kept = sql.execute(
        "SELECT tool, idempotency_key FROM idempotency_keys WHERE tenant_id = %s", (first.tenant_id,)
    ).fetchall()
    assert kept == [{"tool": "forget", "idempotency_key": "f"}]


async def test_concurrent_calls_with_one_key_run_once(app, pair, connect, sql):
    first, _ = pair
    async with connect(first) as c:
        doc = await ok(c, "remember", note("The van's spare key is in the office.", 7))
    args = {"mem_doc_id": doc["id"], "idempotency_key": "forget-once"}
    results = await asyncio.gather(*(app.guard.call_tool(first.principal, "forget", args) for _ in range(6)))
    outs = [r.structured_content for r in results if not r.is_error]
    assert [error_of(r) for r in results if r.is_error] == []
    assert len(outs) == 6 and all(o == outs[0] for o in outs) and outs[0]["forgotten"] is True


async def test_a_replay_to_an_agent_whose_scope_narrowed_is_refused(make_agent, connect, sql, app):
    boss = await make_agent(**ALL_RIGHTS)
    worker = await make_agent(**ALL_RIGHTS, tenant=boss.tenant_name)
    async with connect(boss) as c:
        await ok(
            c, "create_task", {"type": "call", "title": "Pay the IBAN", "payload": {"iban": "DE00 1234"}}
        )
    async with connect(worker) as c:
        claimed = await ok(c, "claim_next_task", {"idempotency_key": "c-1"})
        assert claimed["task"]["payload"] == {"iban": "DE00 1234"}
    narrower = {**ALL_RIGHTS["access"], "tasks": {"read": True, "write": True, "scope": "assigned"}}
    await operators.set_access_patterns(
        app.db, worker.tenant_name, worker.name, parse_access_patterns(narrower)
    )
    with anyio.fail_after(10):  # the server hears of the change through LISTEN/NOTIFY
        while (await app.directory.get(worker.tenant_id, worker.id)).access.scopes()["tasks"] != "assigned":
            await anyio.sleep(0.05)
    async with connect(worker) as c:
        refused = await err(c, "claim_next_task", {"idempotency_key": "c-1"})
    assert refused["code"] == "permission_denied" and refused["first_call_at"]
    assert "DE00" not in json.dumps(refused)


async def test_an_explicit_null_is_not_the_same_call_as_an_omitted_field(make_agent, connect, sql):
    agent = await make_agent(**ALL_RIGHTS)
    async with connect(agent) as c:
        client = await ok(c, "upsert_client", {"first_name": "Ann", "notes": "Allergic to lilies."})
        update = {"client_id": client["id"], "first_name": "Anna", "idempotency_key": "u-1"}
        await ok(c, "upsert_client", update)
        # notes: null clears the notes; it is another call, never the first one's replay.
        clearing = await err(c, "upsert_client", {**update, "notes": None})
    assert clearing["code"] == "conflict"
    notes = sql.execute("SELECT notes FROM clients WHERE id = %s", (client["id"],)).fetchone()["notes"]
    assert notes == "Allergic to lilies."


async def test_expired_keys_and_their_results_are_deleted(make_agent, connect, sql, app):
    agent = await make_agent(**ALL_RIGHTS)
    async with connect(agent) as c:
        await ok(c, "create_task", {"type": "call", "title": "Old", "idempotency_key": "old-1"})
        await ok(c, "create_task", {"type": "call", "title": "Older", "idempotency_key": "old-2"})
        sql.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '31 days' WHERE agent_id = %s",
            (agent.id,),
        )
        # The agent's next keyed call deletes its expired keys on the way.
        await ok(c, "create_task", {"type": "call", "title": "New", "idempotency_key": "new-1"})
    kept = sql.execute(
        "SELECT idempotency_key FROM idempotency_keys WHERE agent_id = %s", (agent.id,)
    ).fetchall()
    assert kept == [{"idempotency_key": "new-1"}]
    sql.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '31 days' WHERE agent_id = %s", (agent.id,)
    )
    assert await operators.prune_idempotency_keys(app.db) >= 1
    assert count(sql, "idempotency_keys", agent.tenant_id) == 0
