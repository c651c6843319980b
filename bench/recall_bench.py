"""Recall benchmark (not a test): HNSW against exact search on synthetic memory documents.

Loads --rows mem_docs (clustered synthetic 384-dimension vectors, short texts) into a
throwaway database, builds the HNSW index the migration declares and times the build, then
runs recall's own SQL (sql/queries/mem_docs/recall.sql, vector path, as bizctx_app under RLS
with an own_and_shared scope that hides 10% of the rows) with the HNSW index and, for
comparison in the same run, with index scans off (exact search). Prints the build time,
recall@k of HNSW against exact, and p50/p99 latency of both with their ratio.

    python bench/recall_bench.py                 # 100k rows, embedded PostgreSQL in a temp dir
    python bench/recall_bench.py --rows 5000     # a quick run
    DATABASE_URL=postgresql://... python bench/recall_bench.py --json   # a throwaway database there

Needs numpy (in the `embeddings` extra). Latency is measured from the client: one
transaction per query (begin as the agent, HNSW settings, recall, commit), as the server
runs it minus MCP; read the ratios, not the absolute numbers, on a loaded machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector_async
from psycopg.rows import dict_row

from bizctx.ops import operators
from bizctx.server import migrations
from bizctx.server.access import parse_access_patterns
from bizctx.server.database import Database
from bizctx.server.queries import QueryBook
from bizctx.server.settings import Settings
from bizctx.tools.mem_docs import LAST_ACCESSED_RESOLUTION, RECALL_CANDIDATES, RECALL_EF_SEARCH, RRF_K

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pg import throwaway_database

DIM = 384
WORDS = (
    "gate code key lockbox invoice refund dispute payment carpet window oven fridge dog cat alarm parking "
    "permit van tyre schedule monday friday weekend holiday quote deposit discount allergy fragrance "
    "technician supervisor client tenant landlord office clinic kitchen bathroom garage garden"
).split()
# The HNSW index exactly as sql/migrations/0006_mem_docs.sql declares it.
HNSW_INDEX = "CREATE INDEX mem_docs_embedding_idx ON mem_docs USING hnsw (embedding vector_cosine_ops)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000, help="memory documents to load (default 100000)")
    p.add_argument("--queries", type=int, default=200, help="timed queries per method (default 200)")
    p.add_argument("--k", type=int, default=10, help="results per query, and recall@k (default 10)")
    p.add_argument("--clusters", type=int, default=500, help="clusters the synthetic vectors form")
    p.add_argument("--maintenance-work-mem", default="1GB", help="for the index build (default 1GB)")
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="server to use")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--try-ef-search",
        default="",
        help="also measure these hnsw.ef_search values (comma-separated) on the same index, "
        "each against the same exact answers: recall@k and p50 per value",
    )
    p.add_argument("--explain", action="store_true", help="also print EXPLAIN ANALYZE of one query of each")
    return p.parse_args(argv)


def log(args: argparse.Namespace, message: str) -> None:
    print(message, file=sys.stderr if args.json else sys.stdout, flush=True)


# -- a throwaway database ------------------------------------------------------------------------------


# -- data ----------------------------------------------------------------------------------------------


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def synthetic_vectors(rng: np.random.Generator, rows: int, clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Clustered unit vectors (real embeddings cluster by topic; uniform noise is a worst case
    HNSW never meets), and the cluster centres queries are drawn around."""
    centres = unit(rng.standard_normal((clusters, DIM)))
    labels = rng.integers(0, clusters, rows)
    return unit(centres[labels] + noise(rng, rows)), centres


def noise(rng: np.random.Generator, rows: int, norm: float = 0.8) -> np.ndarray:
    """Gaussian offsets of about `norm` length: a member sits at cosine ~0.78 from its centre."""
    return rng.standard_normal((rows, DIM)) * (norm / np.sqrt(DIM))


