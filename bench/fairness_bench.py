"""Does one agent saturating its limits slow another agent down? (issue 14; not a test)

One server in this process (the real guard, the real pool, a throwaway PostgreSQL). Two
tenants: `home` has the victim and one flooder, `other` has a second flooder; each is
seeded alike (a service, 8 staff resources working 07:00-21:00 every day with some
bookings, 2,000 clients, 1,000 open invoices) so the expensive reads have work.

How the calls arrive (--flood-via, --victim-via):

- http (the default): the server serves streamable HTTP on loopback in this process (uvicorn,
  as `serve_http` runs it: the same app, the bench's settings). Each flooding agent is its own
  process (multiprocessing, spawn) with --flooders official MCP client sessions over streamable
  HTTP, each on its own httpx client carrying `Authorization: Bearer <the agent's key>`: the
  flood's client side is off the server's event loop, its HTTP parsing on it, as a real flood
  arrives (--flooders stays within the server's HTTP sessions per agent, 20).
- client: every agent is an MCP session in memory in this process, so the flooders' client
  side (serializing requests, parsing replies) runs on the server's event loop: it overstates
  the flood's cost to the server, and leaves HTTP out.
- guard: the flood calls `app.guard.call_tool` directly, yielding to the loop once per call
  (no MCP layers for the flood: the guard's share alone; refusals spin in the server's process).

The victim is an MCP session over streamable HTTP with its own key (--victim-via http, the
default with --flood-via http) or in memory (--victim-via memory, the default otherwise); either
way its client runs in this process, on the server's event loop, beside the ticker.

- The victim (the server's default limit, 6,000 calls a minute) calls at a steady
  --victim-rate (default 50 a second: half its limit), one call at a time, alternating
  get_client (a cheap read) and create_task (a write); each timed around `Client.call_tool`,
  and again inside the server's `guard.call_tool` (the bench wraps it for the victim: checks,
  pool, database, audit), so the rest (MCP and HTTP layers, waiting for the loop or a CPU) shows.
  One call at a time: when calls slow down it makes fewer (see n), as an agent would.
- A flooder (its own limit set to --flooder-limit, default 600 a minute, as
  `bizctx agent set --calls-per-minute` does) runs --flooders concurrent loops, each with its
  own MCP session, each calling again as soon as its reply is back. --mix mixed (default):
  each loop calls in turn find_available_slots at the server's bound (--slots-window: the bound
  is 4,032 start times x resources able, 2,016 start times and 31 days; with the 8 resources
  here, 7 days in 20-minute steps (default) or 31 days in 89-minute ones), get_client,
  search_clients (a fuzzy query with digits, 100 a page: scores every client's name, e-mail
  and phone), get_client, receivables_aging (every client), get_client. --mix cheap:
  get_client only (the over-the-limit hammer); --mix expensive: the three expensive reads only.

Phases, interleaved round by round (--rounds x --seconds-per-round each) so the machine's
load falls on all of them alike:

- alone:        the victim calls alone;
- same tenant:  the `home` flooder floods at the same time;
- other tenant: the `other` flooder floods;
- both:         both flood (2 x --flooders loops).

A flood phase ends when its loops' last calls are answered (up to the costly reads' statement
timeout): the victim is timed until then, so the flood's tail counts against the flood.

Before the rounds, once and not interleaved (2 x --seconds-per-round): "same, full bucket",
the `home` flooder's first flood, with the whole minute of allowance an idle agent's bucket
holds (600 calls at once). Then cheap calls empty both flooders' buckets, so each round's
flood starts with what refilled since its last phase. Before all that: each expensive call
alone (p50 of 3, printed), and 2 s of cheap calls by the `other` flooder to open the pool.

Prints the victim's p50/p99 per tool and phase and their ratios to `alone`; then per phase
the flood's calls, how many were rate_limited, how many were answered (and how many of those
were each expensive read), other errors (a costly read that ran out of its statement timeout
is invalid_input; one that waited past the pool timeout for its turn among the agent's calls
at once is `rate_limited (calls_in_flight)`), the pool's waits (psycopg_pool stats of the
agent pool, every caller), the event loop's lag (a 5 ms ticker's p99 and largest overshoot) and
PostgreSQL's own latency (a one-row read by key every 20 ms from another process on its own
connection: no pool, no event loop, no GIL), to say where the time goes.

The flood processes' CPU, this process's (server, victim, ticker; and the flood, unless it
comes over HTTP) and PostgreSQL's (its postmaster and backends, from /proc) are printed per
phase in cores (CPU seconds per second), and how long the event loop's thread was ready to run
but waited for a CPU (schedstat): on this machine (2 cores) all of them compete for the same CPUs.

    python bench/fairness_bench.py [--seconds-per-round 3] [--rounds 6] [--flooders 12]
        [--flooder-limit 600] [--victim-rate 50] [--mix mixed|cheap|expensive]
        [--slots-window 7d/20m|31d/89m] [--flood-via http|client|guard] [--victim-via http|memory]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pg import free_port, throwaway_database

from bizctx.ops import operators
from bizctx.server import migrations
from bizctx.server.access import parse_access_patterns
from bizctx.server.app import build_server, open_app, settle_heap
from bizctx.server.guard import Principal
from bizctx.server.settings import Settings

ERROR_META_KEY = "bizctx/error"
EXPENSIVE = ("find_available_slots", "search_clients", "receivables_aging")
PHASES = ("alone", "same tenant", "other tenant", "both")
BURST = "same, full bucket"
# find_available_slots at its bound (tools/appointments/availability.py: MAX_SLOT_CANDIDATES =
# 4,032 start times x resources, MAX_SLOT_STARTS = 2,016, MAX_SLOT_DAYS = 31), for 8 resources.
SLOT_WINDOWS = {"7d/20m": (timedelta(days=7), 20), "31d/89m": (timedelta(days=31), 89)}
VICTIM_CAPS = ["clients.read", "tasks.read", "tasks.write"]
VICTIM_ACCESS = {"clients": {"read": True}, "tasks": {"read": True, "write": True}}
FLOODER_CAPS = ["clients.read", "appointments.read", "invoices.read"]
FLOODER_ACCESS = {"clients": {"read": True}, "appointments": {"read": True}, "invoices": {"read": True}}


@dataclass
class Phase:
    """What one phase saw, summed over its rounds."""

    victim: dict[str, list[float]] = field(default_factory=lambda: {"get_client": [], "create_task": []})
    victim_errors: Counter[str] = field(default_factory=Counter)
    # The victim's calls timed inside the server's guard.call_tool (checks, pool, database, audit):
    # the rest of a call is the MCP and HTTP layers, both sides, and waiting for the loop or a CPU.
    in_guard: dict[str, list[float]] = field(default_factory=lambda: {"get_client": [], "create_task": []})
    flood_calls: int = 0
    flood_outcomes: Counter[str] = field(default_factory=Counter)
    let_through: Counter[str] = field(default_factory=Counter)
    flood_errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)
    lag_ms: list[float] = field(default_factory=list)
    db_ms: list[float] = field(default_factory=list)
    pool: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    flood_cpu: float = 0.0  # CPU seconds of the flood processes (http)
    here_cpu: float = 0.0  # of this process: the server, the victim, the ticker (and a flood in process)
    pg_cpu: float = 0.0  # of PostgreSQL: its postmaster and backends
    runq: float = 0.0  # seconds the event loop's thread was ready to run but waited for a CPU

    def add_flood(self, part: Phase) -> None:
        """A flood process's share of the phase."""
        self.flood_calls += part.flood_calls
        self.flood_outcomes.update(part.flood_outcomes)
        self.let_through.update(part.let_through)
        self.flood_errors.update(part.flood_errors)
        for kind, text in part.samples.items():
            self.samples.setdefault(kind, text)
        self.flood_cpu += part.flood_cpu


