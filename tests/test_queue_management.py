"""Queue management through the official MCP client (issue 18, part 2): create_task with an
assignee by name and a parent task; cancel_task; retry_dead_task bringing a dead task back to
a successful claim; list_tasks by parent and assignee name; a task's subtasks, result and dead
letters readable."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from test_tasks import MANAGER, WORKER

from bizctx.ops import operators
from conftest import audit_rows, err, ok

pytestmark = pytest.mark.anyio


@pytest.fixture
async def crew(app, make_agent):
    """An orchestrator that manages the queue and two workers, one disabled later."""
    boss = await make_agent(**MANAGER, name="orchestrator")
    tenant = boss.tenant_name
    worker = await make_agent(**WORKER, tenant=tenant, name="scheduler")
    spare = await make_agent(**WORKER, tenant=tenant, name="spare")
    return boss, worker, spare


async def read_task(c, task_id: str) -> dict:
    return json.loads((await c.read_resource(f"bizctx://tasks/{task_id}")).contents[0].text)


async def test_a_task_assigned_by_name_with_subtasks_is_claimed_by_that_agent_only(crew, connect, sql):
    boss, worker, spare = crew
    async with connect(boss) as c:
        parent = await ok(c, "create_task", {"type": "onboard", "title": "Onboard Ann"})
        first = await ok(
            c,
            "create_task",
            {"type": "call", "title": "Call Ann", "assignee": "scheduler", "parent_task_id": parent["id"]},
        )
        second = await ok(
            c,
            "create_task",
            {
                "type": "visit",
                "title": "First visit",
                "assignee": str(worker.id),
                "parent_task_id": parent["id"],
            },
        )
        by_name = await ok(c, "list_tasks", {"assignee": "scheduler"})
        children = await ok(c, "list_tasks", {"parent_task_id": parent["id"]})
    async with connect(spare) as c:
        nothing = await ok(c, "claim_next_task", {"task_types": ["call", "visit"]})
    async with connect(worker) as c:
        claimed = await ok(c, "claim_next_task", {"task_types": ["call"]})
        done = await ok(
            c, "complete_task", {"task_id": first["id"], "result": {"reached": True, "minutes": 4}}
        )
    async with connect(boss) as c:
        shown = await read_task(c, parent["id"])
        got = await ok(c, "list_tasks", {"parent_task_id": parent["id"], "status": "completed"})
    assert first["assignee_agent_id"] == second["assignee_agent_id"] == str(worker.id)
    assert first["parent_task_id"] == parent["id"] and parent["subtasks_total"] == 0
    assert {t["id"] for t in by_name["tasks"]} == {first["id"], second["id"]}
    assert {t["id"] for t in children["tasks"]} == {first["id"], second["id"]}
    assert nothing["task"] is None and claimed["task"]["id"] == first["id"]
    assert (shown["subtasks_total"], shown["subtasks_done"]) == (2, 1)
    assert [(s["id"], s["status"]) for s in shown["subtasks"]] == [
        (first["id"], "completed"),
        (second["id"], "pending"),
    ]
    # The worker's result is kept and readable.
    assert done["result"] == {"reached": True, "minutes": 4} and got["tasks"][0]["result"] == done["result"]


async def test_bad_assignees_and_parents_are_refused_and_nothing_is_written(
    app, crew, make_agent, connect, sql
):
    boss, worker, spare = crew
    stranger = await make_agent(**MANAGER)
    await operators.set_status(app.db, boss.tenant_name, "spare", "disabled")
    async with connect(stranger) as c:
        theirs = await ok(c, "create_task", {"type": "call", "title": "Not yours"})
    async with connect(boss) as c:
        done = await ok(c, "create_task", {"type": "call", "title": "Done"})
        sql.execute("UPDATE tasks SET status = 'cancelled' WHERE id = %s", (done["id"],))
        unknown = await err(c, "create_task", {"type": "call", "title": "x", "assignee": "nobody"})
        disabled = await err(c, "create_task", {"type": "call", "title": "x", "assignee": "spare"})
        foreign_agent = await err(c, "create_task", {"type": "call", "title": "x", "assignee": stranger.name})
        foreign_parent = await err(
            c, "create_task", {"type": "call", "title": "x", "parent_task_id": theirs["id"]}
        )
        closed_parent = await err(
            c, "create_task", {"type": "call", "title": "x", "parent_task_id": done["id"]}
        )
        both = await err(
            c,
            "create_task",
            {"type": "call", "title": "x", "assignee": "scheduler", "assignee_agent_id": str(worker.id)},
        )
        unknown_filter = await err(c, "list_tasks", {"assignee": "nobody"})
    assert unknown["code"] == foreign_agent["code"] == "not_found" and "list_agents" in unknown["message"]
    assert disabled["code"] == "invalid_input" and "disabled" in disabled["message"]
    assert foreign_parent["code"] == "not_found"
    assert closed_parent["code"] == "conflict" and closed_parent["status"] == "cancelled"
    assert both["code"] == "invalid_input" and unknown_filter["code"] == "not_found"
    count = sql.execute("SELECT count(*) AS n FROM tasks WHERE tenant_id = %s", (boss.tenant_id,)).fetchone()
    assert count["n"] == 1  # only "Done"


async def test_cancel_takes_a_task_off_the_queue_with_its_reason(crew, connect, sql):
    boss, worker, _ = crew
    async with connect(boss) as c:
        pending = await ok(c, "create_task", {"type": "call", "title": "Call Ann", "assignee": "scheduler"})
        held = await ok(c, "create_task", {"type": "call", "title": "Refund", "requires_approval": True})
        busy = await ok(c, "create_task", {"type": "visit", "title": "Visit", "assignee": "scheduler"})
    async with connect(worker) as c:
        await ok(c, "claim_next_task", {"task_types": ["visit"]})
    async with connect(boss) as c:
        cancelled = await ok(c, "cancel_task", {"task_id": pending["id"], "reason": "Client moved away."})
        again = await ok(c, "cancel_task", {"task_id": pending["id"], "reason": "Another reason."})
        unheld = await ok(c, "cancel_task", {"task_id": held["id"], "reason": "Not needed."})
        claimed = await err(c, "cancel_task", {"task_id": busy["id"], "reason": "Too late."})
        blank = await err(c, "cancel_task", {"task_id": pending["id"], "reason": " "})
        missing = await err(c, "cancel_task", {"task_id": str(uuid.uuid4()), "reason": "x"})
    async with connect(worker) as c:
        nothing = await ok(c, "claim_next_task", {"task_types": ["call"]})
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "Client moved away.")
    assert again == cancelled and unheld["status"] == "cancelled"
    assert claimed["code"] == "conflict" and claimed["status"] == "claimed" and "worker" in claimed["message"]
    assert blank["code"] == "invalid_input" and missing["code"] == "not_found"
    assert nothing["task"] is None
    rows = [
        (r["name"], r["outcome"], r["entity_id"]) for r in audit_rows(sql, boss) if r["name"] == "cancel_task"
    ]
    assert rows[0] == ("cancel_task", "ok", pending["id"])


async def test_a_dead_task_retried_is_claimed_and_completed_and_its_dead_letter_processed(crew, connect, sql):
    boss, worker, _ = crew
    async with connect(boss) as c:
        task = await ok(c, "create_task", {"type": "call", "title": "Call Ann", "max_attempts": 1})
    async with connect(worker) as c:
        await ok(c, "claim_next_task", {"task_types": ["call"]})
        dead = await ok(c, "fail_task", {"task_id": task["id"], "error": "No answer.", "retryable": True})
    async with connect(boss) as c:
        letters = await ok(c, "list_tasks", {"status": "dead"})
        not_dead = await err(
            c, "retry_dead_task", {"task_id": (await ok(c, "create_task", {"type": "x", "title": "y"}))["id"]}
        )
        retried = await ok(c, "retry_dead_task", {"task_id": task["id"]})
    async with connect(worker) as c:
        claimed = await ok(c, "claim_next_task", {"task_types": ["call"]})
        done = await ok(c, "complete_task", {"task_id": task["id"], "result": {"reached": True}})
    async with connect(boss) as c:
        shown = await read_task(c, task["id"])
    assert dead["status"] == "dead" and [(t["id"], t["last_error"]) for t in letters["tasks"]] == [
        (task["id"], "No answer.")
    ]
    assert not_dead["code"] == "conflict" and not_dead["status"] == "pending"
    assert (retried["status"], retried["attempts"], retried["last_error"]) == ("pending", 0, None)
    assert claimed["task"]["id"] == task["id"] and claimed["task"]["attempts"] == 1
    assert done["status"] == "completed" and done["errors"][0]["error"] == "No answer."  # history kept
    (letter,) = shown["dead_letters"]
    assert letter["last_error"] == "No answer." and letter["processed_by_agent_id"] == str(boss.id)
    assert [e["to_status"] for e in shown["events"]] == [
        "pending",
        "claimed",
        "dead",
        "pending",
        "claimed",
        "completed",
    ]


async def test_a_task_that_dies_again_after_a_retry_gets_a_second_dead_letter(crew, connect, sql):
    boss, worker, _ = crew
    async with connect(boss) as c:
        task = await ok(c, "create_task", {"type": "call", "title": "Call Ann", "max_attempts": 1})
    for _ in range(2):
        async with connect(worker) as c:
            await ok(c, "claim_next_task", {"task_types": ["call"]})
            await ok(c, "fail_task", {"task_id": task["id"], "error": "Busy.", "retryable": True})
        async with connect(boss) as c:
            await ok(c, "retry_dead_task", {"task_id": task["id"]})
    rows = sql.execute(
        "SELECT processed_at IS NOT NULL AS done FROM dead_letters WHERE task_id = %s ORDER BY moved_at",
        (task["id"],),
    ).fetchall()
    assert [r["done"] for r in rows] == [True, True]


async def test_queue_management_needs_tasks_write_and_sees_only_the_callers_scope(
    crew, make_agent, connect, sql
):
    boss, worker, _ = crew
    scoped = await make_agent(
        caps=["tasks.read", "tasks.write"],
        access={"tasks": {"read": True, "write": True, "scope": "assigned"}},
        tenant=boss.tenant_name,
    )
    async with connect(boss) as c:
        task = await ok(c, "create_task", {"type": "call", "title": "Call Ann"})
    async with connect(worker) as c:  # tasks.work and tasks.read, no tasks.write
        denied = await err(c, "cancel_task", {"task_id": task["id"], "reason": "x"})
        denied_retry = await err(c, "retry_dead_task", {"task_id": task["id"]})
    async with connect(scoped) as c:  # may write, but the task is neither its own nor assigned to it
        unseen = await err(c, "cancel_task", {"task_id": task["id"], "reason": "x"})
    assert denied["code"] == denied_retry["code"] == "permission_denied"
    assert unseen["code"] == "not_found"
    status = sql.execute("SELECT status FROM tasks WHERE id = %s", (task["id"],)).fetchone()["status"]
    assert status == "pending"


async def test_two_agents_retrying_a_dead_task_at_once_revive_it_once(app, crew, make_agent, connect, sql):
    boss, worker, _ = crew
    other = await make_agent(**MANAGER, tenant=boss.tenant_name)
    async with connect(boss) as c:
        task = await ok(c, "create_task", {"type": "call", "title": "Call Ann", "max_attempts": 1})
    async with connect(worker) as c:
        await ok(c, "claim_next_task", {"task_types": ["call"]})
        await ok(c, "fail_task", {"task_id": task["id"], "error": "No answer.", "retryable": True})
    results = await asyncio.gather(
        *(app.guard.call_tool(a.principal, "retry_dead_task", {"task_id": task["id"]}) for a in (boss, other))
    )
    assert sorted(r.is_error for r in results) == [False, True]
    (refused,) = [r.meta["bizctx/error"] for r in results if r.is_error]
    # Told how the task stands now, never "dead, not dead".
    assert refused["code"] == "conflict" and refused["status"] == "pending"
    assert "is pending, not dead" in refused["message"]
    letters = sql.execute(
        "SELECT processed_at FROM dead_letters WHERE task_id = %s", (task["id"],)
    ).fetchall()
    assert len(letters) == 1 and letters[0]["processed_at"] is not None


async def test_a_dead_task_of_a_disabled_agent_is_not_revived_and_the_refusal_says_why(
    app, crew, connect, sql
):
    boss, worker, _ = crew
    async with connect(boss) as c:
        task = await ok(
            c,
            "create_task",
            {"type": "call", "title": "Call Ann", "assignee": "scheduler", "max_attempts": 1},
        )
    async with connect(worker) as c:
        await ok(c, "claim_next_task", {"task_types": ["call"]})
        await ok(c, "fail_task", {"task_id": task["id"], "error": "No answer.", "retryable": True})
    await operators.set_status(app.db, boss.tenant_name, "scheduler", "disabled")
    async with connect(boss) as c:
        refused = await err(c, "retry_dead_task", {"task_id": task["id"]})
    assert refused["code"] == "conflict" and "'scheduler', which is disabled" in refused["message"]
    assert sql.execute("SELECT status FROM tasks WHERE id = %s", (task["id"],)).fetchone()["status"] == "dead"
