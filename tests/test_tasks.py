"""Tasks through a real MCP client session: creating, listing, claiming, completing, failing
(retries, backoff, dead letters), approvals, the assigned scope and the resources, with
permissions, bad input and audit. Concurrency is in test_tasks_queue.py."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from mcp.shared.exceptions import MCPError

from conftest import all_tools, audit_rows, count, err, ok

pytestmark = pytest.mark.anyio

OPEN = {"tasks": {"read": True, "write": True}}
MANAGER = {"caps": ["tasks.read", "tasks.write"], "access": OPEN}
WORKER = {"caps": ["tasks.read", "tasks.work"], "access": OPEN}
APPROVER = {"caps": ["tasks.read", "tasks.approve"], "access": OPEN}
ALL_CAPS = ["tasks.read", "tasks.write", "tasks.work", "tasks.approve"]
TASK_TOOLS = {
    "create_task",
    "list_tasks",
    "claim_next_task",
    "complete_task",
    "fail_task",
    "request_approval",
    "decide_approval",
}


def events(sql, task_id: str) -> list[tuple]:
    rows = sql.execute(
        "SELECT from_status, to_status, agent_id, detail FROM task_events WHERE task_id = %s ORDER BY id",
        (task_id,),
    ).fetchall()
    return [(r["from_status"], r["to_status"], r["agent_id"], r["detail"]) for r in rows]


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


async def tool_names(c) -> set[str]:
    return {t.name for t in (await c.list_tools()).tools}


@pytest.fixture
async def team(make_agent):
    """A manager, two workers and an approver of one business."""
    manager = await make_agent(**MANAGER, name="manager")
    tenant = manager.tenant_name
    return {
        "manager": manager,
        "worker": await make_agent(**WORKER, tenant=tenant, name="worker"),
        "other_worker": await make_agent(**WORKER, tenant=tenant, name="other-worker"),
        "approver": await make_agent(**APPROVER, tenant=tenant, name="approver"),
    }


async def create(c, **fields) -> dict:
    return await ok(c, "create_task", {"type": "send_reminder", "title": "Remind Ann", **fields})


# -- create_task -----------------------------------------------------------------------------------


async def test_create_task_queues_a_pending_task_with_an_event_and_audit(team, connect, sql):
    manager = team["manager"]
    client_id = sql.execute(
        "INSERT INTO clients (tenant_id, first_name) VALUES (%s, 'Ann') RETURNING id", (manager.tenant_id,)
    ).fetchone()["id"]
    due = "2031-05-01T09:00:00+02:00"
    async with connect(manager) as c:
        task = await create(
            c,
            payload={"channel": "sms", "amount": "12.50"},
            priority=7,
            due_at=due,
            client_id=str(client_id),
            assignee_agent_id=str(team["worker"].id),
        )
    assert task["status"] == "pending" and task["attempts"] == 0 and task["max_attempts"] == 5
    assert task["payload"] == {"channel": "sms", "amount": "12.50"} and task["priority"] == 7
    assert task["created_by_agent_id"] == str(manager.id)
    assert task["assignee_agent_id"] == str(team["worker"].id) and task["client_id"] == str(client_id)
    assert parse(task["due_at"]) == parse(due) and parse(task["due_at"]).utcoffset() is not None
    # The creation event records when the task became claimable (its run_after).
    ((before, after, agent, detail),) = events(sql, task["id"])
    assert (before, after, agent, set(detail), detail["attempts"]) == (
        None,
        "pending",
        manager.id,
        {"attempts", "run_after"},
        0,
    )
    assert parse(detail["run_after"]) == parse(task["run_after"])
    (row,) = audit_rows(sql, manager)
    assert (row["name"], row["outcome"], row["entity_type"], row["entity_id"]) == (
        "create_task",
        "ok",
        "task",
        task["id"],
    )


async def test_create_task_is_idempotent_with_a_key(team, connect, sql):
    async with connect(team["manager"]) as c:
        first = await create(c, idempotency_key="reminder-42")
        again = await create(c, idempotency_key="reminder-42")
        other_title = {"type": "send_reminder", "title": "Something else"}
        clash = await err(c, "create_task", {**other_title, "idempotency_key": "reminder-42"})
    assert again == first
    assert clash["code"] == "conflict" and clash["idempotency_key"] == "reminder-42"
    assert count(sql, "tasks", team["manager"].tenant_id) == 1
    assert count(sql, "task_events", team["manager"].tenant_id) == 1


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"type": "send_reminder"}, "title"),
        ({"type": "send_reminder", "title": "   "}, "title"),
        ({"type": "send reminder!", "title": "x"}, "type"),
        ({"type": "x", "title": "x", "priority": 5000}, "priority"),
        ({"type": "x", "title": "x", "due_at": "2030-01-01T10:00:00"}, "due_at"),
        ({"type": "x", "title": "x", "payload": [1, 2]}, "payload"),
        ({"type": "x", "title": "x", "payload": {"blob": "x" * 70_000}}, "payload"),
        ({"type": "x", "title": "x", "max_attempts": 0}, "max_attempts"),
        ({"type": "x", "title": "x", "assignee_agent_id": "bob"}, "assignee_agent_id"),
        ({"type": "x", "title": "x", "colour": "red"}, "colour"),
    ],
)
async def test_bad_task_input_is_refused_and_writes_nothing(team, connect, sql, args, field):
    async with connect(team["manager"]) as c:
        error = await err(c, "create_task", args)
    assert error["code"] == "invalid_input" and field in error["message"], error
    assert count(sql, "tasks", team["manager"].tenant_id) == 0
    assert audit_rows(sql, team["manager"])[-1]["error_code"] == "invalid_input"


async def test_unknown_or_foreign_references_are_not_found(team, make_agent, connect, sql):
    stranger = await make_agent(**WORKER)
    async with connect(team["manager"]) as c:
        foreign_agent = await err(
            c, "create_task", {"type": "x", "title": "x", "assignee_agent_id": str(stranger.id)}
        )
        no_client = await err(c, "create_task", {"type": "x", "title": "x", "client_id": str(uuid.uuid4())})
        no_invoice = await err(c, "create_task", {"type": "x", "title": "x", "invoice_id": str(uuid.uuid4())})
    assert foreign_agent["code"] == "not_found" and "agent" in foreign_agent["message"]
    assert no_client["code"] == "not_found" and "search_clients" in no_client["message"]
    assert no_invoice["code"] == "not_found" and "invoice" in no_invoice["message"]
    assert count(sql, "tasks", team["manager"].tenant_id) == 0


# -- permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "visible"),
    [
        ("manager", {"create_task", "list_tasks", "request_approval"}),
        ("worker", {"list_tasks", "claim_next_task", "complete_task", "fail_task"}),
        ("approver", {"list_tasks", "decide_approval"}),
    ],
)
async def test_each_capability_shows_exactly_its_tools(team, connect, profile, visible):
    async with connect(team[profile]) as c:
        assert await tool_names(c) & TASK_TOOLS == visible


TASK_ID = str(uuid.uuid4())
CALLS = {
    "create_task": ({"type": "x", "title": "x"}, "tasks.write"),
    "list_tasks": ({}, "tasks.read"),
    "claim_next_task": ({}, "tasks.work"),
    "complete_task": ({"task_id": TASK_ID}, "tasks.work"),
    "fail_task": ({"task_id": TASK_ID, "error": "x"}, "tasks.work"),
    "request_approval": ({"task_id": TASK_ID, "reason": "x"}, "tasks.write"),
    "decide_approval": ({"task_id": TASK_ID, "decision": "approve"}, "tasks.approve"),
}


@pytest.mark.parametrize("tool", sorted(CALLS))
async def test_every_tool_is_denied_without_its_capability_and_audited(make_agent, connect, sql, tool):
    args, capability = CALLS[tool]
    agent = await make_agent(caps=[c for c in ALL_CAPS if c != capability], access=OPEN)
    async with connect(agent) as c:
        assert tool not in await tool_names(c)
        error = await err(c, tool, args)
    assert error["code"] == "permission_denied" and capability in error["message"]
    (row,) = audit_rows(sql, agent)
    assert (row["name"], row["outcome"], row["error_code"]) == (tool, "denied", "permission_denied")
    assert count(sql, "tasks", agent.tenant_id) == 0


@pytest.mark.parametrize("tool", sorted(CALLS))
async def test_every_tool_is_denied_when_the_tasks_domain_is_closed(make_agent, connect, sql, tool):
    args, _ = CALLS[tool]
    closed = await make_agent(caps=ALL_CAPS, access={"clients": {"read": True}})
    read_only = await make_agent(caps=ALL_CAPS, access={"tasks": {"read": True}})
    async with connect(closed) as c:
        assert await tool_names(c) & TASK_TOOLS == set()
        assert (await err(c, tool, args))["code"] == "permission_denied"
    async with connect(read_only) as c:
        assert await tool_names(c) & TASK_TOOLS == {"list_tasks"}
        if tool != "list_tasks":
            error = await err(c, tool, args)
            assert error["code"] == "permission_denied" and "access_patterns" in error["message"]
    assert audit_rows(sql, closed)[-1]["outcome"] == "denied"


# -- claim_next_task ---------------------------------------------------------------------------------


async def test_claim_takes_highest_priority_then_oldest_and_counts_the_attempt(team, connect, sql):
    worker = team["worker"]
    async with connect(team["manager"]) as c:
        low = await create(c, title="low", priority=-1)
        first_high = await create(c, title="high 1", priority=5)
        second_high = await create(c, title="high 2", priority=5)
        later = await create(c, title="later", priority=100, run_after="2099-01-01T00:00:00Z")
        theirs = await create(c, title="theirs", priority=99, assignee_agent_id=str(team["other_worker"].id))
        mine = await create(c, title="mine", priority=1, assignee_agent_id=str(worker.id))
        held = await create(c, title="held", priority=1000, requires_approval=True)
    async with connect(worker) as c:
        order = []
        while (claimed := (await ok(c, "claim_next_task", {"lease_seconds": 120}))["task"]) is not None:
            order.append(claimed["id"])
            assert claimed["status"] == "claimed" and claimed["attempts"] == 1
            assert claimed["claimed_by_agent_id"] == str(worker.id)
            lease = parse(claimed["lease_expires_at"]) - datetime.now(UTC)
            assert timedelta(seconds=100) < lease <= timedelta(seconds=121)
    assert order == [first_high["id"], second_high["id"], mine["id"], low["id"]]
    untouched = {later["id"], theirs["id"], held["id"]}
    rows = sql.execute(
        "SELECT id, status, attempts FROM tasks WHERE id = ANY(%s)", (list(untouched),)
    ).fetchall()
    assert {r["status"] for r in rows} == {"pending", "awaiting_approval"} and {
        r["attempts"] for r in rows
    } == {0}
    assert events(sql, low["id"])[-1][:3] == ("pending", "claimed", worker.id)
    rows = audit_rows(sql, worker)
    assert [(r["name"], r["entity_id"]) for r in rows] == [("claim_next_task", i) for i in order] + [
        ("claim_next_task", None)
    ]


async def test_an_empty_queue_is_success_with_a_null_task(team, connect):
    async with connect(team["worker"]) as c:
        assert await ok(c, "claim_next_task", {}) == {"task": None}


async def test_claim_filters_by_task_type_and_refuses_bad_input(team, connect, sql):
    async with connect(team["manager"]) as c:
        await create(c, type="send_reminder", priority=9)
        call = await create(c, type="collections.call")
    async with connect(team["worker"]) as c:
        got = await ok(c, "claim_next_task", {"task_types": ["collections.call", "other"]})
        assert got["task"]["id"] == call["id"]
        assert await ok(c, "claim_next_task", {"task_types": ["collections.call"]}) == {"task": None}
        for bad in ({"lease_seconds": 1}, {"task_types": []}, {"lease_seconds": "long"}):
            error = await err(c, "claim_next_task", bad)
            assert error["code"] == "invalid_input"
    assert (
        sql.execute(
            "SELECT count(*) AS n FROM tasks WHERE tenant_id = %s AND status = 'claimed'",
            (team["worker"].tenant_id,),
        ).fetchone()["n"]
        == 1
    )


# -- complete_task -----------------------------------------------------------------------------------


async def test_complete_records_the_result_once_and_only_for_the_holder(team, connect, sql):
    worker, other = team["worker"], team["other_worker"]
    async with connect(team["manager"]) as c:
        task = await create(c)
        unclaimed = await create(c, priority=-5)
    async with connect(worker) as c:
        claimed = (await ok(c, "claim_next_task", {}))["task"]
    assert claimed["id"] == task["id"]
    async with connect(other) as c:
        stolen = await err(c, "complete_task", {"task_id": task["id"], "result": {"sent": True}})
        not_claimed = await err(c, "complete_task", {"task_id": unclaimed["id"]})
        missing = await err(c, "complete_task", {"task_id": str(uuid.uuid4())})
    assert stolen["code"] == "conflict" and "held by another agent" in stolen["message"]
    assert not_claimed["code"] == "conflict" and "claim it with claim_next_task" in not_claimed["message"]
    assert missing["code"] == "not_found"
    async with connect(worker) as c:
        done = await ok(
            c, "complete_task", {"task_id": task["id"], "result": {"sent": True, "sms_id": "abc"}}
        )
        again = await ok(c, "complete_task", {"task_id": task["id"], "result": {"sent": False}})
        bad = await err(c, "complete_task", {"task_id": task["id"], "result": "done"})
    assert done["status"] == "completed" and done["result"] == {"sent": True, "sms_id": "abc"}
    assert done["completed_at"] and done["lease_expires_at"] is None
    assert again == done
    assert bad["code"] == "invalid_input" and "result" in bad["message"]
    assert [e[1] for e in events(sql, task["id"])] == ["pending", "claimed", "completed"]
    rows = audit_rows(sql, worker)
    assert [(r["name"], r["outcome"], r["entity_id"]) for r in rows[1:]] == [
        ("complete_task", "ok", task["id"]),
        ("complete_task", "ok", task["id"]),
        ("complete_task", "error", None),
    ]
    assert audit_rows(sql, other)[0]["error_code"] == "conflict"


async def test_a_holder_whose_lease_expired_cannot_complete(team, connect, sql):
    async with connect(team["manager"]) as c:
        task = await create(c)
    async with connect(team["worker"]) as c:
        await ok(c, "claim_next_task", {})
        sql.execute(
            "UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = %s", (task["id"],)
        )
        error = await err(c, "complete_task", {"task_id": task["id"]})
    assert error["code"] == "conflict" and "lease" in error["message"] and "expired" in error["message"]
    assert (
        sql.execute("SELECT status FROM tasks WHERE id = %s", (task["id"],)).fetchone()["status"] == "claimed"
    )


# -- fail_task ----------------------------------------------------------------------------------------


async def test_failures_retry_with_backoff_then_dead_letter_with_history(team, connect, sql):
    worker = team["worker"]
    async with connect(team["manager"]) as c:
        task = await create(c, max_attempts=3)
    backoffs = []
    async with connect(worker) as c:
        for attempt in (1, 2, 3):
            claimed = (await ok(c, "claim_next_task", {}))["task"]
            assert claimed["id"] == task["id"] and claimed["attempts"] == attempt
            failed = await ok(
                c, "fail_task", {"task_id": task["id"], "error": f"SMS gateway down #{attempt}"}
            )
            if attempt < 3:
                assert failed["status"] == "failed"
                backoffs.append(parse(failed["run_after"]) - datetime.now(UTC))
                # Not claimable before run_after; move it into the past instead of waiting.
                assert (await ok(c, "claim_next_task", {}))["task"] is None
                sql.execute("UPDATE tasks SET run_after = now() WHERE id = %s", (task["id"],))
        replay = await ok(c, "fail_task", {"task_id": task["id"], "error": "SMS gateway down #3"})
    assert failed["status"] == "dead" and replay == failed
    assert timedelta(seconds=25) < backoffs[0] <= timedelta(seconds=30)
    assert timedelta(seconds=55) < backoffs[1] <= timedelta(seconds=60)
    assert [(e["attempt"], e["error"]) for e in failed["errors"]] == [
        (1, "SMS gateway down #1"),
        (2, "SMS gateway down #2"),
        (3, "SMS gateway down #3"),
    ]
    letter = sql.execute("SELECT * FROM dead_letters WHERE task_id = %s", (task["id"],)).fetchone()
    assert letter["last_error"] == "SMS gateway down #3" and letter["task"]["attempts"] == 3
    assert [h["to_status"] for h in letter["history"]] == [
        "pending",
        "claimed",
        "failed",
        "claimed",
        "failed",
        "claimed",
        "dead",
    ]
    assert [r["entity_id"] for r in audit_rows(sql, worker) if r["name"] == "fail_task"] == [task["id"]] * 4


async def test_a_non_retryable_failure_is_dead_at_once_and_a_delay_can_be_given(team, connect, sql):
    async with connect(team["manager"]) as c:
        fatal = await create(c, priority=2)
        later = await create(c, priority=1)
    async with connect(team["worker"]) as c:
        await ok(c, "claim_next_task", {})
        dead = await ok(
            c, "fail_task", {"task_id": fatal["id"], "error": "client opted out", "retryable": False}
        )
        await ok(c, "claim_next_task", {})
        delayed = await ok(
            c, "fail_task", {"task_id": later["id"], "error": "rate limited", "retry_after_seconds": 600}
        )
        both = await err(
            c,
            "fail_task",
            {"task_id": later["id"], "error": "x", "retryable": False, "retry_after_seconds": 5},
        )
        blank = await err(c, "fail_task", {"task_id": later["id"], "error": ""})
        again = await ok(c, "fail_task", {"task_id": later["id"], "error": "rate limited"})
    assert dead["status"] == "dead" and dead["attempts"] == 1
    assert count(sql, "dead_letters", team["worker"].tenant_id) == 1
    assert delayed["status"] == "failed"
    assert timedelta(seconds=590) < parse(delayed["run_after"]) - datetime.now(UTC) <= timedelta(seconds=600)
    assert both["code"] == blank["code"] == "invalid_input" and "retry_after_seconds" in both["message"]
    # A retried fail_task returns the failed task: no second failure is recorded.
    assert again == delayed
    assert (
        len(sql.execute("SELECT errors FROM tasks WHERE id = %s", (later["id"],)).fetchone()["errors"]) == 1
    )


# -- approvals ---------------------------------------------------------------------------------------


async def test_approval_holds_the_task_until_another_agent_approves(team, make_agent, connect, sql):
    approver = team["approver"]
    # May approve too, but never its own request.
    boss = await make_agent(caps=ALL_CAPS, access=OPEN, tenant=approver.tenant_name)
    async with connect(boss) as c:
        task = await create(c, type="refund", title="Refund 40.00 to Ann")
        asked = await ok(
            c, "request_approval", {"task_id": task["id"], "reason": "Refunds over 20 need a human"}
        )
        again = await ok(
            c, "request_approval", {"task_id": task["id"], "reason": "Refunds over 20 need a human"}
        )
        own = await err(c, "decide_approval", {"task_id": task["id"], "decision": "approve"})
        assert (await ok(c, "claim_next_task", {}))["task"] is None
    assert asked["task"]["status"] == "awaiting_approval" and asked["approval"]["decision"] == "requested"
    assert asked["approval"]["requested_by_agent_id"] == str(boss.id)
    assert again == asked
    assert own["code"] == "conflict" and "another agent" in own["message"]
    async with connect(approver) as c:
        decided = await ok(
            c, "decide_approval", {"task_id": task["id"], "decision": "approve", "reason": "ok"}
        )
        replay = await ok(
            c, "decide_approval", {"task_id": task["id"], "decision": "approve", "reason": "ok"}
        )
        flip = await err(c, "decide_approval", {"task_id": task["id"], "decision": "reject", "reason": "no"})
    assert decided["task"]["status"] == "pending" and decided["approval"]["decision"] == "approved"
    assert decided["approval"]["decided_by_agent_id"] == str(approver.id)
    assert decided["approval"]["requested_by_agent_id"] == str(boss.id)
    assert replay == decided and flip["code"] == "conflict" and "not awaiting approval" in flip["message"]
    async with connect(team["worker"]) as c:
        assert (await ok(c, "claim_next_task", {}))["task"]["id"] == task["id"]
    rows = sql.execute(
        "SELECT decision, reason FROM approval_events WHERE task_id = %s ORDER BY id", (task["id"],)
    ).fetchall()
    assert [(r["decision"], r["reason"]) for r in rows] == [
        ("requested", "Refunds over 20 need a human"),
        ("approved", "ok"),
    ]
    assert [e[1] for e in events(sql, task["id"])] == ["pending", "awaiting_approval", "pending", "claimed"]
    assert [(r["name"], r["outcome"], r["entity_id"]) for r in audit_rows(sql, approver)] == [
        ("decide_approval", "ok", task["id"]),
        ("decide_approval", "ok", task["id"]),
        ("decide_approval", "error", task["id"]),  # a failed call names the entity it was about
    ]
    assert [r["name"] for r in audit_rows(sql, boss)][:3] == [
        "create_task",
        "request_approval",
        "request_approval",
    ]


async def test_a_decision_is_given_as_it_is_recorded_and_v1s_words_still_work(team, connect, sql):
    """decide_approval lists approved/rejected, the words it records and returns (issue 20, part
    8); approve/reject, v1's, are taken as the same argument: a retry with either is one call."""
    async with connect(team["manager"]) as c:
        first = await create(c, requires_approval=True)
        second = await create(c, requires_approval=True)
    async with connect(team["approver"]) as c:
        listed = {t.name: t for t in await all_tools(c)}
        decide = {"task_id": first["id"], "reason": "ok", "idempotency_key": "decide-1"}
        approved = await c.call_tool("decide_approval", {**decide, "decision": "approved"})
        retried = await c.call_tool("decide_approval", {**decide, "decision": "approve"})
        rejected = await ok(
            c, "decide_approval", {"task_id": second["id"], "decision": "reject", "reason": "not now"}
        )
    assert listed["decide_approval"].input_schema["properties"]["decision"]["enum"] == [
        "approved",
        "rejected",
    ]
    assert approved.structured_content["approval"]["decision"] == "approved"
    assert retried.structured_content == approved.structured_content
    assert (retried.meta or {}).get("bizctx/replayed") is True
    assert rejected["approval"]["decision"] == "rejected" and rejected["task"]["status"] == "cancelled"


