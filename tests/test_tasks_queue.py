"""The work queue under concurrency, through the guard (as agents' calls are): eight workers
drain a queue with each task completed exactly once; leases that expire are reclaimed with
the attempt counted; a retried claim returns the task it claimed."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bizctx.server.settings import Settings
from conftest import audit_rows, error_of

pytestmark = pytest.mark.anyio

OPEN = {"tasks": {"read": True, "write": True}}
WORKER = {"caps": ["tasks.read", "tasks.work"], "access": OPEN}
WORKERS = 8
TASKS = 200


@pytest.fixture
def settings(dsn: str, tmp_path: Path) -> Settings:
    # One connection per worker, so the workers really run at once.
    return Settings(
        database_url=dsn, data_dir=tmp_path, pool_min_size=1, pool_max_size=WORKERS + 2, log_level="WARNING"
    )


def seed_tasks(sql, tenant_id, n: int, **columns) -> list:
    rows = sql.execute(
        "INSERT INTO tasks (tenant_id, type, title, priority, max_attempts) "
        "SELECT %s, 'job', 'job ' || g, g %% 7, %s FROM generate_series(1, %s) g RETURNING id",
        (tenant_id, columns.get("max_attempts", 5), n),
    ).fetchall()
    return [r["id"] for r in rows]


async def call(app, agent, tool: str, args: dict) -> dict:
    result = await app.guard.call_tool(agent.principal, tool, args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def test_eight_workers_drain_200_tasks_each_completed_exactly_once(app, make_agent, sql):
    first = await make_agent(**WORKER)
    workers = [first] + [await make_agent(**WORKER, tenant=first.tenant_name) for _ in range(WORKERS - 1)]
    ids = seed_tasks(sql, first.tenant_id, TASKS)
    done: Counter = Counter()

    async def work(agent) -> None:
        while True:
            task = (await call(app, agent, "claim_next_task", {"lease_seconds": 60}))["task"]
            if task is None:
                return
            assert task["attempts"] == 1
            await call(app, agent, "complete_task", {"task_id": task["id"], "result": {"by": str(agent.id)}})
            done[task["id"]] += 1

    await asyncio.gather(*(work(a) for a in workers))

    assert sorted(done) == sorted(str(i) for i in ids) and set(done.values()) == {1}
    rows = sql.execute(
        "SELECT status, attempts, claimed_by_agent_id, result FROM tasks WHERE tenant_id = %s",
        (first.tenant_id,),
    ).fetchall()
    assert {(r["status"], r["attempts"]) for r in rows} == {("completed", 1)}
    assert all(r["result"] == {"by": str(r["claimed_by_agent_id"])} for r in rows)
    transitions = sql.execute(
        "SELECT to_status, count(*) AS n, count(DISTINCT task_id) AS tasks FROM task_events "
        "WHERE tenant_id = %s GROUP BY to_status ORDER BY to_status",
        (first.tenant_id,),
    ).fetchall()
    assert [(t["to_status"], t["n"], t["tasks"]) for t in transitions] == [
        ("claimed", TASKS, TASKS),
        ("completed", TASKS, TASKS),
        ("pending", TASKS, TASKS),
    ]
    # The work was shared, and every call was audited as ok.
    per_worker = Counter(str(r["claimed_by_agent_id"]) for r in rows)
    assert len(per_worker) > 1 and sum(per_worker.values()) == TASKS
    for agent in workers:
        outcomes = {r["outcome"] for r in audit_rows(sql, agent)}
        assert outcomes == {"ok"}


async def test_an_expired_lease_is_reclaimed_and_the_attempt_counted(app, make_agent, sql):
    dead_worker = await make_agent(**WORKER)
    rescuer = await make_agent(**WORKER, tenant=dead_worker.tenant_name)
    (task_id,) = seed_tasks(sql, dead_worker.tenant_id, 1)
    held = (await call(app, dead_worker, "claim_next_task", {"lease_seconds": 600}))["task"]
    assert held["id"] == str(task_id)
    # While the lease runs, nobody else gets it.
    assert (await call(app, rescuer, "claim_next_task", {}))["task"] is None
    # The worker dies; its lease runs out (moved into the past rather than waited for).
    sql.execute("UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = %s", (task_id,))
    again = (await call(app, rescuer, "claim_next_task", {"lease_seconds": 60}))["task"]
    assert again["id"] == str(task_id) and again["attempts"] == 2
    assert again["claimed_by_agent_id"] == str(rescuer.id)
    assert [(e["attempt"], e["error"]) for e in again["errors"]] == [(1, "lease expired")]
    # The dead worker comes back: too late.
    late = await app.guard.call_tool(dead_worker.principal, "complete_task", {"task_id": str(task_id)})
    assert late.is_error and error_of(late)["code"] == "conflict"
    assert "held by another agent" in error_of(late)["message"]
    done = await call(app, rescuer, "complete_task", {"task_id": str(task_id), "result": {"ok": True}})
    assert done["status"] == "completed" and done["attempts"] == 2
    history = sql.execute(
        "SELECT from_status, to_status, agent_id, detail->>'attempts' AS attempts FROM task_events "
        "WHERE task_id = %s ORDER BY id",
        (task_id,),
    ).fetchall()
    assert [(h["from_status"], h["to_status"], h["agent_id"], h["attempts"]) for h in history] == [
        (None, "pending", None, "0"),
        ("pending", "claimed", dead_worker.id, "1"),
        ("claimed", "claimed", rescuer.id, "2"),
        ("claimed", "completed", rescuer.id, "2"),
    ]


async def test_a_lease_that_expires_on_the_last_attempt_ends_in_the_dead_letters(app, make_agent, sql):
    worker = await make_agent(**WORKER)
    (task_id,) = seed_tasks(sql, worker.tenant_id, 1, max_attempts=1)
    await call(app, worker, "claim_next_task", {})
    sql.execute("UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = %s", (task_id,))
    assert (await call(app, worker, "claim_next_task", {}))["task"] is None
    task = sql.execute("SELECT status, attempts FROM tasks WHERE id = %s", (task_id,)).fetchone()
    assert task == {"status": "dead", "attempts": 1}
    letter = sql.execute(
        "SELECT last_error, history FROM dead_letters WHERE task_id = %s", (task_id,)
    ).fetchone()
    assert letter["last_error"] == "lease expired on the last attempt"
    assert [h["to_status"] for h in letter["history"]] == ["pending", "claimed", "dead"]


async def test_a_retried_claim_returns_the_task_it_claimed(app, make_agent, sql):
    worker = await make_agent(**WORKER)
    seed_tasks(sql, worker.tenant_id, 3)
    args = {"idempotency_key": "claim-1", "lease_seconds": 60}
    first = (await call(app, worker, "claim_next_task", args))["task"]
    again = (await call(app, worker, "claim_next_task", args))["task"]
    other = (await call(app, worker, "claim_next_task", {"idempotency_key": "claim-2"}))["task"]
    assert again == first and other["id"] != first["id"]
    claimed = sql.execute(
        "SELECT count(*) AS n FROM tasks WHERE tenant_id = %s AND status = 'claimed'", (worker.tenant_id,)
    ).fetchone()
    assert claimed["n"] == 2
    # The key stays the first claim's, even once the task is finished: a retry never claims
    # more work (v1 let the key claim a new task after the first one was done).
    await call(app, worker, "complete_task", {"task_id": first["id"]})
    replayed = (await call(app, worker, "claim_next_task", args))["task"]
    assert replayed == first
    pending = sql.execute(
        "SELECT count(*) AS n FROM tasks WHERE tenant_id = %s AND status = 'pending'", (worker.tenant_id,)
    ).fetchone()
    assert pending["n"] == 1
