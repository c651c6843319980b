"""Load (not in the default run; `pytest -m load`): 16 agents for 60 s over streamable HTTP,
mixing reads and writes, racing for the same appointment slots and the same work queue.
Afterwards: no errors, no double booking, no task claimed twice, and every call audited
exactly once. BIZCTX_LOAD_SECONDS shortens or lengthens the run."""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from test_transports import running

from bizctx.server.settings import Settings
from conftest import error_of

pytestmark = [pytest.mark.anyio, pytest.mark.load]

AGENTS = 16
SECONDS = float(os.environ.get("BIZCTX_LOAD_SECONDS", "60"))
CAPS = [
    "clients.read",
    "clients.write",
    "appointments.read",
    "appointments.write",
    "tasks.read",
    "tasks.write",
    "tasks.work",
]
ACCESS = {
    "clients": {"read": True, "write": True},
    "appointments": {"read": True, "write": True},
    "tasks": {"read": True, "write": True, "scope": "all"},
}
# Outcomes that are answers, not failures: a slot someone else just took.
EXPECTED = {"conflict"}


@pytest.fixture
def settings(dsn: str, tmp_path: Path) -> Settings:
    # One server for 16 agents, as `bizctx serve --transport streamable-http` runs it.
    return Settings(
        database_url=dsn, data_dir=tmp_path, pool_min_size=2, pool_max_size=16, log_level="WARNING"
    )


def seed_business(sql: Any, tenant_id: uuid.UUID) -> dict[str, Any]:
    """A service, three staff who work around the clock, and 30 clients."""
    service = sql.execute(
        "INSERT INTO services (tenant_id, code, name, duration_minutes, price, currency, "
        "required_capabilities) "
        "VALUES (%s, 'LOAD', 'Load test visit', 30, 50, 'USD', ARRAY['cleaning']) RETURNING id",
        (tenant_id,),
    ).fetchone()["id"]
    staff = []
    for n in range(3):
        rid = sql.execute(
            "INSERT INTO resources (tenant_id, kind, name, capabilities) VALUES (%s, 'staff', %s, "
            "ARRAY['cleaning']) RETURNING id",
            (tenant_id, f"Staff {n}"),
        ).fetchone()["id"]
        for weekday in range(1, 8):
            sql.execute(
                "INSERT INTO resource_availability (tenant_id, resource_id, weekday, start_time, end_time) "
                "VALUES (%s, %s, %s, '00:00', '23:59')",
                (tenant_id, rid, weekday),
            )
        staff.append(rid)
    clients = [
        sql.execute(
            "INSERT INTO clients (tenant_id, first_name, last_name) VALUES (%s, %s, %s) RETURNING id",
            (tenant_id, f"Load{n}", random.choice(["Smith", "Garcia", "Chen", "Okafor"])),
        ).fetchone()["id"]
        for n in range(30)
    ]
    # 24 contested start times (every 30 minutes, a few days out): 72 bookable places in all,
    # fewer than the agents will try, so they race for them.
    first = datetime.combine(datetime.now(UTC).date() + timedelta(days=3), dtime(9, 0), UTC)
    slots = [(first + timedelta(minutes=30 * k)).isoformat() for k in range(24)]
    return {"service": str(service), "staff": staff, "clients": [str(c) for c in clients], "slots": slots}


