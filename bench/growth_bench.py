"""Growth benchmark (not a test): p50 per tool as the business grows, so the slope shows.

Grows one throwaway database through --sizes (default 1k, 10k, 100k, 1M rows in EACH main
table: clients, invoices, appointments, tasks, mem_docs; 90% of every table in the measured
tenant, the rest in nine other tenants). The rows come from generate_series in
bench/growth_data.sql, server-side; the HNSW index is rebuilt after each step
(bench/growth_index.sql). At each size it calls every tool through the server's own guard,
in process (`app.guard.call_tool`: identity, permission, the call's transaction as bizctx_app
under row-level security with the tenant and agent set, the handler's named SQL, redaction,
the audit row, COMMIT): everything a call over stdio does but the MCP transport. Rounds are
interleaved (every tool once per round, in a shuffled order), so each p50 is read against
get_client's p50 at the same size in the same run.

    python bench/growth_bench.py --sizes 1000,10000 --rounds 20      # a quick run
    python bench/growth_bench.py                                     # 1k..1M (about an hour on 2 cores)
    python bench/growth_bench.py --database-url postgresql://... --in-place   # load it and leave it

--explain logs the plan (EXPLAIN ANALYZE, BUFFERS) of every statement slower than 20 ms, as
it ran inside the calls (auto_explain, bench/growth_explain.sql), to the PostgreSQL server's log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from bizctx.ops import operators
from bizctx.server import migrations
from bizctx.server.access import parse_access_patterns
from bizctx.server.app import open_app, settle_heap
from bizctx.server.guard import Principal
from bizctx.server.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pg import throwaway_database

HERE = Path(__file__).resolve().parent
TENANTS = 10
DIM = 384
READER_CAPS = ["clients.read", "invoices.read", "appointments.read", "tasks.read", "mem_docs.read"]
READER_ACCESS = {
    "clients": {"read": True},
    "invoices": {"read": True},
    "appointments": {"read": True},
    "tasks": {"read": True, "scope": "all"},
    "mem_docs": {"read": True, "scope": "own_and_shared"},
}
TOOLS = (
    "get_client",
    "search_clients",
    "list_invoices overdue",
    "receivables_aging",
    "list_appointments",
    "list_tasks",
    "recall",
    "get_client_context",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,10000,100000,1000000", help="rows per main table, ascending")
    p.add_argument("--rounds", type=int, default=40, help="timed calls per tool and size (default 40)")
    p.add_argument("--warmup", type=int, default=5, help="untimed rounds first (default 5)")
    p.add_argument("--maintenance-work-mem", default="2GB", help="for the HNSW builds (default 2GB)")
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    p.add_argument("--in-place", action="store_true", help="use --database-url's database itself, keep it")
    p.add_argument(
        "--loaded", type=int, default=0, help="with --in-place: rows an earlier run left (sizes >= it)"
    )
    p.add_argument("--explain", action="store_true", help="log plans of statements over 20 ms (auto_explain)")
    p.add_argument("--seed", type=int, default=19)
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if args.sizes != sorted(args.sizes):
        p.error("--sizes must be ascending: the database grows from one to the next")
    return args


def log(args: argparse.Namespace, message: str) -> None:
    print(message, file=sys.stderr if args.json else sys.stdout, flush=True)


def sql(name: str) -> str:
    return (HERE / name).read_text()


def topic_vector(topic: int) -> list[float]:
    """The centre of one of growth_data.sql's 200 embedding topics, unit length."""
    raw = [math.sin(topic * 7.3 + d) for d in range(1, DIM + 1)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


# -- loading -------------------------------------------------------------------------------------


def grow(args: argparse.Namespace, dsn: str, from_n: int, to_n: int) -> float:
    """Rows from_n+1..to_n of every main table, the HNSW index rebuilt, statistics fresh."""
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = psycopg.ClientCursor(conn)
        cur.execute(sql("growth_data.sql"), {"from_n": from_n, "to_n": to_n})
        conn.execute("SELECT set_config('maintenance_work_mem', %s, false)", (args.maintenance_work_mem,))
        conn.execute(sql("growth_index.sql"))
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


@contextlib.contextmanager
def database(args: argparse.Namespace) -> Iterator[str]:
    if args.in_place:
        if not args.database_url:
            raise SystemExit("--in-place needs --database-url")
        yield args.database_url
    else:
        with throwaway_database(args.database_url) as dsn:
            yield dsn


# -- calls ---------------------------------------------------------------------------------------


class Calls:
    """Each tool's arguments for one call, varied per call (another client, another topic)."""

    def __init__(self, samples: list[dict[str, Any]], rng: random.Random, size: int) -> None:
        self.samples = samples
        self.rng = rng
        self.size = size

    def __call__(self, tool: str) -> tuple[str, dict[str, Any]]:
        client = self.rng.choice(self.samples)
        if tool == "get_client":
            return tool, {"client_id": str(client["id"])}
        if tool == "get_client_context":
            return tool, {"client_id": str(client["id"])}
        if tool == "search_clients":
            return tool, {"query": client["display_name"]}
        if tool == "list_invoices overdue":
            return "list_invoices", {"overdue_only": True}
        if tool == "receivables_aging":
            return tool, {}
        if tool == "list_appointments":
            return tool, {"from": datetime.now(UTC).isoformat()}
        if tool == "list_tasks":
            return tool, {"status": "pending"}
        if tool == "recall":
            # A memory of one client, by its words and the client's number (every query word must
            # match: websearch_to_tsquery), and a vector near one of the 200 topics.
            n = self.rng.randrange(1, self.size // 10) * 10 + self.rng.randrange(1, 10)
            topic = self.rng.randrange(200)
            return tool, {
                "query": f"{self.rng.choice(('gate code', 'parking permit', 'allergy', 'dog'))} client {n}",
                "query_embedding": topic_vector(topic),
                "embedding_model": "growth-synthetic",
                "k": 5,
            }
        raise ValueError(tool)


async def measure(
    app: Any, principal: Principal, calls: Calls, args: argparse.Namespace
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {t: [] for t in TOOLS}
    order = list(TOOLS)
    for round_ in range(args.warmup + args.rounds):
        calls.rng.shuffle(order)
        for tool in order:
            name, arguments = calls(tool)
            started = time.perf_counter()
            result = await app.guard.call_tool(principal, name, arguments)
            elapsed = (time.perf_counter() - started) * 1000
            if result.is_error:
                raise RuntimeError(f"{tool} failed: {result.content[0].text}")
            if round_ >= args.warmup:
                times[tool].append(elapsed)
    return times


# -- main ----------------------------------------------------------------------------------------


async def measured_agent(app: Any, dsn: str, args: argparse.Namespace) -> Principal:
    """The reader agent of tenant growth-0 (made now, with the other tenants, unless --loaded)."""
    if args.loaded:
        with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
            row = conn.execute(sql("growth_reader.sql")).fetchone()
        assert row is not None, "--loaded: no growth-0 reader in this database"
        return Principal(row["tenant_id"], row["id"], "memory")
    reader = None
    for slot in range(TENANTS):
        tenant = await operators.create_tenant(app.db, f"growth-{slot}")
        await operators.create_agent(app.db, tenant["name"], "writer", [], parse_access_patterns({}))
        if slot == 0:
            made = await operators.create_agent(
                app.db, tenant["name"], "reader", READER_CAPS, parse_access_patterns(READER_ACCESS)
            )
            reader = Principal(tenant["id"], made.agent["id"], "memory")
    assert reader is not None
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql("growth_setup.sql"))
    return reader


async def run(args: argparse.Namespace, dsn: str) -> dict[str, Any]:
    migrations.migrate(dsn)
    if args.explain:
        with psycopg.connect(dsn, autocommit=True) as conn:
            # One statement at a time: ALTER SYSTEM refuses to run in a multi-statement string.
            for statement in sql("growth_explain.sql").split(";\n"):
                if statement.strip():
                    conn.execute(statement)
    rng = random.Random(args.seed)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        # No fair-use budget for costly reads: the bench measures them, one call at a time.
        settings = Settings(
            database_url=dsn,
            data_dir=Path(tmp),
            log_level="WARNING",
            embedding_provider="none",
            costly_read_ms=60_000,
            costly_seconds_per_minute=1e9,
        )
        async with open_app(settings, migrate=False) as app:
            reader = await measured_agent(app, dsn, args)
            loaded = args.loaded
            settle_heap()
            for size in args.sizes:
                log(args, f"growing to {size} rows per table ...")
                load_s = grow(args, dsn, loaded, size) if size > loaded else 0.0
                loaded = size
                with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
                    samples = conn.execute(sql("growth_samples.sql"), {"n": 500}).fetchall()
                log(args, f"  loaded in {load_s:.0f} s; calling ...")
                times = await measure(app, reader, Calls(samples, rng, size), args)
                base = statistics.median(times["get_client"])
                rows.append(
                    {
                        "rows": size,
                        "load_s": round(load_s, 1),
                        "p50_ms": {t: round(statistics.median(v), 2) for t, v in times.items()},
                        "vs_get_client": {t: round(statistics.median(v) / base, 2) for t, v in times.items()},
                    }
                )
                log(args, render_row(rows[-1]))
    return {"rounds": args.rounds, "via": "guard.call_tool in process (no MCP transport)", "sizes": rows}


def render_row(r: dict[str, Any]) -> str:
    return "  " + ", ".join(f"{t} {r['p50_ms'][t]:.2f} ms ({r['vs_get_client'][t]:.1f}x)" for t in TOOLS)


def render(result: dict[str, Any]) -> str:
    sizes = result["sizes"]
    width = max(len(t) for t in TOOLS)
    head = f"{'p50 ms (x get_client)':<{width}} " + " ".join(f"{r['rows']:>18,}" for r in sizes)
    lines = [f"{result['rounds']} calls per tool and size, interleaved; via {result['via']}", head]
    for t in TOOLS:
        cells = " ".join(f"{r['p50_ms'][t]:>10.2f} ({r['vs_get_client'][t]:>4.1f}x)" for r in sizes)
        lines.append(f"{t:<{width}} {cells}")
    if len(sizes) > 1:
        lines.append(f"{'growth ' + str(sizes[0]['rows']) + ' -> ' + str(sizes[-1]['rows']):<{width}}")
        for t in TOOLS:
            lines.append(f"  {t:<{width}} {sizes[-1]['p50_ms'][t] / sizes[0]['p50_ms'][t]:.1f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with database(args) as dsn:
        result = asyncio.run(run(args, dsn))
    print(json.dumps(result, indent=2) if args.json else render(result))


if __name__ == "__main__":
    main()