async def test_a_rejection_needs_a_reason_and_cancels_the_task(team, connect, sql):
    async with connect(team["manager"]) as c:
        task = await create(c, requires_approval=True)
        claimed_meanwhile = await create(c, priority=50)
    assert task["status"] == "awaiting_approval"
    async with connect(team["approver"]) as c:
        no_reason = await err(c, "decide_approval", {"task_id": task["id"], "decision": "reject"})
        maybe = await err(c, "decide_approval", {"task_id": task["id"], "decision": "maybe", "reason": "x"})
        rejected = await ok(
            c,
            "decide_approval",
            {"task_id": task["id"], "decision": "reject", "reason": "Not for this client"},
        )
    assert no_reason["code"] == maybe["code"] == "invalid_input" and "reason" in no_reason["message"]
    assert rejected["task"]["status"] == "cancelled" and rejected["approval"]["decision"] == "rejected"
    assert [e[1] for e in events(sql, task["id"])] == ["awaiting_approval", "cancelled"]
    async with connect(team["worker"]) as c:
        await ok(c, "claim_next_task", {})
    async with connect(team["manager"]) as c:
        late = await err(c, "request_approval", {"task_id": claimed_meanwhile["id"], "reason": "risky"})
        blank = await err(c, "request_approval", {"task_id": task["id"], "reason": ""})
    assert late["code"] == "conflict" and "only a pending task" in late["message"]
    assert blank["code"] == "invalid_input"
    assert count(sql, "approval_events", team["manager"].tenant_id) == 2


