"""Settings.read_audit_commit: durable by default; `async` lets read calls (a read-only tool no
policy applies to and that writes nothing else, a resource read) commit their audit row without
waiting for the WAL flush, while writes and calls a policy may count keep waiting. The audit row
is written either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bizctx.ops import policies
from bizctx.server.queries import Query
from bizctx.server.settings import Settings
from conftest import audit_rows, ok

pytestmark = pytest.mark.anyio

CAPS = ["clients.read", "clients.write"]
ACCESS = {"clients": {"read": True, "write": True}}
SYNC_COMMIT = "test.synchronous_commit"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"read_audit_commit": "async"})


def record_durability(app, monkeypatch) -> list[bool]:
    """The `durable` of every agent transaction the guard opens from now on."""
    seen: list[bool] = []
    opened = app.db.agent_tx

    def agent_tx(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("durable", True))
        return opened(*args, **kwargs)

    monkeypatch.setattr(app.db, "agent_tx", agent_tx)
    return seen


async def a_client(client) -> str:
    made = await ok(client, "upsert_client", {"first_name": "Ann", "last_name": "Lee"})
    return made["id"]


async def test_reads_commit_async_and_writes_durably(app, make_agent, connect, sql, monkeypatch):
    agent = await make_agent(caps=CAPS, access=ACCESS)
    async with connect(agent) as client:
        client_id = await a_client(client)
        seen = record_durability(app, monkeypatch)
        await ok(client, "get_client", {"client_id": client_id})
        await client.read_resource(f"bizctx://clients/{client_id}")
        await ok(client, "upsert_client", {"client_id": client_id, "lifecycle_stage": "churned"})
    assert seen == [False, False, True]
    rows = audit_rows(sql, agent)
    assert [(r["name"], r["outcome"]) for r in rows[-3:]] == [
        ("get_client", "ok"),
        ("bizctx://clients/{client_id}", "ok"),
        ("upsert_client", "ok"),
    ]


async def test_a_read_that_also_writes_commits_durably(app, make_agent, connect, monkeypatch):
    """recall stamps the documents it returns (last_accessed): a write, whose COMMIT waits."""
    agent = await make_agent(caps=["mem_docs.read"], access={"mem_docs": {"read": True}})
    async with connect(agent) as client:
        seen = record_durability(app, monkeypatch)
        await ok(client, "recall", {"query": "gate code"})
    assert seen == [True]


async def test_a_read_a_policy_applies_to_commits_durably(app, make_agent, connect, monkeypatch):
    agent = await make_agent(caps=CAPS, access=ACCESS)
    await policies.add_policy(
        app.db,
        agent.tenant_name,
        policies.NewPolicy(tool="get_client", effect="limit", max_calls=100, window="1h", per="agent"),
        "tests",
    )
    async with connect(agent) as client:
        client_id = await a_client(client)
        seen = record_durability(app, monkeypatch)
        await ok(client, "get_client", {"client_id": client_id})
    assert seen == [True]


async def test_durable_is_the_default(dsn, tmp_path: Path) -> None:
    assert Settings(database_url=dsn, data_dir=tmp_path).read_audit_commit == "durable"


async def test_an_async_transaction_turns_synchronous_commit_off_for_itself_only(app, make_agent):
    agent = await make_agent(caps=CAPS, access=ACCESS)
    book = app.db.book
    book._queries[SYNC_COMMIT] = Query(
        SYNC_COMMIT, Path("test"), "SELECT current_setting('synchronous_commit') AS s", frozenset()
    )
    try:
        async with app.db.agent_tx(agent.tenant_id, agent.id, durable=False) as tx:
            assert await tx.value(SYNC_COMMIT) == "off"
        async with app.db.agent_tx(agent.tenant_id, agent.id) as tx:
            assert await tx.value(SYNC_COMMIT) == "on"
    finally:
        del book._queries[SYNC_COMMIT]