@dataclass
class Tenant:
    name: str
    id: UUID
    service: UUID
    clients: list[UUID]


# -- seeding ------------------------------------------------------------------------------------

TIME_ZONE = "America/New_York"
TAGS = ["vip", "pets", "weekly", "keys", "stairs"]


async def first_id(cursor: Any) -> UUID:
    row = await cursor.fetchone()
    return row[0]


async def seed(dsn: str, tenant_id: UUID, rng: random.Random) -> tuple[UUID, list[UUID]]:
    """A cleaning business with work for every expensive read; written as the owner, with
    parameterized statements (as the tests seed)."""
    first = ["Ann", "Ben", "Cara", "Dan", "Eve", "Finn", "Gia", "Hugo", "Ida", "Jon", "Kim", "Leo"]
    last = ["Lee", "Smith", "Novak", "Garcia", "Okafor", "Berg", "Rossi", "Khan", "Silva", "Meyer"]
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=False) as conn:
        service = await first_id(
            await conn.execute(
                "INSERT INTO services (tenant_id, code, name, duration_minutes, price, currency,"
                " required_capabilities) VALUES (%s, 'CLEAN', 'Deep clean', 60, 120, 'USD', %s) RETURNING id",
                (tenant_id, ["cleaning"]),
            )
        )
        resources = []
        for i in range(8):
            row = await conn.execute(
                "INSERT INTO resources (tenant_id, kind, name, capabilities)"
                " VALUES (%s, 'staff', %s, %s) RETURNING id",
                (tenant_id, f"Cleaner {i + 1}", ["cleaning"]),
            )
            resources.append(await first_id(row))
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO resource_availability (tenant_id, resource_id, weekday, start_time, end_time)"
                " VALUES (%s, %s, %s, '07:00', '21:00')",
                [(tenant_id, r, weekday) for r in resources for weekday in range(1, 8)],
            )
            rows = []
            for i in range(2000):
                name = (rng.choice(first), rng.choice(last))
                email = f"{name[0]}.{name[1]}.{i}@example.com".lower()
                phone = f"+1 555 {rng.randrange(1000):03d} {rng.randrange(10000):04d}"
                rows.append((tenant_id, *name, email, phone, rng.sample(TAGS, 2)))
            await cur.executemany(
                "INSERT INTO clients (tenant_id, first_name, last_name, email, phone, tags)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                rows,
                returning=True,
            )
            clients = []
            while True:
                clients.append(await first_id(cur))
                if not cur.nextset():
                    break
            # Bookings: two per resource and day for the next 31 days, so the free time is
            # fragmented (the slot search subtracts them).
            zone = ZoneInfo(TIME_ZONE)
            today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
            for day in range(32):
                for n, r in enumerate(resources):
                    for hour in (9 + n % 3, 14 + n % 4):
                        starts = today + timedelta(days=day, hours=hour)
                        row = await conn.execute(
                            "INSERT INTO appointments (tenant_id, client_id, service_id, starts_at, ends_at)"
                            " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                            (tenant_id, rng.choice(clients), service, starts, starts + timedelta(hours=1)),
                        )
                        await cur.execute(
                            "INSERT INTO appointment_resources (tenant_id, appointment_id, resource_id)"
                            " VALUES (%s, %s, %s)",
                            (tenant_id, await first_id(row), r),
                        )
            # Receivables: 1,000 invoices issued over the last 150 days, due 30 days later.
            for i in range(1000):
                issued = date.today() - timedelta(days=rng.randrange(150))
                row = await conn.execute(
                    "INSERT INTO invoices (tenant_id, client_id, status, issue_date, due_date, currency)"
                    " VALUES (%s, %s, 'draft', %s, %s, %s) RETURNING id",
                    (tenant_id, clients[i], issued, issued + timedelta(days=30), rng.choice(["USD", "EUR"])),
                )
                invoice = await first_id(row)
                await cur.execute(
                    "INSERT INTO invoice_items (tenant_id, invoice_id, position, description, quantity,"
                    " unit_price, net_amount, tax_amount, total_amount)"
                    " VALUES (%s, %s, 1, 'Deep clean', 1, %s, 0, 0, 0)",
                    (tenant_id, invoice, rng.randrange(50, 500)),
                )
                await cur.execute(
                    "UPDATE invoices SET status = 'open' WHERE tenant_id = %s AND id = %s",
                    (tenant_id, invoice),
                )
        await conn.commit()
        await conn.execute("ANALYZE")
    return service, clients


