"""Refunds and the payment history through the official MCP client: refund_payment (credit or
reopen, exact to the minor unit, never more than was paid, held for approval by default) and
list_payments, with permissions, redaction, bad input, audit and two agents racing."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal

import pytest
from test_invoices import READ, WRITE, seed_client

from bizctx.ops import policies
from conftest import audit_rows, count, err, error_of, ok, without_policies

pytestmark = pytest.mark.anyio

APPROVER = {
    "caps": ["tasks.read", "tasks.approve", "invoices.read"],
    "access": {"tasks": {"read": True, "write": True, "scope": "all"}, "invoices": {"read": True}},
}


@pytest.fixture
async def writer(app, make_agent):
    # Refunds' own behaviour: without the default policy that holds them for approval.
    agent = await make_agent(**WRITE)
    await without_policies(app, agent.tenant_name)
    return agent


async def paid(c, client_id: str, price: str = "100.00", currency: str = "USD", pay: str | None = None):
    """An invoice of one line at `price`, and a payment of `pay` (default: all of it)."""
    items = [{"description": "Deep clean", "quantity": 1, "unit_price": price}]
    invoice = await ok(c, "create_invoice", {"client_id": client_id, "currency": currency, "items": items})
    done = await ok(
        c, "record_payment", {"invoice_id": invoice["id"], "amount": pay or price, "method": "card"}
    )
    return invoice, done["payment"]


def money(sql, invoice_id) -> dict:
    return sql.execute(
        "SELECT status, amount_paid, credited, balance_due FROM invoices WHERE id = %s", (invoice_id,)
    ).fetchone()


# -- refund_payment ---------------------------------------------------------------------------


async def test_a_credit_refund_lowers_what_is_owed_and_leaves_the_balance(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        invoice, payment = await paid(c, client_id)
        refunded = await ok(
            c,
            "refund_payment",
            {"payment_id": payment["id"], "amount": "30.00", "reason": "Scratched the floor."},
        )
        got = await ok(c, "get_invoice", {"invoice_id": invoice["id"]})
        unvoidable = await err(c, "void_invoice", {"invoice_id": invoice["id"], "reason": "Mistake."})
    assert refunded["refund"]["amount"] == "30.00" and refunded["refund"]["kind"] == "credit"
    # What was received and what was credited back, each as it is, not one netted figure.
    assert "(70.00 USD received, 30.00 credited back)" in unvoidable["message"]
    assert (unvoidable["amount_paid"], unvoidable["credited"]) == ("70.00", "30.00")
    assert (refunded["refunded"], refunded["refundable"], refunded["payment_amount"]) == (
        "30.00",
        "70.00",
        "100.00",
    )
    summary = refunded["invoice"]
    assert (summary["status"], summary["amount_paid"], summary["credited"], summary["balance_due"]) == (
        "paid",
        "70.00",
        "30.00",
        "0.00",
    )
    (listed,) = got["payments"]
    assert listed["refunded"] == "30.00"
    assert [(r["amount"], r["kind"], r["reason"]) for r in listed["refunds"]] == [
        ("30.00", "credit", "Scratched the floor.")
    ]
    assert listed["refunds"][0]["created_by_agent_id"] == str(writer.id)
    row = [r for r in audit_rows(sql, writer) if r["name"] == "refund_payment"][-1]
    assert (row["outcome"], row["entity_type"], row["entity_id"]) == ("ok", "payment", payment["id"])


async def test_a_reopen_refund_makes_the_invoice_owed_again(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        invoice, payment = await paid(c, client_id)
        part = await ok(
            c,
            "refund_payment",
            {"payment_id": payment["id"], "amount": "40.00", "kind": "reopen", "reason": "Chargeback."},
        )
        assert (part["invoice"]["status"], part["invoice"]["balance_due"]) == ("partial", "40.00")
        rest = await ok(
            c, "refund_payment", {"payment_id": payment["id"], "kind": "reopen", "reason": "Bounced."}
        )
        # Owed again: a new payment is taken, up to the whole total.
        again = await ok(
            c, "record_payment", {"invoice_id": invoice["id"], "amount": "100.00", "method": "cash"}
        )
    assert rest["refund"]["amount"] == "60.00" and rest["refundable"] == "0.00"
    assert (rest["invoice"]["status"], rest["invoice"]["amount_paid"], rest["invoice"]["balance_due"]) == (
        "open",
        "0.00",
        "100.00",
    )
    assert again["invoice"]["status"] == "paid"
    assert money(sql, invoice["id"]) == {
        "status": "paid",
        "amount_paid": Decimal("100.0000"),
        "credited": Decimal("0.0000"),
        "balance_due": Decimal("0.0000"),
    }


async def test_a_credit_on_a_partly_paid_invoice_keeps_its_balance_and_it_can_still_be_paid(
    writer, connect, sql
):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        invoice, payment = await paid(c, client_id, pay="60.00")
        credited = await ok(c, "refund_payment", {"payment_id": payment["id"], "reason": "Goodwill."})
        over = await err(
            c, "record_payment", {"invoice_id": invoice["id"], "amount": "40.01", "method": "cash"}
        )
        settled = await ok(
            c, "record_payment", {"invoice_id": invoice["id"], "amount": "40.00", "method": "cash"}
        )
    # All 60.00 credited: nothing kept, 40.00 still owed of what is now 40.00.
    assert (credited["invoice"]["status"], credited["invoice"]["balance_due"]) == ("open", "40.00")
    assert over["code"] == "conflict" and over["balance_due"] == "40.00"
    assert (settled["invoice"]["status"], settled["invoice"]["credited"]) == ("paid", "60.00")


@pytest.mark.parametrize(
    ("currency", "price", "parts", "finer"),
    [
        ("USD", "100.00", ["33.33", "33.33", "33.34"], "0.005"),
        ("JPY", "1000", ["333", "333", "334"], "0.5"),
        ("KWD", "10.000", ["3.333", "3.333", "3.334"], "0.0005"),
    ],
)
async def test_partial_refunds_are_exact_to_the_minor_unit(
    writer, connect, sql, currency, price, parts, finer
):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        invoice, payment = await paid(c, client_id, price, currency)
        too_fine = await err(
            c, "refund_payment", {"payment_id": payment["id"], "amount": finer, "reason": "x"}
        )
        results = [
            await ok(
                c,
                "refund_payment",
                {"payment_id": payment["id"], "amount": part, "kind": "reopen", "reason": "x"},
            )
            for part in parts
        ]
        spent = await err(c, "refund_payment", {"payment_id": payment["id"], "reason": "x"})
    assert too_fine["code"] == "invalid_input" and "decimal places" in too_fine["message"]
    assert [r["refund"]["amount"] for r in results] == parts
    assert results[-1]["refundable"] == {"USD": "0.00", "JPY": "0", "KWD": "0.000"}[currency]
    assert sum(Decimal(r["refund"]["amount"]) for r in results) == Decimal(price)
    assert results[-1]["invoice"]["balance_due"] == price and results[-1]["invoice"]["status"] == "open"
    assert spent["code"] == "conflict" and "refunded in full" in spent["message"]
    assert count(sql, "refunds", writer.tenant_id) == 3


async def test_a_refund_over_what_is_left_is_refused_naming_it_and_writes_nothing(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        invoice, payment = await paid(c, client_id)
        await ok(c, "refund_payment", {"payment_id": payment["id"], "amount": "80.00", "reason": "x"})
        before = money(sql, invoice["id"])
        over = await err(c, "refund_payment", {"payment_id": payment["id"], "amount": "20.01", "reason": "x"})
    assert over["code"] == "conflict" and over["refundable"] == "20.00" and over["currency"] == "USD"
    assert "at most 20.00 USD" in over["message"]
    assert money(sql, invoice["id"]) == before and count(sql, "refunds", writer.tenant_id) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"reason": "   "}, "reason"),
        ({"reason": None}, "reason"),
        ({"kind": "cash_back"}, "kind"),
        ({"payment_id": "not-a-uuid"}, "payment_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_bad_refund_input_is_refused_and_writes_nothing(writer, connect, sql, change, field):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        invoice, payment = await paid(c, client_id)
        args = {"payment_id": payment["id"], "amount": "10.00", "reason": "Broken vase.", **change}
        error = await err(c, "refund_payment", {k: v for k, v in args.items() if v is not None})
    assert error["code"] == "invalid_input" and field in json.dumps(error)
    assert count(sql, "refunds", writer.tenant_id) == 0 and money(sql, invoice["id"])["status"] == "paid"


async def test_an_unknown_or_foreign_payment_is_not_found(writer, make_agent, connect, sql):
    other = await make_agent(**WRITE)
    client_id = seed_client(sql, other)
    async with connect(other) as c:
        _, theirs = await paid(c, client_id)
    async with connect(writer) as c:
        unknown = await err(c, "refund_payment", {"payment_id": str(uuid.uuid4()), "reason": "x"})
        foreign = await err(c, "refund_payment", {"payment_id": theirs["id"], "reason": "x"})
    assert unknown["code"] == foreign["code"] == "not_found"
    assert "list_payments" in foreign["message"]
    assert count(sql, "refunds", other.tenant_id) == 0


async def test_refunds_need_invoices_write_and_an_open_domain(make_agent, connect, sql):
    reader = await make_agent(**READ)
    closed = await make_agent(caps=WRITE["caps"], access={"clients": {"read": True}})
    args = {"payment_id": str(uuid.uuid4()), "reason": "x"}
    async with connect(reader) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        denied = await err(c, "refund_payment", args)
        listed = await ok(c, "list_payments", {})
    async with connect(closed) as c:
        shut = await err(c, "refund_payment", args)
        shut_list = await err(c, "list_payments", {})
    assert "list_payments" in names and "refund_payment" not in names and listed["payments"] == []
    assert denied["code"] == "permission_denied" and "invoices.write" in denied["message"]
    assert shut["code"] == shut_list["code"] == "permission_denied" and "access_patterns" in shut["message"]
    assert [(r["name"], r["outcome"]) for r in audit_rows(sql, reader)] == [
        ("refund_payment", "denied"),
        ("list_payments", "ok"),
    ]
    assert [r["outcome"] for r in audit_rows(sql, closed)] == ["denied", "denied"]


async def test_two_agents_racing_for_the_rest_of_a_payment_refund_it_once(
    app, writer, make_agent, connect, sql
):
    second = await make_agent(**WRITE, tenant=writer.tenant_name)
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        invoice, payment = await paid(c, client_id)
        await ok(c, "refund_payment", {"payment_id": payment["id"], "amount": "50.00", "reason": "Half."})

    async def refund(agent) -> object:
        async with connect(agent) as c:
            return await c.call_tool(
                "refund_payment", {"payment_id": payment["id"], "amount": "50.00", "reason": "The rest."}
            )

    results = await asyncio.gather(refund(writer), refund(second), refund(writer), refund(second))
    assert sorted(r.is_error for r in results) == [False, True, True, True]
    assert {error_of(r)["code"] for r in results if r.is_error} == {"conflict"}
    total = sql.execute(
        "SELECT sum(amount) AS s FROM refunds WHERE payment_id = %s", (payment["id"],)
    ).fetchone()["s"]
    assert total == Decimal("100.0000") and money(sql, invoice["id"])["credited"] == Decimal("100.0000")


async def test_the_database_refuses_refunds_over_the_payment_whoever_writes_them(writer, connect, sql):
    """The handler's check has a backstop: the refunds_apply trigger counts under the invoice's
    lock, and the foreign key keeps a refund on its payment's invoice and currency."""
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        invoice, payment = await paid(c, client_id)
        other, _ = await paid(c, client_id)
    insert = (
        "INSERT INTO refunds (tenant_id, payment_id, invoice_id, amount, currency, kind, reason)"
        " VALUES (%s, %s, %s, %s, %s, 'credit', 'x')"
    )
    with pytest.raises(Exception, match="more than its"):
        with sql.transaction():
            sql.execute(insert, (writer.tenant_id, payment["id"], invoice["id"], "100.01", "USD"))
    with pytest.raises(Exception, match="refunds_payment_fk"):
        with sql.transaction():
            sql.execute(insert, (writer.tenant_id, payment["id"], other["id"], "1.00", "USD"))
    with pytest.raises(Exception, match="refunds_payment_fk"):
        with sql.transaction():
            sql.execute(insert, (writer.tenant_id, payment["id"], invoice["id"], "1.00", "EUR"))
    assert count(sql, "refunds", writer.tenant_id) == 0