async def test_the_database_rejects_invalid_transitions(sql):
    tenant = sql.execute(
        "INSERT INTO tenants (name) VALUES (%s) RETURNING id", (f"t-{uuid.uuid4()}",)
    ).fetchone()
    task = sql.execute(
        "INSERT INTO tasks (tenant_id, type, title) VALUES (%s, 'x', 'x') RETURNING id", (tenant["id"],)
    ).fetchone()
    with pytest.raises(psycopg.Error) as info:
        sql.execute("UPDATE tasks SET status = 'completed' WHERE id = %s", (task["id"],))
    assert info.value.sqlstate == "BZ001" and "pending -> completed" in str(info.value)
    with pytest.raises(psycopg.Error) as info:
        sql.execute(
            "UPDATE tasks SET status = 'claimed', lease_expires_at = now() WHERE id = %s", (task["id"],)
        )
    assert info.value.sqlstate == "BZ001" and "increment attempts" in str(info.value)


# -- list_tasks and the assigned scope ---------------------------------------------------------------


async def test_list_tasks_filters_and_pages(team, connect, sql):
    worker = team["worker"]
    async with connect(team["manager"]) as c:
        made = [await create(c, title=f"task {n}", type="a" if n % 2 else "b") for n in range(5)]
        assigned = await create(c, title="for worker", assignee_agent_id=str(worker.id))
    async with connect(worker) as c:
        await ok(c, "claim_next_task", {})  # takes made[0]
        pages, cursor = [], None
        while True:
            page = await ok(c, "list_tasks", {"limit": 2, **({"cursor": cursor} if cursor else {})})
            pages.append([t["id"] for t in page["tasks"]])
            if (cursor := page["next_cursor"]) is None:
                break
        type_a = await ok(c, "list_tasks", {"type": "a"})
        claimed = await ok(c, "list_tasks", {"status": "claimed"})
        mine = await ok(c, "list_tasks", {"assignee_agent_id": str(worker.id)})
        bad = await err(c, "list_tasks", {"status": "sleeping"})
    newest_first = [assigned["id"], *[t["id"] for t in reversed(made)]]
    assert [i for p in pages for i in p] == newest_first and [len(p) for p in pages] == [2, 2, 2]
    assert {t["id"] for t in type_a["tasks"]} == {made[1]["id"], made[3]["id"]}
    assert [t["id"] for t in claimed["tasks"]] == [made[0]["id"]]
    assert [t["id"] for t in mine["tasks"]] == [assigned["id"]]
    assert bad["code"] == "invalid_input" and "status" in bad["message"]
    assert [r["outcome"] for r in audit_rows(sql, worker) if r["name"] == "list_tasks"] == ["ok"] * 6 + [
        "error"
    ]


