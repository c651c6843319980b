"""The database runtime: the connection pool, and the transaction every governed call
runs in. Where PostgreSQL is (DATABASE_URL, or the embedded server operators start) is
decided before; this module is handed a DSN."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
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


def with_session_settings(dsn: str, *, small_sends: bool = False) -> str:
    """The DSN, with the settings every bizctx connection runs with:

    - TimeZone=UTC, added to libpq's `options` (any the DSN or PGOPTIONS already give are
      kept, ours last): timestamps come back as UTC datetimes and go out to agents as "...Z",
      whatever zone the server is configured with (initdb takes the machine's), and no
      query's meaning depends on it. Tenant-local times are always computed explicitly,
      AT TIME ZONE the tenant's (or resource's) zone.
    - Over TCP, unless the DSN sets them (or turns keepalives off): keepalives, so a database
      that vanished without a word (a dropped network, a host powered off) is found out in
      about a minute, not after TCP's own retries (15 minutes and more), while a connection
      waits (idle in the pool, a listener's, a call's waiting for its answer). And for the
      connections that only ever send a few statements at a time (`small_sends`: the agents'
      own pool, when they log in as a role of their own, and the listeners), a user timeout,
      so one whose statements go unacknowledged is dropped as soon. Not on the owner's pool:
      an import streams COPY data, and the kernel applies the user timeout to a full send
      window as well (measured: a healthy server held up 60 s mid-COPY had the connection
      dropped under it), so a stall would kill the import.
    """
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    given = info.get("options") or os.environ.get("PGOPTIONS", "")
    info["options"] = f"{given} -c TimeZone=UTC".strip()
    if info.get("keepalives") != "0":
        for name, value in (_KEEPALIVES | (_USER_TIMEOUT if small_sends else {})).items():
            info.setdefault(name, value)
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in info.items() if v is not None})


# libpq's: probe a connection idle for 30 s, then every 10 s, and drop it after 3 unanswered
# probes; drop one whose sent data goes unacknowledged for 60 s. Unix sockets ignore them.
_KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}
_USER_TIMEOUT = {"tcp_user_timeout": "60000"}


def describe_dsn(dsn: str) -> str:
    """The DSN without its password, for logs and `bizctx db status`."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in info.items() if v is not None})


# -- transactions ------------------------------------------------------------------------


class Taken(Exception):
    """Raised at a read by a check that rode ahead of it (Tx.ahead): the statement it checked
    says the call must not go on (e.g. its idempotency key was used before)."""

    def __init__(self, found: Any) -> None:
        self.found = found


Check = Callable[[list[dict[str, Any]]], None]


class NoRow(Exception):
    """A statement said it found nothing by raising BZ404 (bizctx_found, migration 0190): its
    transaction is aborted, so the call ends here, with the handler's not_found error."""


# bizctx_found's SQLSTATE.
_NO_ROW = "BZ404"


@contextlib.contextmanager
def _no_row() -> Iterator[None]:
    """bizctx_found's BZ404, raised by a statement sent or read within, as NoRow."""
    try:
        yield
    except psycopg.Error as exc:
        if exc.sqlstate == _NO_ROW:
            raise NoRow() from None
        raise


# A connection's transaction states that a ROLLBACK ends.
_OPEN = frozenset({psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR})


async def _fetched(cur: psycopg.AsyncCursor[Any]) -> list[dict[str, Any]]:
    """The statement's rows; none when its result has no columns (asked of the result's
    `nfields`, not of `cur.description`, which builds a Column object per column on every
    call's read)."""
    result = cur.pgresult
    return await cur.fetchall() if result is not None and result.nfields > 0 else []