async def test_a_refund_is_held_for_approval_by_default_and_runs_once_approved(
    app, make_agent, make_tenant, connect, sql
):
    tenant = await make_tenant()
    billing = await make_agent(**WRITE, tenant=tenant["name"])
    approver = await make_agent(**APPROVER, tenant=tenant["name"])
    (default,) = [
        p for p in await policies.list_policies(app.db, tenant["name"]) if p["tool"] == "refund_payment"
    ]
    assert (default["effect"], default["default_key"]) == ("require_approval", "refund_payment_approval")
    client_id = seed_client(sql, billing)
    async with connect(billing) as c:
        invoice, payment = await paid(c, client_id)
        ask = {"payment_id": payment["id"], "reason": "Cancelled the contract.", "idempotency_key": "r-1"}
        held = await err(c, "refund_payment", ask)
        again = await err(c, "refund_payment", ask)
    assert held["code"] == "approval_required" and again["task_id"] == held["task_id"]
    assert held["policy"]["tool"] == "refund_payment" and count(sql, "refunds", tenant["id"]) == 0
    async with connect(approver) as c:
        decided = await asyncio.gather(
            *(
                c.call_tool(
                    "decide_approval", {"task_id": held["task_id"], "decision": "approve", "reason": "OK."}
                )
                for _ in range(2)
            )
        )
    # Two presses at once: each answers the completed task (or a conflict), the refund runs once.
    oks = [r.structured_content for r in decided if not r.is_error]
    assert oks and all(r["task"]["status"] == "completed" for r in oks)
    assert oks[0]["task"]["result"]["outcome"] == "succeeded"
    assert {error_of(r)["code"] for r in decided if r.is_error} <= {"conflict"}
    assert count(sql, "refunds", tenant["id"]) == 1
    ran = [r for r in audit_rows(sql, billing) if r["approval_task_id"] is not None]
    assert [(r["name"], r["outcome"]) for r in ran] == [("refund_payment", "ok")]
    assert money(sql, invoice["id"])["credited"] == Decimal("100.0000")
    async with connect(billing) as c:
        replay = await c.call_tool("refund_payment", ask)
    assert not replay.is_error and replay.structured_content["refund"]["amount"] == "100.00"
    assert count(sql, "refunds", tenant["id"]) == 1


