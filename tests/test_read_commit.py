"""Settings.read_audit_commit: durable by default; `async` lets read calls (a read-only tool no
policy applies to, a resource read) commit their audit row without waiting for the WAL flush,
and answer before that COMMIT comes back, while writes and calls a policy may count keep
waiting. The audit row is written either way."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from bizctx.ops import policies
from bizctx.server import guard as guard_module
from bizctx.server.app import open_app
from bizctx.server.queries import Query
from bizctx.server.settings import Settings
from conftest import audit_rows, err, error_of, ok

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
    """recall stamps the documents it returns (last_accessed): that write waits for its COMMIT."""
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


# What the tests below add to a get_client's transaction, after its audit row: the COMMIT
# then waits for a lock the test holds, or fails.
AFTER_AUDIT = "test.after_audit"
LOCK = 741_852


@contextmanager
def after_the_audit_row(app, monkeypatch, statement: str) -> Iterator[None]:
    """Send `statement` after the audit row of each get_client's transaction (once per call: not
    with a row written again on its own)."""
    book = app.db.book
    book._queries[AFTER_AUDIT] = Query(AFTER_AUDIT, Path("test"), statement, frozenset())
    seen: set[str] = set()
    write_audit = guard_module.write_audit

    def and_then(tx, tenant_id, agent_id, entry) -> None:
        write_audit(tx, tenant_id, agent_id, entry)
        if entry.name == "get_client" and entry.request_id not in seen:
            seen.add(entry.request_id)
            tx.defer(AFTER_AUDIT)

    monkeypatch.setattr(guard_module, "write_audit", and_then)
    try:
        yield
    finally:
        monkeypatch.setattr(guard_module, "write_audit", write_audit)
        del book._queries[AFTER_AUDIT]


def reads_of(sql, agent) -> list[tuple[str, str]]:
    return [(r["name"], r["outcome"]) for r in audit_rows(sql, agent) if r["name"] == "get_client"]


async def test_a_read_is_answered_before_its_audit_row_commits(app, make_agent, connect, sql, monkeypatch):
    agent = await make_agent(caps=CAPS, access=ACCESS)
    async with connect(agent) as client:
        client_id = await a_client(client)
        with after_the_audit_row(app, monkeypatch, f"SELECT pg_advisory_xact_lock({LOCK})"):
            sql.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
            try:
                with anyio.fail_after(30):  # a call that waited for its COMMIT would wait for the lock
                    got = await ok(client, "get_client", {"client_id": client_id})
                assert got["id"] == client_id
                assert reads_of(sql, agent) == []  # its transaction waits for the lock
                draining = anyio.Event()

                async def drain() -> None:
                    await app.guard.drain(30)
                    draining.set()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(drain)
                    await anyio.sleep(0.2)
                    assert not draining.is_set()  # the server would not close before it commits
                    sql.execute("SELECT pg_advisory_unlock(%s)", (LOCK,))
            finally:
                sql.execute("SELECT pg_advisory_unlock_all()")
    assert reads_of(sql, agent) == [("get_client", "ok")]


async def test_an_answered_read_keeps_its_turn_until_it_commits(
    settings, domains, make_agent, sql, monkeypatch
):
    """calls_in_flight still bounds the connections one agent holds: a read answered before
    its COMMIT ends its turn only when it commits."""
    agent = await make_agent(caps=CAPS, access=ACCESS)
    one_turn = settings.model_copy(update={"calls_in_flight": 1, "pool_timeout": 1.0, "pool_max_size": 4})
    async with open_app(one_turn, migrate=False, domains=domains) as app:
        made = await app.guard.call_tool(agent.principal, "upsert_client", {"first_name": "Ann"})
        args = {"client_id": made.structured_content["id"]}
        with after_the_audit_row(app, monkeypatch, f"SELECT pg_advisory_xact_lock({LOCK})"):
            sql.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
            try:
                with anyio.fail_after(30):
                    first = await app.guard.call_tool(agent.principal, "get_client", args)
                    assert not first.is_error
                    second = await app.guard.call_tool(agent.principal, "get_client", args)
                assert second.is_error and error_of(second)["code"] == "rate_limited"
            finally:
                sql.execute("SELECT pg_advisory_unlock_all()")
            await app.guard.drain(30)
            third = await app.guard.call_tool(agent.principal, "get_client", args)
            assert not third.is_error  # the turn came back with the COMMIT
            await app.guard.drain(30)
    assert reads_of(sql, agent) == [("get_client", "ok"), ("get_client", "ok")]


async def test_a_cancelled_drain_leaves_the_commits_running(app, make_agent, connect, sql, monkeypatch):
    agent = await make_agent(caps=CAPS, access=ACCESS)
    async with connect(agent) as client:
        client_id = await a_client(client)
        with after_the_audit_row(app, monkeypatch, f"SELECT pg_advisory_xact_lock({LOCK})"):
            sql.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
            try:
                with anyio.fail_after(30):
                    await ok(client, "get_client", {"client_id": client_id})
                with anyio.CancelScope() as scope:
                    scope.cancel()  # as a server shut down by a cancellation closes
                    await app.guard.drain(0.2)  # gives up waiting; cuts nothing off
            finally:
                sql.execute("SELECT pg_advisory_unlock_all()")
            await app.guard.drain(30)
    assert reads_of(sql, agent) == [("get_client", "ok")]


async def test_a_stopping_server_waits_for_the_commits_of_answered_reads(
    settings, domains, make_agent, sql, monkeypatch
):
    agent = await make_agent(caps=CAPS, access=ACCESS)
    answered, stopped = anyio.Event(), anyio.Event()

    async def serve() -> None:
        async with open_app(settings, migrate=False, domains=domains) as app:
            made = await app.guard.call_tool(agent.principal, "upsert_client", {"first_name": "Ann"})
            client_id = made.structured_content["id"]
            with after_the_audit_row(app, monkeypatch, f"SELECT pg_advisory_xact_lock({LOCK})"):
                sql.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
                got = await app.guard.call_tool(agent.principal, "get_client", {"client_id": client_id})
                assert got.structured_content["id"] == client_id
                answered.set()
        stopped.set()

    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(serve)
                await answered.wait()
                await anyio.sleep(0.2)
                assert not stopped.is_set()  # closing waits for the read's COMMIT
                assert reads_of(sql, agent) == []
                sql.execute("SELECT pg_advisory_unlock(%s)", (LOCK,))
    finally:
        sql.execute("SELECT pg_advisory_unlock_all()")
    assert reads_of(sql, agent) == [("get_client", "ok")]


async def test_an_answered_read_whose_commit_fails_still_gets_its_audit_row(
    app, make_agent, connect, sql, monkeypatch
):
    agent = await make_agent(caps=CAPS, access=ACCESS)
    async with connect(agent) as client:
        client_id = await a_client(client)
        with after_the_audit_row(app, monkeypatch, "SELECT 1 / 0"):
            got = await ok(client, "get_client", {"client_id": client_id})
            assert got["id"] == client_id
            await app.guard.drain(30)
        assert reads_of(sql, agent) == [("get_client", "ok")]  # written again, on its own
        await ok(client, "get_client", {"client_id": client_id})  # and the next read is as usual
        await app.guard.drain(30)
    assert reads_of(sql, agent) == [("get_client", "ok"), ("get_client", "ok")]


async def test_an_async_read_that_fails_is_refused_and_audited_as_before(app, make_agent, connect, sql):
    agent = await make_agent(caps=CAPS, access=ACCESS)
    async with connect(agent) as client:
        missing = await err(client, "get_client", {"client_id": str(uuid.uuid4())})
        assert missing["code"] == "not_found"
        await app.guard.drain(30)
    assert [(r["name"], r["outcome"], r["error_code"]) for r in audit_rows(sql, agent)] == [
        ("get_client", "error", "not_found")
    ]
