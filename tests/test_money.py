"""One printed form for money and one for every other decimal (issue 20, part 8): an amount at
its currency's minor unit, more places only when it has them; another decimal without trailing
zeros. The rule is server/money.py; these tests hold every output to it, tools and resources."""

from __future__ import annotations

import typing
import uuid
from decimal import Decimal

import pytest
from pydantic import BaseModel

from bizctx.server.app import load_domains
from bizctx.server.money import MINOR_UNITS, Money, minor_unit, plain, printed
from bizctx.server.redact import amounts, nested_models
from bizctx.server.registry import Registry
from conftest import ALL_RIGHTS, ok, without_policies

pytestmark = pytest.mark.anyio

# The output decimals that are not money: quantities, percentages and rates.
NOT_MONEY = {
    ("InvoiceItem", "quantity"),
    ("InvoiceItem", "discount_pct"),
    ("InvoiceItem", "tax_pct"),
    ("SubscriptionItem", "quantity"),
    ("SubscriptionItem", "discount_pct"),
    ("SubscriptionItem", "tax_pct"),
    ("Service", "tax_pct"),
    ("RiskProfile", "response_rate_90d"),
    ("RiskProfile", "avg_payment_delay_days"),
    ("Progress", "percent_of_target"),
}


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("280.0000", "USD", "280.00"),
        ("381.06", "USD", "381.06"),
        ("0.1250", "USD", "0.125"),  # a unit price finer than a cent keeps its places
        ("1200.0000", "JPY", "1200"),
        ("1.5", "KWD", "1.500"),
        ("0", "EUR", "0.00"),
        ("6000.0000", None, "6000"),  # no currency: a plain decimal
        ("6000.0000", "count", "6000"),
        ("12345678901234.5000", "USD", "12345678901234.50"),
    ],
)
def test_an_amount_is_printed_at_its_currencys_minor_unit(amount, currency, shown):
    assert printed(Decimal(amount), currency) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [("8.8750", "8.875"), ("20.0000", "20"), ("0.0000", "0"), ("6E+3", "6000"), ("0.50", "0.5")],
)
def test_another_decimal_is_printed_without_trailing_zeros(value, shown):
    assert plain(Decimal(value)) == shown


def test_minor_units_are_the_databases(sql):
    for currency in [*MINOR_UNITS, "USD", "EUR", "GBP", "CHF", "ZZZ"]:
        row = sql.execute("SELECT currency_minor_unit(%s) AS places", (currency,)).fetchone()
        assert row["places"] == minor_unit(currency), currency


def _decimal_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[tuple[str, str]]:
    if model in seen:
        return set()
    seen.add(model)
    found = set()
    for name, info in model.model_fields.items():
        types = {info.annotation, *typing.get_args(info.annotation)}
        if Decimal in types and name not in amounts(model):
            found.add((model.__name__, name))
    for inner in nested_models(model).values():
        found |= _decimal_fields(inner, seen)
    return found


def test_every_output_decimal_is_money_or_known_not_to_be():
    """A new amount in an output must be marked (money.Amount), or it would be printed as a plain
    decimal ("280" for 280.00 USD)."""
    registry = Registry(load_domains())
    seen: set[type[BaseModel]] = set()
    found: set[tuple[str, str]] = set()
    for spec in [*registry.tools.values(), *registry.resources]:
        found |= _decimal_fields(spec.output_model, seen)
    assert found == NOT_MONEY
    assert all(isinstance(m, Money) for model in seen for m in amounts(model).values())


async def test_every_tool_and_resource_prints_money_one_way(app, make_agent, connect, sql):
    agent = await make_agent(**ALL_RIGHTS)
    await without_policies(app, agent.tenant_name)
    client = sql.execute(
        "INSERT INTO clients (tenant_id, first_name, email) VALUES (%s, 'Kim', %s) RETURNING id",
        (agent.tenant_id, f"kim-{uuid.uuid4().hex[:6]}@example.com"),
    ).fetchone()["id"]
    sql.execute(
        "INSERT INTO services (tenant_id, code, name, duration_minutes, price, currency, tax_pct) "
        "VALUES (%s, 'DEEP', 'Deep clean', 60, 280, 'USD', 8.25)",
        (agent.tenant_id,),
    )
    past = {"issue_date": "2020-01-01", "due_date": "2020-01-31"}
    async with connect(agent) as c:
        services = await ok(c, "list_services", {})
        yen = await ok(
            c,
            "create_invoice",
            {"client_id": str(client), "currency": "JPY", "items": [{"description": "Visit", "quantity": 1,
             "unit_price": "1200"}], **past},
        )  # fmt: skip
        dinar = await ok(
            c,
            "create_invoice",
            {"client_id": str(client), "currency": "KWD", "items": [{"description": "Visit", "quantity": "1",
             "unit_price": "1.5"}]},
        )  # fmt: skip
        paid = await ok(c, "record_payment", {"invoice_id": dinar["id"], "amount": "0.5", "method": "cash"})
        context = await ok(c, "get_client_context", {"client_id": str(client)})
        rendered = await ok(
            c, "render_template", {"template": "payment_reminder_email", "client_id": str(client),
                                   "invoice_id": yen["id"]},
        )  # fmt: skip
        catalog = await c.read_resource("bizctx://services")
        overdue = await c.read_resource("bizctx://invoices/overdue")
        view = await c.read_resource(f"bizctx://clients/{client}/context")
    assert (services["services"][0]["price"], services["services"][0]["tax_pct"]) == ("280.00", "8.25")
    assert (yen["total"], yen["balance_due"], yen["items"][0]["unit_price"]) == ("1200", "1200", "1200")
    assert (dinar["total"], dinar["items"][0]["net_amount"]) == ("1.500", "1.500")
    assert (paid["payment"]["amount"], paid["invoice"]["balance_due"]) == ("0.500", "1.000")
    assert {b["currency"]: b["amount"] for b in context["balance_due"]} == {"JPY": "1200", "KWD": "1.000"}
    assert {i["currency"]: i["balance_due"] for i in context["open_invoices"]} == {
        "JPY": "1200",
        "KWD": "1.000",
    }
    assert "1200 JPY" in rendered["body"]
    assert '"price":"280.00"' in catalog.contents[0].text.replace(" ", "")
    assert '"amount":"1200"' in overdue.contents[0].text.replace(" ", "")
    assert '"amount":"1.000"' in view.contents[0].text.replace(" ", "")