async def test_the_assigned_scope_hides_everything_else_everywhere(team, make_agent, connect, sql):
    manager = team["manager"]
    scoped = await make_agent(
        caps=ALL_CAPS,
        access={"tasks": {"read": True, "write": True, "scope": "assigned"}},
        tenant=manager.tenant_name,
    )
    async with connect(manager) as c:
        others = await create(c, title="someone else's", priority=10)
        for_scoped = await create(c, title="for scoped", assignee_agent_id=str(scoped.id))
    async with connect(scoped) as c:
        own = await create(c, title="made by scoped", priority=-1)
        listed = await ok(c, "list_tasks", {})
        hidden = [
            await err(c, "complete_task", {"task_id": others["id"]}),
            await err(c, "fail_task", {"task_id": others["id"], "error": "x"}),
            await err(c, "request_approval", {"task_id": others["id"], "reason": "x"}),
            await err(c, "decide_approval", {"task_id": others["id"], "decision": "approve"}),
        ]
        with pytest.raises(MCPError):
            await c.read_resource(f"bizctx://tasks/{others['id']}")
        first = (await ok(c, "claim_next_task", {}))["task"]
        second = (await ok(c, "claim_next_task", {}))["task"]
        third = (await ok(c, "claim_next_task", {}))["task"]
        queue = json.loads((await c.read_resource("bizctx://tasks/queue")).contents[0].text)
    assert {t["id"] for t in listed["tasks"]} == {for_scoped["id"], own["id"]}
    assert {e["code"] for e in hidden} == {"not_found"}
    assert [first["id"], second["id"], third] == [for_scoped["id"], own["id"], None]
    assert queue["ready"] == 0 and queue["next"] == []
    status = sql.execute("SELECT status FROM tasks WHERE id = %s", (others["id"],)).fetchone()["status"]
    assert status == "pending"