# -- the calls ------------------------------------------------------------------------------------


class Caller:
    """One loop's way to make a call: an MCP session, or the guard directly."""

    def __init__(self, app: Any, principal: Principal, session: Any | None) -> None:
        self.app, self.principal, self.session = app, principal, session

    async def __call__(self, tool: str, args: dict[str, Any]) -> Any:
        if self.session is None:
            result = await self.app.guard.call_tool(self.principal, tool, args)
            # A refusal never waits on anything: yield, as a transport's read of the next request would.
            await asyncio.sleep(0)
            return result
        return await self.session.call_tool(tool, args)


def error_code(result: Any) -> str | None:
    """None for a success; else the error's code, `rate_limited` only for calls per minute (a
    call that waited too long for its turn among the agent's calls at once is told apart)."""
    if not result.is_error:
        return None
    error = (result.meta or {}).get(ERROR_META_KEY) or {}
    code = error.get("code", "error")
    if code == "rate_limited" and "calls_in_flight" in (error.get("limit") or {}):
        return "rate_limited (calls_in_flight)"
    return code


def flood_args(
    tenant: Tenant, window: tuple[timedelta, int], mix: str, rng: random.Random
) -> list[tuple[str, Any]]:
    """What each flooding loop calls, in turn: `mixed` (each expensive read, then get_client),
    `cheap` (get_client only) or `expensive` (the three expensive reads only)."""
    span, step = window

    def slots() -> dict[str, Any]:
        start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        return {
            "service_id": str(tenant.service),
            "from": start.isoformat(),
            "to": (start + span).isoformat(),
            "step_minutes": step,
            "limit": 100,
        }

    def client() -> dict[str, Any]:
        return {"client_id": str(rng.choice(tenant.clients))}

    if mix == "cheap":
        return [("get_client", client)]
    expensive = [
        ("find_available_slots", slots),
        ("search_clients", lambda: {"query": "ann le 555 01", "limit": 100}),
        ("receivables_aging", dict),
    ]
    if mix == "expensive":
        return expensive
    return [step for pair in zip(expensive, [("get_client", client)] * 3, strict=True) for step in pair]