class Tx:
    """One open transaction; runs named queries with named parameters, nothing else.

    An agent's transaction runs in psycopg's pipeline mode: a statement goes out when it is
    made, and the call waits for PostgreSQL only when it reads a result. So the statements
    nobody reads (the opening's BEGIN and settings, a write whose result is not needed,
    `send`) ride with the next read, and `many` reads several results in one round trip. An
    error of a statement sent earlier surfaces at the next read (or at the end of a
    savepoint block, or before COMMIT). An operator's transaction runs one statement per
    round trip, as before.

    A call answered by one read (one statement, or several sent together by `many`) goes
    further (commit_with_next_read): its deferred statements and COMMIT are sent with that
    read, and the pipeline's end waits for all of it at once, so the call costs one round
    trip.
    """

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        book: QueryBook,
        pipeline: psycopg.AsyncPipeline | None = None,
        end_pipeline: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self._conn = conn
        self._book = book
        self._deferred: list[tuple[QueryRef | str, dict[str, Any]]] = []
        self._pipeline = pipeline
        # Leaves pipeline mode, waiting for everything sent (Database._pipelined's).
        self._end_pipeline = end_pipeline
        # Whether the next read takes the deferred statements and COMMIT along.
        self._commit_ahead = False
        # The statement whose row holds the live-update hints, once COMMIT is sent.
        self._hints: psycopg.AsyncCursor[Any] | None = None
        # Whether a read that took the COMMIT along came back without an error: committed.
        self.committed_with_read = False
        # Statements sent whose results nobody has waited for yet (pipeline mode).
        self._unread = 0
        # Checks on statements sent ahead, run when their results come in (Tx.ahead).
        self._checks: list[tuple[psycopg.AsyncCursor[Any], Check]] = []
        # Whether PostgreSQL answered anything in this transaction yet (a dead pooled connection
        # is found out by the first answer, before anything of the call took effect).
        self.answered = False

    def _prepare(self, ref: QueryRef | str, params: dict[str, Any]) -> str:
        query = self._book[ref]
        given = set(params)
        if given != query.params:
            missing = sorted(query.params - given)
            extra = sorted(given - query.params)
            raise TypeError(f"query {query.key}: missing parameters {missing}, unexpected {extra}")
        return query.text

    @property
    def committed(self) -> bool:
        """Whether COMMIT was sent: nothing more may be."""
        return self._hints is not None

    def commit_with_next_read(self) -> None:
        """The next read is the transaction's last statement: the deferred statements (the
        audit row) and COMMIT go out with it, and its round trip is the call's only one. A
        statement after it is a programming error. Whoever calls this has made sure that
        nothing deferred depends on the read's rows, and that a read that finds nothing the
        call may answer raises instead (BZ404), so that nothing of it commits."""
        if self._pipeline is None or self._end_pipeline is None:
            raise RuntimeError("only a pipelined agent transaction commits with its read")
        self._commit_ahead = True

    async def _send(
        self, ref: QueryRef | str, params: dict[str, Any], *, prepare: bool = True
    ) -> psycopg.AsyncCursor[Any]:
        if self.committed:
            raise RuntimeError(f"query {ref}: the transaction was committed with its one read")
        cur = self._conn.cursor()
        await cur.execute(self._prepare(ref, params), params, prepare=prepare)
        if self._pipeline is not None:
            self._unread += 1
        else:
            self.answered = True
        return cur

    async def _wait(self) -> None:
        """Wait for the results of everything sent (one round trip), then run the checks that
        rode with them. After commit_with_next_read, that round trip also commits: the deferred
        statements and COMMIT are sent first, and the pipeline ends (an error of any of them
        raises here, and the transaction is left to roll back outside the pipeline)."""
        if self._pipeline is not None and self._unread:
            self._unread = 0
            if self._commit_ahead and not self._checks and self._end_pipeline is not None:
                await self._close()
                self._pipeline = None
                await self._end_pipeline()
                self.committed_with_read = True
            else:
                await self._pipeline.sync()
            self.answered = True
        await self._run_checks()

    def _closing(self) -> list[tuple[QueryRef | str, dict[str, Any]]]:
        """What goes before COMMIT: the deferred statements, then a read of the transaction's
        live-update hints unless the last of them returns them (the audit insert does)."""
        closing = list(self._deferred)
        if not closing or not self._book[closing[-1][0]].reads_live_hints:
            closing.append((_LIVE_HINTS, {}))
        return closing

    async def _close(self) -> None:
        """Send what goes before COMMIT, and COMMIT (pipeline mode)."""
        for ref, params in self._closing():
            last = await self._send(ref, params)
        await self._send(_COMMIT, {}, prepare=False)
        self._hints = last

    async def committed_hints(self) -> str:
        """The live-update hints of a transaction whose COMMIT went through."""
        assert self._hints is not None
        row = await self._hints.fetchone()
        return (row or {}).get("bizctx_live") or ""

    async def _run_checks(self) -> None:
        checks, self._checks = self._checks, []
        for cur, check in checks:
            check(await _fetched(cur))

    async def _rows(self, cur: psycopg.AsyncCursor[Any]) -> list[dict[str, Any]]:
        await self._wait()
        return await _fetched(cur)

    async def all(self, ref: QueryRef | str, /, **params: Any) -> list[dict[str, Any]]:
        """The statement's rows (its BZ404, in pipeline mode at the read, otherwise at once:
        NoRow)."""
        with _no_row():
            return await self._rows(await self._send(ref, params))

    async def one(self, ref: QueryRef | str, /, **params: Any) -> dict[str, Any] | None:
        rows = await self.all(ref, **params)
        return rows[0] if rows else None

    async def row(self, ref: QueryRef | str, /, **params: Any) -> dict[str, Any]:
        """The one row a statement always returns (an INSERT ... RETURNING, an aggregate);
        none is a bug, not an answer."""
        row = await self.one(ref, **params)
        if row is None:
            raise LookupError(f"query {ref} returned no row")
        return row

    async def many(self, *steps: tuple[QueryRef | str, dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """Several statements' rows, in order, for one round trip: a statement's parameters
        may not depend on an earlier one's result, but it sees its writes. A BZ404 of any of
        them is NoRow, and the ones after it do not run."""
        with _no_row():
            curs = [await self._send(ref, params) for ref, params in steps]
            await self._wait()
        return [await _fetched(cur) for cur in curs]

    async def live_hints(self) -> str:
        """The live-update hints this transaction's writes left so far (migration 0155), for a
        writer that commits by itself (the importer); Database's transactions read them in
        their COMMIT's round trip."""
        return await self.value(_LIVE_HINTS) or ""

    async def value(self, ref: QueryRef | str, /, **params: Any) -> Any:
        row = await self.one(ref, **params)
        return None if row is None else next(iter(row.values()))

    async def execute(self, ref: QueryRef | str, /, **params: Any) -> int:
        """A statement's row count (a round trip of its own: `send` when nobody reads it)."""
        cur = await self._send(ref, params)
        await self._wait()
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

    async def send(self, ref: QueryRef | str, /, **params: Any) -> None:
        """A statement whose result nobody reads: it rides with the next read (its error, if
        any, surfaces there)."""
        cur = await self._send(ref, params)
        if self._pipeline is None:
            await self._run_checks()
        del cur

    async def ahead(self, ref: QueryRef | str, check: Check, /, **params: Any) -> None:
        """Send a statement whose rows `check` judges when they come in, with the next read:
        the guard's idempotency claim rides with the handler's first query this way, and
        `check` raising (Taken) stops the call at that read."""
        cur = await self._send(ref, params)
        self._checks.append((cur, check))
        if self._pipeline is None:
            await self._run_checks()

    async def settle(self) -> None:
        """Wait for what was sent and check what rode ahead (before a COMMIT, or where a
        caller must know its writes took effect)."""
        await self._wait()

    def defer(self, ref: QueryRef | str, /, **params: Any) -> None:
        """Run a statement whose result nobody reads (the audit insert) just before COMMIT,
        in the same round trip as the COMMIT."""
        self._prepare(ref, params)
        self._deferred.append((ref, params))

    async def script(self, *steps: tuple[QueryRef | str, dict[str, Any]]) -> psycopg.AsyncClientCursor[Any]:
        """Several named statements in ONE round trip, their results unread (not in pipeline
        mode: an operator's transaction).

        Each statement is bound client-side by psycopg itself (`mogrify`: the values are
        quoted by psycopg with the connection's encoding, never formatted by us), and the
        statements go as one simple-protocol message. Used for the fixed framing of an
        operator's transaction: BEGIN, and the deferred statements + COMMIT.
        """
        cur = psycopg.AsyncClientCursor(self._conn)
        text = ";\n".join(cur.mogrify(self._prepare(ref, params), params) for ref, params in steps)
        await cur.execute(text.encode("utf-8"))
        self.answered = True
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
        rolled back, never happened). In pipeline mode the SAVEPOINT rides with the block's
        statements, the block's end waits for any of them still unread (so their errors are
        raised inside the block), and the RELEASE rides with the next read.
        """
        mark = len(self._deferred)
        if self._pipeline is None:
            try:
                async with self._conn.transaction():
                    yield
            except BaseException:
                del self._deferred[mark:]
                raise
            return
        await self._send(_SAVEPOINT, {}, prepare=False)
        try:
            yield
            await self._wait()
        except BaseException:
            del self._deferred[mark:]
            await self._back_to_savepoint()
            raise
        await self._send(_RELEASE_SAVEPOINT, {}, prepare=False)

    async def _back_to_savepoint(self) -> None:
        """After an error in a savepoint block: PostgreSQL skips statements until a Sync, then
        the transaction goes on from the savepoint."""
        assert self._pipeline is not None
        self._checks.clear()
        self._unread = 0
        with contextlib.suppress(psycopg.Error):
            await self._pipeline.sync()
        await self._send(_ROLLBACK_TO_SAVEPOINT, {}, prepare=False)
        await self._send(_RELEASE_SAVEPOINT, {}, prepare=False)
        await self._wait()


_BEGIN = QueryRef("governance", "begin_transaction")
_BEGIN_GOVERNED_CALL = QueryRef("governance", "begin_governed_call")
_COMMIT = QueryRef("governance", "commit_transaction")
_ROLLBACK = QueryRef("governance", "rollback_transaction")
_LOGIN_PRIVILEGES = QueryRef("governance", "login_privileges")
_LIVE_HINTS = QueryRef("governance", "live_hints")
_PUBLISH_LIVE = QueryRef("governance", "publish_live")
_PING = QueryRef("governance", "ping")
_SAVEPOINT = QueryRef("governance", "savepoint")
_RELEASE_SAVEPOINT = QueryRef("governance", "release_savepoint")
_ROLLBACK_TO_SAVEPOINT = QueryRef("governance", "rollback_to_savepoint")

# What a server does with the live-update hints of a committed transaction (server/live.py).
HintSink = Callable[[str], None]


class Database:
    """The pools, and the two kinds of transaction: an agent's (RLS-bound, on connections that
    log in as the agent login role when there is one) and an operator's (the owner)."""

    def __init__(self, settings: Settings, book: QueryBook, dsn: str, agent_dsn: str | None = None) -> None:
        self.settings = settings
        self.book = book
        self.dsn = with_session_settings(dsn)
        self._listen_dsn = with_session_settings(dsn, small_sends=True)
        # Operators, identity lookups and policy loads: little traffic, so at most one idle.
        self.owner_pool = self._pool(self.dsn, "bizctx-owner", min(settings.pool_min_size, 1))
        self.pool = (
            self.owner_pool
            if agent_dsn is None
            else self._pool(
                with_session_settings(agent_dsn, small_sends=True), "bizctx", settings.pool_min_size
            )
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
        durable: bool = True,
    ) -> AsyncIterator[Tx]:
        """A transaction as role `bizctx_app` with the agent's tenant and scopes set: RLS
        applies, whatever role the pool connects as. `scopes` are the agent's task and
        mem_docs scopes (default the narrowest: `assigned`, `own`); no agent is a person
        (an operator deciding an approval). With `policy_version`, the opening statement
        also fails (BZ010) unless it is the tenant's current one. `durable=False` commits
        without waiting for the WAL flush (synchronous_commit off, for this transaction only:
        a read call's audit row under Settings.read_audit_commit = "async").

        BEGIN with the role and settings rides with the handler's first read, and the
        deferred statements (the audit row) go with COMMIT: a call that reads once costs two
        round trips, or one when COMMIT rides with that read (Tx.commit_with_next_read). A
        failure rolls back.
        """
        scopes = scopes or {}
        settings = {
            "tenant_id": str(tenant_id),
            "agent_id": "" if agent_id is None else str(agent_id),
            "tasks_scope": scopes.get("tasks", "assigned"),
            "mem_docs_scope": scopes.get("mem_docs", "own"),
            "statement_timeout": str(statement_timeout_ms or self.settings.statement_timeout_ms),
            "policy_version": policy_version,
            "synchronous_commit": None if durable else "off",
        }
        async with self._pipelined(self.pool, (_BEGIN_GOVERNED_CALL, settings)) as tx:
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
    async def _pipelined(
        self, pool: AsyncConnectionPool, *opening: tuple[QueryRef | str, dict[str, Any]]
    ) -> AsyncIterator[Tx]:
        """An agent's transaction in pipeline mode (see Tx): BEGIN and the opening statements
        are sent at once and ride with the first read; the deferred statements, the hints'
        SELECT and COMMIT go out together and are waited for once, as the pipeline ends (with
        the one read of a call that commits with it: Tx.commit_with_next_read).

        A pooled connection that died with a database restart is found out before anything is
        sent: PostgreSQL's goodbye (or the closed socket) is waiting to be read on an idle
        connection, and a ping then drops it (the pool discards broken connections) so the
        next one is tried and the first call after a restart succeeds.
        """
        for _ in range(self.settings.pool_max_size + 1):
            async with self._connection(pool) as conn:
                if _input_waiting(conn):
                    try:
                        await conn.execute(self.book[_PING].text)
                    except psycopg.OperationalError:
                        if conn.broken:
                            continue
                        raise
                tx: Tx | None = None
                try:
                    async with contextlib.AsyncExitStack() as piped:
                        pipeline = await piped.enter_async_context(conn.pipeline())
                        tx = Tx(conn, self.book, pipeline, piped.aclose)
                        await tx._send(_BEGIN, {}, prepare=False)
                        for ref, params in opening:
                            await tx._send(ref, params)
                        try:
                            yield tx
                            if not tx.committed:  # (a read may have taken the COMMIT along)
                                if tx._checks:  # a check that rode ahead must pass before COMMIT
                                    await tx.settle()
                                await tx._close()
                        except BaseException:
                            if tx._pipeline is not None:
                                await _rollback_pipelined(tx)
                            raise
                    # The pipeline's end waited for the COMMIT.
                except BaseException:
                    # An error of a deferred statement or the COMMIT, or of the read that took
                    # them along, left the transaction open outside the pipeline.
                    if conn.info.transaction_status in _OPEN:
                        await _rollback_quietly(Tx(conn, self.book))
                    raise
                hints = await tx.committed_hints()
                if hints:
                    await self.hints_committed(hints)
                return
        raise Unavailable("The database is unavailable right now; retry in a few seconds.")

    @asynccontextmanager
    async def listening(self, listen: QueryRef) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection of its own, as the owner, that has run the LISTEN statement `listen`:
        for next_notifications. Its TCP keepalives (with_session_settings) end the wait of a
        listener whose database vanished without a word, so it reconnects instead of waiting
        forever with its caches stale."""
        async with await psycopg.AsyncConnection.connect(self._listen_dsn, autocommit=True) as conn:
            await conn.execute(self.book[listen].text)
            yield conn

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
                done = await tx.script(*tx._closing(), (_COMMIT, {}))
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
    """The hints the commit script read, among its statements' results: the last statement that
    returned them read them after every write."""
    hints = ""
    while True:
        if cur.description is not None and cur.description[0].name == "bizctx_live":
            row = await cur.fetchone()
            hints = (row or {}).get("bizctx_live") or ""
        if not cur.nextset():
            return hints


def _input_waiting(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle connection has something to read: PostgreSQL's message before it closed
    it, the closed socket itself, or (harmless) a notice."""
    try:
        return bool(select.select([conn.pgconn.socket], [], [], 0)[0])
    except (OSError, ValueError, psycopg.OperationalError):
        return True


