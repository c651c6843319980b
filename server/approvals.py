"""The approval gate: a call that matches a `require_approval` policy is held, not run.

Held: the guard answers `approval_required` with the `task_id` of a task of type `approval`
in `awaiting_approval`; the call itself (tool, validated arguments, requester, transport) is
kept in `approval_calls`, which no tool returns as it is (the task's payload shows the tool,
the arguments with every redactable field masked, and the policy). The task, the held call
and the audit row (`pending`) commit together.

Decided: by an agent with tasks.approve and read on the tool's domain (never the requester)
through decide_approval, or by a person through `bizctx approvals approve|reject ID --as NAME`.
A rejection cancels the task with the reason. An approval runs the held call exactly once (the
task row is locked; a second approver finds it decided), in a savepoint inside the decision's
transaction, as the requester with the requester's rights at that moment (re-checked for
permission, deny and limit policies, never gated again), and audited as the requester's call
naming the approval task; its failure does not undo the decision. The task completes either
way, its result saying how the call went. Held calls expire after EXPIRY undecided.

A retry of the gated call with its idempotency key answers from here: the same
approval_required while pending, then the call's result or error, or the rejection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from psycopg.types.json import Jsonb
from pydantic import BaseModel

from .database import Tx
from .errors import (
    ERRORS_BY_CODE,
    ApprovalRequired,
    BizctxError,
    Conflict,
    NotFound,
    PermissionDenied,
    PolicyBlocked,
)
from .identity import Agent
from .queries import QueryRef
from .redact import mask_arguments

if TYPE_CHECKING:
    from .guard import Call, Guard
    from .registry import ToolSpec

EXPIRY = timedelta(days=7)
APPROVAL_TYPE = "approval"

INSERT_APPROVAL_TASK = QueryRef("governance", "insert_approval_task")
HOLD_CALL = QueryRef("governance", "hold_call")
LOCK_HELD_CALL = QueryRef("governance", "lock_held_call")
HELD_CALL_OUTCOME = QueryRef("governance", "held_call_outcome")
SETTLE_HELD_CALL = QueryRef("governance", "settle_held_call")
FINISH_APPROVAL_TASK = QueryRef("governance", "finish_approval_task")
RECORD_DECISION = QueryRef("governance", "record_decision")
FIND_HELD_CALL = QueryRef("operators", "find_held_call")


class Gate(Protocol):
    """What holds a call for approval: a `require_approval` policy, or a rule a handler found
    (a contact rule); described to the requester and the approver as `describe()` says."""

    @property
    def id(self) -> UUID | None: ...  # the policy's, when a policy holds the call

    @property
    def reason(self) -> str | None: ...

    def describe(self) -> dict[str, Any]: ...


class HoldForApproval(Exception):
    """Raised by a handler, before it writes anything, for a call a rule of its domain says
    needs approval: the guard holds the call (as for a policy) instead of running it. Never
    raised when the call runs because it was approved (`call.approved`)."""

    def __init__(self, gate: Gate) -> None:
        super().__init__(gate.reason)
        self.gate = gate


@dataclass(frozen=True)
class Decider:
    """Who decides: an agent (through decide_approval) or a person (the CLI, by name)."""

    agent: Agent | None = None
    operator: str | None = None

    @property
    def identity(self) -> dict[str, str]:
        """The settings the decision's transaction runs with (see set_call_identity.sql)."""
        if self.agent is None:
            return {"agent_id": "", "tasks_scope": "all", "mem_docs_scope": "all"}
        scopes = self.agent.access.scopes()
        return {
            "agent_id": str(self.agent.id),
            "tasks_scope": scopes["tasks"],
            "mem_docs_scope": scopes["mem_docs"],
        }

    @property
    def name(self) -> str:
        return self.agent.name if self.agent is not None else f"{self.operator} (operator)"


@dataclass(frozen=True)
class Decision:
    task: dict[str, Any]
    event: dict[str, Any]


def _required(task_id: Any, tool: str, policy: dict[str, Any] | None, fresh: bool) -> ApprovalRequired:
    what = "is held" if fresh else "is still waiting"
    return ApprovalRequired(
        f"This {tool} call {what} for approval (task {task_id}): nothing was done yet. An approver "
        "decides; then retry with the same idempotency_key to get the outcome, or read "
        f"bizctx://agent/me/approvals/{task_id}. Do not make the call again another way.",
        task_id=str(task_id),
        policy=policy,
    )


