"""idempotency_key on the writes that keep no record of their own to find a retry by:
set_client_preference, forget, complete_task, fail_task, request_approval, decide_approval.
A retry with the key returns the first result and writes nothing; the same key with other
arguments is a conflict; keys are one agent's own. (Writes that create something keep the
key on it, and are tested with their domain.)"""

from __future__ import annotations

import asyncio

import pytest
from test_mem_docs import note

from conftest import audit_rows, count, err, error_of, ok

pytestmark = pytest.mark.anyio

EVERYTHING = {
    "caps": [
        "clients.read",
        "clients.write",
        "mem_docs.read",
        "mem_docs.write",
        "tasks.read",
        "tasks.write",
        "tasks.work",
        "tasks.approve",
    ],
    "access": {
        "clients": {"read": True, "write": True},
        "mem_docs": {"read": True, "write": True},
        "tasks": {"read": True, "write": True},
    },
}


@pytest.fixture
async def pair(make_agent):
    first = await make_agent(**EVERYTHING, name="first")
    return first, await make_agent(**EVERYTHING, tenant=first.tenant_name, name="second")


def preference(sql, client_id: str) -> object:
    row = sql.execute(
        "SELECT value FROM client_preferences WHERE client_id = %s AND key = 'pets'", (client_id,)
    ).fetchone()
    return None if row is None else row["value"]


def writes(sql, tenant_id) -> dict[str, int]:
    """Rows of the tables these tools write, so a replay can be shown to write none."""
    tables = ("client_preferences", "opt_outs", "task_events", "approval_events", "mem_docs")
    return {table: count(sql, table, tenant_id) for table in tables}


async def test_a_retry_with_the_key_returns_the_first_result_and_writes_nothing(pair, connect, sql):
    first, second = pair
    async with connect(first) as c:
        client = await ok(c, "upsert_client", {"first_name": "Ann"})
        pets = {"client_id": client["id"], "key": "pets", "value": ["dog"], "idempotency_key": "pref-1"}
        set_first = await ok(c, "set_client_preference", pets)
        # Changed since (by a person, say): the retry must not put the dog back.
        sql.execute("UPDATE client_preferences SET value = '[\"cat\"]' WHERE client_id = %s", (client["id"],))

        done = await ok(c, "create_task", {"type": "call", "title": "Done"})
        failed = await ok(c, "create_task", {"type": "call", "title": "Failed"})
        held = await ok(c, "create_task", {"type": "call", "title": "Held"})
        claimed = [(await ok(c, "claim_next_task", {}))["task"]["id"] for _ in range(2)]
        assert sorted(claimed) == sorted([done["id"], failed["id"]])
        complete = {"task_id": done["id"], "result": {"ok": True}, "idempotency_key": "done-1"}
        fail = {
            "task_id": failed["id"],
            "error": "no answer",
            "retryable": False,
            "idempotency_key": "fail-1",
        }
        ask = {"task_id": held["id"], "reason": "refund over 500", "idempotency_key": "ask-1"}
        doc = await ok(c, "remember", note("The gate sticks in winter.", 5))
        forget = {"mem_doc_id": doc["id"], "idempotency_key": "forget-1"}
        calls = [
            ("complete_task", complete),
            ("fail_task", fail),
            ("request_approval", ask),
            ("forget", forget),
        ]
        results = [await ok(c, tool, args) for tool, args in calls]
        before = writes(sql, first.tenant_id)
        retried_pref = await ok(c, "set_client_preference", pets)
        retried = [await ok(c, tool, args) for tool, args in calls]
        after = writes(sql, first.tenant_id)
        gone = await err(c, "forget", {"mem_doc_id": doc["id"]})  # without the key: it is gone
    async with connect(second) as c:
        decide = {"task_id": held["id"], "decision": "approve", "reason": "fine", "idempotency_key": "ok-1"}
        decided = await ok(c, "decide_approval", decide)
        before_decision_retry = writes(sql, first.tenant_id)
        decided_again = await ok(c, "decide_approval", decide)
        after_decision_retry = writes(sql, first.tenant_id)

    assert retried_pref == set_first and set_first["preferences"]["pets"] == ["dog"]
    assert preference(sql, client["id"]) == ["cat"]  # the retry wrote nothing
    assert retried == results
    assert results[0]["status"] == "completed" and results[1]["status"] == "dead"
    assert results[2]["task"]["status"] == "awaiting_approval" and results[3]["forgotten"] is True
    assert after == before
    assert gone["code"] == "not_found"
    assert decided_again == decided and decided["task"]["status"] == "pending"
    assert after_decision_retry == before_decision_retry
    # Every call, replayed or not, has its audit row.
    names = [r["name"] for r in audit_rows(sql, first) if r["outcome"] == "ok"]
    for tool in ("set_client_preference", "complete_task", "fail_task", "request_approval", "forget"):
        assert names.count(tool) == 2, tool
    # A replayed call is audited as about the same task as the first.
    completions = [r for r in audit_rows(sql, first) if r["name"] == "complete_task"]
    assert [(r["entity_type"], r["entity_id"]) for r in completions] == [("task", done["id"])] * 2