async def _rollback_pipelined(tx: Tx) -> None:
    """ROLLBACK in pipeline mode: a Sync first (after an error PostgreSQL skips statements
    until one), then the ROLLBACK, waited for as the pipeline ends."""
    tx._checks.clear()
    tx._unread = 0
    try:
        assert tx._pipeline is not None
        with contextlib.suppress(psycopg.Error):
            await tx._pipeline.sync()
        await tx._send(_ROLLBACK, {}, prepare=False)
    except Exception:
        log.debug("rollback failed; the pool will reset or discard the connection", exc_info=True)


async def _rollback_quietly(tx: Tx) -> None:
    # The connection may be broken or the task cancelled: the pool then discards or
    # resets the connection, so a failed ROLLBACK here loses nothing.
    try:
        await tx.script((_ROLLBACK, {}))
    except Exception:
        log.debug("rollback failed; the pool will reset or discard the connection", exc_info=True)


async def connect_once(dsn: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(dsn, autocommit=True, row_factory=dict_row)


async def next_notifications(conn: psycopg.AsyncConnection[Any]) -> list[psycopg.Notify]:
    """The next notifications a LISTENing connection receives (at least one), waiting on its
    socket alone. psycopg's own `notifies()` wakes every 0.1 s, its wait interval, to look
    again when nothing came: with the agent directory's listener and the live hub's, an idle
    server woke 20 times a second and spent about 5 ms of CPU a second on it, for each open
    stdio session (bench/mcp_bench.py prints the idle figure). Here an idle listener costs
    nothing until PostgreSQL sends something. A lost connection raises
    psycopg.OperationalError.

    The connection must be used for nothing else meanwhile. The socket is watched only while
    this waits, so a connection closed afterwards leaves nothing registered with the loop."""
    # What psycopg read from the socket with a statement's answer (the LISTEN's own: a NOTIFY
    # sent meanwhile) is in its backlog, which only notifies() hands over: that comes first,
    # taken without waiting.
    received = [note async for note in conn.notifies(timeout=0)]
    if received:
        return received
    pgconn = conn.pgconn
    encoding = conn.info.encoding
    loop = asyncio.get_running_loop()
    while True:
        pgconn.consume_input()
        received = []
        while (note := pgconn.notifies()) is not None:
            channel, payload = note.relname.decode(encoding), note.extra.decode(encoding)
            received.append(psycopg.Notify(channel, payload, note.be_pid))
        if received:
            return received
        readable = loop.create_future()
        fd = pgconn.socket
        loop.add_reader(fd, _settle, readable)
        try:
            await readable
        finally:
            loop.remove_reader(fd)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