async def test_a_policy_on_the_refund_amount_sees_a_full_refund_as_what_is_left(app, writer, connect, sql):
    await policies.add_policy(
        app.db,
        writer.tenant_name,
        policies.NewPolicy(tool="refund_payment", effect="deny", when={"amount": {"gt": "50.00"}}),
        "ops-test",
    )
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        _, payment = await paid(c, client_id)
        whole = await err(c, "refund_payment", {"payment_id": payment["id"], "reason": "All of it."})
        small = await ok(
            c, "refund_payment", {"payment_id": payment["id"], "amount": "50.00", "reason": "Half."}
        )
        rest = await err(c, "refund_payment", {"payment_id": payment["id"], "amount": "50.01", "reason": "x"})
    # The amount left out is the payment's 100.00: over the threshold, so denied.
    assert whole["code"] == "policy_blocked" and small["refundable"] == "50.00"
    assert rest["code"] == "policy_blocked" and count(sql, "refunds", writer.tenant_id) == 1


# -- list_payments ----------------------------------------------------------------------------


async def test_list_payments_is_the_history_per_client_or_invoice_paged_with_refunds(
    writer, make_agent, connect, sql
):
    ann, ben = seed_client(sql, writer, "Ann"), seed_client(sql, writer, "Ben")
    async with connect(writer) as c:
        first, p1 = await paid(c, ann)
        second, p2 = await paid(c, ann, "50.00")
        _, p3 = await paid(c, ben, "20.00")
        await ok(c, "refund_payment", {"payment_id": p1["id"], "amount": "10.00", "reason": "Late."})
        page1 = await ok(c, "list_payments", {"client_id": ann, "limit": 1})
        page2 = await ok(c, "list_payments", {"client_id": ann, "limit": 1, "cursor": page1["next_cursor"]})
        on_first = await ok(c, "list_payments", {"invoice_id": first["id"]})
        everything = await ok(c, "list_payments", {})
        wrong = await err(c, "list_payments", {"client_id": ben, "cursor": page1["next_cursor"]})
    assert [p["id"] for p in page1["payments"] + page2["payments"]] == [p2["id"], p1["id"]]
    assert page2["next_cursor"] is None
    (listed,) = on_first["payments"]
    assert (listed["invoice_number"], listed["client"]["id"], listed["refunded"]) == (
        first["invoice_number"],
        ann,
        "10.00",
    )
    assert [r["amount"] for r in listed["refunds"]] == ["10.00"]
    assert {p["id"] for p in everything["payments"]} == {p1["id"], p2["id"], p3["id"]}
    assert wrong["code"] == "invalid_input"
    # Another tenant sees none of them.
    stranger = await make_agent(**READ)
    async with connect(stranger) as c:
        assert (await ok(c, "list_payments", {"client_id": ann}))["payments"] == []


async def test_list_payments_redacts_the_clients_contact_fields(writer, make_agent, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        await paid(c, client_id)
    redacting = await make_agent(
        caps=READ["caps"],
        access={"invoices": {"read": True}, "clients": {"read": True, "redact": ["email", "phone"]}},
        tenant=writer.tenant_name,
    )
    async with connect(redacting) as c:
        result = await c.call_tool("list_payments", {"client_id": client_id})
    (payment,) = result.structured_content["payments"]
    assert set(payment["client"]) == {"id", "display_name"}
    assert "@example.com" not in result.content[0].text and "555 0100" not in result.content[0].text
