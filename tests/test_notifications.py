"""next_notifications (server/database.py), what the agent directory's and the live hub's
listeners wait with: it hands over what PostgreSQL sends, raises when the connection is lost,
wakes only when the socket has something (psycopg's own notifies() looks again every 0.1 s,
which kept every idle server busy), and leaves nothing registered with the event loop; and the
TCP settings (server/database.py's with_session_settings) that end a wait on a database gone
without a word."""

from __future__ import annotations

import asyncio
import threading
import time

import anyio
import psycopg
import pytest

from bizctx.server.database import next_notifications, with_session_settings
from bizctx.server.identity import LISTEN_AGENTS_CHANGED

pytestmark = pytest.mark.anyio

CHANNEL = "bizctx_test_notifications"


@pytest.fixture
async def listening(dsn: str):
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute("LISTEN bizctx_test_notifications")  # CHANNEL
        yield conn


class _CountingPgconn:
    """The real libpq connection, counting how often the listener looked at its input."""

    def __init__(self, pgconn) -> None:
        self._pgconn = pgconn
        self.looked = 0

    def consume_input(self) -> None:
        self.looked += 1
        self._pgconn.consume_input()

    def __getattr__(self, name):
        return getattr(self._pgconn, name)


class _Watched:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.pgconn = _CountingPgconn(conn.pgconn)
        self.info = conn.info
        self.notifies = conn.notifies


async def test_what_comes_together_is_handed_over_together(listening, sql) -> None:
    waiting = asyncio.create_task(next_notifications(listening))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # nothing sent yet
    with sql.transaction():  # delivered at commit, in one go
        sql.execute("SELECT pg_notify(%s, 'one'), pg_notify(%s, 'two é')", (CHANNEL, CHANNEL))
    got = await asyncio.wait_for(waiting, 10)
    assert [(n.channel, n.payload) for n in got] == [(CHANNEL, "one"), (CHANNEL, "two é")]
    assert all(n.pid > 0 for n in got)


async def test_an_idle_listener_is_not_woken(listening, sql) -> None:
    watched = _Watched(listening)
    waiting = asyncio.create_task(next_notifications(watched))
    await asyncio.sleep(1.0)  # psycopg's notifies() would have looked 10 times by now
    sql.execute("SELECT pg_notify(%s, 'wake')", (CHANNEL,))
    got = await asyncio.wait_for(waiting, 10)
    assert [n.payload for n in got] == ["wake"]
    # Once before waiting, and once (or, if the message came in pieces, a few times) after.
    assert 2 <= watched.pgconn.looked <= 4


