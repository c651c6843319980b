"""search_clients benchmark (not a test): how its SQL scales with the tenant's client count.

Loads --sizes tenants of synthetic clients into a throwaway database and times search_clients'
own SQL (sql/queries/clients/search_clients.sql) as an agent does: in a transaction as
bizctx_app with the tenant set, under row-level security. Names are real first and last names
(bench/_names.py) drawn with a Zipf-like skew, so that, as in a real client list, a few are very
common (the top last name about 1% of clients) and trigrams are shared widely; about 10% of the
clients are businesses with a company name; e-mails are first.last<n>@<provider>; phones random.
The load runs in the server (generate_series), not row by row through Python.

Each round times get_client's SQL in the same tenant, the same way, and one search of each
query shape, the order rotating between rounds (a noisy machine hurts all alike). The shapes are
taken from the tenant's own data: a full name (a common one), a partial name (the first letters
of a first and a last name), a typo (two letters swapped in each word), an e-mail fragment, a
phone number's last seven digits, and a query that matches nothing. Prints p50 per size and
shape, and the ratio to get_client's p50 in the same run: the issue's bar is at most 8x with
1,000,000 clients in the database and 100,000 in one tenant. --others loads that many clients
into another tenant first, so the database holds more than the tenant searched.

It also times one trigram predicate (`display_name % q`) as the database owner and as
bizctx_app, which shows why search_clients cannot use the trigram indexes itself: under RLS
PostgreSQL does not use an index for a condition whose operator is not LEAKPROOF, and
pg_trgm's are not (migration 0165 finds the candidates through a function instead). Since
0175 dropped the tenant-spanning trigram GIN indexes, neither side has an index for it (1.0x).

    python bench/search_bench.py                          # 1k, 10k and 50k clients, embedded PostgreSQL
    python bench/search_bench.py --sizes 1000,5000 --json
    nice python bench/search_bench.py --sizes 100000 --others 900000 --repeat 7   # issue 19's scale
    DATABASE_URL=postgresql://... python bench/search_bench.py   # a throwaway database there

At issue 19's scale the whole run takes about 10 minutes on a loaded 2-core machine, most of
it the load (every row updates the clients indexes and the search's word lists, migration
0185).
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
from _names import COMPANY_KINDS, COMPANY_SUFFIX, COMPANY_WORDS, FIRST, LAST
from _pg import throwaway_database

SHAPES = ("full name", "partial name", "typo", "e-mail fragment", "phone digits", "no match")
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


# Index i into a list of n, skewed to the front: P(i < k) = (k / n) ** (1 / 1.5).
LOAD = """
INSERT INTO clients (tenant_id, client_type, first_name, last_name, company_name, email, phone, deleted_at)
SELECT %(tenant)s, CASE WHEN biz THEN 'business' ELSE 'individual' END, f, l,
       CASE WHEN biz THEN cw || ' ' || ck || ' ' || cs END,
       lower(f) || '.' || lower(l) || i || '@'
           || (ARRAY['gmail.com', 'yahoo.com', 'outlook.com', 'example.com', 'icloud.com'])[1 + i %% 5],
       '+1 ' || (200 + (random() * 799)::int) || ' ' || lpad((random() * 9999999)::int::text, 7, '0'),
       CASE WHEN random() < 0.02 THEN now() END
FROM (
    SELECT i, random() < 0.1 AS biz,
           (%(first)s::text[])[1 + floor(cardinality(%(first)s::text[]) * power(random(), 1.5))::int] AS f,
           (%(last)s::text[])[1 + floor(cardinality(%(last)s::text[]) * power(random(), 1.5))::int] AS l,
           (%(cw)s::text[])[1 + floor(cardinality(%(cw)s::text[]) * random())::int] AS cw,
           (%(ck)s::text[])[1 + floor(cardinality(%(ck)s::text[]) * random())::int] AS ck,
           (%(cs)s::text[])[1 + floor(cardinality(%(cs)s::text[]) * random())::int] AS cs
    FROM generate_series(1, %(n)s) i
) g
"""


def load(conn: psycopg.Connection, tenant: str, n: int, seed: int) -> None:
    conn.execute("SELECT setseed(%s)", (1 / (1 + seed),))
    names = {"first": list(FIRST), "last": list(LAST)}
    words = {"cw": list(COMPANY_WORDS), "ck": list(COMPANY_KINDS), "cs": list(COMPANY_SUFFIX)}
    conn.execute(LOAD, {"tenant": tenant, "n": n, **names, **words})
    conn.execute("ANALYZE clients")
    # The search's word lists (migration 0185) as autovacuum leaves them once it has passed
    # after an import: visible to all, so their index-only scans need not visit the table.
    conn.execute(
        "VACUUM (ANALYZE) client_search_words, client_search_word_pairs, client_search_word_partners,"
        " client_search_vocabulary"
    )


def swap(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    k = rng.randrange(1, len(word) - 2)
    return word[:k] + word[k + 1] + word[k] + word[k + 2 :]


def shapes(conn: psycopg.Connection, tenant: str, rng: random.Random) -> dict[str, str]:
    """One query of each shape, from the tenant's own clients (a common name for the full one)."""
    common = conn.execute(
        "SELECT first_name, last_name FROM clients WHERE tenant_id = %s AND client_type = 'individual'"
        " AND deleted_at IS NULL AND last_name = %s AND first_name = ANY(%s) LIMIT 1",
        (tenant, LAST[0], list(FIRST[:20])),
    ).fetchone()
    some = conn.execute(
        "SELECT first_name, last_name, email, phone FROM clients WHERE tenant_id = %s"
        " AND client_type = 'individual' AND deleted_at IS NULL ORDER BY id LIMIT 1",
        (tenant,),
    ).fetchone()
    full = common or some
    digits = "".join(ch for ch in some["phone"] if ch.isdigit())
    return {
        "full name": f"{full['first_name']} {full['last_name']}",
        "partial name": f"{some['first_name'][:4]} {some['last_name'][:4]}".lower(),
        "typo": f"{swap(some['first_name'], rng)} {swap(some['last_name'], rng)}",
        "e-mail fragment": some["email"].split("@")[0][:9],
        "phone digits": f"{digits[-7:-4]}-{digits[-4:]}",
        "no match": "qqqqxxxx",
    }


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


