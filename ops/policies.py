"""Operators' side of governed actions (never through MCP): policies (`bizctx policy
add|list|remove`) and the calls they hold for approval (`bizctx approvals list|approve|reject`).
A policy is checked against the tool it names when it is added, so a typo never reaches a call."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from bizctx.server.app import load_domains
from bizctx.server.database import Database
from bizctx.server.errors import InvalidInput, OperatorError
from bizctx.server.policy import check_condition
from bizctx.server.queries import QueryRef
from bizctx.server.registry import Registry

from .operators import _agent, find_tenant

INSERT_POLICY = QueryRef("operators", "insert_policy")
LIST_POLICIES = QueryRef("operators", "list_policies")
REMOVE_POLICY = QueryRef("operators", "remove_policy")
LIST_HELD_CALLS = QueryRef("operators", "list_held_calls")

_WINDOW = re.compile(r"^(\d+)\s*(s|m|h|d|w)?$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_WINDOW_SECONDS = 31_536_000


def parse_window(text: str) -> int:
    """A window like 30m, 1h, 1d, 1w or 90 (seconds), in seconds."""
    m = _WINDOW.match(text.strip())
    seconds = int(m.group(1)) * _SECONDS[m.group(2) or "s"] if m else 0
    if not 0 < seconds <= MAX_WINDOW_SECONDS:
        raise OperatorError(f"--window {text!r}: give a duration like 30m, 1h, 1d or 1w, at most a year")
    return seconds


@dataclass(frozen=True)
class NewPolicy:
    tool: str
    effect: str
    when: dict[str, Any] | None = None
    max_calls: int | None = None
    max_amount: str | None = None
    window: str | None = None
    per: str | None = None
    agent: str | None = None
    reason: str | None = None


def _checked(new: NewPolicy) -> dict[str, Any]:
    """The policy's columns, or OperatorError naming what is wrong with it."""
    spec = Registry(load_domains()).tools.get(new.tool)
    if spec is None:
        raise OperatorError(f"there is no tool {new.tool!r}; policies name a tool agents call")
    if new.effect not in ("require_approval", "deny", "limit"):
        raise OperatorError("the effect is require_approval, deny or limit")
    if new.tool == "decide_approval" and new.effect == "require_approval":
        raise OperatorError("approving cannot itself wait for approval; deny or limit decide_approval")
    limit = (new.max_calls, new.max_amount, new.window, new.per)
    if new.effect != "limit" and any(v is not None for v in limit):
        raise OperatorError("--max-calls, --max-amount, --window and --per go with --effect limit only")
    max_amount = None
    if new.effect == "limit":
        if new.window is None or new.per not in ("agent", "tenant"):
            raise OperatorError("a limit needs --window (e.g. 1d) and --per agent|tenant")
        if new.max_calls is None and new.max_amount is None:
            raise OperatorError("a limit needs --max-calls or --max-amount")
        if new.max_calls is not None and new.max_calls <= 0:
            raise OperatorError("--max-calls must be positive")
        if new.max_amount is not None:
            if spec.amount is None:
                raise OperatorError(f"{new.tool} moves no amount, so --max-amount cannot limit it")
            try:
                max_amount = Decimal(new.max_amount)
            except InvalidOperation:
                raise OperatorError(f"--max-amount {new.max_amount!r} is not an amount") from None
            if not max_amount.is_finite() or max_amount <= 0 or max_amount >= Decimal("1e14"):
                raise OperatorError("--max-amount must be a positive amount below 100,000,000,000,000")
            if max_amount != round(max_amount, 4):
                raise OperatorError("--max-amount has at most 4 decimal places")
    condition = None
    if new.when is not None:
        try:
            condition = check_condition(new.when, spec.input_model, spec.amount is not None)
        except InvalidInput as exc:
            raise OperatorError(f"--when: {exc.message}") from None
    return {
        "tool": new.tool,
        "effect": new.effect,
        "condition": Jsonb(condition) if condition is not None else None,
        "max_calls": new.max_calls,
        "max_amount": max_amount,
        "window_seconds": parse_window(new.window) if new.window else None,
        "per": new.per,
        "reason": new.reason,
    }


async def add_policy(db: Database, tenant_ref: str, new: NewPolicy, created_by: str) -> dict[str, Any]:
    columns = _checked(new)
    async with db.operator_tx() as tx:
        tenant = await find_tenant(tx, tenant_ref)
        agent_id = (await _agent(tx, tenant_ref, new.agent))["id"] if new.agent else None
        created = await tx.row(
            INSERT_POLICY, tenant_id=tenant["id"], agent_id=agent_id, created_by=created_by, **columns
        )
        return await tx.row(LIST_POLICIES, tenant_id=tenant["id"], policy_id=created["id"])


async def list_policies(db: Database, tenant_ref: str | None) -> list[dict[str, Any]]:
    async with db.operator_tx() as tx:
        tenant_id = (await find_tenant(tx, tenant_ref))["id"] if tenant_ref else None
        return await tx.all(LIST_POLICIES, tenant_id=tenant_id, policy_id=None)


async def remove_policy(db: Database, tenant_ref: str, policy_id: str, removed_by: str) -> dict[str, Any]:
    try:
        pid = UUID(policy_id)
    except ValueError:
        raise OperatorError(f"{policy_id!r} is not a policy id (see `bizctx policy list`)") from None
    async with db.operator_tx() as tx:
        tenant = await find_tenant(tx, tenant_ref)
        removed = await tx.one(REMOVE_POLICY, tenant_id=tenant["id"], policy_id=pid, removed_by=removed_by)
    if removed is None:
        raise OperatorError(f"tenant {tenant['name']!r} has no policy {policy_id} (see `bizctx policy list`)")
    return removed


async def list_approvals(db: Database, tenant_ref: str | None, *, pending_only: bool) -> list[dict[str, Any]]:
    async with db.operator_tx() as tx:
        tenant_id = (await find_tenant(tx, tenant_ref))["id"] if tenant_ref else None
        return await tx.all(LIST_HELD_CALLS, tenant_id=tenant_id, pending_only=pending_only)
