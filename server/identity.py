"""Who is calling: API keys, and the in-memory directory of agents.

Keys look like `bctx_<43 url-safe chars>`: the prefix makes a leaked key greppable,
and only its sha256 is stored. The directory answers "which agent, with which
capabilities and access_patterns" from memory; any change to agents, their grants or
the tool map is NOTIFY'd by a trigger, and every running server reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from .access import AccessPatterns, parse_access_patterns
from .database import Database, Tx, next_notifications
from .errors import AgentRefused
from .queries import QueryRef

log = logging.getLogger("bizctx.identity")

KEY_PREFIX = "bctx_"

FIND_AGENT_BY_KEY_HASH = QueryRef("governance", "find_agent_by_key_hash")
GET_AGENT = QueryRef("governance", "get_agent")
LIST_TOOL_CAPABILITIES = QueryRef("governance", "list_tool_capabilities")
LISTEN_AGENTS_CHANGED = QueryRef("governance", "listen_agents_changed")


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def visible_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + 4]


@dataclass(frozen=True)
class Agent:
    id: UUID
    tenant_id: UUID
    tenant_name: str
    time_zone: str
    name: str
    status: str
    capabilities: frozenset[str]
    access: AccessPatterns
    # Its own fair-use limit; None: the server's default (settings.calls_per_minute).
    calls_per_minute: int | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


def agent_from_row(row: dict[str, Any]) -> Agent:
    try:
        access = parse_access_patterns(row["access_patterns"])
    except ValueError as exc:
        # Stored access_patterns that no longer validate grant nothing.
        log.error("agent %s has invalid access_patterns, treating every domain as closed: %s", row["id"], exc)
        access = AccessPatterns()
    return Agent(
        id=row["id"],
        tenant_id=row["tenant_id"],
        tenant_name=row["tenant_name"],
        time_zone=row["time_zone"],
        name=row["name"],
        status=row["status"],
        capabilities=frozenset(row["capabilities"] or ()),
        access=access,
        calls_per_minute=row.get("calls_per_minute"),
    )


class AgentDirectory:
    """Agents by key and by id, and the tool -> capability map, cached in memory."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._by_hash: dict[str, Agent | None] = {}
        self._by_id: dict[tuple[UUID, UUID], Agent | None] = {}
        self.tool_capabilities: dict[str, str] = {}
        self._listener: asyncio.Task[None] | None = None
        # Called after each reload (the live-update hub tells agents whose rights changed).
        self.on_change: list[Callable[[], Awaitable[None]]] = []

    async def start(self) -> None:
        await self.reload_tool_capabilities()
        self._listener = asyncio.create_task(self._listen(), name="bizctx-agent-listener")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def _changed(self) -> None:
        """Agents, their rights or the tool -> capability map may have changed: drop the cached
        agents, reload the map, and tell who follows (the live hub re-checks its listeners)."""
        self.invalidate()
        await self.reload_tool_capabilities()
        for callback in list(self.on_change):
            await callback()

    def invalidate(self) -> None:
        self._by_hash.clear()
        self._by_id.clear()

    async def reload_tool_capabilities(self) -> None:
        async with self._db.operator_tx() as tx:
            rows = await tx.all(LIST_TOOL_CAPABILITIES)
        self.tool_capabilities = {r["tool_name"]: r["capability"] for r in rows}

    async def by_key(self, key: str) -> Agent:
        """The active agent this key belongs to; AgentRefused otherwise."""
        if not key.startswith(KEY_PREFIX):
            raise AgentRefused(f"the agent key is malformed (bizctx keys start with {KEY_PREFIX})")
        digest = hash_key(key)
        if digest not in self._by_hash:
            async with self._db.operator_tx() as tx:
                row = await tx.one(FIND_AGENT_BY_KEY_HASH, key_hash=digest)
            self._by_hash[digest] = agent_from_row(row) if row else None
        agent = self._by_hash[digest]
        if agent is None:
            raise AgentRefused("the agent key is not valid (unknown or rotated)")
        if not agent.active:
            raise AgentRefused(f"agent {agent.name!r} is disabled")
        return agent

    async def get(self, tenant_id: UUID, agent_id: UUID) -> Agent | None:
        """The agent as it is now (an operator may have changed it since it connected)."""
        cache_key = (tenant_id, agent_id)
        if cache_key not in self._by_id:
            async with self._db.operator_tx() as tx:
                row = await tx.one(GET_AGENT, tenant_id=tenant_id, agent_id=agent_id)
            self._by_id[cache_key] = agent_from_row(row) if row else None
        return self._by_id[cache_key]

    @staticmethod
    async def current(tx: Tx, tenant_id: UUID, agent_id: UUID) -> Agent | None:
        """The agent as `tx` sees it, not as cached: what must hold at this instant (an approved
        call runs with its requester's rights as they are when it is approved)."""
        row = await tx.one(GET_AGENT, tenant_id=tenant_id, agent_id=agent_id)
        return agent_from_row(row) if row else None

    async def _listen(self) -> None:
        """LISTEN for agent changes; reconnects after a database restart. Each time it starts
        listening, it reloads as for a change: notifications may have been missed meanwhile."""
        while True:
            try:
                async with self._db.listening(LISTEN_AGENTS_CHANGED) as conn:
                    while True:
                        await self._changed()
                        await next_notifications(conn)  # one reload for what came together
                        log.info("agents changed; reloading the agent directory")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: retry, the server keeps serving
                log.warning("agent change listener lost its connection (%s); retrying", type(exc).__name__)
                self.invalidate()
                await asyncio.sleep(1.0)