async def load(conn: psycopg.AsyncConnection, args, tenant_id, owner_id, vectors: np.ndarray) -> float:
    rng = np.random.default_rng(args.seed + 1)
    shared = rng.random(len(vectors)) < 0.9
    doc_types = np.array(["context", "knowledge", "template"])[rng.integers(0, 3, len(vectors))]
    words = np.array(WORDS)
    started = time.perf_counter()
    async with conn.cursor() as cur:
        async with cur.copy(
            "COPY mem_docs (tenant_id, owner_agent_id, visibility, doc_type, title, content, embedding,"
            " embedding_model) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["uuid", "uuid", "text", "text", "text", "text", "vector", "text"])
            for i, v in enumerate(vectors):
                text = " ".join(words[rng.integers(0, len(words), 12)])
                await copy.write_row(
                    (
                        tenant_id,
                        owner_id,
                        "shared" if shared[i] else "private",
                        doc_types[i],
                        f"note {i}",
                        text,
                        v,
                        "bench-synthetic",
                    )
                )
    return time.perf_counter() - started


# -- queries -------------------------------------------------------------------------------------------


class Runner:
    """Runs recall.sql as the server does: one transaction as bizctx_app with the agent set."""

    def __init__(self, conn: psycopg.AsyncConnection, book: QueryBook, tenant_id, agent_id, k: int) -> None:
        self.conn = conn
        self.book = book
        self.agent = {
            "tenant_id": str(tenant_id),
            "agent_id": str(agent_id),
            "tasks_scope": "assigned",
            "mem_docs_scope": "own_and_shared",
            "statement_timeout": "60000",
        }
        self.k = k

    def params(self, query: np.ndarray) -> dict[str, Any]:
        return {
            "query_vector": [float(x) for x in query],
            "embedding_model": "bench-synthetic",
            "query_text": None,
            "doc_type": None,
            "client_id": None,
            "task_id": None,
            "metadata": None,
            "candidates": max(RECALL_CANDIDATES, self.k),
            "rrf_k": RRF_K,
            "k": self.k,
            "max_chars": 200,
            "touch_resolution": LAST_ACCESSED_RESOLUTION,
        }

    async def recall(
        self, query: np.ndarray, *, exact: bool, ef_search: int = RECALL_EF_SEARCH
    ) -> tuple[list[str], float]:
        started = time.perf_counter()
        async with self.conn.transaction():
            await self.conn.execute(self.book["governance.begin_agent_call"].text, self.agent)
            if exact:
                # Exact search: the planner may not use any index scan, so it reads every row.
                await self.conn.execute("SELECT set_config('enable_indexscan', 'off', true)")
            else:
                await self.conn.execute(
                    self.book["mem_docs.recall_search_settings"].text, {"ef_search": ef_search}
                )
            cur = await self.conn.execute(self.book["mem_docs.recall"].text, self.params(query))
            ids = [str(r["id"]) for r in await cur.fetchall()]
        return ids, (time.perf_counter() - started) * 1000

    async def plan(self, query: np.ndarray, *, exact: bool, analyze: bool = False) -> str:
        async with self.conn.transaction():
            await self.conn.execute(self.book["governance.begin_agent_call"].text, self.agent)
            if exact:
                await self.conn.execute("SELECT set_config('enable_indexscan', 'off', true)")
            else:
                await self.conn.execute(
                    self.book["mem_docs.recall_search_settings"].text, {"ef_search": RECALL_EF_SEARCH}
                )
            explain = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
            cur = await self.conn.execute(explain + self.book["mem_docs.recall"].text, self.params(query))
            text = "\n".join(r["QUERY PLAN"] for r in await cur.fetchall())
            raise _Rollback(text)


class _Rollback(Exception):
    """Leaves EXPLAIN's transaction without a trace (recall.sql updates last_accessed)."""


async def explain(runner: Runner, query: np.ndarray, *, exact: bool, analyze: bool = False) -> str:
    try:
        await runner.plan(query, exact=exact, analyze=analyze)
    except _Rollback as done:
        return str(done)
    raise AssertionError("unreachable")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- main ----------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(dsn: str, data_dir: str) -> AsyncIterator[Database]:
    db = Database(Settings(database_url=dsn, data_dir=Path(data_dir)), QueryBook.load(), dsn)
    await db.open()
    try:
        yield db
    finally:
        await db.close()


async def run(args: argparse.Namespace, dsn: str) -> dict[str, Any]:
    migrations.migrate(dsn)
    rng = np.random.default_rng(args.seed)
    vectors, centres = synthetic_vectors(rng, args.rows, args.clusters)
    queries = unit(centres[rng.integers(0, len(centres), args.queries)] + noise(rng, args.queries))
    with tempfile.TemporaryDirectory() as tmp:
        async with database(dsn, tmp) as db:
            tenant = await operators.create_tenant(db, "bench")
            access = parse_access_patterns({"mem_docs": {"read": True, "scope": "own_and_shared"}})
            writer = await operators.create_agent(db, "bench", "writer", [], access)
            reader = await operators.create_agent(db, "bench", "reader", ["mem_docs.read"], access)
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, row_factory=dict_row)
    try:
        await register_vector_async(conn)
        await conn.execute("DROP INDEX mem_docs_embedding_idx")
        log(args, f"loading {args.rows} rows ...")
        load_s = await load(conn, args, tenant["id"], writer.agent["id"], vectors)
        await conn.execute("VACUUM ANALYZE mem_docs")
        await conn.execute(
            "SELECT set_config('maintenance_work_mem', %s, false)", (args.maintenance_work_mem,)
        )
        log(args, f"loaded in {load_s:.1f} s; building the HNSW index ...")
        started = time.perf_counter()
        await conn.execute(HNSW_INDEX)
        build_s = time.perf_counter() - started
        await conn.execute("ANALYZE mem_docs")
        workers = (await (await conn.execute("SHOW max_parallel_maintenance_workers")).fetchone())[
            "max_parallel_maintenance_workers"
        ]
        log(args, f"built in {build_s:.1f} s; querying ...")

        runner = Runner(conn, QueryBook.load(), tenant["id"], reader.agent["id"], args.k)
        hnsw_plan = await explain(runner, queries[0], exact=False)
        exact_plan = await explain(runner, queries[0], exact=True)
        for q in queries[: min(20, len(queries))]:  # warm the caches for both
            await runner.recall(q, exact=False)
            await runner.recall(q, exact=True)
        if args.explain:
            for exact in (False, True):
                log(args, f"-- {'exact' if exact else 'hnsw'} --")
                log(args, await explain(runner, queries[-1], exact=exact, analyze=True))
        hnsw_ms, exact_ms, recalls, truths = [], [], [], []
        for i, q in enumerate(queries):
            # Interleaved, so both see the same machine; the order alternates because the first
            # to return a document also pays for touching its last_accessed.
            if i % 2:
                truth, t_exact = await runner.recall(q, exact=True)
                found, t_hnsw = await runner.recall(q, exact=False)
            else:
                found, t_hnsw = await runner.recall(q, exact=False)
                truth, t_exact = await runner.recall(q, exact=True)
            hnsw_ms.append(t_hnsw)
            exact_ms.append(t_exact)
            recalls.append(len(set(found) & set(truth)) / max(1, len(truth)))
            truths.append(truth)
        tried = {}
        for ef in [int(v) for v in args.try_ef_search.split(",") if v.strip()]:
            times, hits = [], []
            for q, truth in zip(queries, truths, strict=True):
                found, t = await runner.recall(q, exact=False, ef_search=ef)
                times.append(t)
                hits.append(len(set(found) & set(truth)) / max(1, len(truth)))
            tried[ef] = {"recall_at_k": round(statistics.fmean(hits), 4), "p50_ms": round(pct(times, 50), 2)}
            got = tried[ef]
            log(args, f"ef_search={ef}: recall@{args.k} {got['recall_at_k']:.3f}, p50 {got['p50_ms']} ms")
    finally:
        await conn.close()

    result = {
        "rows": args.rows,
        "dim": DIM,
        "visible_share": 0.9,
        "queries": args.queries,
        "k": args.k,
        "load_s": round(load_s, 2),
        "hnsw_build_s": round(build_s, 2),
        "hnsw_params": {"m": 16, "ef_construction": 64, "maintenance_work_mem": args.maintenance_work_mem},
        "parallel_maintenance_workers": int(workers),
        "ef_search": RECALL_EF_SEARCH,
        "candidates": max(RECALL_CANDIDATES, args.k),
        "recall_at_k": round(statistics.fmean(recalls), 4),
        "ef_search_tried": tried,
        "plan_uses_hnsw": "mem_docs_embedding_idx" in hnsw_plan,
        "exact_plan_uses_hnsw": "mem_docs_embedding_idx" in exact_plan,
        "hnsw_ms": {"p50": round(pct(hnsw_ms, 50), 2), "p99": round(pct(hnsw_ms, 99), 2)},
        "exact_ms": {"p50": round(pct(exact_ms, 50), 2), "p99": round(pct(exact_ms, 99), 2)},
    }
    result["exact_over_hnsw"] = {
        p: round(result["exact_ms"][p] / result["hnsw_ms"][p], 1) for p in ("p50", "p99")
    }
    return result


