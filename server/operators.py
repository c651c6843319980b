"""What operators do from the CLI (never through MCP): tenants, agents, keys, grants,
and reading the audit log. Each function is one operator transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from .access import AccessPatterns  # noqa: F401  (re-exported for callers)
from .database import Database, Tx
from .identity import hash_key, new_key, visible_prefix
from .queries import QueryRef


class OperatorError(Exception):
    """A refused operator action; the message is for the person at the terminal."""


def _q(name: str) -> QueryRef:
    return QueryRef("governance", name)


@dataclass(frozen=True)
class NewAgent:
    agent: dict[str, Any]
    key: str


async def _tenant(tx: Tx, ref: str) -> dict[str, Any]:
    row = await tx.one(_q("find_tenant"), ref=ref)
    if row is None:
        raise OperatorError(f"no tenant named {ref!r} (see `bizctx tenant list`)")
    return row


async def _agent(tx: Tx, tenant_ref: str, ref: str) -> dict[str, Any]:
    tenant = await _tenant(tx, tenant_ref)
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
            return await tx.one(
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
            tenant = await _tenant(tx, tenant_ref)
            await _check_capabilities(tx, capabilities)
            agent = await tx.one(
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
        tenant_id: UUID | None = (await _tenant(tx, tenant_ref))["id"] if tenant_ref else None
        return await tx.all(_q("list_agents"), tenant_id=tenant_id)


async def grant(db: Database, tenant_ref: str, ref: str, capabilities: list[str]) -> dict:
    async with db.operator_tx() as tx:
        agent = await _agent(tx, tenant_ref, ref)
        await _check_capabilities(tx, capabilities)
        for cap in capabilities:
            await tx.execute(
                _q("grant_capability"), tenant_id=agent["tenant_id"], agent_id=agent["id"], capability=cap
            )
        return await tx.one(_q("find_agent"), tenant_id=agent["tenant_id"], ref=str(agent["id"]))


async def revoke(db: Database, tenant_ref: str, ref: str, capabilities: list[str]) -> dict:
    async with db.operator_tx() as tx:
        agent = await _agent(tx, tenant_ref, ref)
        await _check_capabilities(tx, capabilities)
        for cap in capabilities:
            await tx.execute(
                _q("revoke_capability"), tenant_id=agent["tenant_id"], agent_id=agent["id"], capability=cap
            )
        return await tx.one(_q("find_agent"), tenant_id=agent["tenant_id"], ref=str(agent["id"]))


async def rotate_key(db: Database, tenant_ref: str, ref: str) -> NewAgent:
    key = new_key()
    async with db.operator_tx() as tx:
        agent = await _agent(tx, tenant_ref, ref)
        await tx.execute(
            _q("set_agent_key"),
            tenant_id=agent["tenant_id"],
            agent_id=agent["id"],
            key_prefix=visible_prefix(key),
            key_hash=hash_key(key),
        )
    return NewAgent(agent={**agent, "key_prefix": visible_prefix(key)}, key=key)


async def set_status(db: Database, tenant_ref: str, ref: str, status: str) -> dict:
    async with db.operator_tx() as tx:
        agent = await _agent(tx, tenant_ref, ref)
        await tx.execute(
            _q("set_agent_status"), tenant_id=agent["tenant_id"], agent_id=agent["id"], status=status
        )
    return {**agent, "status": status}


async def set_access_patterns(db: Database, tenant_ref: str, ref: str, access: AccessPatterns) -> dict:
    async with db.operator_tx() as tx:
        agent = await _agent(tx, tenant_ref, ref)
        await tx.execute(
            _q("set_agent_access_patterns"),
            tenant_id=agent["tenant_id"],
            agent_id=agent["id"],
            access_patterns=Jsonb(access.to_json()),
        )
    return {**agent, "access_patterns": access.to_json()}


async def audit_log(
    db: Database, *, tenant_ref: str | None = None, agent_ref: str | None = None, limit: int = 50
) -> list[dict]:
    async with db.operator_tx() as tx:
        tenant_id = (await _tenant(tx, tenant_ref))["id"] if tenant_ref else None
        agent_id = None
        if agent_ref:
            if tenant_ref is None:
                raise OperatorError("--agent needs --tenant")
            agent_id = (await _agent(tx, tenant_ref, agent_ref))["id"]
        return await tx.all(_q("list_audit_logs"), tenant_id=tenant_id, agent_id=agent_id, limit=limit)
