"""Pricing from the catalog and issuing drafts, through the official MCP client: a line naming
a service takes its name, price and tax rate unless given; issue_invoice opens a draft and
numbers it, and numbers stay gapless however drafts, failures and races interleave."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from test_invoices import READ, WRITE, seed_client

from conftest import audit_rows, count, err, ok, without_policies

pytestmark = pytest.mark.anyio


@pytest.fixture
async def writer(app, make_agent):
    agent = await make_agent(**WRITE)
    await without_policies(app, agent.tenant_name)
    return agent


def service(
    sql, agent, price: str, currency: str = "USD", tax_pct: str = "0", name: str = "Deep clean"
) -> str:
    return str(
        sql.execute(
            "INSERT INTO services (tenant_id, code, name, duration_minutes, price, currency, tax_pct)"
            " VALUES (%s, %s, %s, 120, %s, %s, %s) RETURNING id",
            (agent.tenant_id, uuid.uuid4().hex[:8], name, price, currency, tax_pct),
        ).fetchone()["id"]
    )


# -- pricing from the catalog -------------------------------------------------------------------


async def test_a_line_naming_a_service_takes_its_name_price_and_tax(writer, make_agent, connect, sql):
    client_id = seed_client(sql, writer)
    clean = service(sql, writer, "120.00", tax_pct="8.25")
    scheduler = await make_agent(
        caps=["appointments.read"], access={"appointments": {"read": True}}, tenant=writer.tenant_name
    )
    async with connect(scheduler) as c:
        listed = await ok(c, "list_services", {})
    async with connect(writer) as c:
        inv = await ok(
            c,
            "create_invoice",
            {
                "client_id": client_id,
                "currency": "USD",
                "items": [
                    {"service_id": clean, "quantity": "2"},
                    {
                        "service_id": clean,
                        "quantity": 1,
                        "unit_price": "100",
                        "tax_pct": "0",
                        "description": "Promo",
                    },
                ],
            },
        )
    assert [(s["id"], s["tax_pct"]) for s in listed["services"]] == [(clean, "8.25")]
    first, second = inv["items"]
    assert (first["description"], first["unit_price"], first["tax_pct"]) == ("Deep clean", "120.00", "8.25")
    assert (first["net_amount"], first["tax_amount"]) == ("240.00", "19.80")  # 240 x 8.25% = 19.80
    assert (second["description"], second["unit_price"], second["tax_pct"], second["tax_amount"]) == (
        "Promo",
        "100.00",
        "0",
        "0.00",
    )
    assert inv["total"] == "359.80" and first["service_id"] == clean


async def test_a_service_priced_in_another_currency_needs_a_price(writer, connect, sql):
    client_id = seed_client(sql, writer)
    euro = service(sql, writer, "90.00", currency="EUR")
    async with connect(writer) as c:
        refused = await err(
            c,
            "create_invoice",
            {"client_id": client_id, "currency": "USD", "items": [{"service_id": euro, "quantity": 1}]},
        )
        priced = await ok(
            c,
            "create_invoice",
            {
                "client_id": client_id,
                "currency": "USD",
                "items": [{"service_id": euro, "quantity": 1, "unit_price": "99.00"}],
            },
        )
    assert refused["code"] == "invalid_input" and "priced in EUR" in refused["message"]
    assert "unit_price in USD" in refused["message"]
    assert priced["total"] == "99.00" and count(sql, "invoices", writer.tenant_id) == 1


@pytest.mark.parametrize(
    "item",
    [
        {"quantity": 1, "description": "No price"},
        {"quantity": 1, "unit_price": "5.00"},
        {"quantity": 1, "service_id": "not-a-uuid"},
    ],
)
async def test_a_line_without_a_service_needs_a_description_and_a_price(writer, connect, sql, item):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        error = await err(c, "create_invoice", {"client_id": client_id, "currency": "USD", "items": [item]})
    assert error["code"] == "invalid_input"
    assert count(sql, "invoices", writer.tenant_id) == 0


async def test_a_line_naming_an_unknown_or_foreign_service_is_not_found(writer, make_agent, connect, sql):
    client_id = seed_client(sql, writer)
    stranger = await make_agent(**WRITE)
    theirs = service(sql, stranger, "10.00")
    async with connect(writer) as c:
        for service_id in (str(uuid.uuid4()), theirs):
            error = await err(
                c,
                "create_invoice",
                {
                    "client_id": client_id,
                    "currency": "USD",
                    "items": [{"service_id": service_id, "quantity": 1}],
                },
            )
            assert error["code"] == "not_found" and "list_services" in error["message"]
    assert count(sql, "invoices", writer.tenant_id) == 0


# -- issue_invoice ------------------------------------------------------------------------------


async def draft(c, client_id: str, **extra) -> dict:
    items = [{"description": "Clean", "quantity": 1, "unit_price": "50.00"}]
    return await ok(
        c,
        "create_invoice",
        {"client_id": client_id, "currency": "USD", "items": items, "draft": True, **extra},
    )


async def test_issuing_a_draft_numbers_it_next_and_opens_it(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        first = await ok(
            c,
            "create_invoice",
            {
                "client_id": client_id,
                "currency": "USD",
                "items": [{"description": "A", "quantity": 1, "unit_price": 1}],
            },
        )
        held = await draft(c, client_id)
        payment_on_draft = await err(
            c, "record_payment", {"invoice_id": held["id"], "amount": "1.00", "method": "cash"}
        )
        issued = await ok(c, "issue_invoice", {"invoice_id": held["id"]})
        again = await err(c, "issue_invoice", {"invoice_id": held["id"]})
        paid = await ok(c, "record_payment", {"invoice_id": held["id"], "amount": "50.00", "method": "cash"})
    number = int(first["invoice_number"].split("-")[1])
    assert held["invoice_number"] is None and held["status"] == "draft"
    assert (
        payment_on_draft["code"] == "conflict"
        and f"issue_invoice with invoice_id={held['id']}" in (payment_on_draft["message"])
    )
    assert issued["status"] == "open" and issued["invoice_number"] == f"INV-{number + 1:06d}"
    assert issued["issue_date"] is not None
    assert date.fromisoformat(issued["due_date"]) - date.fromisoformat(issued["issue_date"]) == timedelta(
        days=30
    )
    assert again["code"] == "conflict" and again["status"] == "open"
    assert paid["invoice"]["status"] == "paid"
    (row,) = [r for r in audit_rows(sql, writer) if r["name"] == "issue_invoice" and r["outcome"] == "ok"]
    assert (row["entity_type"], row["entity_id"]) == ("invoice", held["id"])


async def test_a_drafts_dates_are_kept_or_given_and_checked(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        dated = await draft(c, client_id, issue_date="2030-01-10", due_date="2030-02-01")
        kept = await ok(c, "issue_invoice", {"invoice_id": dated["id"]})
        other = await draft(c, client_id)
        bad = await err(
            c,
            "issue_invoice",
            {"invoice_id": other["id"], "issue_date": "2030-03-01", "due_date": "2030-02-01"},
        )
        given = await ok(c, "issue_invoice", {"invoice_id": other["id"], "issue_date": "2030-03-01"})
        unknown = await err(c, "issue_invoice", {"invoice_id": str(uuid.uuid4())})
    assert (kept["issue_date"], kept["due_date"]) == ("2030-01-10", "2030-02-01")
    assert bad["code"] == "invalid_input" and (given["issue_date"], given["due_date"]) == (
        "2030-03-01",
        "2030-03-31",
    )
    assert unknown["code"] == "not_found"
    # The refused issue took no number: the two issued ones are consecutive.
    numbers = [int(i["invoice_number"].split("-")[1]) for i in (kept, given)]
    assert numbers[1] == numbers[0] + 1


async def test_drafts_issued_at_once_take_consecutive_numbers(app, writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        drafts = [await draft(c, client_id) for _ in range(6)]
    results = await asyncio.gather(
        *(app.guard.call_tool(writer.principal, "issue_invoice", {"invoice_id": d["id"]}) for d in drafts)
    )
    assert not any(r.is_error for r in results)
    numbers = sorted(int(r.structured_content["invoice_number"].split("-")[1]) for r in results)
    assert numbers == list(range(numbers[0], numbers[0] + 6))


async def test_a_draft_voided_unissued_takes_no_number_and_cannot_be_issued(writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        before = await draft(c, client_id)
        first = await ok(c, "issue_invoice", {"invoice_id": before["id"]})
        held = await draft(c, client_id)
        dated = await draft(c, client_id, issue_date="2030-01-10", due_date="2030-02-01")
        voided = await ok(c, "void_invoice", {"invoice_id": held["id"], "reason": "Not needed."})
        await ok(c, "void_invoice", {"invoice_id": dated["id"], "reason": "Not needed."})
        refused = await err(c, "issue_invoice", {"invoice_id": held["id"]})
        after = await ok(c, "issue_invoice", {"invoice_id": (await draft(c, client_id))["id"]})
    assert voided["status"] == "void" and voided["invoice_number"] is None
    number = int(first["invoice_number"].split("-")[1])
    assert after["invoice_number"] == f"INV-{number + 1:06d}"  # no gap where the voided drafts were
    assert refused["code"] == "conflict" and refused["status"] == "void"
    assert f"Invoice {held['id']} is void, not a draft: it was voided unissued." in refused["message"]
    row = sql.execute("SELECT status, invoice_number FROM invoices WHERE id = %s", (held["id"],)).fetchone()
    assert (row["status"], row["invoice_number"]) == ("void", None)


async def test_issuing_needs_invoices_write(make_agent, writer, connect, sql):
    client_id = seed_client(sql, writer)
    async with connect(writer) as c:
        held = await draft(c, client_id)
    reader = await make_agent(**READ, tenant=writer.tenant_name)
    async with connect(reader) as c:
        denied = await err(c, "issue_invoice", {"invoice_id": held["id"]})
    assert denied["code"] == "permission_denied" and "invoices.write" in denied["message"]
    assert (
        sql.execute("SELECT status FROM invoices WHERE id = %s", (held["id"],)).fetchone()["status"]
        == "draft"
    )
    assert [(r["name"], r["outcome"]) for r in audit_rows(sql, reader)] == [("issue_invoice", "denied")]


async def test_a_lines_money_is_exact_to_the_minor_unit_from_the_catalog(writer, connect, sql):
    client_id = seed_client(sql, writer)
    yen = service(sql, writer, "1234", currency="JPY", tax_pct="10")
    async with connect(writer) as c:
        inv = await ok(
            c,
            "create_invoice",
            {"client_id": client_id, "currency": "JPY", "items": [{"service_id": yen, "quantity": "1.5"}]},
        )
    (item,) = inv["items"]
    assert (item["net_amount"], item["tax_amount"], inv["total"]) == ("1851", "185", "2036")
    assert Decimal(inv["total"]) == Decimal(1851) + Decimal(185)