def render(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"rows {r['rows']} x {r['dim']} dims ({r['visible_share']:.0%} visible to the querying agent), "
            f"{r['queries']} queries, k={r['k']}",
            f"load (COPY): {r['load_s']:.1f} s",
            f"HNSW build (m=16, ef_construction=64, "
            f"maintenance_work_mem={r['hnsw_params']['maintenance_work_mem']}, "
            f"{r['parallel_maintenance_workers']} parallel workers): {r['hnsw_build_s']:.1f} s",
            f"recall@{r['k']} of HNSW vs exact: {r['recall_at_k']:.3f} "
            f"(ef_search={r['ef_search']}, iterative scan relaxed_order, {r['candidates']} candidates)",
            f"plans: hnsw path uses the index: {r['plan_uses_hnsw']}; "
            f"exact path: {r['exact_plan_uses_hnsw']}",
            "latency ms        p50      p99",
            f"  hnsw        {r['hnsw_ms']['p50']:8.2f} {r['hnsw_ms']['p99']:8.2f}",
            f"  exact       {r['exact_ms']['p50']:8.2f} {r['exact_ms']['p99']:8.2f}",
            f"  exact/hnsw  {r['exact_over_hnsw']['p50']:7.1f}x {r['exact_over_hnsw']['p99']:7.1f}x",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with throwaway_database(args.database_url) as dsn:
        result = asyncio.run(run(args, dsn))
    print(json.dumps(result, indent=2) if args.json else render(result))


if __name__ == "__main__":
    main()