async def test_another_tenants_task_is_not_found(team, make_agent, connect):
    stranger = await make_agent(caps=ALL_CAPS, access=OPEN)
    async with connect(team["manager"]) as c:
        task = await create(c)
    async with connect(stranger) as c:
        assert (await err(c, "complete_task", {"task_id": task["id"]}))["code"] == "not_found"
        assert (await ok(c, "list_tasks", {}))["tasks"] == []
        assert (await ok(c, "claim_next_task", {}))["task"] is None


# -- resources -------------------------------------------------------------------------------------


async def test_queue_and_task_resources(team, make_agent, connect, sql):
    worker = team["worker"]
    async with connect(team["manager"]) as c:
        urgent = await create(c, title="urgent", priority=9)
        normal = await create(c, title="normal")
        await create(c, title="tomorrow", run_after="2099-01-01T00:00:00+00:00")
        await create(c, title="needs ok", requires_approval=True)
    async with connect(worker) as c:
        before = json.loads((await c.read_resource("bizctx://tasks/queue")).contents[0].text)
        claimed = (await ok(c, "claim_next_task", {}))["task"]
        await ok(c, "fail_task", {"task_id": claimed["id"], "error": "timeout"})
        after = json.loads((await c.read_resource("bizctx://tasks/queue")).contents[0].text)
        detail = json.loads((await c.read_resource(f"bizctx://tasks/{urgent['id']}")).contents[0].text)
        templates = {t.uri_template for t in (await c.list_resource_templates()).resource_templates}
    assert (before["ready"], before["scheduled"], before["claimed"], before["awaiting_approval"]) == (
        2,
        1,
        0,
        1,
    )
    assert [t["id"] for t in before["next"]] == [urgent["id"], normal["id"]]
    assert before["next_run_after"].startswith("2099-01-01")
    assert (after["ready"], after["scheduled"]) == (1, 2) and [t["id"] for t in after["next"]] == [
        normal["id"]
    ]
    assert [(e["from_status"], e["to_status"]) for e in detail["events"]] == [
        (None, "pending"),
        ("pending", "claimed"),
        ("claimed", "failed"),
    ]
    assert detail["events"][2]["detail"]["error"] == "timeout" and detail["errors"][0]["error"] == "timeout"
    assert "bizctx://tasks/{task_id}" in templates
    rows = audit_rows(sql, worker)
    assert [(r["kind"], r["name"], r["entity_id"]) for r in rows if r["kind"] == "resource"] == [
        ("resource", "bizctx://tasks/queue", None),
        ("resource", "bizctx://tasks/queue", None),
        ("resource", "bizctx://tasks/{task_id}", urgent["id"]),
    ]
    outsider = await make_agent(caps=["tasks.work"], access=OPEN, tenant=worker.tenant_name)
    async with connect(outsider) as c:
        assert not any("tasks" in r.uri for r in (await c.list_resources()).resources)
        with pytest.raises(MCPError):
            await c.read_resource("bizctx://tasks/queue")
    assert audit_rows(sql, outsider)[-1]["outcome"] == "denied"
