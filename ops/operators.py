"""What operators do from the CLI (never through MCP): tenants, agents, keys, grants,
and reading the audit log. Each function is one operator transaction."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from bizctx.server.access import AccessPatterns
from bizctx.server.database import Database, Tx
from bizctx.server.errors import OperatorError
from bizctx.server.identity import hash_key, new_key, visible_prefix
from bizctx.server.queries import QueryRef


def _q(name: str) -> QueryRef:
    return QueryRef("operators", name)


@dataclass(frozen=True)
class NewAgent:
    agent: dict[str, Any]
    key: str


async def find_tenant(tx: Tx, ref: str) -> dict[str, Any]:
    """The tenant named (or with the id) `ref`; OperatorError when there is none."""
    row = await tx.one(_q("find_tenant"), ref=ref)
    if row is None:
        raise OperatorError(f"no tenant named {ref!r} (see `bizctx tenant list`)")
    return row


@dataclass(frozen=True)
class TenantNamed:
    """A kind of row each tenant has by name and operators manage (contact rules, message
    templates): set whole after `check` (OperatorError says what is wrong), listed, removed.
    The queries take tenant_id and name; `set_query` the checked columns too, and the
    operator's name as `by_column` when the kind records who set it."""

    noun: str
    command: str
    set_query: QueryRef
    list_query: QueryRef
    remove_query: QueryRef
    check: Callable[[Any], dict[str, Any]]
    by_column: str | None = None

    async def set(self, db: Database, tenant_ref: str, item: Any, by: str | None = None) -> dict[str, Any]:
        columns = self.check(item)
        if self.by_column is not None:
            columns[self.by_column] = by
        async with db.operator_tx() as tx:
            tenant = await find_tenant(tx, tenant_ref)
            await tx.row(self.set_query, tenant_id=tenant["id"], **columns)
            return await tx.row(self.list_query, tenant_id=tenant["id"], name=columns["name"])

    async def list(self, db: Database, tenant_ref: str | None) -> list[dict[str, Any]]:
        async with db.operator_tx() as tx:
            tenant_id = (await find_tenant(tx, tenant_ref))["id"] if tenant_ref else None
            return await tx.all(self.list_query, tenant_id=tenant_id, name=None)

    async def remove(self, db: Database, tenant_ref: str, name: str) -> dict[str, Any]:
        async with db.operator_tx() as tx:
            tenant = await find_tenant(tx, tenant_ref)
            removed = await tx.one(self.remove_query, tenant_id=tenant["id"], name=name)
        if removed is None:
            raise OperatorError(
                f"tenant {tenant['name']!r} has no {self.noun} {name!r} (see `bizctx {self.command} list`)"
            )
        return removed


async def _agent(tx: Tx, tenant_ref: str, ref: str) -> dict[str, Any]:
    tenant = await find_tenant(tx, tenant_ref)
    row = await tx.one(_q("find_agent"), tenant_id=tenant["id"], ref=ref)
    if row is None:
        raise OperatorError(f"no agent named {ref!r} in tenant {tenant['name']!r} (see `bizctx agent list`)")
    return row


async def _check_capabilities(tx: Tx, capabilities: list[str]) -> None:
    known = {r["name"] for r in await tx.all(_q("list_capabilities"))}
    unknown = sorted(set(capabilities) - known)
    if unknown:
        raise OperatorError(f"unknown capabilities {unknown}; known: {', '.join(sorted(known))}")


async def create_tenant(
    db: Database, name: str, *, time_zone: str = "UTC", invoice_prefix: str = "INV-"
) -> dict:
    try:
        async with db.operator_tx() as tx:
            return await tx.row(
                _q("create_tenant"), name=name, time_zone=time_zone, invoice_prefix=invoice_prefix
            )
    except psycopg.errors.UniqueViolation:
        raise OperatorError(f"a tenant named {name!r} already exists") from None
    except psycopg.errors.CheckViolation:
        raise OperatorError(
            f"invalid tenant: is {time_zone!r} an IANA time zone (e.g. Europe/Berlin)?"
        ) from None


async def get_tenant(db: Database, ref: str) -> dict | None:
    async with db.operator_tx() as tx:
        return await tx.one(_q("find_tenant"), ref=ref)


