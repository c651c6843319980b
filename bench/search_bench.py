"""search_clients benchmark (not a test): how its SQL scales with the tenant's client count.

Loads --sizes tenants of synthetic clients (names built from syllables, so they are varied
like real ones) into a throwaway database and times search_clients' own SQL
(sql/queries/clients/search_clients.sql) as an agent does: in a transaction as bizctx_app
with the tenant set, under row-level security. Prints p50 per size and query, with the ratio
to the smallest size.

Beside each search it times get_client's SQL in the same tenant, the same way: the issue's
bar is search p50 within 8x of get_client p50 in the same run. --others loads that many
clients into another tenant first, so the database holds more than the tenant searched
(issue 19: 1,000,000 clients in the database, 100,000 in one tenant).

It also times one trigram predicate (`display_name % q`) as the database owner and as
bizctx_app, which shows why search_clients cannot use the trigram indexes itself: under RLS
PostgreSQL does not use an index for a condition whose operator is not LEAKPROOF, and
pg_trgm's are not (migration 0165 finds the candidates through a function instead).

    python bench/search_bench.py                          # 1k, 10k and 50k clients, embedded PostgreSQL
    python bench/search_bench.py --sizes 1000,5000 --json
    python bench/search_bench.py --sizes 1000,10000,100000 --others 900000   # issue 19's scale
    DATABASE_URL=postgresql://... python bench/search_bench.py   # a throwaway database there
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from bizctx.server import migrations
from bizctx.server.queries import QueryBook, QueryRef

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pg import throwaway_database

SYLLABLES = (
    "ba be bo ka ke ko la le li lo ma me mi mo na ne ni no ra re ri ro sa se si so ta te ti to "
    "va ve vi wa yo za zu chen kim ann dav mar jo pet sam lu han"
).split()
# A name with a typo, two partial words, a phone number's digits, an e-mail prefix.
QUERIES = ("Kobalero", "marla tesiko", "555 0001234", "bale.")
BOOK = QueryBook.load()
BEGIN = BOOK[QueryRef("governance", "begin_agent_call")].text
SEARCH = BOOK[QueryRef("clients", "search_clients")].text
GET_CLIENT = BOOK[QueryRef("clients", "get_client")].text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,10000,50000", help="clients per tenant, comma-separated")
    p.add_argument("--repeat", type=int, default=15, help="timed runs per query")
    p.add_argument("--others", type=int, default=0, help="clients loaded into another tenant first")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    return p.parse_args(argv)


def name(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables)).capitalize()


def load(conn: psycopg.Connection, tenant: str, n: int, rng: random.Random) -> None:
    with conn.cursor().copy("COPY clients (tenant_id, first_name, last_name, email, phone) FROM STDIN") as cp:
        for i in range(n):
            first, last = name(rng, rng.choice((2, 2, 3))), name(rng, 3)
            cp.write_row((tenant, first, last, f"{first}.{last}{i}@example.com".lower(), f"+1 555 {i:07d}"))
    conn.execute("ANALYZE clients")


def timed(conn: psycopg.Connection, text: str, params: dict[str, Any], *, tenant: str | None = None) -> float:
    """One statement, milliseconds: with a tenant, in a transaction as the agent role (RLS
    on); without one, as the connecting role."""
    with conn.transaction():
        if tenant is not None:
            settings = {"tenant_id": tenant, "agent_id": "", "statement_timeout": "60000"}
            conn.execute(BEGIN, {**settings, "tasks_scope": "assigned", "mem_docs_scope": "own"})
        started = time.perf_counter()
        conn.execute(text, params, prepare=True).fetchall()
        return (time.perf_counter() - started) * 1000


def search_params(query: str) -> dict[str, Any]:
    return {
        "query": query,
        "match_email": True,
        "match_phone": True,
        "status": None,
        "tag": None,
        "segment": None,
        "min_score": 0.3,
        "after_score": None,
        "after_id": None,
        "limit": 21,
    }


def p50(run: Any, repeat: int) -> float:
    run()  # warm: plan cache, buffers
    return statistics.median(run() for _ in range(repeat))


TRIGRAM = "SELECT id FROM clients WHERE tenant_id = %(t)s AND display_name %% %(q)s"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(args.seed)
    result: dict[str, Any] = {
        "sizes": sizes,
        "queries": list(QUERIES),
        "search_ms": {},
        "trigram_ms": {},
        "get_client_ms": {},
    }
    result["others"] = args.others
    with throwaway_database(args.database_url) as dsn:
        migrations.migrate(dsn)
        with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
            if args.others:
                row = conn.execute("INSERT INTO tenants (name) VALUES ('others') RETURNING id").fetchone()
                load(conn, str(row["id"]), args.others, rng)
            for n in sizes:
                row = conn.execute("INSERT INTO tenants (name) VALUES (%s) RETURNING id", (f"search-{n}",))
                tenant = str(row.fetchone()["id"])
                load(conn, tenant, n, rng)
                result["search_ms"][n], result["trigram_ms"][n] = measure(conn, tenant, args.repeat)
                some = conn.execute(
                    "SELECT id FROM clients WHERE tenant_id = %s LIMIT 1", (tenant,)
                ).fetchone()
                get = {"client_id": some["id"]}
                result["get_client_ms"][n] = p50(
                    lambda get=get, tenant=tenant: timed(conn, GET_CLIENT, get, tenant=tenant), args.repeat
                )
    print(json.dumps(result, indent=2) if args.json else render(result))


def measure(conn: psycopg.Connection, tenant: str, repeat: int) -> tuple[dict[str, float], dict[str, float]]:
    searches = {
        q: p50(lambda q=q: timed(conn, SEARCH, search_params(q), tenant=tenant), repeat) for q in QUERIES
    }
    trigram = {"t": tenant, "q": "kobalero"}
    owner = p50(lambda: timed(conn, TRIGRAM, trigram), repeat)
    agent = p50(lambda: timed(conn, TRIGRAM, trigram, tenant=tenant), repeat)
    return searches, {"owner": owner, "bizctx_app": agent}


def render(r: dict[str, Any]) -> str:
    first = r["sizes"][0]
    lines = ["search_clients SQL, p50 ms as bizctx_app under RLS (x the smallest tenant)"]
    lines.append(f"{'clients':>8}  " + "  ".join(f"{q!r:>22}" for q in r["queries"]))
    for n in r["sizes"]:
        cells = []
        for q in r["queries"]:
            ms = r["search_ms"][n][q]
            cells.append(f"{ms:>12.1f} ({ms / r['search_ms'][first][q]:>5.1f}x)")
        lines.append(f"{n:>8}  " + "  ".join(f"{c:>22}" for c in cells))
    lines.append("")
    lines.append("search p50 / get_client p50 in the same tenant (issue 19's bar: at most 8x)")
    lines.append(f"{'clients':>8}  {'get_client ms':>13}  " + "  ".join(f"{q!r:>16}" for q in r["queries"]))
    for n in r["sizes"]:
        get = r["get_client_ms"][n]
        ratios = "  ".join(f"{r['search_ms'][n][q] / get:>15.1f}x" for q in r["queries"])
        lines.append(f"{n:>8}  {get:>13.2f}  {ratios}")
    if r["others"]:
        lines.append(f"(the database also holds {r['others']:,} clients of another tenant)")
    lines.append("")
    lines.append("one trigram predicate (display_name % 'kobalero'), p50 ms")
    lines.append(f"{'clients':>8}  {'connecting role':>15}  {'bizctx_app (RLS)':>17}  ratio")
    for n in r["sizes"]:
        t = r["trigram_ms"][n]
        lines.append(
            f"{n:>8}  {t['owner']:>15.2f}  {t['bizctx_app']:>17.2f}  {t['bizctx_app'] / t['owner']:>5.1f}x"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
