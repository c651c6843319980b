"""What the benchmark calls: for each bizctx tool, the arguments of call number i, and the
baseline statement (one file of sql/queries) with the parameters bizctx's handler would give
it. Every system gets the same sequence of calls, so writes never collide (each booking has
its own slot) and reads look up the same rows."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

TENANT = "Demo Home Services"

# What the 16 benchmark agents may do: the benchmarked tools' capabilities, and the front
# desk's redaction (e-mail and phone), so bizctx's path includes shaping.
AGENT_CAPABILITIES = [
    "clients.read",
    "appointments.read",
    "appointments.write",
    "tasks.read",
    "tasks.write",
    "tasks.work",
    "mem_docs.read",
]
AGENT_ACCESS = {
    "clients": {"read": True, "redact": ["email", "phone"]},
    "appointments": {"read": True, "write": True},
    "tasks": {"read": True, "write": True, "scope": "all"},
    "mem_docs": {"read": True, "scope": "own_and_shared"},
}

RECALL_QUERIES = [
    "how do we get into the client's house",
    "cancellation policy and fees",
    "what to tell clients about carpet drying",
    "office hours on public holidays",
    "which products to use for clients with allergies",
    "how to handle a dog at the property",
    "parking at the job site",
    "deep clean checklist for kitchens",
    "invoice dispute what to do",
    "key handover procedure",
]


def wire(value: Any) -> Any:
    """A parameter as JSON carries it: what an MCP client sends to a peer's tool."""
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.total_seconds()} seconds"
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


@dataclass
class Call:
    """One call: the bizctx tool's arguments and the baseline statement's parameters."""

    args: dict[str, Any]
    params: dict[str, Any]


@dataclass
class Workload:
    tool: str
    query: str  # the baseline statement, "domain.name" = sql/queries/domain/name.sql
    note: str  # what bizctx's handler runs besides it
    make: Callable[[int], Call]
    # Run before a batch of n calls (not timed), e.g. queue n tasks to claim.
    prepare: Callable[[psycopg.Connection, int], None] | None = None
    # Statements bizctx runs for one call (from the handler), for the report.
    bizctx_statements: int = 1
    example_params: dict[str, Any] = field(default_factory=dict)
    # Statements the baselines get from their role's settings instead, run first by the
    # "governed SQL alone" system (which switches roles per transaction, like bizctx).
    settings: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass
class Fixtures:
    tenant_id: uuid.UUID
    agent_ids: list[uuid.UUID]
    client_ids: list[uuid.UUID]
    search_terms: list[str]
    recall_vectors: list[list[float]]
    embedding_model: str | None
    service: dict[str, Any] | None
    cleaners: list[uuid.UUID]
    time_zone: str