class Approvals:
    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    async def hold(
        self, call: Call, spec: ToolSpec, args: BaseModel | None, policy: Gate, key: str | None
    ) -> ApprovalRequired:
        """Hold the call for approval, in the caller's transaction; the answer to give."""
        arguments = args.model_dump(mode="json", by_alias=True) if args is not None else {}
        shown = mask_arguments(arguments, spec.input_model, lambda mark: True)
        task = await call.tx.row(
            INSERT_APPROVAL_TASK,
            title=f"Approve {spec.name} requested by {call.agent.name}",
            payload=Jsonb({"tool": spec.name, "arguments": shown, "policy": policy.describe()}),
        )
        await call.tx.execute(
            HOLD_CALL,
            task_id=task["id"],
            tool=spec.name,
            arguments=Jsonb(arguments),
            transport=call.transport,
            policy_id=policy.id,
            policy=Jsonb(policy.describe()),
            idempotency_key=key,
            reason=policy.reason or f"A policy requires approval of {spec.name}.",
        )
        return _required(task["id"], spec.name, policy.describe(), fresh=True)

    async def outcome(self, tx: Tx, task_id: UUID) -> Any:
        """What a held call came to, for a retry with its key: its stored result, or the error
        that stands for it (still pending, failed, rejected)."""
        held = await tx.one(HELD_CALL_OUTCOME, task_id=task_id)
        if held is None:
            raise NotFound(f"The approval task {task_id} of this call is gone; make the call again.")
        if held["status"] == "pending":
            raise _required(task_id, held["tool"], held["policy"], fresh=False)
        if held["status"] == "succeeded":
            return held["result"]
        if held["status"] == "failed":
            # The answer the call got when it ran; retrying the key cannot change it.
            error = _error_from(held["error"])
            error.retryable = False
            error.message += " (How the approved call ended; to try again, make a new call with a new key.)"
            raise error
        raise PolicyBlocked(
            f"This {held['tool']} call was not approved ({held['status']}): "
            f"{held['reason'] or 'no reason given'}. Do not retry it.",
            rule=held["policy"],
            reason=held["reason"],
            task_id=str(task_id),
        )

    async def decide(
        self, tx: Tx, decider: Decider, task_id: UUID, approve: bool, reason: str | None
    ) -> Decision:
        """Approve (run the held call) or reject an approval task, in `tx`."""
        held = await tx.one(LOCK_HELD_CALL, task_id=task_id)
        if held is None:
            raise NotFound(f"No approval task {task_id} that you can see; list them with list_tasks.")
        wanted = "approved" if approve else "rejected"
        if held["task_status"] != "awaiting_approval":
            last = held["last_event"] or {}
            same_decider = (
                decider.agent is not None and last.get("decided_by_agent_id") == str(decider.agent.id)
            ) or (decider.operator is not None and last.get("decided_by_operator") == decider.operator)
            if last.get("decision") == wanted and same_decider:
                return Decision(held["task"], last)  # the same decision, repeated: nothing new
            raise Conflict(
                f"Approval task {task_id} is already {held['status']}; there is nothing left to decide.",
                status=held["status"],
            )
        if decider.agent is not None and decider.agent.id == held["requested_by_agent_id"]:
            raise Conflict(
                "You asked for this approval, so you cannot decide it: another agent with tasks.approve, "
                "or a person (bizctx approvals), must.",
                status="awaiting_approval",
            )
        spec = self.guard.registry.tools.get(held["tool"])
        if (
            decider.agent is not None
            and spec is not None
            and not decider.agent.access.allows(spec.domain, "read")
        ):
            raise PermissionDenied(
                f"Approving a {spec.name} call needs read access to the {spec.domain} domain, which your "
                "access_patterns do not open."
            )
        if held["created_at"] <= datetime.now(UTC) - EXPIRY:
            # Too late to decide: it expired, by no one's decision (the task says so).
            return await self._settle(tx, held, Decider(), "expired", "Not decided within 7 days.")
        if not approve:
            return await self._settle(tx, held, decider, "rejected", reason)
        ran = await self.guard.execute_held(tx, held, decider)
        return await self._settle(tx, held, decider, ran.status, reason, ran.result, ran.error, ran.summary)

    async def _settle(
        self,
        tx: Tx,
        held: dict[str, Any],
        decider: Decider,
        status: str,
        reason: str | None,
        result: Any = None,
        error: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> Decision:
        ran = status in ("succeeded", "failed")
        await tx.execute(
            SETTLE_HELD_CALL,
            task_id=held["task_id"],
            status=status,
            result=Jsonb(result) if result is not None else None,
            error=Jsonb(error) if error is not None else None,
            decided_by_agent_id=decider.agent.id if decider.agent else None,
            decided_by_operator=decider.operator,
            reason=reason,
        )
        task = await tx.row(
            FINISH_APPROVAL_TASK,
            task_id=held["task_id"],
            status="completed" if ran else "cancelled",
            result=Jsonb(summary if ran else {"outcome": status, "reason": reason}),
        )
        event = await tx.row(
            RECORD_DECISION,
            task_id=held["task_id"],
            decision="approved" if ran else "rejected",
            requested_by_agent_id=held["requested_by_agent_id"],
            decided_by_agent_id=decider.agent.id if decider.agent else None,
            decided_by_operator=decider.operator,
            reason=reason if status != "expired" else "expired: not decided within 7 days",
        )
        return Decision(task, event)

    async def decide_as_operator(
        self, task_id: UUID, approve: bool, reason: str | None, name: str
    ) -> Decision:
        """A person's decision (the CLI): in the task's tenant, as no agent."""
        async with self.guard.db.operator_tx() as tx:
            found = await tx.one(FIND_HELD_CALL, task_id=task_id)
        if found is None:
            raise NotFound(f"no approval task {task_id} (see `bizctx approvals list`)")
        decider = Decider(operator=name)
        async with self.guard.db.agent_tx(
            found["tenant_id"], None, {"tasks": "all", "mem_docs": "all"}
        ) as tx:
            return await self.decide(tx, decider, task_id, approve, reason)


@dataclass(frozen=True)
class Ran:
    """How a held call went when it ran on approval."""

    status: str  # succeeded | failed
    result: Any = None
    error: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None


def _error_from(stored: dict[str, Any]) -> BizctxError:
    """The error a held call failed with, as it was (its code, message and details)."""
    details = {k: v for k, v in stored.items() if k not in ("code", "message", "retryable")}
    cls = ERRORS_BY_CODE.get(stored.get("code", ""), BizctxError)
    return cls(stored.get("message", "The approved call failed."), **details)
