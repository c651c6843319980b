"""Addresses through upsert_client (issue 17), with the import's rules: a list replaces the
client's addresses, one kept as it is keeps its id; one primary per kind; agents with the
address redacted may not write it."""

from __future__ import annotations

import pytest
from test_clients import WRITE

from conftest import audit_rows, count, err, ok

pytestmark = pytest.mark.anyio

HOME = {"label": "Home", "line1": "1 Main St", "city": "Springfield", "country": "us", "is_primary": True}
OFFICE = {"kind": "billing", "line1": "200 Market St", "city": "Springfield", "postal_code": "12345"}
GATE = {"line1": "7 Elm Rd", "access_notes": "Gate code 4711#"}


async def test_a_client_is_created_with_addresses_and_they_are_replaced_keeping_ids(make_agent, connect, sql):
    agent = await make_agent(**WRITE)
    async with connect(agent) as c:
        created = await ok(c, "upsert_client", {"first_name": "Ann", "addresses": [HOME, OFFICE]})
        home = next(a for a in created["addresses"] if a["label"] == "Home")
        moved = await ok(
            c,
            "upsert_client",
            {"client_id": created["id"], "addresses": [HOME, {**OFFICE, "line1": "300 Market St"}, GATE]},
        )
        only_addresses = moved  # no other field was given: the rest of the client is as it was
        cleared = await ok(c, "upsert_client", {"client_id": created["id"], "addresses": []})
    assert home["country"] == "US" and home["kind"] == "service" and home["is_primary"] is True
    assert {a["line1"] for a in created["addresses"]} == {"1 Main St", "200 Market St"}
    assert {a["line1"] for a in moved["addresses"]} == {"1 Main St", "300 Market St", "7 Elm Rd"}
    assert next(a for a in moved["addresses"] if a["label"] == "Home")["id"] == home["id"]  # kept
    assert only_addresses["first_name"] == "Ann"
    assert cleared["addresses"] == [] and count(sql, "client_addresses", agent.tenant_id) == 0
    rows = [r for r in audit_rows(sql, agent) if r["name"] == "upsert_client"]
    assert [(r["outcome"], r["entity_id"]) for r in rows] == [("ok", created["id"])] * 3


async def test_a_removed_address_goes_and_a_kept_one_keeps_its_row(make_agent, connect, sql):
    agent = await make_agent(**WRITE)
    async with connect(agent) as c:
        created = await ok(c, "upsert_client", {"first_name": "Ann", "addresses": [HOME, GATE]})
        home = next(a for a in created["addresses"] if a["label"] == "Home")
        await ok(c, "upsert_client", {"client_id": created["id"], "addresses": [HOME]})
    left = sql.execute(
        "SELECT id, created_at FROM client_addresses WHERE tenant_id = %s AND client_id = %s",
        (agent.tenant_id, created["id"]),
    ).fetchall()
    assert [str(r["id"]) for r in left] == [home["id"]]


@pytest.mark.parametrize(
    ("addresses", "words"),
    [
        ([HOME, {**GATE, "is_primary": True}], "more than one primary service address"),
        ([{"line1": "   "}], "blank"),
        ([{"line1": "1 Main St", "country": "USA"}], "country"),
        ([{"line1": "1 Main St", "kind": "home"}], "kind"),
        ([{"line1": "1 Main St", "floor": 3}], "floor"),
        ([{"city": "Springfield"}], "line1"),
        ([{"line1": f"{n} Main St"} for n in range(21)], "addresses"),
    ],
)
async def test_bad_addresses_are_refused_and_nothing_is_written(make_agent, connect, sql, addresses, words):
    agent = await make_agent(**WRITE)
    async with connect(agent) as c:
        created = await ok(c, "upsert_client", {"first_name": "Ann", "addresses": [OFFICE]})
        error = await err(c, "upsert_client", {"client_id": created["id"], "addresses": addresses})
        fresh = await err(c, "upsert_client", {"first_name": "Ben", "addresses": addresses})
    assert error["code"] == fresh["code"] == "invalid_input" and words in error["message"]
    assert (
        count(sql, "client_addresses", agent.tenant_id) == 1 and count(sql, "clients", agent.tenant_id) == 1
    )


async def test_an_agent_with_addresses_redacted_may_not_write_them(make_agent, connect, sql):
    writer = await make_agent(**WRITE)
    blind = await make_agent(
        caps=WRITE["caps"],
        access={"clients": {"read": True, "write": True, "redact": ["address"]}},
        tenant=writer.tenant_name,
    )
    async with connect(writer) as c:
        created = await ok(c, "upsert_client", {"first_name": "Ann", "addresses": [GATE]})
    async with connect(blind) as c:
        refused = await err(c, "upsert_client", {"client_id": created["id"], "addresses": []})
        renamed = await ok(c, "upsert_client", {"client_id": created["id"], "first_name": "Anna"})
    assert refused["code"] == "permission_denied" and "address" in refused["message"]
    assert count(sql, "client_addresses", writer.tenant_id) == 1
    assert "addresses" not in renamed and "4711" not in str(renamed)


async def test_a_retried_upsert_with_addresses_is_one_call(make_agent, connect, sql):
    agent = await make_agent(**WRITE)
    async with connect(agent) as c:
        args = {"first_name": "Ann", "addresses": [HOME], "idempotency_key": "a-1"}
        first = await ok(c, "upsert_client", args)
        again = await ok(c, "upsert_client", {**args, "addresses": [{**HOME, "country": "US"}]})  # normalised
        clash = await err(c, "upsert_client", {**args, "addresses": [OFFICE]})
    assert again == first and clash["code"] == "conflict"
    assert (
        count(sql, "clients", agent.tenant_id) == 1 and count(sql, "client_addresses", agent.tenant_id) == 1
    )