async def flood(call: Caller, plan: list[tuple[str, Any]], start: int, stop: asyncio.Event, into: Phase):
    i = start
    while not stop.is_set():
        tool, make = plan[i % len(plan)]
        i += 1
        result = await call(tool, make())
        into.flood_calls += 1
        code = error_code(result)
        into.flood_outcomes[code or "ok"] += 1
        if code is None and tool in EXPENSIVE:
            into.let_through[tool] += 1
        elif code not in (None, "rate_limited"):
            into.flood_errors[f"{tool}: {code}"] += 1
            into.samples.setdefault(f"{tool}: {code}", result.content[0].text[:300])


async def empty_buckets(floods: list[tuple[list[Caller], list[tuple[str, Any]]]]) -> int:
    """Cheap calls until every flooding loop is answered rate_limited: the allowance spent."""
    calls = Counter[str]()

    async def until_limited(call: Caller, tool: str, make: Any) -> None:
        while True:
            calls[tool] += 1
            if error_code(await call(tool, make())) == "rate_limited":
                return

    async with asyncio.timeout(60):
        for callers, plan in floods:
            tool, make = next(p for p in plan if p[0] == "get_client")
            await asyncio.gather(*(until_limited(c, tool, make) for c in callers))
    return calls.total()


async def solo_costs(call: Caller, plan: list[tuple[str, Any]], repeat: int = 3) -> dict[str, float]:
    """Each expensive call's latency with nothing else running (p50 of `repeat`)."""
    costs = {}
    for tool, make in plan:
        if tool in EXPENSIVE:
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                result = await call(tool, make())
                times.append((time.perf_counter() - started) * 1000)
                assert not result.is_error, result.content[0].text
            costs[tool] = statistics.median(times)
    return costs


class LocalFlood:
    """A flooding agent's loops in this process (--flood-via client or guard)."""

    def __init__(self, callers: list[Caller], plan: list[tuple[str, Any]]) -> None:
        self.callers, self.plan = callers, plan

    async def start(self, into: Phase) -> None:
        self.stop_event = asyncio.Event()
        self.tasks = [
            asyncio.create_task(flood(c, self.plan, i, self.stop_event, into))
            for i, c in enumerate(self.callers)
        ]

    async def stop(self, into: Phase) -> None:
        self.stop_event.set()
        await asyncio.gather(*self.tasks)


def _flooder(pipe: Any, url: str, key: str, tenant: Tenant, window: Any, loops: int, seed: int) -> None:
    asyncio.run(_flood_process(pipe, url, key, tenant, window, loops, seed))


async def _flood_process(
    pipe: Any, url: str, key: str, tenant: Tenant, window: Any, loops: int, seed: int
) -> None:
    """A flooding agent in its own process: `loops` MCP sessions over streamable HTTP, each on
    its own httpx client with the agent's key; it floods, drains or measures when told."""
    import resource

    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    rng = random.Random(seed)
    async with contextlib.AsyncExitStack() as stack:
        callers = []
        for _ in range(loops):
            http = await stack.enter_async_context(
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
            )
            session = await stack.enter_async_context(Client(streamable_http_client(url, http_client=http)))
            callers.append(Caller(None, None, session))
        mixed = flood_args(tenant, window, "mixed", rng)
        pipe.send("ready")
        phase, stop, tasks, cpu = Phase(), asyncio.Event(), [], 0.0
        while True:
            command, *rest = await asyncio.to_thread(pipe.recv)
            reply: Any = None
            try:
                if command == "start":
                    phase, stop, cpu = Phase(), asyncio.Event(), time.process_time()
                    plan = flood_args(tenant, window, rest[0], rng)
                    tasks = [
                        asyncio.create_task(flood(c, plan, i, stop, phase)) for i, c in enumerate(callers)
                    ]
                elif command == "stop":
                    stop.set()
                    await asyncio.gather(*tasks)
                    phase.flood_cpu = time.process_time() - cpu
                    reply = phase
                elif command == "empty":
                    reply = await empty_buckets([(callers, flood_args(tenant, window, "cheap", rng))])
                elif command == "check":
                    checked = await callers[0]("find_available_slots", mixed[0][1]())
                    assert not checked.is_error, checked.content[0].text
                    reply = len(checked.structured_content["slots"])
                elif command == "costs":
                    reply = await solo_costs(callers[0], mixed)
                elif command == "quit":
                    break
            except Exception as exc:  # the parent raises it
                reply = RuntimeError(f"flood process: {exc!r}")
            pipe.send(reply)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    pipe.send(usage.ru_utime + usage.ru_stime)


