"""Fair use: each agent's calls per minute and calls at once, so one agent cannot starve the
others.

A token bucket per agent, in this process's memory: `calls_per_minute` tokens, refilled
evenly; a call takes one, and finds none -> `rate_limited` with the seconds until the next.
The limit is the agent's own (`bizctx agent set NAME --calls-per-minute N`) or the server's
default (BIZCTX_CALLS_PER_MINUTE). Checked before anything touches the database, so a flood
costs a dictionary lookup per call; its refusals are counted here and written as one audit
row per agent and minute with the count (RefusalLog), not an insert per call.

Calls at once (InFlight): an agent's calls beyond BIZCTX_CALLS_IN_FLIGHT wait for one of its
own to finish before they take a database connection, so one agent's slow reads cannot hold
the whole pool; and the reads whose cost grows with the business (declared `costly`) run one
per agent and BIZCTX_COSTLY_READS_AT_ONCE per process, so one agent's searches cannot take
every core of the database. One that waits longer than the pool timeout is `rate_limited`.

In memory, per server process: N replicas allow an agent up to N times its rate. The
database-counted limits are the `limit` policies (policy.py), for what must be exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from .audit import AuditEntry, write_audit
from .database import Database
from .errors import RateLimited

log = logging.getLogger("bizctx.fairuse")


@dataclass
class _Bucket:
    tokens: float
    at: float


class CostlyTime:
    """Each agent's database time on costly reads: a bucket refilled evenly with
    `seconds_per_minute` seconds a minute; a costly read is let in while the bucket is not
    empty and charged its duration after. Turns (InFlight) bound how many run at once; this
    bounds how much of the database one agent's searches take over time, so a back-to-back
    flood of them leaves the others most of a core. The bucket holds BURST_MINUTES of the
    rate, not a whole minute: an agent idle for a while would otherwise spend its minute's
    share in one burst of a few seconds, taking the database's cores from everyone then."""

    BURST_MINUTES = 0.2

    def __init__(self, seconds_per_minute: float, clock: Any = time.monotonic) -> None:
        self.seconds_per_minute = seconds_per_minute
        self._buckets: dict[UUID, _Bucket] = {}
        self._clock = clock

    def _refilled(self, agent_id: UUID) -> _Bucket:
        now = self._clock()
        full = self.seconds_per_minute * self.BURST_MINUTES
        bucket = self._buckets.setdefault(agent_id, _Bucket(full, now))
        bucket.tokens = min(full, bucket.tokens + (now - bucket.at) * self.seconds_per_minute / 60.0)
        bucket.at = now
        return bucket

    def check(self, agent_id: UUID) -> None:
        bucket = self._refilled(agent_id)
        if bucket.tokens > 0:
            return
        retry_after_s = max(1, math.ceil(-bucket.tokens * 60.0 / self.seconds_per_minute))
        raise RateLimited(
            f"Your searches have used their share of database time ({self.seconds_per_minute:g} s a "
            f"minute); retry in {retry_after_s} s, or narrow them.",
            limit={"costly_seconds_per_minute": self.seconds_per_minute},
            retry_after_s=retry_after_s,
        )

    def charge(self, agent_id: UUID, seconds: float) -> None:
        self._refilled(agent_id).tokens -= seconds


class CallRate:
    def __init__(self, clock: Any = time.monotonic) -> None:
        self._buckets: dict[UUID, _Bucket] = {}
        self._clock = clock

    def take(self, agent_id: UUID, per_minute: int) -> float | None:
        """Take one call from the agent's allowance: None when allowed, else the seconds
        until one is free."""
        now = self._clock()
        rate = per_minute / 60.0
        bucket = self._buckets.get(agent_id)
        if bucket is None:
            bucket = self._buckets[agent_id] = _Bucket(float(per_minute), now)
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / rate


@dataclass
class _Turns:
    calls: asyncio.Semaphore
    costly: asyncio.Semaphore
    users: int = 0  # calls of the agent running or waiting