TRIGRAM = "SELECT id FROM clients WHERE tenant_id = %(t)s AND display_name %% %(q)s"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(args.seed)
    result: dict[str, Any] = {"sizes": sizes, "others": args.others, "repeat": args.repeat}
    result.update(queries={}, search_ms={}, get_client_ms={}, trigram_ms={})
    with throwaway_database(args.database_url) as dsn:
        migrations.migrate(dsn)
        with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
            if args.others:
                row = conn.execute("INSERT INTO tenants (name) VALUES ('others') RETURNING id").fetchone()
                load(conn, str(row["id"]), args.others, args.seed)
            for n in sizes:
                row = conn.execute("INSERT INTO tenants (name) VALUES (%s) RETURNING id", (f"search-{n}",))
                tenant = str(row.fetchone()["id"])
                load(conn, tenant, n, args.seed + n)
                queries = shapes(conn, tenant, rng)
                result["queries"][n] = queries
                get, searches = measure(conn, tenant, queries, args.repeat)
                result["get_client_ms"][n], result["search_ms"][n] = get, searches
                trigram = {"t": tenant, "q": queries["typo"]}
                result["trigram_ms"][n] = {
                    "owner": statistics.median(timed(conn, TRIGRAM, trigram) for _ in range(args.repeat)),
                    "bizctx_app": statistics.median(
                        timed(conn, TRIGRAM, trigram, tenant=tenant) for _ in range(args.repeat)
                    ),
                }
    print(json.dumps(result, indent=2) if args.json else render(result))


def measure(
    conn: psycopg.Connection, tenant: str, queries: dict[str, str], repeat: int
) -> tuple[float, dict[str, float]]:
    """p50 of get_client and of each search shape over `repeat` interleaved rounds (one warm-up
    round first: plan cache, buffers); each round runs them all, the order rotating."""
    some = conn.execute(
        "SELECT id FROM clients WHERE tenant_id = %s AND deleted_at IS NULL ORDER BY id LIMIT 1", (tenant,)
    ).fetchone()
    runs: dict[str, Any] = {
        "get_client": lambda: timed(conn, GET_CLIENT, {"client_id": some["id"]}, tenant=tenant)
    }
    for shape, q in queries.items():
        runs[shape] = lambda q=q: timed(conn, SEARCH, search_params(q), tenant=tenant)
    names = list(runs)
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeat + 1):
        order = names[r % len(names) :] + names[: r % len(names)]
        for k in order:
            ms = runs[k]()
            if r:
                times[k].append(ms)
    p50s = {k: statistics.median(v) for k, v in times.items()}
    get = p50s.pop("get_client")
    return get, p50s


def render(r: dict[str, Any]) -> str:
    lines = ["search_clients SQL against get_client SQL, p50 ms as bizctx_app under RLS, same run"]
    lines.append("(interleaved rounds; issue 19's bar: search at most 8x get_client)")
    for n in r["sizes"]:
        get = r["get_client_ms"][n]
        lines.append("")
        lines.append(f"{n:,} clients in the tenant: get_client p50 {get:.2f} ms")
        lines.append(f"  {'shape':<16} {'query':<24} {'p50 ms':>9}  {'x get_client':>12}")
        for shape in SHAPES:
            ms = r["search_ms"][n][shape]
            q = r["queries"][n][shape]
            lines.append(f"  {shape:<16} {q!r:<24} {ms:>9.1f}  {ms / get:>11.1f}x")
    if r["others"]:
        lines.append(f"(the database also holds {r['others']:,} clients of another tenant)")
    lines.append("")
    lines.append("one trigram predicate (display_name % the typo query), p50 ms")
    lines.append(f"{'clients':>8}  {'connecting role':>15}  {'bizctx_app (RLS)':>17}  ratio")
    for n in r["sizes"]:
        t = r["trigram_ms"][n]
        lines.append(
            f"{n:>8}  {t['owner']:>15.2f}  {t['bizctx_app']:>17.2f}  {t['bizctx_app'] / t['owner']:>5.1f}x"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