class FloodProcess:
    """A flooding agent in another process (--flood-via http), driven through a pipe."""

    def __init__(self, url: str, key: str, tenant: Tenant, window: Any, loops: int, seed: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(
            target=_flooder, args=(child, url, key, tenant, window, loops, seed), daemon=True
        )
        self.process.start()
        self.cpu_total = float("nan")

    async def ready(self) -> None:
        async with asyncio.timeout(120):
            ready = await asyncio.to_thread(self.pipe.recv)
        assert ready == "ready", ready

    async def ask(self, *command: Any) -> Any:
        self.pipe.send(command)
        reply = await asyncio.to_thread(self.pipe.recv)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def close(self) -> None:
        """Its sessions closed; its CPU seconds over its whole life kept (resource.getrusage)."""
        if self.process.is_alive():
            self.pipe.send(("quit",))
            with contextlib.suppress(EOFError, TimeoutError):
                async with asyncio.timeout(30):
                    self.cpu_total = await asyncio.to_thread(self.pipe.recv)
        await asyncio.to_thread(self.process.join, 10)
        if self.process.is_alive():
            self.process.kill()


class RemoteFlood:
    """A flood phase of a FloodProcess, with one mix."""

    def __init__(self, process: FloodProcess, mix: str) -> None:
        self.process, self.mix = process, mix

    async def start(self, into: Phase) -> None:
        await self.process.ask("start", self.mix)

    async def stop(self, into: Phase) -> None:
        into.add_flood(await self.process.ask("stop"))


@contextlib.asynccontextmanager
async def serving(app: Any) -> Any:
    """The app served over streamable HTTP on loopback, in this process, as `serve_http` serves it."""
    import uvicorn

    from bizctx.server.http import HeaderDeadlineProtocol, build_http_app

    port = free_port()
    config = uvicorn.Config(
        build_http_app(app, transport="streamable-http", host="127.0.0.1"),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        http=HeaderDeadlineProtocol,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def http_session(url: str, key: str) -> Any:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http)) as session,
    ):
        yield session


class GuardTimer:
    """Times one agent's calls inside `app.guard.call_tool` (the bench wraps the instance's
    method; the server looks it up at each call), into the current phase."""

    def __init__(self, app: Any, agent_id: UUID) -> None:
        self.call_tool, self.agent_id, self.into = app.guard.call_tool, agent_id, Phase()
        app.guard.call_tool = self

    async def __call__(self, principal: Principal, name: str, arguments: Any) -> Any:
        if principal.agent_id != self.agent_id:
            return await self.call_tool(principal, name, arguments)
        into, started = self.into, time.perf_counter()
        result = await self.call_tool(principal, name, arguments)
        if not result.is_error and name in into.in_guard:
            into.in_guard[name].append((time.perf_counter() - started) * 1000)
        return result


def run_queue_wait() -> float:
    """Seconds this process's main thread (the event loop's) has waited, runnable, for a CPU
    (Linux schedstat; nan elsewhere)."""
    try:
        text = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/schedstat").read_text()
    except OSError:
        return float("nan")
    return int(text.split()[1]) / 1e9