async def test_the_same_key_with_other_arguments_is_a_conflict_and_writes_nothing(pair, connect, sql):
    first, second = pair
    async with connect(first) as c:
        client = await ok(c, "upsert_client", {"first_name": "Ann"})
        pets = {"client_id": client["id"], "key": "pets", "value": ["dog"], "idempotency_key": "pref-1"}
        await ok(c, "set_client_preference", pets)
        clash = await err(c, "set_client_preference", {**pets, "value": ["cat"]})
        # An omitted field is not the same call as the field given.
        clash_omitted = await err(c, "set_client_preference", {**pets, "reason": "asked"})
    async with connect(second) as c:
        # Keys are one agent's own: another agent's "pref-1" is a different call.
        theirs = await ok(c, "set_client_preference", {**pets, "value": ["fish"]})
    assert clash["code"] == "conflict" and "idempotency_key" in clash["message"]
    assert clash["idempotency_key"] == "pref-1" and clash_omitted["code"] == "conflict"
    assert theirs["preferences"]["pets"] == ["fish"] and preference(sql, client["id"]) == ["fish"]
    rows = audit_rows(sql, first)
    assert [(r["outcome"], r["error_code"]) for r in rows[-2:]] == [("error", "conflict")] * 2


async def test_a_bad_key_is_refused_and_a_failed_call_keeps_no_key(pair, connect, sql):
    first, _ = pair
    async with connect(first) as c:
        doc = await ok(c, "remember", note("Keys are under the mat.", 6))
        empty = await err(c, "forget", {"mem_doc_id": doc["id"], "idempotency_key": ""})
        long = await err(c, "forget", {"mem_doc_id": doc["id"], "idempotency_key": "k" * 201})
        missing = await err(
            c, "forget", {"mem_doc_id": "00000000-0000-0000-0000-000000000000", "idempotency_key": "f"}
        )
        # The key of a call that failed was rolled back with it: it is free for a real call.
        forgotten = await ok(c, "forget", {"mem_doc_id": doc["id"], "idempotency_key": "f"})
    assert empty["code"] == long["code"] == "invalid_input" and "idempotency_key" in empty["message"]
    assert missing["code"] == "not_found" and forgotten["mem_doc_id"] == doc["id"]
    kept = sql.execute(
        "SELECT tool, idempotency_key FROM idempotent_results WHERE tenant_id = %s", (first.tenant_id,)
    ).fetchall()
    assert kept == [{"tool": "forget", "idempotency_key": "f"}]


async def test_concurrent_calls_with_one_key_run_once(app, pair, connect, sql):
    first, _ = pair
    async with connect(first) as c:
        doc = await ok(c, "remember", note("The van's spare key is in the office.", 7))
    args = {"mem_doc_id": doc["id"], "idempotency_key": "forget-once"}
    results = await asyncio.gather(*(app.guard.call_tool(first.principal, "forget", args) for _ in range(6)))
    outs = [r.structured_content for r in results if not r.is_error]
    assert [error_of(r) for r in results if r.is_error] == []
    assert len(outs) == 6 and all(o == outs[0] for o in outs) and outs[0]["forgotten"] is True
