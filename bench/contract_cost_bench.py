"""What DESIGN.md's contract itself costs a get_client, statement by statement (not a test): the
floor under issue 19's parts 5 and 6, with no MCP, no guard and no Python of bizctx's own.

One connection (psycopg's async driver, as bizctx's pool uses it) runs get_client's own
statement (sql/queries/clients/get_client.sql) 5 ways, each in ONE round trip (one pipeline
sync), built up one requirement at a time:

  bare            the statement alone, autocommit, as the benchmarks' ungoverned role (no RLS;
                  the tenant fixed on the role): what the bare SDK servers run;
  + transaction   BEGIN, the statement, COMMIT;
  + role, RLS     BEGIN, bizctx's opening statement (role bizctx_app, the tenant, agent and
                  scopes, statement timeout, durability), the statement under row-level
                  security, COMMIT;
  + audit row     ... and bizctx's audit insert before COMMIT (the floor's row, bare_server.py's
                  contract_audit_row): the contract's minimum, bizctx's one round trip for a
                  `one_read` tool (async commit, as under BIZCTX_READ_AUDIT_COMMIT=async);
  durable         the same, its COMMIT waiting for the WAL flush (bizctx's default).

Rounds interleave the 5 ways. Per way it prints, per call (median over rounds): PostgreSQL's CPU
(its backend's user + system time from /proc), the driver's CPU in this process, and the wall
time, each beside bare's from the same run.

    python bench/contract_cost_bench.py                   # 5 rounds of 3,000 calls per way
    python bench/contract_cost_bench.py --calls 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cpu import cpu_seconds
from _pg import ThrowawayPostgres
from _workloads import load_fixtures, wire, workloads
from bare_server import contract_audit_row, contract_settings, contract_statements
from mcp_bench import make_agents, make_peer_role, seed_demo

from bizctx.server.queries import QueryBook

WAYS = ("bare", "+ transaction", "+ role, RLS", "+ audit row", "durable")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def no_embeddings(texts: list[str]) -> tuple[list[list[float]], None]:
    return [[0.0] * 383 + [1.0] for _ in texts], None


class Ways:
    """The 5 ways to run one get_client, on two connections: the ungoverned role's and the
    owner's (which switches to bizctx_app, as bizctx's pool does)."""

    def __init__(self, peer: psycopg.AsyncConnection, owner: psycopg.AsyncConnection, fx: Any) -> None:
        book = QueryBook.load()
        self.peer, self.owner = peer, owner
        self.who = (str(fx.tenant_id), str(fx.agent_ids[0]))
        self.read = book["clients.get_client"].text
        self.begin, self.opening, self.audit, self.commit = contract_statements(book)
        self.calls = workloads(fx)["get_client"]

    def way(self, name: str) -> Callable[[int], Awaitable[None]]:
        settings = name in ("+ role, RLS", "+ audit row", "durable")
        audit = name in ("+ audit row", "durable")
        transaction = name != "bare"
        conn = self.owner if settings else self.peer
        opening = contract_settings(*self.who, async_commit=name != "durable")

        async def call(i: int) -> None:
            arguments = wire(self.calls.make(i).params)
            async with conn.pipeline():
                if transaction:
                    await conn.execute(self.begin, prepare=False)
                if settings:
                    await conn.execute(self.opening, opening, prepare=True)
                cur = await conn.execute(self.read, arguments, prepare=True)
                if audit:
                    row = contract_audit_row(*self.who, "stdio", "get_client", arguments)
                    await conn.execute(self.audit, row, prepare=True)
                if transaction:
                    await conn.execute(self.commit, prepare=False)
            assert len(await cur.fetchall()) == 1

        return call


async def measure(ways: Ways, calls: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    backends = {ways.peer: ways.peer.info.backend_pid, ways.owner: ways.owner.info.backend_pid}
    runs = {name: ways.way(name) for name in WAYS}
    for way in runs.values():  # warm: plans prepared, caches filled
        for i in range(200):
            await way(i)
    figures: dict[str, dict[str, list[float]]] = {n: {"pg": [], "driver": [], "wall": []} for n in WAYS}
    for r in range(rounds):
        order = WAYS[r % len(WAYS) :] + WAYS[: r % len(WAYS)]
        for name in order:
            backend = backends[ways.owner if name in WAYS[2:] else ways.peer]
            pg0, cpu0, t0 = cpu_seconds(backend), time.process_time(), time.perf_counter()
            for i in range(calls):
                await runs[name](r * calls + i)
            pg1, cpu1, t1 = cpu_seconds(backend), time.process_time(), time.perf_counter()
            figures[name]["pg"].append((pg1 - pg0) / calls * 1e6)
            figures[name]["driver"].append((cpu1 - cpu0) / calls * 1e6)
            figures[name]["wall"].append((t1 - t0) / calls * 1e6)
        say(f"round {r + 1}/{rounds} done")
    return figures


def report(figures: dict[str, dict[str, list[float]]], calls: int, rounds: int) -> None:
    med = {n: {k: statistics.median(v) for k, v in f.items()} for n, f in figures.items()}
    base = med["bare"]
    print(f"\n== get_client, one round trip each way: {rounds} rounds of {calls} calls, medians per call ==")
    print(
        f"{'way':16} {'PostgreSQL CPU':>15} {'vs bare':>8} {'driver CPU':>11} {'vs bare':>8} "
        f"{'both':>9} {'vs bare':>8} {'wall':>9} {'vs bare':>8}"
    )
    for name in WAYS:
        m = med[name]
        both, base_both = m["pg"] + m["driver"], base["pg"] + base["driver"]
        print(
            f"{name:16} {m['pg']:12.1f} us {m['pg'] / base['pg']:7.2f}x {m['driver']:8.1f} us "
            f"{m['driver'] / base['driver']:7.2f}x {both:6.1f} us {both / base_both:7.2f}x "
            f"{m['wall']:6.1f} us {m['wall'] / base['wall']:7.2f}x"
        )
    print(
        "  (PostgreSQL CPU: the backend's user + system time, read in 10 ms ticks from /proc;\n"
        "   driver CPU: this process, psycopg sending and reading; each step adds to the one above)"
    )


async def run(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="bizctx-contract-bench-"))
    pg = ThrowawayPostgres(root / "db").start()
    try:
        owner_dsn = pg.create_database("bench")
        seed_demo(owner_dsn, root / "data")
        _, agent_ids = await make_agents(owner_dsn, 1)
        fx = load_fixtures(owner_dsn, agent_ids, no_embeddings)
        password = uuid.uuid4().hex
        make_peer_role(owner_dsn, password, fx.tenant_id, agent_ids[0])
        async with await psycopg.AsyncConnection.connect(owner_dsn, autocommit=True) as conn:
            await conn.execute("ANALYZE")
        peer_dsn = pg.dsn("bench", "bench_peer", password)
        async with (
            await psycopg.AsyncConnection.connect(peer_dsn, autocommit=True) as peer,
            await psycopg.AsyncConnection.connect(owner_dsn, autocommit=True) as owner,
        ):
            figures = await measure(Ways(peer, owner, fx), args.calls, args.rounds)
        report(figures, args.calls, args.rounds)
    finally:
        pg.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=3000, help="calls per way and round")
    p.add_argument("--rounds", type=int, default=5)
    asyncio.run(run(p.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