class PgCpu:
    """PostgreSQL's CPU seconds so far: its postmaster's (with its reaped children's) and its
    live backends' (from /proc; nan where there is no /proc)."""

    def __init__(self, dsn: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            backend = self._stat(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        self.postmaster = backend[1] if backend else None  # its parent
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    @staticmethod
    def _stat(pid: int | str) -> list[str] | None:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return text[text.rindex(")") + 2 :].split()  # from field 3 (state) on

    def __call__(self) -> float:
        if self.postmaster is None:
            return float("nan")
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            fields = self._stat(entry.name)
            if fields is None:
                continue
            if entry.name == self.postmaster:
                total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
            elif fields[1] == self.postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / self.tick


async def victim(call: Caller, tenant: Tenant, rate: float, stop: asyncio.Event, into: Phase) -> None:
    interval, next_at, n = 1.0 / rate, time.perf_counter(), 0
    rng = random.Random(7)
    while not stop.is_set():
        if n % 2 == 0:
            tool, args = "get_client", {"client_id": str(rng.choice(tenant.clients))}
        else:
            tool, args = "create_task", {"type": "bench.fairness", "title": f"Call back #{n}"}
        n += 1
        started = time.perf_counter()
        result = await call(tool, args)
        elapsed = time.perf_counter() - started
        code = error_code(result)
        if code is None:
            into.victim[tool].append(elapsed * 1000)
        else:
            into.victim_errors[f"{tool}: {code}"] += 1
        next_at = max(next_at + interval, time.perf_counter())
        await asyncio.sleep(next_at - time.perf_counter())


def _probe(pipe: Any, dsn: str, tenant_id: UUID, client_id: UUID) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        samples: list[float] = []
        while True:
            if pipe.poll(0.02):
                if pipe.recv() == "stop":
                    return
                pipe.send(samples)
                samples = []
                continue
            started = time.perf_counter()
            conn.execute(
                "SELECT display_name FROM clients WHERE tenant_id = %s AND id = %s", (tenant_id, client_id)
            ).fetchone()
            samples.append((time.perf_counter() - started) * 1000)


class DbProbe:
    """PostgreSQL's own latency beside the calls: another process (no pool, no event loop, no
    GIL shared with the server) reads one client by key every 20 ms on its own connection."""

    def __init__(self, dsn: str, tenant_id: UUID, client_id: UUID) -> None:
        self.pipe, child = multiprocessing.get_context("spawn").Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_probe, args=(child, dsn, tenant_id, client_id), daemon=True
        )
        self.process.start()

    def collect(self) -> list[float]:
        """The samples since the last collect."""
        self.pipe.send("collect")
        return self.pipe.recv()

    def close(self) -> None:
        self.pipe.send("stop")
        self.process.join(10)


async def ticker(stop: asyncio.Event, into: Phase, every: float = 0.005) -> None:
    """The event loop's lag: how late a 5 ms sleep wakes up."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(every)
        into.lag_ms.append((time.perf_counter() - started - every) * 1000)


async def run_phase(
    app: Any,
    seconds: float,
    into: Phase,
    victim_call: Caller,
    home: Tenant,
    victim_rate: float,
    floods: list[LocalFlood | RemoteFlood],
    probe: DbProbe,
    pg_cpu: PgCpu,
    timer: GuardTimer,
) -> None:
    """`seconds` of the victim's calls beside the floods; then the floods stop, and the victim
    goes on until their last calls are answered (their tail is theirs, not the next phase's)."""
    stop_victim = asyncio.Event()
    app.db.pool.pop_stats()
    probe.collect()
    timer.into = into
    started, here, pg, runq = time.perf_counter(), time.process_time(), pg_cpu(), run_queue_wait()
    victims = [
        asyncio.create_task(victim(victim_call, home, victim_rate, stop_victim, into)),
        asyncio.create_task(ticker(stop_victim, into)),
    ]
    await asyncio.gather(*(f.start(into) for f in floods))
    await asyncio.sleep(seconds)
    await asyncio.gather(*(f.stop(into) for f in floods))
    stop_victim.set()
    await asyncio.gather(*victims)
    into.db_ms += probe.collect()
    into.seconds += time.perf_counter() - started
    into.here_cpu += time.process_time() - here
    into.pg_cpu += pg_cpu() - pg
    into.runq += run_queue_wait() - runq
    into.pool.update(app.db.pool.pop_stats())
    await asyncio.sleep(0.1)  # let PostgreSQL settle before the next phase


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Totals:
    """Printed after the run: what the setup measured, and the flood processes' CPU in all."""

    slots: int = 0
    costs: dict[str, float] = field(default_factory=dict)
    drained: int = 0
    flood_cpu: dict[str, float] = field(default_factory=dict)


async def run(args: argparse.Namespace) -> dict[str, Phase]:
    from mcp import Client

    rng = random.Random(14)
    totals = Totals()
    with throwaway_database(None) as dsn, tempfile.TemporaryDirectory() as tmp:
        migrations.migrate(dsn)
        settings = Settings(
            database_url=dsn, data_dir=Path(tmp), log_level="WARNING", embedding_provider="none"
        )
        async with open_app(settings, migrate=False) as app:
            tenants: dict[str, Tenant] = {}
            principals: dict[str, Principal] = {}
            keys: dict[str, str] = {}
            for key in ("home", "other"):
                made = await operators.create_tenant(app.db, f"fair-{key}", time_zone=TIME_ZONE)
                service, clients = await seed(dsn, made["id"], rng)
                tenants[key] = Tenant(made["name"], made["id"], service, clients)
                flooder = await operators.create_agent(
                    app.db, made["name"], "flooder", FLOODER_CAPS, parse_access_patterns(FLOODER_ACCESS)
                )
                await operators.set_calls_per_minute(app.db, made["name"], "flooder", args.flooder_limit)
                principals[key] = Principal(made["id"], flooder.agent["id"], "memory")
                keys[key] = flooder.key
            home = tenants["home"]
            made = await operators.create_agent(
                app.db, home.name, "victim", VICTIM_CAPS, parse_access_patterns(VICTIM_ACCESS)
            )
            victim_principal = Principal(home.id, made.agent["id"], "memory")
            timer = GuardTimer(app, made.agent["id"])
            window = SLOT_WINDOWS[args.slots_window]
            pg_cpu = PgCpu(dsn)

            settle_heap()  # as the serving commands do once the app is open
            async with contextlib.AsyncExitStack() as stack:
                url = None
                if "http" in (args.flood_via, args.victim_via):
                    url = await stack.enter_async_context(serving(app))

                async def caller(principal: Principal, via: str) -> Caller:
                    if via == "guard":
                        return Caller(app, principal, None)
                    server = build_server(app, lambda ctx, p=principal: p)
                    return Caller(app, principal, await stack.enter_async_context(Client(server)))

                if args.victim_via == "http":
                    victim_call = Caller(
                        app, victim_principal, await stack.enter_async_context(http_session(url, made.key))
                    )
                else:
                    victim_call = await caller(victim_principal, "client")

                floods: dict[str, LocalFlood | RemoteFlood]
                cheap: dict[str, LocalFlood | RemoteFlood]
                if args.flood_via == "http":
                    processes = {
                        key: FloodProcess(url, keys[key], tenants[key], window, args.flooders, seed)
                        for seed, key in enumerate(("home", "other"), 15)
                    }
                    for process in processes.values():
                        stack.push_async_callback(process.close)
                    await asyncio.gather(*(p.ready() for p in processes.values()))
                    floods = {key: RemoteFlood(p, args.mix) for key, p in processes.items()}
                    cheap = {key: RemoteFlood(p, "cheap") for key, p in processes.items()}
                    # The flood's largest call, checked: the server must accept it.
                    totals.slots = await processes["home"].ask("check")
                    totals.costs = await processes["other"].ask("costs")
                else:
                    processes = {}
                    loops = {
                        key: [await caller(principals[key], args.flood_via) for _ in range(args.flooders)]
                        for key in ("home", "other")
                    }
                    plans = {key: flood_args(tenants[key], window, args.mix, rng) for key in loops}
                    mixed = {key: flood_args(tenants[key], window, "mixed", rng) for key in loops}
                    cheaps = {key: flood_args(tenants[key], window, "cheap", rng) for key in loops}
                    floods = {key: LocalFlood(loops[key], plans[key]) for key in loops}
                    cheap = {key: LocalFlood(loops[key], cheaps[key]) for key in loops}
                    checked = await loops["home"][0]("find_available_slots", mixed["home"][0][1]())
                    assert not checked.is_error, checked.content[0].text
                    totals.slots = len(checked.structured_content["slots"])
                    totals.costs = await solo_costs(loops["other"][0], mixed["other"])

                async def drain() -> int:
                    if processes:
                        return sum([await p.ask("empty") for p in processes.values()])
                    return await empty_buckets([(loops[key], cheaps[key]) for key in ("home", "other")])

                # Warm-up: the pool's connections (cheap calls of the `other` flooder, 2 s).
                probe = DbProbe(dsn, home.id, home.clients[0])
                stack.callback(probe.close)

                async def phase(seconds: float, into: Phase, flooding: list[LocalFlood | RemoteFlood]):
                    await run_phase(
                        app,
                        seconds,
                        into,
                        victim_call,
                        home,
                        args.victim_rate,
                        flooding,
                        probe,
                        pg_cpu,
                        timer,
                    )

                await phase(2.0, Phase(), [cheap["other"]])
                phases = {name: Phase() for name in (BURST, *PHASES)}
                await phase(args.seconds_per_round * 2, phases[BURST], [floods["home"]])
                totals.drained = await drain()
                which = {
                    "alone": [],
                    "same tenant": [floods["home"]],
                    "other tenant": [floods["other"]],
                    "both": [floods["home"], floods["other"]],
                }
                for _ in range(args.rounds):
                    for name in PHASES:
                        await phase(args.seconds_per_round, phases[name], which[name])
                for key, process in processes.items():
                    await process.close()
                    totals.flood_cpu[key] = process.cpu_total
    print(f"find_available_slots per flood call: {args.slots_window} window, {totals.slots} slots returned")
    print(
        "each expensive call alone, p50 of 3: "
        + ", ".join(f"{t} {ms:.1f} ms" for t, ms in totals.costs.items())
    )
    print(f"before the rounds: {totals.drained} cheap calls emptied both flooders' buckets")
    if totals.flood_cpu:
        print(
            "flood processes' CPU over their whole lives (getrusage, setup and idle included): "
            + ", ".join(f"{key} {cpu:.1f} s" for key, cpu in totals.flood_cpu.items())
        )
    return phases


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def report(phases: dict[str, Phase], args: argparse.Namespace) -> None:
    alone = phases["alone"]
    print(
        f"\nvictim: {args.victim_rate:g} calls/s (limit 6000/min); flooders: {args.flooders} loops each, "
        f"limit {args.flooder_limit}/min, via {args.flood_via} (victim via {args.victim_via}); "
        f"{args.rounds} rounds x "
        f"{args.seconds_per_round:g} s (full bucket: once, {args.seconds_per_round * 2:g} s)\n"
    )
    head = (
        f"{'phase':18} {'tool':12} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'p50 x':>6} {'p99 x':>6}"
        f" {'guard p50':>9} {'guard p99':>9}"
    )
    print(head)
    print("-" * len(head))
    for name, phase in phases.items():
        for tool, values in phase.victim.items():
            p50, p99 = pct(values, 50), pct(values, 99)
            base50, base99 = pct(alone.victim[tool], 50), pct(alone.victim[tool], 99)
            print(
                f"{name:18} {tool[:12]:12} {len(values):5d} {p50:8.2f} {p99:8.2f} "
                f"{p50 / base50:6.2f} {p99 / base99:6.2f} "
                f"{pct(phase.in_guard[tool], 50):9.2f} {pct(phase.in_guard[tool], 99):9.2f}"
            )
    print(
        "guard: the same calls timed inside the server's guard.call_tool (checks, pool, database, "
        "audit), ms; the rest is MCP/HTTP on both sides and waiting for the event loop or a CPU.\n"
    )
    head = (
        f"{'phase':18} {'flood calls':>11} {'limited':>8} {'let thru':>8} {'slots/srch/aging':>16} "
        f"{'other err':>9} {'pool wait':>9} {'waited':>7} {'lag p99':>8} {'lag max':>8} {'db p50':>7} "
        f"{'db p99':>7} {'cpu here/flood/pg':>17} {'runq':>7}"
    )
    print(head)
    print("-" * len(head))
    for name, phase in phases.items():
        limited = phase.flood_outcomes["rate_limited"]
        other = sum(n for code, n in phase.flood_outcomes.items() if code not in ("ok", "rate_limited"))
        through = "/".join(str(phase.let_through[t]) for t in EXPENSIVE)
        requests = phase.pool["requests_num"] or 1
        wait = phase.pool["requests_wait_ms"] / requests
        seconds = phase.seconds or float("nan")
        cores = "/".join(f"{cpu / seconds:.2f}" for cpu in (phase.here_cpu, phase.flood_cpu, phase.pg_cpu))
        print(
            f"{name:18} {phase.flood_calls:11d} {limited:8d} {phase.flood_outcomes['ok']:8d} {through:>16} "
            f"{other:9d} {wait:7.2f}ms {phase.pool['requests_queued']:7d} {pct(phase.lag_ms, 99):6.2f}ms "
            f"{max(phase.lag_ms, default=0):6.1f}ms {pct(phase.db_ms, 50):5.2f}ms "
            f"{pct(phase.db_ms, 99):5.2f}ms {cores:>17} {phase.runq / seconds:7.1%}"
        )
    print(
        "\nlimited: flood calls answered rate_limited for calls per minute; let thru: answered (any "
        "tool); pool wait: mean ms a pool request waited for a connection (all callers); waited: "
        "requests that queued; lag p99/max: how late a 5 ms sleep woke; db: a one-row read by key on its "
        "own connection, from another process; cpu: cores busy (CPU s per s) in this process (server, "
        f"victim, ticker{', flood' if args.flood_via != 'http' else ''}), the flood processes and "
        f"PostgreSQL, of {os.cpu_count()}; runq: share of the phase the event loop's thread was "
        "ready to run but waiting for a CPU (schedstat)."
    )
    for name, phase in phases.items():
        if phase.victim_errors:
            print(f"victim errors, {name}: {dict(phase.victim_errors)}")
    samples: dict[str, str] = {}
    for name, phase in phases.items():
        if phase.flood_errors:
            print(f"flood errors other than rate_limited, {name}: {dict(phase.flood_errors)}")
            samples.update(phase.samples)
    for kind, text in samples.items():
        print(f"  e.g. {kind}: {text}")
    worst = max(
        pct(phases[name].victim[tool], 99) / pct(alone.victim[tool], 99)
        for name in PHASES[1:]
        for tool in alone.victim
    )
    print(f"worst interleaved p99 ratio: {worst:.2f} (issue 14 asks for at most 2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds-per-round", type=float, default=3.0, help="seconds per phase per round")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds")
    parser.add_argument("--flooders", type=int, default=12, help="concurrent loops per flooding agent")
    parser.add_argument("--flooder-limit", type=int, default=600, help="the flooders' calls per minute")
    parser.add_argument("--victim-rate", type=float, default=50.0, help="the victim's calls per second")
    parser.add_argument("--slots-window", choices=sorted(SLOT_WINDOWS), default="7d/20m")
    parser.add_argument("--mix", choices=("mixed", "cheap", "expensive"), default="mixed")
    parser.add_argument("--flood-via", choices=("http", "client", "guard"), default="http")
    parser.add_argument(
        "--victim-via", choices=("http", "memory"), help="default: http with --flood-via http, else memory"
    )
    args = parser.parse_args()
    if args.victim_via is None:
        args.victim_via = "http" if args.flood_via == "http" else "memory"
    if args.flood_via == "http" and args.flooders > Settings.model_fields["http_sessions_per_agent"].default:
        parser.error("--flooders over HTTP must stay within the server's HTTP sessions per agent")
    if args.victim_rate * 60 >= Settings.model_fields["calls_per_minute"].default:
        parser.error("--victim-rate must stay under the server's default calls per minute")
    report(asyncio.run(run(args)), args)


if __name__ == "__main__":
    main()