def load_fixtures(dsn: str, agent_ids: list[uuid.UUID], embed: Callable[[list[str]], Any]) -> Fixtures:
    rng = random.Random(7)
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        tenant = conn.execute("SELECT id, time_zone FROM tenants WHERE name = %s", (TENANT,)).fetchone()
        tid = tenant["id"]
        clients = conn.execute(
            "SELECT id, display_name, company_name FROM clients "
            "WHERE tenant_id = %s AND deleted_at IS NULL AND status = 'active' ORDER BY id",
            (tid,),
        ).fetchall()
        service = conn.execute(
            "SELECT id, price, currency, duration_minutes FROM services "
            "WHERE tenant_id = %s AND external_ref = 'demo-service-std'",
            (tid,),
        ).fetchone()
        cleaners = [
            r["id"]
            for r in conn.execute(
                "SELECT id FROM resources WHERE tenant_id = %s AND kind = 'staff' AND active "
                "AND capabilities @> ARRAY['cleaning'] ORDER BY name",
                (tid,),
            ).fetchall()
        ]
    rng.shuffle(clients)
    terms: list[str] = []
    for c in clients[:40]:
        name = c["company_name"] or c["display_name"]
        word = name.split()[-1] if rng.random() < 0.6 else name[: max(3, len(name) // 2)]
        terms.append(word.lower() if rng.random() < 0.5 else word)
    vectors, model = embed(RECALL_QUERIES)
    return Fixtures(
        tenant_id=tid,
        agent_ids=agent_ids,
        client_ids=[c["id"] for c in clients],
        search_terms=terms,
        recall_vectors=vectors,
        embedding_model=model,
        service=service,
        cleaners=cleaners,
        time_zone=tenant["time_zone"],
    )


def _slots(fx: Fixtures) -> Callable[[int], tuple[datetime, uuid.UUID]]:
    """Booking number i's (start, cleaner): weekdays from 40 days ahead (the demo books a month
    around today), 08:00/10:00/12:00/14:00 business time, each cleaner once per slot."""
    tz = ZoneInfo(fx.time_zone)
    first = datetime.now(tz).date() + timedelta(days=40)
    weekdays: list[date] = []
    starts = (time(8), time(10), time(12), time(14))
    per_day = len(starts) * max(1, len(fx.cleaners))

    def slot(i: int) -> tuple[datetime, uuid.UUID]:
        day_index, rest = divmod(i, per_day)
        while len(weekdays) <= day_index:
            d = weekdays[-1] + timedelta(days=1) if weekdays else first
            while d.isoweekday() > 5:
                d += timedelta(days=1)
            weekdays.append(d)
        start_index, cleaner = divmod(rest, max(1, len(fx.cleaners)))
        when = datetime.combine(weekdays[day_index], starts[start_index], tz)
        return when, fx.cleaners[cleaner]

    return slot


def workloads(fx: Fixtures) -> dict[str, Workload]:
    from bizctx.tools import mem_docs
    from bizctx.tools.clients import MIN_SCORE

    def get_client(i: int) -> Call:
        cid = fx.client_ids[i % len(fx.client_ids)]
        return Call({"client_id": str(cid)}, {"client_id": cid})

    def search_clients(i: int) -> Call:
        q = fx.search_terms[i % len(fx.search_terms)]
        limit = 10
        return Call(
            {"query": q, "limit": limit},
            {
                "query": q,
                # The bench agents have e-mail and phone redacted: the handler then matches neither.
                "match_email": False,
                "match_phone": False,
                "status": None,
                "tag": None,
                "segment": None,
                "min_score": MIN_SCORE,
                "after_score": None,
                "after_id": None,
                "limit": limit + 1,
            },
        )

    def recall(i: int) -> Call:
        n = i % len(RECALL_QUERIES)
        q, vector = RECALL_QUERIES[n], fx.recall_vectors[n]
        return Call(
            # The caller's vector (the server's own model made it): every system runs the
            # same SQL with the same parameters; the server's embedding time is reported apart.
            {"query": q, "k": 5, "query_embedding": vector},
            {
                "query_vector": vector,
                "embedding_model": fx.embedding_model,
                "query_text": q,
                "doc_type": None,
                "client_id": None,
                "task_id": None,
                "metadata": None,
                "candidates": mem_docs.RECALL_CANDIDATES,
                "rrf_k": mem_docs.RRF_K,
                "k": 5,
                "max_chars": mem_docs.RECALL_CONTENT_CHARS,
                **(
                    {"touch_resolution": mem_docs.LAST_ACCESSED_RESOLUTION}
                    if hasattr(mem_docs, "LAST_ACCESSED_RESOLUTION")
                    else {}
                ),
            },
        )

    found: dict[str, Workload] = {
        "get_client": Workload(
            "get_client", "clients.get_client", "the same one statement", get_client, bizctx_statements=1
        ),
        "search_clients": Workload(
            "search_clients",
            "clients.search_clients",
            "the same one statement",
            search_clients,
            bizctx_statements=1,
        ),
        "recall": Workload(
            "recall",
            "mem_docs.recall",
            "plus recall_search_settings (baselines set them per role)",
            recall,
            bizctx_statements=2,
            settings=(("mem_docs.recall_search_settings", {"ef_search": mem_docs.RECALL_EF_SEARCH}),),
        ),
    }

    if fx.service is not None and fx.cleaners:
        slot = _slots(fx)
        service = fx.service
        counter = {"n": 0}

        def book_appointment(i: int) -> Call:
            # Every call (of every system) takes the next slot: nothing collides.
            n = counter["n"]
            counter["n"] += 1
            starts_at, cleaner = slot(n)
            cid = fx.client_ids[n % len(fx.client_ids)]
            return Call(
                {
                    "client_id": str(cid),
                    "service_id": str(service["id"]),
                    "starts_at": starts_at.isoformat(),
                    "resource_id": str(cleaner),
                },
                {
                    # The appointment's id is chosen by the caller (bizctx picks it in Python).
                    "id": uuid.uuid4(),
                    "client_id": cid,
                    "service_id": service["id"],
                    "starts_at": starts_at,
                    "ends_at": starts_at + timedelta(minutes=service["duration_minutes"]),
                    "location": None,
                    "address_id": None,
                    "notes": None,
                    "price": service["price"],
                    "currency": service["currency"],
                    "series_id": None,
                },
            )

        found["book_appointment"] = Workload(
            "book_appointment",
            "appointments.insert_appointment",
            "plus service, client, resource checks, the resource hold, reminders and a read-back",
            book_appointment,
            bizctx_statements=7,
        )

    found["claim_next_task"] = claim_workload(fx)
    return found


def claim_workload(fx: Fixtures) -> Workload:
    """claim_next_task: each batch first queues as many pending tasks as it will claim."""

    def prepare(conn: psycopg.Connection, n: int) -> None:
        conn.execute(
            "INSERT INTO tasks (tenant_id, type, title, payload, priority) "
            "SELECT %s, 'bench', 'Benchmark task ' || g, %s, 5 FROM generate_series(1, %s) AS g",
            (fx.tenant_id, json.dumps({"bench": True}), n),
        )

    def claim(i: int) -> Call:
        return Call(
            {"lease_seconds": 300},
            {"task_types": None, "lease_seconds": 300},
        )

    return Workload(
        "claim_next_task",
        "tasks.claim_next_task",
        "plus reap_expired_tasks",
        claim,
        prepare=prepare,
        bizctx_statements=2,
    )


def toolbox_type(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "float"}
    if isinstance(value, list):
        return {"type": "array", "items": {"name": "item", "type": "float", "description": "a number"}}
    if value is None:
        return {"type": "string"}
    return {"type": "string"}


def now_utc() -> datetime:
    return datetime.now(UTC)
