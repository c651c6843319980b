"""The database runtime: the connection pool, and the transaction every governed call
runs in. Where PostgreSQL is (DATABASE_URL, or the embedded server operators start) is
decided before; this module is handed a DSN."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .errors import Unavailable
from .queries import QueryBook, QueryRef
from .settings import Settings

log = logging.getLogger("bizctx.db")

# -- connection settings ----------------------------------------------------------------


def with_session_settings(dsn: str) -> str:
    """The DSN, with the settings every bizctx connection runs with added to libpq's
    `options` (any the DSN or PGOPTIONS already give are kept, ours last):

    - TimeZone=UTC: timestamps come back as UTC datetimes and go out to agents as "...Z",
      whatever zone the server is configured with (initdb takes the machine's), and no
      query's meaning depends on it. Tenant-local times are always computed explicitly,
      AT TIME ZONE the tenant's (or resource's) zone.
    """
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    given = info.get("options") or os.environ.get("PGOPTIONS", "")
    info["options"] = f"{given} -c TimeZone=UTC".strip()
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in info.items() if v is not None})


def describe_dsn(dsn: str) -> str:
    """The DSN without its password, for logs and `bizctx db status`."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in info.items() if v is not None})


# -- transactions ------------------------------------------------------------------------


class Tx:
    """One open transaction; runs named queries with named parameters, nothing else."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], book: QueryBook) -> None:
        self._conn = conn
        self._book = book
        self._deferred: list[tuple[QueryRef | str, dict[str, Any]]] = []

    def _prepare(self, ref: QueryRef | str, params: dict[str, Any]) -> str:
        query = self._book[ref]
        given = set(params)
        if given != query.params:
            missing = sorted(query.params - given)
            extra = sorted(given - query.params)
            raise TypeError(f"query {query.key}: missing parameters {missing}, unexpected {extra}")
        return query.text

    async def all(self, ref: QueryRef | str, /, **params: Any) -> list[dict[str, Any]]:
        cur = await self._conn.execute(self._prepare(ref, params), params, prepare=True)
        return await cur.fetchall()

    async def one(self, ref: QueryRef | str, /, **params: Any) -> dict[str, Any] | None:
        cur = await self._conn.execute(self._prepare(ref, params), params, prepare=True)
        return await cur.fetchone()

    async def row(self, ref: QueryRef | str, /, **params: Any) -> dict[str, Any]:
        """The one row a statement always returns (an INSERT ... RETURNING, an aggregate);
        none is a bug, not an answer."""
        row = await self.one(ref, **params)
        if row is None:
            raise LookupError(f"query {ref} returned no row")
        return row

    async def live_hints(self) -> str:
        """The live-update hints this transaction's writes left so far (migration 0155), for a
        writer that commits by itself (the importer); Database's transactions read them in
        their COMMIT's round trip."""
        return await self.value(_LIVE_HINTS) or ""

    async def value(self, ref: QueryRef | str, /, **params: Any) -> Any:
        row = await self.one(ref, **params)
        return None if row is None else next(iter(row.values()))

    async def execute(self, ref: QueryRef | str, /, **params: Any) -> int:
        cur = await self._conn.execute(self._prepare(ref, params), params, prepare=True)
        return cur.rowcount

    async def stream(
        self, ref: QueryRef | str, /, *, batch: int = 5_000, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """The rows of an answer too large to hold (an audit export), fetched `batch` at a time
        through a server-side cursor of this transaction."""
        async with self._conn.cursor(name="bizctx_stream") as cur:
            await cur.execute(self._prepare(ref, params), params)
            while rows := await cur.fetchmany(batch):
                for row in rows:
                    yield row

    def defer(self, ref: QueryRef | str, /, **params: Any) -> None:
        """Run a statement whose result nobody reads (the audit insert) just before COMMIT,
        in the same round trip as the COMMIT."""
        self._prepare(ref, params)
        self._deferred.append((ref, params))

    async def script(self, *steps: tuple[QueryRef | str, dict[str, Any]]) -> psycopg.AsyncClientCursor[Any]:
        """Several named statements in ONE round trip, their results unread.

        Each statement is bound client-side by psycopg itself (`mogrify`: the values are
        quoted by psycopg with the connection's encoding, never formatted by us), and the
        statements go as one simple-protocol message. Used for the fixed framing of every
        call: BEGIN + set_config, and audit insert + COMMIT. Domain queries stay prepared.
        """
        cur = psycopg.AsyncClientCursor(self._conn)
        text = ";\n".join(cur.mogrify(self._prepare(ref, params), params) for ref, params in steps)
        await cur.execute(text.encode("utf-8"))
        return cur

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A savepoint, for a statement whose failure the handler turns into a better error:

        try:
            async with call.tx.savepoint():
                row = await call.tx.one(INSERT_CLIENT, ...)
        except psycopg.errors.UniqueViolation:
            raise Conflict("...", existing_client_id=...)

        A rollback to it also drops what was deferred inside it (an audit row of a call that,
        rolled back, never happened).
        """
        mark = len(self._deferred)
        try:
            async with self._conn.transaction():
                yield
        except BaseException:
            del self._deferred[mark:]
            raise


_BEGIN = QueryRef("governance", "begin_transaction")
_BEGIN_AGENT_CALL = QueryRef("governance", "begin_agent_call")
_CHECK_POLICY_VERSION = QueryRef("governance", "check_policy_version")
_COMMIT = QueryRef("governance", "commit_transaction")
_ROLLBACK = QueryRef("governance", "rollback_transaction")
_LOGIN_PRIVILEGES = QueryRef("governance", "login_privileges")
_LIVE_HINTS = QueryRef("governance", "live_hints")
_PUBLISH_LIVE = QueryRef("governance", "publish_live")

# What a server does with the live-update hints of a committed transaction (server/live.py).
HintSink = Callable[[str], None]


class Database:
    """The pools, and the two kinds of transaction: an agent's (RLS-bound, on connections that
    log in as the agent login role when there is one) and an operator's (the owner)."""

    def __init__(self, settings: Settings, book: QueryBook, dsn: str, agent_dsn: str | None = None) -> None:
        self.settings = settings
        self.book = book
        self.dsn = with_session_settings(dsn)
        # Operators, identity lookups and policy loads: little traffic, so at most one idle.
        self.owner_pool = self._pool(self.dsn, "bizctx-owner", min(settings.pool_min_size, 1))
        self.pool = (
            self.owner_pool
            if agent_dsn is None
            else self._pool(with_session_settings(agent_dsn), "bizctx", settings.pool_min_size)
        )
        # Where committed transactions' live-update hints go: a serving process's coalescing
        # publisher; None (the CLI): published on the same connection right after COMMIT.
        self.hint_sink: HintSink | None = None

    def _pool(self, dsn: str, name: str, min_size: int) -> AsyncConnectionPool:
        return AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=self.settings.pool_max_size,
            timeout=self.settings.pool_timeout,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=False,
            name=name,
        )

    def _pools(self) -> list[AsyncConnectionPool]:
        return [self.pool] if self.pool is self.owner_pool else [self.pool, self.owner_pool]

    async def open(self) -> None:
        for pool in self._pools():
            await pool.open(wait=pool.min_size > 0, timeout=self.settings.pool_timeout * 2)

    async def close(self) -> None:
        for pool in self._pools():
            await pool.close()

    @asynccontextmanager
    async def _connection(self, pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        try:
            async with pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise Unavailable(
                "The database is busy (no connection free in time); retry in a moment."
            ) from exc

    async def login_privileges(self) -> dict[str, Any]:
        """What the role agent calls log in as could do before its SET ROLE."""
        async with self._transaction(self.pool) as tx:
            return await tx.row(_LOGIN_PRIVILEGES)

    @asynccontextmanager
    async def agent_tx(
        self,
        tenant_id: UUID,
        agent_id: UUID | None,
        scopes: Mapping[str, str] | None = None,
        *,
        policy_version: int | None = None,
        statement_timeout_ms: int | None = None,
    ) -> AsyncIterator[Tx]:
        """A transaction as role `bizctx_app` with the agent's tenant and scopes set: RLS
        applies, whatever role the pool connects as. `scopes` are the agent's task and
        mem_docs scopes (default the narrowest: `assigned`, `own`); no agent is a person
        (an operator deciding an approval). With `policy_version`, the opening statement
        also fails (BZ010) unless it is the tenant's current one.

        Two round trips frame the handler's own queries: BEGIN with the role and settings,
        and the deferred statements (the audit row) with COMMIT. A failure rolls back.
        """
        scopes = scopes or {}
        settings = {
            "tenant_id": str(tenant_id),
            "agent_id": "" if agent_id is None else str(agent_id),
            "tasks_scope": scopes.get("tasks", "assigned"),
            "mem_docs_scope": scopes.get("mem_docs", "own"),
            "statement_timeout": str(statement_timeout_ms or self.settings.statement_timeout_ms),
        }
        opening: list[tuple[QueryRef | str, dict[str, Any]]] = [(_BEGIN_AGENT_CALL, settings)]
        if policy_version is not None:
            opening.append((_CHECK_POLICY_VERSION, {"policy_version": policy_version}))
        async with self._transaction(self.pool, *opening) as tx:
            yield tx

    async def hints_committed(self, hints: str) -> None:
        """A committed transaction's live-update hints (migration 0155): to this server's
        publisher, or (the CLI, which has none) published now."""
        if self.hint_sink is not None:
            self.hint_sink(hints)
        else:
            await self.publish(hints)

    async def publish(self, hints: str) -> None:
        """NOTIFY hints in payloads NOTIFY accepts, on an autocommit connection: outside any
        transaction, one round trip each (migration 0155 says why)."""
        async with self._connection(self.owner_pool) as conn:
            tx = Tx(conn, self.book)
            for payload in hint_chunks(hints):
                await tx.value(_PUBLISH_LIVE, hints=payload)

    @asynccontextmanager
    async def operator_tx(self) -> AsyncIterator[Tx]:
        """A transaction as the owner (DATABASE_URL's user): the CLI's, identity lookups'."""
        async with self._transaction(self.owner_pool) as tx:
            yield tx

    @asynccontextmanager
    async def _transaction(
        self, pool: AsyncConnectionPool, *opening: tuple[QueryRef | str, dict[str, Any]]
    ) -> AsyncIterator[Tx]:
        """BEGIN and the opening statements in one round trip; the deferred statements and
        COMMIT in one more at the end; ROLLBACK on failure.

        A pooled connection that died with a database restart is found out by the BEGIN,
        before anything ran: it is dropped (the pool discards broken connections) and the
        next one tried, so the first call after a restart succeeds.
        """
        for _ in range(self.settings.pool_max_size + 1):
            async with self._connection(pool) as conn:
                tx = Tx(conn, self.book)
                try:
                    await tx.script((_BEGIN, {}), *opening)
                except psycopg.OperationalError:
                    if conn.broken:
                        continue
                    raise
                try:
                    yield tx
                except BaseException:
                    await _rollback_quietly(tx)
                    raise
                done = await tx.script(*tx._deferred, (_LIVE_HINTS, {}), (_COMMIT, {}))
                hints = await _live_hints(done)
                if hints:
                    await self.hints_committed(hints)
                return
        raise Unavailable("The database is unavailable right now; retry in a few seconds.")


# NOTIFY payloads are limited to 8000 bytes; hints are ASCII (ids, names, digits).
NOTIFY_BYTES = 7000


def hint_chunks(hints: str) -> list[str]:
    """Hint lines (deduplicated) grouped into payloads of at most NOTIFY_BYTES."""
    chunks: list[str] = []
    chunk: list[str] = []
    size = 0
    for line in dict.fromkeys(h for h in hints.splitlines() if h):
        if chunk and size + len(line) + 1 > NOTIFY_BYTES:
            chunks.append("\n".join(chunk))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        chunks.append("\n".join(chunk))
    return chunks


async def _live_hints(cur: psycopg.AsyncClientCursor[Any]) -> str:
    """The hints the commit script's SELECT read, among its statements' results."""
    while True:
        if cur.description is not None and cur.description[0].name == "bizctx_live":
            row = await cur.fetchone()
            return (row or {}).get("bizctx_live") or ""
        if not cur.nextset():
            return ""


async def _rollback_quietly(tx: Tx) -> None:
    # The connection may be broken or the task cancelled: the pool then discards or
    # resets the connection, so a failed ROLLBACK here loses nothing.
    try:
        await tx.script((_ROLLBACK, {}))
    except Exception:
        log.debug("rollback failed; the pool will reset or discard the connection", exc_info=True)


async def connect_once(dsn: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(dsn, autocommit=True, row_factory=dict_row)