async def list_tenants(db: Database) -> list[dict]:
    async with db.operator_tx() as tx:
        return await tx.all(_q("list_tenants"))


async def create_agent(
    db: Database, tenant_ref: str, name: str, capabilities: list[str], access: AccessPatterns
) -> NewAgent:
    key = new_key()
    try:
        async with db.operator_tx() as tx:
            tenant = await find_tenant(tx, tenant_ref)
            await _check_capabilities(tx, capabilities)
            agent = await tx.row(
                _q("create_agent"),
                tenant_id=tenant["id"],
                name=name,
                key_prefix=visible_prefix(key),
                key_hash=hash_key(key),
                access_patterns=Jsonb(access.to_json()),
            )
            for cap in sorted(set(capabilities)):
                await tx.execute(
                    _q("grant_capability"), tenant_id=tenant["id"], agent_id=agent["id"], capability=cap
                )
    except psycopg.errors.UniqueViolation:
        raise OperatorError(f"tenant {tenant_ref!r} already has an agent named {name!r}") from None
    agent = {**agent, "tenant_name": tenant["name"], "capabilities": sorted(set(capabilities))}
    return NewAgent(agent=agent, key=key)


async def get_agent(db: Database, tenant_ref: str, ref: str) -> dict:
    async with db.operator_tx() as tx:
        return await _agent(tx, tenant_ref, ref)


async def list_agents(db: Database, tenant_ref: str | None = None) -> list[dict]:
    async with db.operator_tx() as tx:
        tenant_id: UUID | None = (await find_tenant(tx, tenant_ref))["id"] if tenant_ref else None
        return await tx.all(_q("list_agents"), tenant_id=tenant_id)


async def grant(db: Database, tenant_ref: str, ref: str, capabilities: list[str]) -> dict:
    return await _change_capabilities(db, tenant_ref, ref, capabilities, "grant_capability")


async def revoke(db: Database, tenant_ref: str, ref: str, capabilities: list[str]) -> dict:
    return await _change_capabilities(db, tenant_ref, ref, capabilities, "revoke_capability")


async def _change_capabilities(
    db: Database, tenant_ref: str, ref: str, capabilities: list[str], query: str
) -> dict:
    async with db.operator_tx() as tx:
        agent = await _agent(tx, tenant_ref, ref)
        await _check_capabilities(tx, capabilities)
        for cap in capabilities:
            await tx.execute(_q(query), tenant_id=agent["tenant_id"], agent_id=agent["id"], capability=cap)
        return await tx.row(_q("find_agent"), tenant_id=agent["tenant_id"], ref=str(agent["id"]))


async def rotate_key(db: Database, tenant_ref: str, ref: str) -> NewAgent:
    key = new_key()
    agent = await _update_agent(
        db, tenant_ref, ref, "set_agent_key", key_prefix=visible_prefix(key), key_hash=hash_key(key)
    )
    return NewAgent(agent={**agent, "key_prefix": visible_prefix(key)}, key=key)


async def set_status(db: Database, tenant_ref: str, ref: str, status: str) -> dict:
    agent = await _update_agent(db, tenant_ref, ref, "set_agent_status", status=status)
    return {**agent, "status": status}


async def set_calls_per_minute(db: Database, tenant_ref: str, ref: str, per_minute: int | None) -> dict:
    """An agent's fair-use limit (None: the server's default); running servers reload it."""
    if per_minute is not None and not 1 <= per_minute <= 100_000:
        raise OperatorError("--calls-per-minute must be between 1 and 100000 (or 0 for the server's default)")
    agent = await _update_agent(
        db, tenant_ref, ref, "set_agent_calls_per_minute", calls_per_minute=per_minute
    )
    return {**agent, "calls_per_minute": per_minute}


ROLES = ("orchestrator", "director", "specialist")


