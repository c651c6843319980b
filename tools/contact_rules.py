"""Contact rules: the one check every outbound contact with a client passes (log_interaction
outbound on email, sms or phone; later claimed reminders and collections steps).

The rules are SQL (migration 0075: opt-outs, quiet hours in the client's zone, frequency
caps); this module asks them and acts on the answer, in the transaction that records the
contact, after locking the client's row so two agents racing for the last allowed contact
cannot both get it:

- a rule that blocks: `policy_blocked` with `rule`, `reason`, every rule broken, and
  `next_allowed_at` (the first instant no blocking rule holds, or none when an opt-out has no
  end);
- a rule that requires approval: the call is held (approval_required), unless it runs because
  an approver approved it;
- a rule that warns: allowed; the caller gets the warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from bizctx.server import notices
from bizctx.server.approvals import HoldForApproval
from bizctx.server.errors import InvalidInput, NotFound, PolicyBlocked
from bizctx.server.guard import Call
from bizctx.server.queries import QueryRef

RULES_BROKEN = QueryRef("clients", "contact_rules_broken")
LOCK_CONTACT = QueryRef("clients", "lock_contact")
NOW = QueryRef("clients", "now")

# The channels operators' rules (quiet hours, caps) name; an opt-out of `all` also covers an
# outbound chat or visit. Only an internal note is never a contact.
GovernedChannel = Literal["email", "sms", "phone"]
# What kind of contact it is, for rules that name categories (transactional reminders,
# collections, marketing, anything else).
ContactCategory = Literal["reminder", "collections", "marketing", "other"]
NOT_A_CONTACT = "note"
# The rules are evaluated when the contact happens: one is recorded as it happens, or up to
# this long after (never ahead: a contact logged for later would pick the rules it meets).
RECORDED_LATE = timedelta(minutes=15)
CLOCK_SKEW = timedelta(minutes=1)
# Waiting out one rule can land in another (an opt-out ending at night): look this many steps on.
_LOOKAHEAD = 8


class BrokenRule(BaseModel):
    rule: str = Field(description="The rule: opt_out, or the name of a compliance rule.")
    action: Literal["block", "require_approval", "warn"] = Field(
        description="block: refused; require_approval: held for an approver; warn: allowed."
    )
    reason: str = Field(description="Why, in words a person would accept.")
    next_allowed_at: datetime | None = Field(
        default=None, description="When this rule stops applying; null when waiting does not help."
    )


@dataclass(frozen=True)
class ContactGate:
    """The contact rules that hold a call for approval (see approvals.Gate)."""

    rules: tuple[BrokenRule, ...]

    @property
    def id(self) -> UUID | None:
        return None

    @property
    def reason(self) -> str | None:
        return " ".join(r.reason for r in self.rules)

    def describe(self) -> dict[str, Any]:
        return {
            "effect": "require_approval",
            "contact_rules": [r.model_dump(mode="json", exclude_none=True) for r in self.rules],
        }


async def rules_broken(
    call: Call, client_id: UUID, channel: str, at: datetime, category: str | None = None
) -> list[BrokenRule]:
    rows = await call.tx.all(RULES_BROKEN, client_id=client_id, channel=channel, at=at, category=category)
    return [BrokenRule(**r) for r in rows]


async def next_allowed(
    call: Call,
    client_id: UUID,
    channel: str,
    at: datetime,
    broken: list[BrokenRule],
    category: str | None = None,
) -> datetime | None:
    """The first instant from `at` at which no blocking rule holds; None when none is in sight
    (a permanent opt-out, or rules that keep handing over to each other)."""
    for _ in range(_LOOKAHEAD):
        blocking = [r for r in broken if r.action == "block"]
        if not blocking:
            return at
        ends = [r.next_allowed_at for r in blocking]
        if any(end is None for end in ends):
            return None
        at = max(end for end in ends if end is not None)
        broken = await rules_broken(call, client_id, channel, at, category)
    return None


@dataclass(frozen=True)
class Verdict:
    """The rules on one contact: every rule it breaks, and when none would block it."""

    broken: list[BrokenRule]
    next_allowed_at: datetime | None

    @property
    def blocking(self) -> list[BrokenRule]:
        return [r for r in self.broken if r.action == "block"]

    @property
    def needing_approval(self) -> tuple[BrokenRule, ...]:
        return tuple(r for r in self.broken if r.action == "require_approval")

    @property
    def warnings(self) -> list[BrokenRule]:
        return [r for r in self.broken if r.action == "warn"]


async def judge(
    call: Call, client_id: UUID, channel: str, at: datetime, category: str | None = None
) -> Verdict:
    """Apply the rules to a contact of `category` (None: unknown, every rule) at `at` (the
    client locked for contact by the caller when the contact is to be made)."""
    broken = await rules_broken(call, client_id, channel, at, category)
    blocked = any(r.action == "block" for r in broken)
    when = await next_allowed(call, client_id, channel, at, broken, category) if blocked else at
    return Verdict(broken, when)


async def clear_to_contact(
    call: Call, client_id: UUID, channel: str, occurred_at: datetime | None, category: str | None = None
) -> list[BrokenRule]:
    """Lock the client for contact and apply the rules to a contact at `occurred_at` (now when
    None; at most RECORDED_LATE ago): raises PolicyBlocked or HoldForApproval, or returns the
    warnings the contact goes ahead with. An approved held call is checked at its stored time:
    the approver accepted it as it was asked."""
    now = await call.tx.value(NOW)
    at = occurred_at or now
    if not call.approved and not now - RECORDED_LATE <= at <= now + CLOCK_SKEW:
        raise InvalidInput(
            f"occurred_at {at.isoformat()} is out of range for an outbound contact: the contact rules "
            f"apply when it happens, so record it as it happens or up to "
            f"{int(RECORDED_LATE.total_seconds() // 60)} minutes after (now is {now.isoformat()}); "
            "omit occurred_at to mean now."
        )
    if not await call.tx.value(LOCK_CONTACT, client_id=client_id):
        raise NotFound(f"No client {client_id}; find clients with search_clients.")
    verdict = await judge(call, client_id, channel, at, category)
    if verdict.blocking:
        first, when = verdict.blocking[0], verdict.next_allowed_at
        wait = f" The next allowed time is {when.isoformat()}." if when else " Waiting will not help."
        details: dict[str, Any] = {"rule": first.rule, "reason": first.reason}
        if when is not None:
            details["next_allowed_at"] = when.isoformat()
        raise PolicyBlocked(
            f"Contacting this client by {channel} is not allowed now: {first.reason}{wait} "
            "Check first with check_contact.",
            **details,
            rules=[r.model_dump(mode="json") for r in verdict.broken],
        )
    if verdict.needing_approval and not call.approved:
        raise HoldForApproval(ContactGate(verdict.needing_approval))
    for rule in verdict.warnings:
        notices.warn(f"A contact rule only warns about this contact: {rule.reason}", rule=rule.rule)
    return verdict.warnings
