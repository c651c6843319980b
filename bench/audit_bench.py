"""Audit log benchmark (not a test): what an audit row costs to insert, and what `bizctx audit`
costs to read, as the log grows (issue 19, parts 3 and 5).

In one throwaway database it keeps two audit tables side by side:
  new  audit_logs as migration 0170 makes it: partitioned by month, primary key
       (tenant_id, occurred_at, id) and audit_logs_agent_idx, no foreign keys;
  old  audit_old, the shape before 0170: one table, primary key (tenant_id, id), indexes
       (tenant_id, occurred_at DESC) and (tenant_id, agent_id, occurred_at DESC), foreign keys
       to tenants and agents; the same checks, RLS policy and grant.

1. Insert cost: rounds of --batch inserts as bizctx_app with the tenant and agent set (the
   role and RLS of a governed call), in a server-side loop so only the database's own cost is
   timed; old and new interleaved round by round. Measured on empty tables, then again after
   --million rows were loaded into each (all in the current month, the worst case for the new
   shape: one partition takes them all).
2. `bizctx audit` reads (the CLI's own functions, ops/operators.py): the usual listings, timed at
   --million rows, then after the new table grows to --rows rows spread over 12 months.

Bulk rows are generated server-side (generate_series). Prints medians and ratios against the
baseline of the same run.

    python bench/audit_bench.py                                    # 1M, then 10M rows
    python bench/audit_bench.py --million 100000 --rows 1000000    # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from bizctx.ops import operators
from bizctx.server import migrations
from bizctx.server.app import open_database
from bizctx.server.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pg import throwaway_database

OLD_SHAPE = """
CREATE TABLE {t} (LIKE audit_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE {t} ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
ALTER TABLE {t} ADD PRIMARY KEY (tenant_id, id),
    ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    ADD FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE;
CREATE INDEX ON {t} (tenant_id, occurred_at DESC);
CREATE INDEX ON {t} (tenant_id, agent_id, occurred_at DESC);
SELECT bizctx_secure_tenant_table('{t}', 'INSERT');
"""

# An empty twin of audit_logs (0170's shape), the baseline inserts into the loaded one are
# compared with, round by round.
NEW_SHAPE = """
CREATE TABLE {t} (LIKE audit_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (occurred_at);
ALTER TABLE {t} ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
ALTER TABLE {t} ADD PRIMARY KEY (tenant_id, occurred_at, id);
CREATE INDEX ON {t} (tenant_id, agent_id, occurred_at DESC);
CREATE TABLE {t}_now PARTITION OF {t}
    FOR VALUES FROM (date_trunc('month', now())) TO (date_trunc('month', now()) + interval '1 month');
CREATE TABLE {t}_default PARTITION OF {t} DEFAULT;
SELECT bizctx_secure_tenant_table('{t}', 'INSERT');
"""

TENANT_ROWS = "INSERT INTO tenants (name) SELECT 'bench-' || g FROM generate_series(1, %(tenants)s) g"
TENANTS = """
INSERT INTO agents (tenant_id, name, key_prefix, key_hash)
SELECT t.id, 'agent-' || g, 'bctx_x', md5(t.id::text || g) || md5(g || t.id::text)
FROM tenants t, generate_series(1, %(agents)s) g
"""

# A governed call's row: the columns insert_audit_log.sql writes, tenant and agent from the call.
INSERT_LOOP = """
DO $$ BEGIN
FOR i IN 1 .. {n} LOOP
    INSERT INTO {table} (tenant_id, agent_id, request_id, transport, kind, name, entity_type, entity_id,
                         outcome, error_code, duration_ms, arguments, replayed, approval_task_id, rule)
    VALUES (current_setting('app.tenant_id')::uuid, current_setting('app.agent_id')::uuid,
            'req-' || i, 'stdio', 'tool', 'get_client', 'client', 'c-' || i, 'ok', NULL, 1.25,
            '{{"client_id": "c-1"}}'::jsonb, false, NULL, NULL);
END LOOP;
END $$
"""

BULK = """
INSERT INTO {table} (tenant_id, occurred_at, agent_id, request_id, transport, kind, name, outcome,
                     error_code, duration_ms, arguments)
SELECT a.tenant_id, %(until)s::timestamptz - (g::float8 / %(n)s) * %(span)s::interval, a.id, 'bulk-' || g,
       'streamable-http', 'tool',
       (ARRAY['get_client', 'search_clients', 'list_invoices', 'book_appointment'])[1 + g %% 4],
       CASE WHEN g %% 49 = 0 THEN 'denied' ELSE 'ok' END, CASE WHEN g %% 49 = 0 THEN 'permission_denied' END,
       1.5, '{{"client_id": "c-1"}}'::jsonb
FROM generate_series(1, %(n)s) g
JOIN (SELECT tenant_id, id, row_number() OVER (ORDER BY tenant_id, id) - 1 AS k FROM agents) a
  ON a.k = g %% %(agents)s
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--million", type=int, default=1_000_000, help="rows in each table for the insert bar")
    p.add_argument("--rows", type=int, default=10_000_000, help="rows in the new table for the read bar")
    p.add_argument("--tenants", type=int, default=20)
    p.add_argument("--agents", type=int, default=5, help="agents per tenant")
    p.add_argument("--batch", type=int, default=2000, help="inserts per timed round")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--reads", type=int, default=15, help="runs of each audit listing")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def as_agent(conn: psycopg.Connection[Any], tenant_id: Any, agent_id: Any) -> None:
    conn.execute(
        "SELECT set_config('role', 'bizctx_app', true), set_config('app.tenant_id', %s, true),"
        " set_config('app.agent_id', %s, true)",
        (str(tenant_id), str(agent_id)),
    )


TABLES = {
    "old empty": "audit_old_empty",
    "old loaded": "audit_old",
    "new empty": "audit_new_empty",
    "new loaded": "audit_logs",
}


def insert_rounds(
    dsn: str, args: argparse.Namespace, tenant_id: Any, agent_id: Any, tables: dict[str, str]
) -> dict[str, float]:
    """Microseconds per inserted row, median over rounds, the tables interleaved."""
    times: dict[str, list[float]] = {shape: [] for shape in tables}
    with psycopg.connect(dsn) as conn:
        for _ in range(args.rounds):
            for shape, table in tables.items():
                as_agent(conn, tenant_id, agent_id)
                started = time.perf_counter()
                conn.execute(INSERT_LOOP.format(n=args.batch, table=table))
                conn.commit()
                times[shape].append((time.perf_counter() - started) / args.batch * 1e6)
    return {shape: statistics.median(t) for shape, t in times.items()}


def bulk(dsn: str, table: str, n: int, until: datetime, span: str, agents: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(BULK.format(table=table), {"n": n, "until": until, "span": span, "agents": agents})
        conn.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


LISTINGS: dict[str, dict[str, Any]] = {
    "audit (all tenants)": {},
    "audit --tenant": {"tenant_ref": "bench-3"},
    "audit --tenant --agent": {"tenant_ref": "bench-3", "agent_ref": "agent-2"},
    "audit --agent (any tenant)": {"agent_ref": "agent-2"},
    "audit --tenant --tool": {"tenant_ref": "bench-3", "tool": "list_invoices"},
    "audit --tenant --outcome denied": {"tenant_ref": "bench-3", "outcome": "denied"},
    "audit --since 1h": {"since": "1h"},
}


async def read_times(dsn: str, runs: int) -> dict[str, float]:
    """Milliseconds per `bizctx audit` listing (its own function), median of runs."""
    settings = Settings(database_url=dsn, pool_min_size=1, pool_max_size=2, log_level="WARNING")
    out: dict[str, list[float]] = {name: [] for name in LISTINGS}
    async with open_database(settings, migrate=False) as db:
        for _ in range(runs):
            for name, spec in LISTINGS.items():
                spec = dict(spec)
                if "since" in spec:
                    spec["since"] = operators.parse_since(spec["since"])
                which = operators.AuditFilter(**spec)
                started = time.perf_counter()
                rows = await operators.audit_log(db, which, limit=50)
                out[name].append((time.perf_counter() - started) * 1000)
                assert rows or name.endswith("denied"), name
    return {name: statistics.median(t) for name, t in out.items()}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report: dict[str, Any] = {"million": args.million, "rows": args.rows}
    with throwaway_database(None) as dsn:
        migrations.migrate(dsn)
        with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
            conn.execute(OLD_SHAPE.format(t="audit_old"))
            conn.execute(OLD_SHAPE.format(t="audit_old_empty"))
            conn.execute(NEW_SHAPE.format(t="audit_new_empty"))
            conn.execute(TENANT_ROWS, {"tenants": args.tenants})
            conn.execute(TENANTS, {"agents": args.agents})
            probe = conn.execute("SELECT tenant_id, id FROM agents ORDER BY tenant_id, id LIMIT 1").fetchone()
            # The months the big table spans, made as the server would have made them.
            now = datetime.now(UTC)
            conn.execute("SELECT bizctx_ensure_audit_partitions(%s, 14)", (now - timedelta(days=366),))
        agents = args.tenants * args.agents
        # The worst case for the new shape: the current month's one partition takes them all.
        since_month = now - now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        span = f"{max(int(since_month.total_seconds()), 3600)} seconds"
        report["load_s"] = {
            "old": bulk(dsn, "audit_old", args.million, now, span, agents),
            "new": bulk(dsn, "audit_logs", args.million, now, span, agents),
        }
        with psycopg.connect(dsn, autocommit=True) as conn:
            # Settled, as a table that grew over months would be: no autovacuum mid-round.
            conn.execute("VACUUM ANALYZE audit_old")
            conn.execute("VACUUM ANALYZE audit_logs")
            conn.execute("CHECKPOINT")
        report["insert_us"] = insert_rounds(dsn, args, probe["tenant_id"], probe["id"], TABLES)
        report["reads_ms_at_million"] = asyncio.run(read_times(dsn, args.reads))
        more = args.rows - args.million
        if more > 0:
            report["load_s"]["new_rest"] = bulk(dsn, "audit_logs", more, now, "365 days", agents)
            report["reads_ms_at_rows"] = asyncio.run(read_times(dsn, args.reads))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    t = report["insert_us"]
    print(
        f"audit insert, database cost per row (µs, median of {args.rounds} interleaved rounds of "
        f"{args.batch}; loaded = {args.million:,} rows in the table, all in the current month):"
    )
    print(f"{'shape':6} {'empty':>8} {'loaded':>8} {'loaded/empty':>13}")
    for shape in ("old", "new"):
        e, m = t[f"{shape} empty"], t[f"{shape} loaded"]
        print(f"{shape:6} {e:8.1f} {m:8.1f} {m / e:12.2f}x")
    print(
        f"new / old: {t['new empty'] / t['old empty']:.2f}x empty, "
        f"{t['new loaded'] / t['old loaded']:.2f}x loaded"
    )
    print("loads (s): " + ", ".join(f"{k} {v:.0f}" for k, v in report["load_s"].items()))
    a = report["reads_ms_at_million"]
    b = report.get("reads_ms_at_rows", {})
    print(f"\n`bizctx audit`, limit 50 (ms, median of {args.reads}):")
    print(
        f"{'listing':34} {format(args.million, ',') + ' rows':>14} "
        f"{format(args.rows, ',') + ' rows':>14} {'ratio':>7}"
    )
    for name in LISTINGS:
        at_rows = f"{b[name]:14.1f} {b[name] / a[name]:6.2f}x" if name in b else ""
        print(f"{name:34} {a[name]:14.1f} {at_rows}")


if __name__ == "__main__":
    main()