async def set_profile(
    db: Database,
    tenant_ref: str,
    ref: str,
    *,
    role: str | None = None,
    description: str | None = None,
    parent_ref: str | None = None,
) -> dict:
    """An agent's place in the directory (list_agents): role, description, parent agent (an
    empty parent_ref removes it). What is not given is kept; a parent may not be the agent
    itself or one of the agents below it."""
    if role is not None and role not in ROLES:
        raise OperatorError(f"--role must be one of {', '.join(ROLES)}")
    if description is not None and not 1 <= len(description.strip()) <= 1000:
        raise OperatorError("--description takes 1 to 1000 characters")
    async with db.operator_tx() as tx:
        agent = await _agent(tx, tenant_ref, ref)
        parent = await _agent(tx, tenant_ref, parent_ref) if parent_ref else None
        if parent is not None and parent["id"] == agent["id"]:
            raise OperatorError(f"--parent {parent_ref!r} is {agent['name']!r} itself: pick another agent")
        await tx.execute(
            _q("set_agent_profile"),
            tenant_id=agent["tenant_id"],
            agent_id=agent["id"],
            role=role,
            description=description.strip() if description else None,
            parent_agent_id=parent["id"] if parent else None,
            clear_parent=parent_ref == "",
        )
        above = await tx.all(_q("agent_ancestors"), tenant_id=agent["tenant_id"], agent_id=agent["id"])
        if any(a["id"] == agent["id"] for a in above) or len(above) >= 49:
            raise OperatorError(
                f"--parent {parent_ref!r} is {agent['name']!r} or below it: pick an agent that is not"
            )
        return await _agent(tx, tenant_ref, str(agent["id"]))  # as stored now


async def set_access_patterns(db: Database, tenant_ref: str, ref: str, access: AccessPatterns) -> dict:
    patterns = access.to_json()
    agent = await _update_agent(
        db, tenant_ref, ref, "set_agent_access_patterns", access_patterns=Jsonb(patterns)
    )
    return {**agent, "access_patterns": patterns}


async def _update_agent(db: Database, tenant_ref: str, ref: str, query: str, **values: Any) -> dict:
    """Find the agent, run one of its update queries with `values`; the agent as it was."""
    async with db.operator_tx() as tx:
        agent = await _agent(tx, tenant_ref, ref)
        await tx.execute(_q(query), tenant_id=agent["tenant_id"], agent_id=agent["id"], **values)
    return agent


_SINCE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`--since`: a span back from now (30m, 1h, 2d, 1w, 90s) or an ISO 8601 timestamp
    (without an offset it is UTC; a bare date is its midnight UTC)."""
    match = _SINCE.match(text)
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2).lower()]
        return (now or datetime.now(UTC)) - timedelta(**{unit: amount})
    try:
        when = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise OperatorError(
            f"--since {text!r}: give a span like 30m, 1h, 2d, 1w "
            "or an ISO timestamp like 2025-01-31T09:00+01:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class AuditFilter:
    """Which audit rows: a tenant, an agent (looked up in the tenant when one is given, so a
    typo is an error; else matched by name in every tenant), a tool name or resource URI
    template, an outcome, a start time."""

    tenant_ref: str | None = None
    agent_ref: str | None = None
    tool: str | None = None
    outcome: str | None = None
    since: datetime | None = None

    async def params(self, tx: Tx) -> dict[str, Any]:
        tenant_id = (await find_tenant(tx, self.tenant_ref))["id"] if self.tenant_ref else None
        agent_id = None
        if self.agent_ref and self.tenant_ref:
            agent_id = (await _agent(tx, self.tenant_ref, self.agent_ref))["id"]
        return {
            "tenant_id": tenant_id,
            "agent_id": agent_id,
            "agent_name": None if agent_id else self.agent_ref,
            "name": self.tool,
            "outcome": self.outcome,
            "since": self.since,
        }


async def audit_log(db: Database, which: AuditFilter, *, limit: int = 50) -> list[dict[str, Any]]:
    """What agents did, newest first."""
    async with db.operator_tx() as tx:
        return await tx.all(_q("list_audit_logs"), **await which.params(tx), limit=limit)


async def audit_stats(db: Database, which: AuditFilter) -> list[dict[str, Any]]:
    """Calls, denials and errors per tenant, agent and tool, busiest first."""
    async with db.operator_tx() as tx:
        return await tx.all(_q("audit_stats"), **await which.params(tx))


async def prune_idempotency_keys(db: Database) -> int:
    """Delete every expired idempotency key and the result it keeps; how many."""
    from bizctx.server.idempotency import KEEP_DAYS

    async with db.operator_tx() as tx:
        return int((await tx.row(_q("prune_idempotency_keys"), keep_days=KEEP_DAYS))["deleted"])
