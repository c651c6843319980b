"""Invoices through a real MCP client session (and the guard directly for concurrency):
issuing with exact money, numbering, payments, voiding, listing, aging and the resources,
with permissions, redaction, bad input and audit."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from mcp.shared.exceptions import MCPError

from conftest import audit_rows, count, err, error_of, ok, without_policies

pytestmark = pytest.mark.anyio

WRITE = {
    "caps": ["invoices.read", "invoices.write"],
    "access": {"invoices": {"read": True, "write": True}, "clients": {"read": True}},
}
READ = {"caps": ["invoices.read"], "access": {"invoices": {"read": True}, "clients": {"read": True}}}
MINOR = {"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3}


def seed_client(sql, agent, name: str = "Ann") -> str:
    row = sql.execute(
        "INSERT INTO clients (tenant_id, first_name, last_name, email, phone) "
        "VALUES (%s, %s, 'Lee', %s, '+1 555 0100') RETURNING id",
        (agent.tenant_id, name, f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"),
    ).fetchone()
    return str(row["id"])


def line(qty="1", price="10.00", **extra) -> dict:
    return {"description": "Cleaning", "quantity": qty, "unit_price": price, **extra}


def rounded(value: Decimal, currency: str) -> Decimal:
    # Half away from zero; every amount here is >= 0, where ROUND_HALF_UP is exactly that.
    return value.quantize(Decimal(1).scaleb(-MINOR[currency]), rounding=ROUND_HALF_UP)


def expected_line(item: dict, currency: str) -> tuple[Decimal, Decimal]:
    q, p = Decimal(item["quantity"]), Decimal(item["unit_price"])
    d, t = Decimal(item.get("discount_pct", "0")), Decimal(item.get("tax_pct", "0"))
    net = rounded(q * p * (1 - d / 100), currency)
    return net, rounded(net * t / 100, currency)


@pytest.fixture
async def writer(app, make_agent):
    # Invoices' own behaviour: without the default policy that holds voids for approval.
    agent = await make_agent(**WRITE)
    await without_policies(app, agent.tenant_name)
    return agent


async def issue(c, client_id: str, items=None, **extra) -> dict:
    return await ok(
        c, "create_invoice", {"client_id": client_id, "currency": "USD", "items": items or [line()], **extra}
    )


# -- create_invoice ------------------------------------------------------------------------------


async def test_create_invoice_issues_a_numbered_open_invoice_and_audits_it(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        inv = await issue(
            c,
            client_id,
            [line("2", "45.50", tax_pct="8.25"), line("1", "20", discount_pct="10")],
            notes="Thank you!",
        )
    assert inv["status"] == "open" and inv["invoice_number"] == "INV-000001"
    assert inv["client"]["id"] == client_id and inv["client"]["display_name"] == "Ann Lee"
    assert inv["client"]["email"].endswith("@example.com") and inv["client"]["phone"] == "+1 555 0100"
    # 2 x 45.50 = 91.00, tax 7.5075 -> 7.51; 20 less 10% = 18.00.
    assert [(i["position"], i["net_amount"], i["tax_amount"], i["total_amount"]) for i in inv["items"]] == [
        (1, "91.00", "7.51", "98.51"),
        (2, "18.00", "0.00", "18.00"),
    ]
    assert (inv["subtotal"], inv["discount_total"], inv["tax_total"], inv["total"]) == (
        "111.00",
        "2.00",
        "7.51",
        "116.51",
    )
    assert inv["balance_due"] == "116.51" and inv["amount_paid"] == "0.00"
    assert date.fromisoformat(inv["due_date"]) - date.fromisoformat(inv["issue_date"]) == timedelta(days=30)
    assert inv["overdue"] is False and inv["payments"] == []
    (row,) = audit_rows(sql, writer)
    assert (row["name"], row["outcome"], row["entity_type"], row["entity_id"]) == (
        "create_invoice",
        "ok",
        "invoice",
        inv["id"],
    )
    assert row["arguments"]["client_id"] == client_id


async def test_line_net_is_rounded_once_from_quantity_price_and_discount(writer, connect, sql):
    """DESIGN: net = round(q x p x (1 - d/100)), not round(round(q x p) x (1 - d/100))."""
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        inv = await issue(c, client_id, [line("1", "0.125", discount_pct="50")])
    (item,) = inv["items"]
    # 0.0625 -> 0.06 (rounding 0.13 x 50% would give 0.07).
    assert item["net_amount"] == "0.06"
    assert (inv["subtotal"], inv["discount_total"], inv["total"]) == ("0.13", "0.07", "0.06")


@pytest.mark.parametrize(
    ("currency", "item", "net", "tax"),
    [
        ("USD", line("1", "0.125"), "0.13", "0.00"),  # half a cent rounds away from zero
        ("USD", line("1", "0.50", tax_pct="5"), "0.50", "0.03"),  # tax 0.025 -> 0.03
        ("USD", line("3", "0.335"), "1.01", "0.00"),  # 1.005 -> 1.01
        ("JPY", line("1", "100.5", tax_pct="10"), "101", "10"),  # yen: no minor unit; 10.1 -> 10
        ("KWD", line("1", "1.2345", tax_pct="10"), "1.235", "0.124"),  # three decimals; 0.1235 -> 0.124
    ],
)
async def test_amounts_round_half_away_from_zero_to_the_minor_unit(
    writer, connect, sql, currency, item, net, tax
):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        inv = await issue(c, client_id, [item], currency=currency)
    (got,) = inv["items"]
    assert (got["net_amount"], got["tax_amount"]) == (net, tax)
    assert inv["total"] == str(Decimal(net) + Decimal(tax))


async def test_a_100_item_invoice_matches_the_rule_line_by_line(writer, connect, sql):
    rng = random.Random(4217)
    items = [
        line(
            str(Decimal(rng.randint(1, 4000)) / 100),
            str(Decimal(rng.randint(0, 10**6)) / 1000),
            discount_pct=str(rng.choice([0, 5, 12.5, 33.3333, 100])),
            tax_pct=str(rng.choice([0, 7, 8.25, 19, 20])),
        )
        for _ in range(100)
    ]
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        inv = await issue(c, client_id, items)
    assert len(inv["items"]) == 100
    nets, taxes = [], []
    for sent, got in zip(items, inv["items"], strict=True):
        net, tax = expected_line(sent, "USD")
        assert (Decimal(got["net_amount"]), Decimal(got["tax_amount"])) == (net, tax), sent
        nets.append(net)
        taxes.append(tax)
    assert Decimal(inv["total"]) == sum(nets) + sum(taxes)
    assert Decimal(inv["tax_total"]) == sum(taxes)
    assert [i["position"] for i in inv["items"]] == list(range(1, 101))


async def test_a_draft_takes_no_number_and_issued_numbers_stay_gapless(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        draft = await issue(c, client_id, draft=True)
        first = await issue(c, client_id)
        second = await issue(c, client_id)
        payment = await err(c, "record_payment", {"invoice_id": draft["id"], "amount": "1", "method": "cash"})
    assert draft["status"] == "draft" and draft["invoice_number"] is None and draft["issue_date"] is None
    assert (first["invoice_number"], second["invoice_number"]) == ("INV-000001", "INV-000002")
    assert payment["code"] == "conflict" and "draft" in payment["message"]


async def test_ten_concurrent_creates_get_ten_consecutive_numbers(app, writer, sql):
    client_id = seed_client(sql, writer)
    args = {"client_id": client_id, "currency": "USD", "items": [line()]}
    results = await asyncio.gather(
        *(app.guard.call_tool(writer.principal, "create_invoice", args) for _ in range(10))
    )
    assert not any(r.is_error for r in results), [r.content[0].text for r in results if r.is_error]
    numbers = sorted(r.structured_content["invoice_number"] for r in results)
    assert numbers == [f"INV-{n:06d}" for n in range(1, 11)]
    assert count(sql, "invoices", writer.tenant_id) == 10


async def test_create_is_idempotent_with_a_key_and_consumes_no_number(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        first = await issue(c, client_id, idempotency_key="order-7")
        again = await issue(c, client_id, idempotency_key="order-7")
        other_lines = {"client_id": client_id, "currency": "USD", "items": [line("5", "99")]}
        clash = await err(c, "create_invoice", {**other_lines, "idempotency_key": "order-7"})
        other = await issue(c, client_id)
    assert again == first
    # Other lines under the same key: a conflict (v1 returned the first invoice), no number used.
    assert clash["code"] == "conflict" and clash["first_call_at"]
    assert other["invoice_number"] == "INV-000002"
    assert count(sql, "invoices", writer.tenant_id) == 2
    assert count(sql, "invoice_items", writer.tenant_id) == 2


async def test_an_unknown_or_foreign_client_is_not_found_and_nothing_is_written(
    writer, make_agent, connect, sql
):
    other = await make_agent(**WRITE)
    foreign = seed_client(sql, other)
    async with connect(writer) as c:
        for client_id in (foreign, str(uuid.uuid4())):
            error = await err(
                c, "create_invoice", {"client_id": client_id, "currency": "USD", "items": [line()]}
            )
            assert error["code"] == "not_found" and "search_clients" in error["message"]
        # The number was not consumed either.
        assert (await issue(c, seed_client(sql, writer)))["invoice_number"] == "INV-000001"
    assert count(sql, "invoices", other.tenant_id) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"items": []}, "items"),
        ({"items": [line("0")]}, "quantity"),
        ({"items": [line("-1")]}, "quantity"),
        ({"items": [line(price="-5")]}, "unit_price"),
        ({"items": [line(price="1.23456")]}, "unit_price"),
        ({"items": [line(discount_pct="150")]}, "discount_pct"),
        ({"items": [line(tax_pct="-1")]}, "tax_pct"),
        ({"items": [line(price="NaN")]}, "unit_price"),
        ({"items": [{"description": " ", "quantity": "1", "unit_price": "1"}]}, "description"),
        ({"currency": "US"}, "currency"),
        ({"issue_date": "2030-01-10", "due_date": "2030-01-01"}, "due_date"),
        ({"due_date": "2000-01-01"}, "due_date"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_invoice_input_is_refused_and_writes_nothing(writer, connect, sql, change, field):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        error = await err(
            c, "create_invoice", {"client_id": client_id, "currency": "USD", "items": [line()], **change}
        )
    assert error["code"] == "invalid_input" and field in error["message"], error
    assert count(sql, "invoices", writer.tenant_id) == 0
    assert count(sql, "invoice_items", writer.tenant_id) == 0
    assert audit_rows(sql, writer)[-1]["error_code"] == "invalid_input"


async def test_an_item_naming_a_missing_service_is_not_found(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        error = await err(
            c,
            "create_invoice",
            {"client_id": client_id, "currency": "USD", "items": [line(service_id=str(uuid.uuid4()))]},
        )
    assert error["code"] == "not_found" and "service" in error["message"]
    assert count(sql, "invoices", writer.tenant_id) == 0


# -- permissions and redaction -------------------------------------------------------------------

INVOICE_TOOLS = {
    "create_invoice",
    "record_payment",
    "void_invoice",
    "get_invoice",
    "list_invoices",
    "receivables_aging",
}


async def tool_names(c) -> set[str]:
    return {t.name for t in (await c.list_tools()).tools}


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("create_invoice", {"client_id": str(uuid.uuid4()), "currency": "USD", "items": [line()]}),
        ("record_payment", {"invoice_id": str(uuid.uuid4()), "amount": "1", "method": "cash"}),
        ("void_invoice", {"invoice_id": str(uuid.uuid4()), "reason": "x"}),
    ],
)
async def test_writes_need_invoices_write(make_agent, connect, sql, tool, args):
    reader = await make_agent(**READ)
    async with connect(reader) as c:
        assert await tool_names(c) & INVOICE_TOOLS == {"get_invoice", "list_invoices", "receivables_aging"}
        error = await err(c, tool, args)
    assert error["code"] == "permission_denied" and "invoices.write" in error["message"]
    (row,) = audit_rows(sql, reader)
    assert (row["name"], row["outcome"], row["error_code"]) == (tool, "denied", "permission_denied")


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("get_invoice", {"invoice_id": str(uuid.uuid4())}),
        ("list_invoices", {}),
        ("receivables_aging", {}),
        ("create_invoice", {"client_id": str(uuid.uuid4()), "currency": "USD", "items": [line()]}),
    ],
)
async def test_a_closed_invoices_domain_denies_every_tool(make_agent, connect, sql, tool, args):
    agent = await make_agent(caps=WRITE["caps"], access={"clients": {"read": True}})
    async with connect(agent) as c:
        assert await tool_names(c) & INVOICE_TOOLS == set()
        error = await err(c, tool, args)
    assert error["code"] == "permission_denied" and "access_patterns" in error["message"]
    assert audit_rows(sql, agent)[-1]["outcome"] == "denied"


async def test_reads_need_invoices_read(make_agent, connect, sql):
    agent = await make_agent(caps=["invoices.write"], access=WRITE["access"])
    async with connect(agent) as c:
        for tool in ("get_invoice", "list_invoices", "receivables_aging"):
            args = {"invoice_id": str(uuid.uuid4())} if tool == "get_invoice" else {}
            error = await err(c, tool, args)
            assert error["code"] == "permission_denied" and "invoices.read" in error["message"]
    assert [r["outcome"] for r in audit_rows(sql, agent)] == ["denied"] * 3


async def test_redacted_client_fields_are_absent_from_every_invoice_output(make_agent, writer, connect, sql):
    client_id = seed_client(sql, writer)
    redacting = await make_agent(
        caps=WRITE["caps"],
        access={
            "invoices": {"read": True, "write": True},
            "clients": {"read": True, "redact": ["email", "phone"]},
        },
        tenant=writer.tenant_name,
    )
    async with connect(redacting) as c:
        created = await issue(c, client_id)
        paid = await ok(
            c, "record_payment", {"invoice_id": created["id"], "amount": "1.00", "method": "cash"}
        )
        got = await ok(c, "get_invoice", {"invoice_id": created["id"]})
        listed = await ok(c, "list_invoices", {})
        resource = await c.read_resource(f"bizctx://invoices/{created['id']}")
    for client in (
        created["client"],
        paid["invoice"]["client"],
        got["client"],
        listed["invoices"][0]["client"],
    ):
        assert set(client) == {"id", "display_name"}
    assert "@example.com" not in resource.contents[0].text and "+1 555 0100" not in resource.contents[0].text
    # An agent whose clients domain is closed gets the client's name, never its contact details.
    blind = await make_agent(
        caps=READ["caps"], access={"invoices": {"read": True}}, tenant=writer.tenant_name
    )
    async with connect(blind) as c:
        got = await ok(c, "get_invoice", {"invoice_id": created["id"]})
    assert got["client"]["display_name"] == "Ann Lee"
    assert got["client"].get("email") is None and got["client"].get("phone") is None


# -- record_payment ---------------------------------------------------------------------------------


async def test_three_partial_payments_bring_the_balance_to_exactly_zero(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        inv = await issue(c, client_id, [line("1", "100")])
        statuses = []
        for amount in ("33.33", "33.33", "33.34"):
            out = await ok(c, "record_payment", {"invoice_id": inv["id"], "amount": amount, "method": "card"})
            statuses.append((out["invoice"]["status"], out["invoice"]["balance_due"]))
            assert out["payment"]["amount"] == amount and out["payment"]["currency"] == "USD"
        final = await ok(c, "get_invoice", {"invoice_id": inv["id"]})
    assert statuses == [("partial", "66.67"), ("partial", "33.34"), ("paid", "0.00")]
    assert final["amount_paid"] == "100.00" and [p["amount"] for p in final["payments"]] == [
        "33.33",
        "33.33",
        "33.34",
    ]
    rows = audit_rows(sql, writer)
    assert [(r["name"], r["entity_type"], r["entity_id"]) for r in rows[1:4]] == [
        ("record_payment", "invoice", inv["id"])
    ] * 3


async def test_an_overpayment_is_refused_naming_the_balance_and_changes_nothing(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        inv = await issue(c, client_id, [line("1", "50")])
        await ok(c, "record_payment", {"invoice_id": inv["id"], "amount": "20", "method": "cash"})
        error = await err(c, "record_payment", {"invoice_id": inv["id"], "amount": "30.01", "method": "cash"})
        after = await ok(c, "get_invoice", {"invoice_id": inv["id"]})
    assert error["code"] == "conflict"
    assert "30.00 USD" in error["message"] and error["balance_due"] == "30.00"
    assert after["balance_due"] == "30.00" and after["status"] == "partial"
    assert count(sql, "payments", writer.tenant_id) == 1
    assert audit_rows(sql, writer)[-2]["error_code"] == "conflict"


async def test_concurrent_payments_never_exceed_the_total(app, writer, sql):
    client_id = seed_client(sql, writer)
    created = await app.guard.call_tool(
        writer.principal,
        "create_invoice",
        {"client_id": client_id, "currency": "USD", "items": [line("1", "100")]},
    )
    invoice_id = created.structured_content["id"]
    results = await asyncio.gather(
        *(
            app.guard.call_tool(
                writer.principal,
                "record_payment",
                {"invoice_id": invoice_id, "amount": "30", "method": "card"},
            )
            for _ in range(5)
        )
    )
    assert sorted(r.is_error for r in results) == [False, False, False, True, True]
    refused = [error_of(r) for r in results if r.is_error]
    assert {e["balance_due"] for e in refused} == {"10.00"}
    row = sql.execute("SELECT amount_paid, status FROM invoices WHERE id = %s", (invoice_id,)).fetchone()
    assert row == {"amount_paid": Decimal("90.0000"), "status": "partial"}


async def test_a_retried_payment_with_the_same_key_records_nothing_new(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        inv = await issue(c, client_id, [line("1", "40")])
        other = await issue(c, client_id, [line("1", "40")])
        args = {"invoice_id": inv["id"], "amount": "40", "method": "bank_transfer", "idempotency_key": "tx-1"}
        first = await ok(c, "record_payment", args)
        again = await ok(c, "record_payment", args)
        reused = await err(c, "record_payment", {**args, "invoice_id": other["id"]})
    assert again == first and first["invoice"]["status"] == "paid"
    assert count(sql, "payments", writer.tenant_id) == 1
    assert reused["code"] == "conflict" and "idempotency_key" in reused["message"]


@pytest.mark.parametrize(
    ("setup", "args", "code", "words"),
    [
        ("void", {}, "conflict", "void"),
        ("draft", {}, "conflict", "draft"),
        ("open", {"currency": "EUR"}, "conflict", "in USD"),
        ("open", {"amount": "1.005"}, "invalid_input", "2 decimal places"),
        ("open", {"amount": "0"}, "invalid_input", "amount"),
        ("open", {"method": "bitcoin"}, "invalid_input", "method"),
        ("paid", {}, "conflict", "already paid"),
    ],
)
async def test_payments_the_invoice_cannot_take_are_refused(writer, connect, sql, setup, args, code, words):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        inv = await issue(c, client_id, [line("1", "10")], draft=setup == "draft")
        if setup == "void":
            await ok(c, "void_invoice", {"invoice_id": inv["id"], "reason": "duplicate"})
        if setup == "paid":
            await ok(c, "record_payment", {"invoice_id": inv["id"], "amount": "10", "method": "cash"})
        before = count(sql, "payments", writer.tenant_id)
        error = await err(
            c, "record_payment", {"invoice_id": inv["id"], "amount": "5", "method": "cash", **args}
        )
    assert error["code"] == code and words in error["message"], error
    assert count(sql, "payments", writer.tenant_id) == before


async def test_yen_payments_have_no_decimals(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        inv = await issue(c, client_id, [line("1", "1000")], currency="JPY")
        error = await err(c, "record_payment", {"invoice_id": inv["id"], "amount": "1.5", "method": "cash"})
        paid = await ok(c, "record_payment", {"invoice_id": inv["id"], "amount": 1000, "method": "cash"})
    assert (
        error["code"] == "invalid_input" and "JPY amounts have at most 0 decimal places" in error["message"]
    )
    assert paid["payment"]["amount"] == "1000" and paid["invoice"]["status"] == "paid"


async def test_a_payment_on_another_tenants_invoice_is_not_found(writer, make_agent, connect, sql):
    other = await make_agent(**WRITE)
    async with connect(other) as c:
        theirs = await issue(c, seed_client(sql, other))
    async with connect(writer) as c:
        error = await err(c, "record_payment", {"invoice_id": theirs["id"], "amount": "1", "method": "cash"})
        missing = await err(c, "get_invoice", {"invoice_id": theirs["id"]})
    assert error["code"] == missing["code"] == "not_found"
    assert count(sql, "payments", other.tenant_id) == 0


# -- void_invoice ----------------------------------------------------------------------------------


async def test_void_an_open_invoice_then_again_is_a_no_op(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        inv = await issue(c, client_id)
        voided = await ok(c, "void_invoice", {"invoice_id": inv["id"], "reason": "sent twice"})
        again = await ok(c, "void_invoice", {"invoice_id": inv["id"], "reason": "sent twice"})
        listed = await ok(c, "list_invoices", {"status": "void"})
    assert voided["status"] == "void" and voided["void_reason"] == "sent twice" and voided["voided_at"]
    assert voided["invoice_number"] == "INV-000001"  # the number stays used
    assert again == voided
    assert [i["id"] for i in listed["invoices"]] == [inv["id"]]
    rows = audit_rows(sql, writer)
    assert [(r["name"], r["outcome"], r["entity_id"]) for r in rows[1:3]] == [
        ("void_invoice", "ok", inv["id"])
    ] * 2


async def test_an_invoice_with_payments_cannot_be_voided(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        inv = await issue(c, client_id, [line("1", "10")])
        await ok(c, "record_payment", {"invoice_id": inv["id"], "amount": "4", "method": "cash"})
        error = await err(c, "void_invoice", {"invoice_id": inv["id"], "reason": "oops"})
        missing = await err(c, "void_invoice", {"invoice_id": str(uuid.uuid4()), "reason": "oops"})
        blank = await err(c, "void_invoice", {"invoice_id": inv["id"], "reason": ""})
    assert error["code"] == "conflict" and "(4.00 USD received)" in error["message"]
    assert "refund_payment" in error["message"]
    assert (
        missing["code"] == "not_found" and blank["code"] == "invalid_input" and "reason" in blank["message"]
    )
    assert (
        sql.execute("SELECT status FROM invoices WHERE id = %s", (inv["id"],)).fetchone()["status"]
        == "partial"
    )


# -- get_invoice / list_invoices -------------------------------------------------------------------------


async def test_get_invoice_returns_lines_and_payments_and_is_audited(writer, make_agent, connect, sql):
    client_id = seed_client(sql, writer)
    reader = await make_agent(**READ, tenant=writer.tenant_name)
    async with connect(writer) as c:
        inv = await issue(c, client_id, [line("1", "10"), line("2", "5")])
        await ok(
            c,
            "record_payment",
            {"invoice_id": inv["id"], "amount": "5", "method": "check", "reference": "#12"},
        )
    async with connect(reader) as c:
        got = await ok(c, "get_invoice", {"invoice_id": inv["id"]})
        bad = await err(c, "get_invoice", {"invoice_id": "INV-000001"})
    assert [i["total_amount"] for i in got["items"]] == ["10.00", "10.00"]
    assert [(p["amount"], p["method"], p["reference"]) for p in got["payments"]] == [("5.00", "check", "#12")]
    assert got["status"] == "partial" and got["balance_due"] == "15.00"
    assert bad["code"] == "invalid_input" and "invoice_id" in bad["message"]
    rows = audit_rows(sql, reader)
    assert [(r["name"], r["outcome"], r["entity_id"]) for r in rows] == [
        ("get_invoice", "ok", inv["id"]),
        ("get_invoice", "error", None),
    ]


def local_today(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()


async def test_overdue_is_derived_in_the_business_time_zone(make_agent, connect, sql):
    # Kiritimati (UTC+14) is always at least a day ahead of Pago Pago (UTC-11).
    ahead = await make_agent(**WRITE, tenant=None)
    sql.execute("UPDATE tenants SET time_zone = 'Pacific/Kiritimati' WHERE id = %s", (ahead.tenant_id,))
    behind = await make_agent(**WRITE)
    sql.execute("UPDATE tenants SET time_zone = 'Pacific/Pago_Pago' WHERE id = %s", (behind.tenant_id,))
    due = local_today("Pacific/Pago_Pago").isoformat()
    results = {}
    for agent in (ahead, behind):
        async with connect(agent) as c:
            inv = await issue(c, seed_client(sql, agent), issue_date=due, due_date=due)
            listed = await ok(c, "list_invoices", {"overdue_only": True})
            results[agent.tenant_id] = (inv["overdue"], [i["id"] for i in listed["invoices"]], inv["id"])
    overdue, listed_ids, inv_id = results[ahead.tenant_id]
    assert overdue is True and listed_ids == [inv_id]
    overdue, listed_ids, _ = results[behind.tenant_id]
    assert overdue is False and listed_ids == []


async def test_list_invoices_filters_and_pages_with_a_cursor(writer, connect, sql):
    ann, bob = seed_client(sql, writer, "Ann"), seed_client(sql, writer, "Bob")
    today = datetime.now(UTC).date()
    async with connect(writer) as c:
        ids = []
        for n in range(5):
            day = (today - timedelta(days=60 - n)).isoformat()
            ids.append((await issue(c, ann, issue_date=day, due_date=day))["id"])
        paid = await issue(c, bob, [line("1", "10")], issue_date=(today - timedelta(days=90)).isoformat())
        await ok(c, "record_payment", {"invoice_id": paid["id"], "amount": "10", "method": "cash"})
        draft = await issue(c, bob, draft=True)
        pages, cursor = [], None
        while True:
            page = await ok(c, "list_invoices", {"limit": 2, **({"cursor": cursor} if cursor else {})})
            pages.append([i["id"] for i in page["invoices"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        by_client = await ok(c, "list_invoices", {"client_id": bob})
        overdue = await ok(c, "list_invoices", {"overdue_only": True, "limit": 100})
        paid_only = await ok(c, "list_invoices", {"status": "paid"})
        tampered = await err(c, "list_invoices", {"cursor": "not-a-cursor"})
        too_big = await err(c, "list_invoices", {"limit": 1000})
    flat = [i for p in pages for i in p]
    assert flat == [draft["id"], *reversed(ids), paid["id"]] and [len(p) for p in pages] == [2, 2, 2, 1]
    assert {i["id"] for i in by_client["invoices"]} == {paid["id"], draft["id"]}
    assert [i["id"] for i in overdue["invoices"]] == list(reversed(ids))
    assert all(i["overdue"] and i["days_overdue"] >= 56 for i in overdue["invoices"])
    assert [i["id"] for i in paid_only["invoices"]] == [paid["id"]]
    assert tampered["code"] == too_big["code"] == "invalid_input"
    rows = audit_rows(sql, writer)
    assert rows[-3]["name"] == "list_invoices" and rows[-3]["outcome"] == "ok"


async def test_overdue_invoices_page_with_a_cursor_in_list_order(writer, connect, sql):
    """overdue_only has its own query (list_overdue_invoices.sql, on the owed invoices' index):
    its pages, cursor and filters give what filtering the whole list would."""
    ann, bob = seed_client(sql, writer, "Ann"), seed_client(sql, writer, "Bob")
    today = datetime.now(UTC).date()
    async with connect(writer) as c:
        for n, client in enumerate((ann, bob, ann, bob, ann)):
            day = (today - timedelta(days=40 + n % 3)).isoformat()  # equal issue dates: id breaks ties
            await issue(c, client, issue_date=day, due_date=day)
        issued, due = (today - timedelta(days=50)).isoformat(), (today - timedelta(days=45)).isoformat()
        partial = await issue(c, bob, issue_date=issued, due_date=due)
        await ok(c, "record_payment", {"invoice_id": partial["id"], "amount": "1", "method": "cash"})
        await issue(c, ann, issue_date=today.isoformat(), due_date=(today + timedelta(days=30)).isoformat())
        paid = await issue(c, bob, [line("1", "10")], issue_date=(today - timedelta(days=90)).isoformat())
        await ok(c, "record_payment", {"invoice_id": paid["id"], "amount": "10", "method": "cash"})
        everything = await ok(c, "list_invoices", {"limit": 100})
        pages, cursor = [], None
        while True:
            more = {"cursor": cursor} if cursor else {}
            page = await ok(c, "list_invoices", {"overdue_only": True, "limit": 2, **more})
            pages.append([i["id"] for i in page["invoices"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        bobs = await ok(c, "list_invoices", {"overdue_only": True, "client_id": bob})
        partly = await ok(c, "list_invoices", {"overdue_only": True, "status": "partial"})
    expected = [i["id"] for i in everything["invoices"] if i["overdue"]]
    assert len(expected) == 6 and [i for p in pages for i in p] == expected
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [i["id"] for i in bobs["invoices"]] == [
        i["id"] for i in everything["invoices"] if i["overdue"] and i["client"]["id"] == bob
    ]
    assert [i["id"] for i in partly["invoices"]] == [partial["id"]]


# -- receivables_aging -----------------------------------------------------------------------------


async def test_receivables_aging_buckets_exact_sums_per_currency(writer, make_agent, connect, sql):
    client_id = seed_client(sql, writer)
    today = datetime.now(UTC).date()  # the tenant's zone is UTC

    def days_ago(n: int) -> str:
        return (today - timedelta(days=n)).isoformat()

    async with connect(writer) as c:
        for n, price in (
            (-5, "10.01"),
            (0, "0.99"),
            (1, "20.02"),
            (30, "0.03"),
            (31, "30.03"),
            (60, "1"),
            (61, "40.04"),
            (90, "2"),
            (91, "50.05"),
            (400, "3"),
        ):
            await issue(
                c, client_id, [line("1", price)], issue_date=days_ago(max(n, 0) + 1), due_date=days_ago(n)
            )
        partial = await issue(
            c, client_id, [line("1", "100")], issue_date=days_ago(20), due_date=days_ago(10)
        )
        await ok(c, "record_payment", {"invoice_id": partial["id"], "amount": "99.90", "method": "cash"})
        gone = await issue(c, client_id, [line("1", "999")], issue_date=days_ago(40), due_date=days_ago(40))
        await ok(c, "void_invoice", {"invoice_id": gone["id"], "reason": "x"})
        await issue(c, client_id, [line("1", "999")], draft=True)
        await issue(
            c, client_id, [line("1", "1500")], currency="JPY", issue_date=days_ago(45), due_date=days_ago(45)
        )
        aging = await ok(c, "receivables_aging", {})
        other_client = await ok(c, "receivables_aging", {"client_id": seed_client(sql, writer, "Bob")})
    assert aging["as_of"] == today.isoformat() and aging["time_zone"] == "UTC"
    assert aging["currencies"] == [
        {
            "currency": "JPY",
            "current": "0",
            "days_1_30": "0",
            "days_31_60": "1500",
            "days_61_90": "0",
            "days_over_90": "0",
            "total": "1500",
            "invoices": 1,
        },
        {
            "currency": "USD",
            "current": "11.00",
            "days_1_30": "20.15",
            "days_31_60": "31.03",
            "days_61_90": "42.04",
            "days_over_90": "53.05",
            "total": "157.27",
            "invoices": 11,
        },
    ]
    assert other_client["currencies"] == []
    assert audit_rows(sql, writer)[-1]["name"] == "receivables_aging"


async def test_receivables_aging_bad_input(writer, connect, sql):
    async with connect(writer) as c:
        error = await err(c, "receivables_aging", {"client_id": "nobody"})
    assert error["code"] == "invalid_input" and "client_id" in error["message"]
    assert audit_rows(sql, writer)[-1]["error_code"] == "invalid_input"


# -- resources ---------------------------------------------------------------------------------------


async def test_overdue_and_invoice_resources(writer, make_agent, connect, sql):
    client_id = seed_client(sql, writer)
    old = (datetime.now(UTC).date() - timedelta(days=10)).isoformat()
    async with connect(writer) as c:
        late = await issue(c, client_id, [line("1", "12.5")], issue_date=old, due_date=old)
        await issue(c, client_id)
        listed = {r.uri for r in (await c.list_resources()).resources}
        templates = {t.uri_template for t in (await c.list_resource_templates()).resource_templates}
        overdue = json.loads((await c.read_resource("bizctx://invoices/overdue")).contents[0].text)
        one = json.loads((await c.read_resource(f"bizctx://invoices/{late['id']}")).contents[0].text)
        with pytest.raises(MCPError):
            await c.read_resource(f"bizctx://invoices/{uuid.uuid4()}")
    assert "bizctx://invoices/overdue" in listed and "bizctx://invoices/{invoice_id}" in templates
    assert [i["id"] for i in overdue["invoices"]] == [late["id"]] and overdue["truncated"] is False
    assert overdue["totals"] == [{"currency": "USD", "amount": "12.50", "invoices": 1}]
    assert overdue["invoices"][0]["days_overdue"] == 10
    assert one["id"] == late["id"] and one["items"][0]["total_amount"] == "12.50"
    rows = audit_rows(sql, writer)
    assert [(r["kind"], r["name"], r["outcome"]) for r in rows[-3:]] == [
        ("resource", "bizctx://invoices/overdue", "ok"),
        ("resource", "bizctx://invoices/{invoice_id}", "ok"),
        ("resource", "bizctx://invoices/{invoice_id}", "error"),
    ]
    # Without invoices.read the resources are neither listed nor readable.
    outsider = await make_agent(
        caps=["clients.read"], access={"clients": {"read": True}}, tenant=writer.tenant_name
    )
    async with connect(outsider) as c:
        assert not any("invoices" in r.uri for r in (await c.list_resources()).resources)
        with pytest.raises(MCPError):
            await c.read_resource("bizctx://invoices/overdue")
    assert audit_rows(sql, outsider)[-1]["outcome"] == "denied"


async def test_a_write_only_agent_is_not_told_the_balance_by_a_refused_payment(
    writer, make_agent, connect, sql
):
    """record_payment's conflicts name the balance due: a read. An agent that may record
    payments but not read invoices learns only that its payment does not fit."""
    cashier = await make_agent(
        caps=["invoices.write"], access={"invoices": {"write": True}}, tenant=writer.tenant_name
    )
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        inv = await issue(c, client_id, items=[line("1", "37.45")])
        reader_view = await err(
            c, "record_payment", {"invoice_id": inv["id"], "method": "card", "amount": "500.00"}
        )
    async with connect(cashier) as c:
        refused = await err(
            c, "record_payment", {"invoice_id": inv["id"], "method": "card", "amount": "500.00"}
        )
        paid = await ok(
            c,
            "record_payment",
            {"invoice_id": inv["id"], "method": "card", "amount": "37.45", "idempotency_key": "p1"},
        )
        reused = await err(
            c,
            "record_payment",
            {"invoice_id": inv["id"], "method": "card", "amount": "1.00", "idempotency_key": "p1"},
        )
    assert reader_view["code"] == "conflict" and reader_view["balance_due"] == "37.45"
    assert refused["code"] == "conflict" and "37.45" not in json.dumps(refused)
    assert "balance_due" not in refused and "withheld" in refused["message"]
    assert set(paid) == {"done", "entity_type", "entity_id", "note"}
    # An idempotency conflict is about the agent's own call: told in full.
    assert (
        reused["code"] == "conflict" and "idempotency_key" in reused["message"] and "first_call_at" in reused
    )
    assert count(sql, "payments", writer.tenant_id) == 1
