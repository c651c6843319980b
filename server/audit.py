"""The audit row: one per call, allowed, denied or failed. An allowed call's row is
written in the call's own transaction; a denied or failed call's row in a transaction
of its own (after the rollback). Agents may insert audit rows but never read them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from .database import Tx
from .queries import QueryRef

INSERT_AUDIT_LOG = QueryRef("governance", "insert_audit_log")

# The outcome a call's error code stands for; any other code is an `error`.
OUTCOMES = {
    "permission_denied": "denied",
    "approval_required": "pending",
    "policy_blocked": "blocked",
    "rate_limited": "blocked",
}

# Bounds on what one audit row keeps of the arguments: a 1 MB string is evidence of
# what was sent, not something to store a thousand times.
MAX_STRING = 2_000
MAX_ITEMS = 100
MAX_DEPTH = 8


@dataclass
class AuditEntry:
    request_id: str
    transport: str
    kind: str
    name: str
    outcome: str = "ok"
    error_code: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    duration_ms: float = 0.0
    arguments: Any = None
    replayed: bool = False
    # The approval task whose decision ran this call (a held call, run on approval).
    approval_task_id: Any = None
    # The rule or policy that refused or held the call (its error's `rule`), as evidence.
    rule: Any = None

    def failed(self, code: str, rule: Any = None) -> None:
        """Record the error that ended the call, with the outcome its kind means."""
        self.error_code = code
        self.outcome = OUTCOMES.get(code, "error")
        self.rule = rule


def write_audit(
    tx: Tx, tenant_id: Any, agent_id: Any, entry: AuditEntry, *, database_time: bool = False
) -> None:
    """Queue the audit row: it is sent with the transaction's COMMIT, so it commits (or
    rolls back) with the call, at no extra round trip. With `database_time`, the row is
    queued before the call's statement was sent (Tx.commit_with_next_read): its duration is
    `entry.duration_ms` plus the transaction's time in the database until the row is written."""
    tx.defer(
        INSERT_AUDIT_LOG,
        tenant_id=tenant_id,
        agent_id=agent_id,
        request_id=entry.request_id,
        transport=entry.transport,
        kind=entry.kind,
        name=entry.name,
        entity_type=entry.entity_type,
        entity_id=entry.entity_id,
        outcome=entry.outcome,
        error_code=entry.error_code,
        duration_ms=Decimal(str(round(max(entry.duration_ms, 0.0), 3))),
        database_time=database_time,
        arguments=Jsonb(bounded(entry.arguments if entry.arguments is not None else {})),
        replayed=entry.replayed,
        approval_task_id=entry.approval_task_id,
        rule=Jsonb(bounded(entry.rule)) if entry.rule is not None else None,
    )


def bounded(value: Any, depth: int = 0) -> Any:
    """JSON-safe, size-bounded copy: long strings cut, NUL bytes and lone surrogates
    replaced (jsonb refuses both), deep or long structures summarised."""
    if depth > MAX_DEPTH:
        return "[too deep]"
    if isinstance(value, str):
        text = value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
        if len(text) > MAX_STRING:
            return f"{text[:MAX_STRING]}...[{len(text) - MAX_STRING} more characters]"
        return text
    if isinstance(value, dict):
        items = list(value.items())
        out = {bounded(str(k), depth + 1): bounded(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["[more keys]"] = len(items) - MAX_ITEMS
        return out
    if isinstance(value, (list, tuple)):
        out_list = [bounded(v, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            out_list.append(f"[{len(value) - MAX_ITEMS} more items]")
        return out_list
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return bounded(str(value), depth + 1)
