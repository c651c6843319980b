"""Governed actions, through the official MCP client: policies that deny, limit, or hold a
call for approval, as the guard enforces them; the approval gate end to end; the operators'
commands that manage them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from bizctx.ops import operators, policies
from bizctx.server.errors import OperatorError
from conftest import audit_rows, count, err, error_of, ok, without_policies

pytestmark = pytest.mark.anyio

BILLING = {
    "caps": ["invoices.read", "invoices.write", "clients.read"],
    "access": {"invoices": {"read": True, "write": True}, "clients": {"read": True}},
}
APPROVER = {
    "caps": ["tasks.read", "tasks.approve", "invoices.read"],
    "access": {"tasks": {"read": True, "write": True, "scope": "all"}, "invoices": {"read": True}},
}


@pytest.fixture
async def shop(app, make_agent, make_tenant, sql):
    """A tenant with its default policies, a billing agent, an approver, a client and an
    open invoice of 120.00 USD."""
    tenant = await make_tenant()
    billing = await make_agent(**BILLING, tenant=tenant["name"], name="billing")
    approver = await make_agent(**APPROVER, tenant=tenant["name"], name="approver")
    client = sql.execute(
        "INSERT INTO clients (tenant_id, first_name) VALUES (%s, 'Ann') RETURNING id", (tenant["id"],)
    ).fetchone()["id"]
    return {"tenant": tenant, "billing": billing, "approver": approver, "client": str(client)}


async def invoice(c, shop, amount: str = "120.00") -> dict:
    items = [{"description": "Deep clean", "quantity": 1, "unit_price": amount}]
    return await ok(c, "create_invoice", {"client_id": shop["client"], "currency": "USD", "items": items})


def status_of(sql, invoice_id) -> str:
    return sql.execute("SELECT status FROM invoices WHERE id = %s", (invoice_id,)).fetchone()["status"]


async def add(app, shop, **fields) -> dict:
    return await policies.add_policy(app.db, shop["tenant"]["name"], policies.NewPolicy(**fields), "ops-test")


# -- the approval gate ----------------------------------------------------------------------


async def test_a_void_is_held_for_approval_by_default_and_runs_once_approved(app, shop, connect, sql):
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop)
        void = {"invoice_id": inv["id"], "reason": "Duplicate of INV-7.", "idempotency_key": "void-1"}
        held = await err(c, "void_invoice", void)
        again = await err(c, "void_invoice", void)  # the retry: the same request, never a second task
    assert held["code"] == "approval_required" and held["policy"]["tool"] == "void_invoice"
    assert again["code"] == "approval_required" and again["task_id"] == held["task_id"]
    assert status_of(sql, inv["id"]) == "open"  # nothing done yet
    assert count(sql, "approval_calls", shop["tenant"]["id"]) == 1
    rows = [r for r in audit_rows(sql, shop["billing"]) if r["name"] == "void_invoice"]
    assert [(r["outcome"], r["error_code"]) for r in rows] == [("pending", "approval_required")] * 2
    assert rows[0]["entity_id"] == inv["id"]

    async with connect(shop["approver"]) as c:
        task = json.loads((await c.read_resource(f"bizctx://tasks/{held['task_id']}")).contents[0].text)
        assert task["type"] == "approval" and task["status"] == "awaiting_approval"
        assert (
            task["payload"]["tool"] == "void_invoice"
            and task["payload"]["arguments"]["invoice_id"] == inv["id"]
        )
        waiting = await ok(c, "list_tasks", {"type": "approval", "status": "awaiting_approval"})
        assert [t["id"] for t in waiting["tasks"]] == [held["task_id"]]
        decided = await ok(
            c,
            "decide_approval",
            {"task_id": held["task_id"], "decision": "approve", "reason": "Checked: a duplicate."},
        )
    assert decided["task"]["status"] == "completed" and decided["task"]["result"]["outcome"] == "succeeded"
    assert decided["approval"]["decided_by_agent_id"] == str(shop["approver"].id)
    assert status_of(sql, inv["id"]) == "void"
    # The call ran as the billing agent, audited as its call, naming the approval task.
    ran = [r for r in audit_rows(sql, shop["billing"]) if r["approval_task_id"] is not None]
    assert [(r["name"], r["outcome"], str(r["approval_task_id"])) for r in ran] == [
        ("void_invoice", "ok", held["task_id"])
    ]
    # The requester's retry with its key now gets the call's result.
    async with connect(shop["billing"]) as c:
        result = await c.call_tool("void_invoice", void)
    assert not result.is_error and result.structured_content["status"] == "void"
    assert result.meta["bizctx/replayed"] is True


async def test_a_rejection_cancels_and_the_retry_says_so(app, shop, connect, sql):
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop)
        void = {"invoice_id": inv["id"], "reason": "Client disputes it.", "idempotency_key": "void-2"}
        held = await err(c, "void_invoice", void)
    async with connect(shop["approver"]) as c:
        no_reason = await err(c, "decide_approval", {"task_id": held["task_id"], "decision": "reject"})
        rejected = await ok(
            c,
            "decide_approval",
            {"task_id": held["task_id"], "decision": "reject", "reason": "Call them first."},
        )
    assert no_reason["code"] == "invalid_input"
    assert rejected["task"]["status"] == "cancelled" and rejected["approval"]["decision"] == "rejected"
    async with connect(shop["billing"]) as c:
        after = await err(c, "void_invoice", void)
    assert after["code"] == "policy_blocked" and "Call them first." in after["message"]
    assert status_of(sql, inv["id"]) == "open"


async def test_the_requester_cannot_approve_its_own_call(app, shop, make_agent, connect, sql):
    both = await make_agent(
        caps=[*BILLING["caps"], "tasks.read", "tasks.approve"],
        access={**BILLING["access"], "tasks": {"read": True, "write": True, "scope": "all"}},
        tenant=shop["tenant"]["name"],
    )
    async with connect(both) as c:
        inv = await invoice(c, shop)
        held = await err(c, "void_invoice", {"invoice_id": inv["id"], "reason": "Mine."})
        own = await err(c, "decide_approval", {"task_id": held["task_id"], "decision": "approve"})
    assert own["code"] == "conflict" and "cannot decide" in own["message"]
    assert status_of(sql, inv["id"]) == "open"


async def test_a_capability_revoked_before_approval_refuses_the_call_and_the_task_says_why(
    app, shop, connect, sql
):
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop)
        held = await err(c, "void_invoice", {"invoice_id": inv["id"], "reason": "Duplicate."})
    await operators.revoke(app.db, shop["tenant"]["name"], "billing", ["invoices.write"])
    async with connect(shop["approver"]) as c:
        decided = await ok(c, "decide_approval", {"task_id": held["task_id"], "decision": "approve"})
    assert decided["task"]["status"] == "completed"
    assert decided["task"]["result"]["outcome"] == "failed"
    assert decided["task"]["result"]["error"]["code"] == "permission_denied"
    assert status_of(sql, inv["id"]) == "open"
    (row,) = [r for r in audit_rows(sql, shop["billing"]) if r["approval_task_id"] is not None]
    assert (row["outcome"], row["error_code"]) == ("denied", "permission_denied")


async def test_concurrent_approvals_run_the_call_once(app, shop, make_agent, connect, sql):
    second = await make_agent(**APPROVER, tenant=shop["tenant"]["name"])
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop, "50.00")
        held = await err(c, "void_invoice", {"invoice_id": inv["id"], "reason": "Duplicate."})
    decide = {"task_id": held["task_id"], "decision": "approve", "reason": "ok"}
    results = await asyncio.gather(
        *(app.guard.call_tool(a.principal, "decide_approval", decide) for a in (shop["approver"], second) * 3)
    )
    oks = [r for r in results if not r.is_error]
    assert len(oks) >= 1 and all(r.structured_content["task"]["status"] == "completed" for r in oks)
    assert {error_of(r)["code"] for r in results if r.is_error} <= {"conflict"}
    ran = [r for r in audit_rows(sql, shop["billing"]) if r["approval_task_id"] is not None]
    assert len(ran) == 1 and status_of(sql, inv["id"]) == "void"


async def test_an_approver_needs_read_on_the_tools_domain(app, shop, make_agent, connect, sql):
    blind = await make_agent(
        caps=["tasks.read", "tasks.approve"],
        access={"tasks": {"read": True, "write": True, "scope": "all"}},
        tenant=shop["tenant"]["name"],
    )
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop)
        held = await err(c, "void_invoice", {"invoice_id": inv["id"], "reason": "Duplicate."})
    async with connect(blind) as c:
        refused = await err(c, "decide_approval", {"task_id": held["task_id"], "decision": "approve"})
    assert refused["code"] == "permission_denied" and "invoices" in refused["message"]
    assert status_of(sql, inv["id"]) == "open"


async def test_a_call_that_would_fail_is_refused_not_held(app, shop, connect, sql):
    async with connect(shop["billing"]) as c:
        missing = await err(
            c, "void_invoice", {"invoice_id": "00000000-0000-0000-0000-000000000000", "reason": "Gone."}
        )
    assert missing["code"] == "not_found"
    assert count(sql, "approval_calls", shop["tenant"]["id"]) == 0


async def test_a_person_decides_from_the_cli_and_is_named(app, shop, connect, sql):
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop)
        held = await err(c, "void_invoice", {"invoice_id": inv["id"], "reason": "Duplicate."})
    waiting = await policies.list_approvals(app.db, shop["tenant"]["name"], pending_only=True)
    assert [str(w["task_id"]) for w in waiting] == [held["task_id"]] and waiting[0][
        "requested_by"
    ] == "billing"
    decided = await app.guard.approvals.decide_as_operator(
        UUID(held["task_id"]), True, "Approved by phone.", "Maria"
    )
    assert decided.task["status"] == "completed" and decided.event["decided_by_operator"] == "Maria"
    assert status_of(sql, inv["id"]) == "void"


async def test_removing_a_policy_withdraws_the_calls_it_holds(app, shop, connect, sql):
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop)
        held = await err(
            c, "void_invoice", {"invoice_id": inv["id"], "reason": "Duplicate.", "idempotency_key": "v"}
        )
    (default,) = [
        p for p in await policies.list_policies(app.db, shop["tenant"]["name"]) if p["tool"] == "void_invoice"
    ]
    removed = await policies.remove_policy(app.db, shop["tenant"]["name"], str(default["id"]), "Maria")
    assert removed["withdrawn"] == 1
    task = sql.execute("SELECT status FROM tasks WHERE id = %s", (held["task_id"],)).fetchone()
    assert task["status"] == "cancelled" and status_of(sql, inv["id"]) == "open"
    async with connect(shop["billing"]) as c:
        after = await err(
            c, "void_invoice", {"invoice_id": inv["id"], "reason": "Duplicate.", "idempotency_key": "v"}
        )
        now = await ok(c, "void_invoice", {"invoice_id": inv["id"], "reason": "Duplicate."})  # no policy now
    assert after["code"] == "policy_blocked" and "withdrawn" in after["message"]
    assert now["status"] == "void"


# -- deny and limits ------------------------------------------------------------------------


async def test_a_deny_policy_with_an_exact_money_condition(app, shop, connect, sql):
    await without_policies(app, shop["tenant"]["name"])
    await add(
        app,
        shop,
        tool="record_payment",
        effect="deny",
        when={"amount": {"gt": "500.00"}},
        reason="Cash only below 500",
    )
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop, "1000.00")
        over = await err(c, "record_payment", {"invoice_id": inv["id"], "amount": "500.01", "method": "card"})
        at = await ok(c, "record_payment", {"invoice_id": inv["id"], "amount": "500.00", "method": "card"})
    assert (
        over["code"] == "policy_blocked"
        and over["rule"]["effect"] == "deny"
        and over["reason"] == "Cash only below 500"
    )
    assert at["payment"]["amount"] == "500.00"
    rows = [r for r in audit_rows(sql, shop["billing"]) if r["name"] == "record_payment"]
    assert [(r["outcome"], r["error_code"]) for r in rows] == [("blocked", "policy_blocked"), ("ok", None)]
    assert count(sql, "payments", shop["tenant"]["id"]) == 1


async def test_an_amount_limit_per_agent_is_rate_limited_with_a_retry_after(
    app, shop, make_agent, connect, sql
):
    await without_policies(app, shop["tenant"]["name"])
    await add(app, shop, tool="record_payment", effect="limit", max_amount="100.00", window="1d", per="agent")
    other = await make_agent(**BILLING, tenant=shop["tenant"]["name"])
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop, "1000.00")
        pay = {"invoice_id": inv["id"], "method": "cash"}
        await ok(c, "record_payment", {**pay, "amount": "60.00"})
        await ok(c, "record_payment", {**pay, "amount": "40.00"})
        over = await err(c, "record_payment", {**pay, "amount": "0.01"})
    async with connect(other) as c:
        theirs = await ok(c, "record_payment", {**pay, "amount": "100.00"})  # its own allowance
    assert over["code"] == "rate_limited" and over["retryable"] is True
    assert 86000 <= over["retry_after_s"] <= 86400 and over["limit"]["max_amount"] == "100"
    assert theirs["payment"]["amount"] == "100.00"
    paid = sql.execute("SELECT sum(amount) AS s FROM payments WHERE tenant_id = %s", (shop["tenant"]["id"],))
    assert paid.fetchone()["s"] == Decimal("200.0000")


async def test_two_agents_racing_for_the_last_allowed_call_of_a_tenant_limit(
    app, shop, make_agent, connect, sql
):
    await without_policies(app, shop["tenant"]["name"])
    await add(app, shop, tool="create_invoice", effect="limit", max_calls=3, window="1h", per="tenant")
    racers = [shop["billing"], await make_agent(**BILLING, tenant=shop["tenant"]["name"])]
    items = [{"description": "Clean", "quantity": 1, "unit_price": "10"}]
    args = {"client_id": shop["client"], "currency": "USD", "items": items}
    results = await asyncio.gather(
        *(app.guard.call_tool(racers[i % 2].principal, "create_invoice", args) for i in range(8))
    )
    assert sum(not r.is_error for r in results) == 3
    refused = [error_of(r) for r in results if r.is_error]
    assert {e["code"] for e in refused} == {"policy_blocked"} and all(e["next_allowed_at"] for e in refused)
    assert datetime.fromisoformat(refused[0]["next_allowed_at"]) > datetime.now(UTC)
    assert count(sql, "invoices", shop["tenant"]["id"]) == 3


async def test_a_limit_is_checked_but_not_spent_by_a_held_call(app, shop, connect, sql):
    await add(app, shop, tool="void_invoice", effect="limit", max_calls=1, window="1d", per="agent")
    async with connect(shop["billing"]) as c:
        first, second = await invoice(c, shop), await invoice(c, shop)
        held = await err(c, "void_invoice", {"invoice_id": first["id"], "reason": "Duplicate."})
        also_held = await err(c, "void_invoice", {"invoice_id": second["id"], "reason": "Duplicate."})
    assert held["code"] == also_held["code"] == "approval_required"
    async with connect(shop["approver"]) as c:
        await ok(c, "decide_approval", {"task_id": held["task_id"], "decision": "approve"})
        over = await ok(c, "decide_approval", {"task_id": also_held["task_id"], "decision": "approve"})
    # The second approved call met the limit when it ran: refused, and the task says so.
    assert over["task"]["result"]["error"]["code"] == "rate_limited"
    assert status_of(sql, first["id"]) == "void" and status_of(sql, second["id"]) == "open"


async def test_a_new_policy_applies_to_the_next_call_of_a_running_server(app, shop, connect, sql):
    await without_policies(app, shop["tenant"]["name"])
    async with connect(shop["billing"]) as c:
        await invoice(c, shop)  # the server has this tenant's policies cached now
        # Another process (an operator's CLI) adds a deny: the cached copy is stale.
        await add(app, shop, tool="create_invoice", effect="deny", reason="Invoicing is frozen")
        frozen = await err(
            c,
            "create_invoice",
            {
                "client_id": shop["client"],
                "currency": "USD",
                "items": [{"description": "x", "quantity": 1, "unit_price": "1"}],
            },
        )
    assert frozen["code"] == "policy_blocked" and frozen["reason"] == "Invoicing is frozen"


async def test_agent_me_lists_the_policies_on_its_tools(app, shop, connect):
    async with connect(shop["billing"]) as c:
        me = json.loads((await c.read_resource("bizctx://agent/me")).contents[0].text)
    assert sorted((p["tool"], p["effect"]) for p in me["policies"]) == [
        ("refund_payment", "require_approval"),
        ("void_invoice", "require_approval"),
    ]
    async with connect(shop["approver"]) as c:
        theirs = json.loads((await c.read_resource("bizctx://agent/me")).contents[0].text)
    assert theirs["policies"] == []  # it can call neither


# -- operators ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"tool": "void_invoices", "effect": "deny"}, "no tool"),
        ({"tool": "record_payment", "effect": "deny", "when": {"amout": {"gt": "5"}}}, "no field 'amout'"),
        (
            {"tool": "record_payment", "effect": "deny", "when": {"amount": {"greater": "5"}}},
            "unknown operator",
        ),
        ({"tool": "record_payment", "effect": "deny", "when": {"amount": {"gt": "lots"}}}, "not a number"),
        ({"tool": "record_payment", "effect": "deny", "when": {"method": {"gt": "5"}}}, "not a number"),
        (
            {"tool": "create_task", "effect": "limit", "max_amount": "5", "window": "1d", "per": "agent"},
            "no amount",
        ),
        ({"tool": "record_payment", "effect": "limit", "max_calls": 5}, "--window"),
        ({"tool": "record_payment", "effect": "deny", "max_calls": 5}, "--effect limit only"),
        (
            {"tool": "record_payment", "effect": "limit", "max_calls": 5, "window": "soon", "per": "agent"},
            "--window",
        ),
    ],
)
async def test_a_bad_policy_is_refused_when_added(app, shop, sql, fields, words):
    with pytest.raises(OperatorError, match=words):
        await add(app, shop, **fields)
    assert len(await policies.list_policies(app.db, shop["tenant"]["name"])) == 2  # the defaults only


async def test_every_tenant_gets_the_defaults_once_and_a_removal_sticks(app, make_tenant, sql):
    tenant = await make_tenant()
    defaults = await policies.list_policies(app.db, tenant["name"])
    assert sorted((p["tool"], p["effect"], p["default_key"]) for p in defaults) == [
        ("refund_payment", "require_approval", "refund_payment_approval"),
        ("void_invoice", "require_approval", "void_invoice_approval"),
    ]
    for default in defaults:
        await policies.remove_policy(app.db, tenant["name"], str(default["id"]), "Maria")
    sql.execute("SELECT bizctx_apply_default_policies(%s)", (tenant["id"],))  # as a later migration would
    assert await policies.list_policies(app.db, tenant["name"]) == []


async def test_approval_is_a_reserved_task_type(make_agent, connect):
    agent = await make_agent(caps=["tasks.write"], access={"tasks": {"read": True, "write": True}})
    async with connect(agent) as c:
        refused = await err(c, "create_task", {"type": "approval", "title": "Sneak"})
    assert refused["code"] == "invalid_input" and "reserved" in refused["message"]


async def test_disabling_an_agent_does_not_let_its_held_call_run(app, shop, connect, sql):
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop)
        held = await err(c, "void_invoice", {"invoice_id": inv["id"], "reason": "Duplicate."})
    await operators.set_status(app.db, shop["tenant"]["name"], "billing", "disabled")
    async with connect(shop["approver"]) as c:
        decided = await ok(c, "decide_approval", {"task_id": held["task_id"], "decision": "approve"})
    assert decided["task"]["result"]["error"]["code"] == "permission_denied"
    assert status_of(sql, inv["id"]) == "open"


# -- found by review ------------------------------------------------------------------------


async def test_a_persons_approval_rechecks_deny_and_limits_with_current_policies(app, shop, connect, sql):
    async with connect(shop["billing"]) as c:
        first, second = await invoice(c, shop), await invoice(c, shop)
        held = await err(c, "void_invoice", {"invoice_id": first["id"], "reason": "Duplicate."})
        also = await err(c, "void_invoice", {"invoice_id": second["id"], "reason": "Duplicate."})
    # Added by another process: this server's copy of the policies is stale.
    await add(app, shop, tool="void_invoice", effect="limit", max_calls=1, window="1d", per="agent")
    one = await app.guard.approvals.decide_as_operator(UUID(held["task_id"]), True, "ok", "Maria")
    two = await app.guard.approvals.decide_as_operator(UUID(also["task_id"]), True, "ok", "Maria")
    assert one.task["result"]["outcome"] == "succeeded"
    assert two.task["result"]["error"]["code"] == "rate_limited"  # the limit counted the first
    assert status_of(sql, first["id"]) == "void" and status_of(sql, second["id"]) == "open"


async def test_a_rolled_back_savepoint_drops_what_was_deferred_inside_it(app, shop, sql):
    from bizctx.server.audit import AuditEntry, write_audit

    agent = shop["billing"]
    async with app.db.agent_tx(agent.tenant_id, agent.id) as tx:
        with pytest.raises(RuntimeError):
            async with tx.savepoint():
                write_audit(tx, agent.tenant_id, agent.id, AuditEntry("r1", "memory", "tool", "undone"))
                raise RuntimeError("rolled back")
        write_audit(tx, agent.tenant_id, agent.id, AuditEntry("r2", "memory", "tool", "kept"))
    assert [r["name"] for r in audit_rows(sql, agent)] == ["kept"]


async def test_the_requester_reads_its_own_held_call_without_task_rights(app, shop, make_agent, connect):
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop)
        held = await err(c, "void_invoice", {"invoice_id": inv["id"], "reason": "Duplicate."})
        uri = f"bizctx://agent/me/approvals/{held['task_id']}"
        assert uri in held["message"]
        mine = json.loads((await c.read_resource(uri)).contents[0].text)
    assert mine["status"] == "awaiting_approval" and mine["approvals"][0]["decision"] == "requested"
    colleague = await make_agent(**BILLING, tenant=shop["tenant"]["name"])
    async with connect(colleague) as c:
        with pytest.raises(Exception, match="no held call"):
            await c.read_resource(uri)


async def test_a_currency_condition_uses_the_invoices_currency_when_the_call_names_none(
    app, shop, connect, sql
):
    await without_policies(app, shop["tenant"]["name"])
    await add(app, shop, tool="record_payment", effect="deny", when={"currency": {"eq": "EUR"}})
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop)  # in USD
        paid = await ok(c, "record_payment", {"invoice_id": inv["id"], "amount": "10.00", "method": "cash"})
    assert paid["payment"]["currency"] == "USD"


async def test_condition_values_compare_as_the_fields_type_not_as_text(app, shop, connect, sql):
    await without_policies(app, shop["tenant"]["name"])
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop)
        await add(
            app, shop, tool="void_invoice", effect="deny", when={"invoice_id": {"eq": inv["id"].upper()}}
        )
        refused = await err(c, "void_invoice", {"invoice_id": inv["id"], "reason": "Duplicate."})
    assert refused["code"] == "policy_blocked"
    with pytest.raises(OperatorError, match="not a value it can have"):
        await add(app, shop, tool="void_invoice", effect="deny", when={"invoice_id": {"eq": "not-a-uuid"}})


async def test_one_call_over_an_amount_limit_is_blocked_not_told_to_wait(app, shop, connect, sql):
    await without_policies(app, shop["tenant"]["name"])
    await add(app, shop, tool="record_payment", effect="limit", max_amount="100.00", window="1d", per="agent")
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop, "1000.00")
        big = await err(c, "record_payment", {"invoice_id": inv["id"], "amount": "150.00", "method": "cash"})
    assert big["code"] == "policy_blocked" and big["retryable"] is False and "next_allowed_at" not in big


async def test_amount_limits_add_up_per_currency(app, shop, connect, sql):
    await without_policies(app, shop["tenant"]["name"])
    await add(app, shop, tool="record_payment", effect="limit", max_amount="100.00", window="1d", per="agent")
    async with connect(shop["billing"]) as c:
        usd = await invoice(c, shop, "500.00")
        items = [{"description": "Clean", "quantity": 1, "unit_price": "500"}]
        jpy = await ok(c, "create_invoice", {"client_id": shop["client"], "currency": "JPY", "items": items})
        await ok(c, "record_payment", {"invoice_id": jpy["id"], "amount": "95", "method": "cash"})
        usd_paid = await ok(
            c, "record_payment", {"invoice_id": usd["id"], "amount": "100.00", "method": "cash"}
        )
    assert usd_paid["payment"]["amount"] == "100.00"


async def test_limit_refusals_are_counted_not_written_one_row_each(app, shop, connect, sql):
    await without_policies(app, shop["tenant"]["name"])
    await add(app, shop, tool="create_invoice", effect="limit", max_calls=1, window="1h", per="agent")
    async with connect(shop["billing"]) as c:
        await invoice(c, shop)
        refused = [
            await c.call_tool(
                "create_invoice",
                {
                    "client_id": shop["client"],
                    "currency": "USD",
                    "items": [{"description": "x", "quantity": 1, "unit_price": "1"}],
                },
            )
            for _ in range(6)
        ]
    assert {error_of(r)["code"] for r in refused} == {"rate_limited"}
    assert not [r for r in audit_rows(sql, shop["billing"]) if r["error_code"] == "rate_limited"]
    await app.guard.refusals.flush(app.db, everything=True)
    rows = [r for r in audit_rows(sql, shop["billing"]) if r["error_code"] == "rate_limited"]
    # One row per agent per minute: six refusals paced a second apart may span two minutes.
    minutes = [r["arguments"]["minute"] for r in rows]
    assert len(rows) == len(set(minutes)) <= 2
    assert sum(r["arguments"]["refused_calls"] for r in rows) == 6


async def test_a_replayed_hold_tells_the_same_policy_and_an_expired_one_says_so(app, shop, connect, sql):
    async with connect(shop["billing"]) as c:
        inv = await invoice(c, shop)
        void = {"invoice_id": inv["id"], "reason": "Duplicate.", "idempotency_key": "v-9"}
        first = await err(c, "void_invoice", void)
        again = await err(c, "void_invoice", void)
        assert again["policy"] == first["policy"] and "created_by" not in json.dumps(again)
        sql.execute(
            "UPDATE approval_calls SET created_at = now() - interval '8 days' WHERE task_id = %s",
            (first["task_id"],),
        )
        expired = await err(c, "void_invoice", void)
    assert expired["code"] == "policy_blocked" and "expired" in expired["message"]
    assert await policies.list_approvals(app.db, shop["tenant"]["name"], pending_only=True) == []
    async with connect(shop["approver"]) as c:
        late = await ok(c, "decide_approval", {"task_id": first["task_id"], "decision": "approve"})
    assert late["task"]["status"] == "cancelled" and late["approval"]["decided_by_agent_id"] is None
    assert status_of(sql, inv["id"]) == "open"


async def test_a_held_call_that_failed_replays_as_final(app, shop, connect, sql):
    await add(app, shop, tool="void_invoice", effect="limit", max_calls=1, window="1d", per="agent")
    async with connect(shop["billing"]) as c:
        a, b = await invoice(c, shop), await invoice(c, shop)
        held_a = await err(c, "void_invoice", {"invoice_id": a["id"], "reason": "Duplicate."})
        key = {"invoice_id": b["id"], "reason": "Duplicate.", "idempotency_key": "v-b"}
        held_b = await err(c, "void_invoice", key)
    async with connect(shop["approver"]) as c:
        await ok(c, "decide_approval", {"task_id": held_a["task_id"], "decision": "approve"})
        await ok(c, "decide_approval", {"task_id": held_b["task_id"], "decision": "approve"})
    async with connect(shop["billing"]) as c:
        replay = await err(c, "void_invoice", key)
    assert (
        replay["code"] == "rate_limited" and replay["retryable"] is False and "new key" in replay["message"]
    )