async def test_sixteen_agents_for_a_minute_over_http(app, make_agent, sql, caplog):
    # The guard logs each call it runs again after a deadlock or serialization failure.
    caplog.set_level(logging.INFO, logger="bizctx.guard")
    first = await make_agent(caps=CAPS, access=ACCESS)
    agents = [first] + [
        await make_agent(caps=CAPS, access=ACCESS, tenant=first.tenant_name) for _ in range(AGENTS - 1)
    ]
    business = seed_business(sql, first.tenant_id)
    calls: Counter[uuid.UUID] = Counter()
    errors: list[str] = []
    outcomes: Counter[str] = Counter()
    booked: list[str] = []
    claimed: list[str] = []
    deadline = time.monotonic() + SECONDS

    async with running(app, "streamable-http") as base:

        async def work(agent: Any, seed: int) -> None:
            rng = random.Random(seed)
            mine: list[str] = []
            headers = {"Authorization": f"Bearer {agent.key}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=60) as http,
                Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
            ):

                async def call(name: str, args: dict[str, Any]) -> dict[str, Any] | None:
                    calls[agent.id] += 1
                    try:
                        result = await client.call_tool(name, args)
                    except Exception as exc:  # a transport failure is an error too
                        errors.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
                        return None
                    if result.is_error:
                        code = error_of(result)["code"]
                        outcomes[f"{name}:{code}"] += 1
                        if code not in EXPECTED:
                            errors.append(f"{name}: {result.content[0].text}"[:300])
                        return None
                    outcomes[f"{name}:ok"] += 1
                    return result.structured_content

                while time.monotonic() < deadline:
                    roll = rng.random()
                    if roll < 0.25:
                        await call(
                            "search_clients", {"query": rng.choice(["smith", "garcia", "load1", "chen"])}
                        )
                    elif roll < 0.40:
                        await call("get_client", {"client_id": rng.choice(business["clients"])})
                    elif roll < 0.50:
                        await call(
                            "upsert_client", {"first_name": f"New{rng.randrange(10**6)}", "last_name": "Load"}
                        )
                    elif roll < 0.70:
                        got = await call(
                            "book_appointment",
                            {
                                "client_id": rng.choice(business["clients"]),
                                "service_id": business["service"],
                                "starts_at": rng.choice(business["slots"]),
                            },
                        )
                        if got is not None:
                            mine.append(got["id"])
                            booked.append(got["id"])
                    elif roll < 0.75 and mine:
                        await call(
                            "cancel_appointment", {"appointment_id": mine.pop(rng.randrange(len(mine)))}
                        )
                    elif roll < 0.87:
                        await call("create_task", {"type": "load", "title": f"Task {rng.randrange(10**6)}"})
                    else:
                        got = await call("claim_next_task", {"lease_seconds": 600})
                        if got is not None and got["task"] is not None:
                            claimed.append(got["task"]["id"])
                            await call(
                                "complete_task",
                                {"task_id": got["task"]["id"], "result": {"by": str(agent.id)}},
                            )

        async with anyio.create_task_group() as tg:
            for n, agent in enumerate(agents):
                tg.start_soon(work, agent, n)

    total = sum(calls.values())
    print(f"load: {total} calls in {SECONDS:.0f} s by {AGENTS} agents; outcomes {dict(outcomes)}")
    assert total > AGENTS * 10, f"only {total} calls in {SECONDS:.0f} s"
    assert errors == [], f"{len(errors)} errors of {total} calls, e.g. {errors[:5]}"
    # Nor did any call lose a second to a deadlock and need running again: racing bookings
    # queue on the resource, racing claims skip locked tasks.
    retried = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying after")]
    assert retried == [], f"{len(retried)} calls were run again: {retried[:5]}"
    assert outcomes["book_appointment:ok"] > 0 and outcomes["claim_next_task:ok"] > 0, outcomes

    # No double booking: no two active holds of one resource overlap.
    overlapping = sql.execute(
        "SELECT count(*) AS n FROM appointment_resources a JOIN appointment_resources b "
        "ON a.tenant_id = b.tenant_id AND a.resource_id = b.resource_id "
        "AND a.appointment_id < b.appointment_id AND a.active AND b.active AND a.during && b.during "
        "WHERE a.tenant_id = %s",
        (first.tenant_id,),
    ).fetchone()["n"]
    assert overlapping == 0

    # No double claim: every task was handed out once (one claim, one attempt, completed by its claimer).
    assert len(claimed) == len(set(claimed))
    twice = sql.execute(
        "SELECT count(*) AS n FROM tasks WHERE tenant_id = %s AND type = 'load' AND attempts > 1",
        (first.tenant_id,),
    ).fetchone()["n"]
    assert twice == 0
    wrong = sql.execute(
        "SELECT count(*) AS n FROM tasks WHERE tenant_id = %s AND status = 'completed' "
        "AND result->>'by' <> claimed_by_agent_id::text",
        (first.tenant_id,),
    ).fetchone()["n"]
    assert wrong == 0

    # Every call audited exactly once: one row per call and agent, no request id twice.
    rows = sql.execute(
        "SELECT agent_id, count(*) AS n, count(DISTINCT request_id) AS distinct_ids FROM audit_logs "
        "WHERE tenant_id = %s AND kind = 'tool' GROUP BY agent_id",
        (first.tenant_id,),
    ).fetchall()
    audited = {r["agent_id"]: r["n"] for r in rows}
    assert audited == dict(calls)
    assert all(r["n"] == r["distinct_ids"] for r in rows)