class InFlight:
    """Turns: each agent's calls running at once (at most `limit`), and the costly reads
    running at once (one per agent, and `costly_limit` in the whole process: they share the
    database's cores). A call waits for its turn holding no connection; one that waits longer
    than `wait_seconds` is rate_limited."""

    def __init__(self, limit: int, wait_seconds: float, costly_limit: int) -> None:
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.costly_limit = costly_limit
        self._costly = asyncio.Semaphore(costly_limit)
        self._agents: dict[UUID, _Turns] = {}

    @asynccontextmanager
    async def turn(self, agent_id: UUID, *, costly: bool = False) -> AsyncIterator[None]:
        turns = self._agents.get(agent_id)
        if turns is None:
            turns = self._agents[agent_id] = _Turns(asyncio.Semaphore(self.limit), asyncio.Semaphore(1))
        turns.users += 1
        try:
            if not costly and not turns.calls.locked():
                # A turn free now is taken without waiting, so no wait can run out: the common
                # case skips the timeout's and the exit stack's set-up.
                await turns.calls.acquire()
                try:
                    yield
                finally:
                    turns.calls.release()
                return
            async with contextlib.AsyncExitStack() as held:
                waiting_for = "calls"
                try:
                    async with asyncio.timeout(self.wait_seconds):
                        await _take(held, turns.calls)
                        if costly:
                            waiting_for = "costly"
                            await _take(held, turns.costly)
                            await _take(held, self._costly)
                except TimeoutError:
                    raise self._refusal(waiting_for) from None
                yield
        finally:
            turns.users -= 1
            if not turns.users:
                del self._agents[agent_id]

    def _refusal(self, waiting_for: str) -> RateLimited:
        if waiting_for == "calls":
            return RateLimited(
                f"You have {self.limit} calls running at once, your share; wait for one to finish "
                "before you send more.",
                limit={"calls_in_flight": self.limit},
                retry_after_s=1,
            )
        return RateLimited(
            "Searches like this one take their turn (one of yours at a time, "
            f"{self.costly_limit} on the server) and none came in {self.wait_seconds:g} s; retry in a "
            "moment, or narrow the call.",
            limit={"costly_reads_in_flight": {"agent": 1, "server": self.costly_limit}},
            retry_after_s=1,
        )


async def _take(held: contextlib.AsyncExitStack, turn: asyncio.Semaphore) -> None:
    await turn.acquire()
    held.callback(turn.release)


@dataclass
class _Minute:
    tenant_id: UUID
    transport: str
    tools: Counter[str] = field(default_factory=Counter)


class RefusalLog:
    """Calls refused for fair use, counted per agent and minute; `flush` writes one audit row
    for each minute that has ended (all of them, when the server stops)."""

    def __init__(self) -> None:
        self._minutes: dict[tuple[UUID, int], _Minute] = {}

    def note(self, tenant_id: UUID, agent_id: UUID, transport: str, name: str) -> None:
        minute = int(time.time() // 60)
        entry = self._minutes.setdefault((agent_id, minute), _Minute(tenant_id, transport))
        entry.tools[name] += 1

    async def flush(self, db: Database, *, everything: bool = False) -> None:
        current = int(time.time() // 60)
        for key in [k for k in self._minutes if everything or k[1] < current]:
            agent_id, minute = key
            counted = self._minutes.pop(key)
            entry = AuditEntry(
                request_id=uuid.uuid4().hex,
                transport=counted.transport,
                kind="tool",
                name="(rate limited)",
                outcome="blocked",
                error_code="rate_limited",
                arguments={
                    "minute": datetime.fromtimestamp(minute * 60, UTC).isoformat(),
                    "refused_calls": sum(counted.tools.values()),
                    "by_tool": dict(counted.tools.most_common(20)),
                },
            )
            try:
                async with db.agent_tx(counted.tenant_id, agent_id) as tx:
                    write_audit(tx, counted.tenant_id, agent_id, entry)
            except Exception:
                log.exception("could not write a rate-limit audit row", extra={"audit": entry.__dict__})