async def test_nothing_stays_registered_with_the_loop(listening, sql) -> None:
    loop = asyncio.get_running_loop()
    fd = listening.pgconn.socket
    waiting = asyncio.create_task(next_notifications(listening))
    await asyncio.sleep(0.2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert loop.remove_reader(fd) is False  # the cancelled wait took its reader away

    sql.execute("SELECT pg_notify(%s, 'late')", (CHANNEL,))
    got = await asyncio.wait_for(next_notifications(listening), 10)  # kept by libpq meanwhile
    assert [n.payload for n in got] == ["late"]
    assert loop.remove_reader(fd) is False


async def test_a_lost_connection_raises(listening, sql) -> None:
    waiting = asyncio.create_task(next_notifications(listening))
    await asyncio.sleep(0.2)
    sql.execute("SELECT pg_terminate_backend(%s)", (listening.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):
        await asyncio.wait_for(waiting, 10)


async def test_what_came_with_the_listens_answer_is_handed_over(dsn, sql) -> None:
    """A NOTIFY that arrives while the LISTEN's own answer is read goes into psycopg's backlog,
    not the socket: it is handed over first."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        pid = conn.info.backend_pid

        def notify_once_listening() -> None:
            with psycopg.connect(dsn, autocommit=True) as other:
                while other.execute(
                    "SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).fetchone() != ("idle",):
                    time.sleep(0.01)
                other.execute("SELECT pg_notify(%s, 'with the answer')", (CHANNEL,))

        listen = asyncio.create_task(conn.execute("LISTEN bizctx_test_notifications"))  # CHANNEL
        await asyncio.sleep(0)  # the LISTEN goes out
        await asyncio.sleep(0)
        notifier = threading.Thread(target=notify_once_listening)
        notifier.start()
        notifier.join(10)
        # The loop kept busy: the answer and the NOTIFY are then read together.
        time.sleep(0.3)  # noqa: ASYNC251
        await listen
        got = await asyncio.wait_for(next_notifications(conn), 5)
    assert [n.payload for n in got] == ["with the answer"]


async def test_the_directory_reloads_what_changed_while_it_was_not_listening(app, sql) -> None:
    """Changes made while the agent directory's listener was disconnected sent their NOTIFY to
    nobody: reconnected, it reloads the tool -> capability map (and drops cached agents)."""
    assert app.directory.tool_capabilities["get_client"] == "clients.read"
    with anyio.fail_after(10):  # the listener connects in the background as the app starts
        while (
            listener := sql.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE %s",
                ("%LISTEN bizctx_agents_changed%",),
            ).fetchone()
        ) is None:
            await anyio.sleep(0.05)
    try:
        assert sql.execute("SELECT pg_terminate_backend(%s, 5000)", (listener["pid"],)).fetchone()
        # Its NOTIFY reaches no listener: the directory reconnects a second after the loss.
        sql.execute(
            "UPDATE tool_capabilities SET capability = 'clients.write' WHERE tool_name = 'get_client'"
        )
        with anyio.fail_after(10):
            while app.directory.tool_capabilities["get_client"] != "clients.write":
                await anyio.sleep(0.05)
    finally:
        sql.execute("UPDATE tool_capabilities SET capability = 'clients.read' WHERE tool_name = 'get_client'")


async def test_every_connection_finds_out_a_silent_database(app) -> None:
    """TCP keepalives on every connection, and a user timeout on those that only send a few
    statements at a time (the agents' pool, the listeners): a database gone without a word is
    found out in about a minute, not after TCP's own retries (a listener would have waited
    with its cache stale for good). The owner's pool, which streams imports (COPY), has no
    user timeout: a server held up mid-COPY would have the connection dropped under it."""
    assert app.db.pool is not app.db.owner_pool  # agent calls log in as their own role here
    async with app.db.listening(LISTEN_AGENTS_CHANGED) as conn:
        listener = psycopg.conninfo.conninfo_to_dict(conn.info.dsn)
    async with app.db.pool.connection() as conn:
        agents = psycopg.conninfo.conninfo_to_dict(conn.info.dsn)
    async with app.db.owner_pool.connection() as conn:
        owner = psycopg.conninfo.conninfo_to_dict(conn.info.dsn)
    for options in (listener, agents, owner):
        assert options["keepalives"] == "1"
        silent_for = int(options["keepalives_idle"]) + int(options["keepalives_interval"]) * int(
            options["keepalives_count"]
        )
        assert silent_for <= 90
    for options in (listener, agents):
        assert 0 < int(options["tcp_user_timeout"]) <= 90_000
    assert int(owner.get("tcp_user_timeout") or 0) == 0


def test_a_dsn_keeps_its_own_tcp_settings() -> None:
    dsn = "host=db.example port=5432 dbname=biz keepalives_idle=120 tcp_user_timeout=0"
    options = psycopg.conninfo.conninfo_to_dict(with_session_settings(dsn, small_sends=True))
    assert options["keepalives_idle"] == "120" and options["tcp_user_timeout"] == "0"
    assert options["keepalives"] == "1" and options["keepalives_count"] == "3"
    assert options["options"].endswith("-c TimeZone=UTC")
    # Keepalives turned off: nothing of ours is added.
    off = with_session_settings("host=db.example keepalives=0", small_sends=True)
    off = psycopg.conninfo.conninfo_to_dict(off)
    assert "keepalives_idle" not in off and "tcp_user_timeout" not in off
