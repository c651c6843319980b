"""Live updates: who is told that a resource changed, across every server on the database.

The path of one change:

1. A write to a row a live resource shows leaves a hint in its transaction (triggers of
   migration 0155); the commit's round trip reads the hints back (server/database.py).
2. After COMMIT this server's `Publisher` coalesces them and NOTIFYs `bizctx_live` (never
   inside a transaction: see the migration); the CLI publishes its own right after COMMIT.
3. Every server LISTENs (`LiveHub`), whichever process wrote: hints from the database are the
   one path, so the process that wrote learns of its own writes the same way as the others.
4. For each listening agent of the hint's tenant, the hub decides afresh, under the agent's
   rights as they are now, which of the resources it listens to changed for it: the resource
   must be readable by it, the row visible to it (row-level security decides, for task and
   memory-document scopes), the changed fields not all redacted for it. A hint is never
   trusted: anyone who can NOTIFY can only make the hub look again.
5. The agent's listeners get `notifications/resources/updated` with the URI and nothing
   more: through the SDK's `ListenHandler` on a `subscriptions/listen` stream (2026-07-28), or
   as a session notification for clients that used `resources/subscribe`.

Tools, resources and prompts lists change when an operator changes an agent's rights: the
agent directory's reload (NOTIFY'd by a trigger) calls `agents_changed`, which compares each
listening agent's rights with those it had and tells only those whose rights changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import (
    ListenHandler,
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import event_to_notification
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
)

from .database import Database, next_notifications
from .identity import Agent, AgentDirectory
from .notices import connection_of
from .queries import QueryRef

log = logging.getLogger("bizctx.live")

LISTEN_LIVE = QueryRef("governance", "listen_live")
LIVE_VISIBLE_TASKS = QueryRef("governance", "live_visible_tasks")
LIVE_VISIBLE_MEM_DOCS = QueryRef("governance", "live_visible_mem_docs")
LIVE_MEM_DOC_IN_SCOPE = QueryRef("governance", "live_mem_doc_in_scope")

QUEUE = "bizctx://tasks/queue"
TODAY = "bizctx://appointments/today"
TASK = "bizctx://tasks/{task_id}"
CONTEXT = "bizctx://clients/{client_id}/context"
# The resources whose changes are published; any other subscribed URI is honoured and never fires.
LIVE_RESOURCES = (QUEUE, TODAY, TASK, CONTEXT)

# A client's columns that redaction keys name (server/access.py REDACTABLE); an address
# change arrives as `address` (migration 0155).
REDACTED_BY = {
    "email": "email",
    "phone": "phone",
    "mobile_phone": "phone",
    "date_of_birth": "date_of_birth",
    "notes": "notes",
    "address": "address",
}

MAX_URIS = 100

LIST_EVENTS: tuple[ServerEvent, ...] = (ToolsListChanged(), ResourcesListChanged(), PromptsListChanged())


@dataclass(frozen=True)
class Hint:
    """One changed row, as a trigger described it (migration 0155). `domain` "*": many rows."""

    tenant_id: UUID
    domain: str
    row_id: str = ""
    client_id: str = ""
    detail: str = ""


HINT_DOMAINS = frozenset({"clients", "appointments", "invoices", "tasks", "mem_docs"})
_DETAIL = re.compile(r"[a-z0-9_,:-]*")


def _uuid_or_empty(value: str, *, star: bool = False) -> bool:
    if value == "" or (star and value == "*"):
        return True
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def parse_hints(payload: str) -> list[Hint]:
    """The hints of a NOTIFY payload. Anyone who can NOTIFY can send one, so each line is
    checked field by field and a malformed one dropped alone (a hint is only a hint)."""
    hints = []
    for line in payload.splitlines():
        parts = line.split("|")
        if len(parts) != 5 or parts[1] not in HINT_DOMAINS:
            continue
        tenant, domain, row_id, client_id, detail = parts
        if not (
            _uuid_or_empty(tenant)
            and tenant
            and _uuid_or_empty(row_id, star=True)
            and _uuid_or_empty(client_id)
            and _DETAIL.fullmatch(detail)
        ):
            continue
        hints.append(Hint(UUID(tenant), domain, row_id, client_id, detail))
    return hints


class Publisher:
    """Coalesces committed transactions' hints and NOTIFYs them, off the calls' own path: a
    call's commit hands its hints over and returns; one task publishes whatever has gathered
    since its last NOTIFY (a burst of calls costs a few NOTIFYs, not one each). While the
    database is away it keeps what it could not send (up to PENDING_LINES, the oldest dropped
    first: listeners then miss those changes, and refetch on their next event) and retries."""

    PENDING_LINES = 10_000

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: dict[str, None] = {}  # ordered set of lines
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._db.hint_sink = self.add
        self._task = asyncio.create_task(self._run(), name="bizctx-live-publisher")

    async def stop(self) -> None:
        self._db.hint_sink = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self._flush()  # what the last calls committed still goes out
        except Exception as exc:
            log.warning("could not publish the last live updates (%s)", type(exc).__name__)

    def add(self, hints: str) -> None:
        for line in hints.splitlines():
            if line:
                self._pending[line] = None
        while len(self._pending) > self.PENDING_LINES:
            del self._pending[next(iter(self._pending))]
        self._wake.set()

    async def _run(self) -> None:
        pause = 0.5
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
                pause = 0.5
            except Exception as exc:  # the database is away (Unavailable, a broken connection)
                log.warning("could not publish live updates (%s); retrying", type(exc).__name__)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)
                self._wake.set()

    async def _flush(self) -> None:
        if not self._pending:
            return
        lines = "\n".join(self._pending)
        sent = list(self._pending)
        await self._db.publish(lines)
        for line in sent:  # what was added meanwhile stays for the next flush
            self._pending.pop(line, None)


Deliver = Callable[[ServerEvent], None]


@dataclass(eq=False)
class Listener:
    """One listen stream or one legacy-subscribing session of one agent."""

    tenant_id: UUID
    agent_id: UUID
    deliver: Deliver
    uris: set[str] = field(default_factory=set)
    lists: bool = True
    # Listen streams count against the agent's cap; sessions have their own (HTTP) cap.
    counted: bool = True


# How a resource of LIVE_RESOURCES is matched against hints: the URI's own parameters
# (registry match) and the agent, for the hub to decide.
class LiveHub:
    def __init__(self, db: Database, directory: AgentDirectory, guard: Any, settings: Any) -> None:
        self._db = db
        self._directory = directory
        self._guard = guard  # the Guard: resource rights and the registry (typed loosely: no cycle)
        self._per_agent = settings.listeners_per_agent
        self._listeners: dict[UUID, set[Listener]] = defaultdict(set)  # by tenant
        self._rights: dict[tuple[UUID, UUID], Any] = {}
        self._inbox: asyncio.Queue[list[Hint]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.publisher = Publisher(db)

    async def start(self) -> None:
        self.publisher.start()
        self._directory.on_change.append(self.agents_changed)
        self._tasks = [
            asyncio.create_task(self._listen(), name="bizctx-live-listen"),
            asyncio.create_task(self._fan_out(), name="bizctx-live-fan-out"),
        ]

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self._directory.on_change.remove(self.agents_changed)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.publisher.stop()

    # -- listeners -------------------------------------------------------------------------

    def add(self, listener: Listener, agent: Agent) -> Callable[[], None]:
        """Register a listener (MCPError when its agent already holds its cap); the remover."""
        check_uris(listener.uris)
        mine = [x for x in self.listening(listener.tenant_id, listener.agent_id) if x.counted]
        if listener.counted and len(mine) >= self._per_agent:
            raise MCPError(
                INTERNAL_ERROR,
                f"This agent already holds {self._per_agent} live-update listeners here; close one first.",
            )
        self._listeners[listener.tenant_id].add(listener)
        self._rights[(agent.tenant_id, agent.id)] = self._snapshot(agent)

        def remove() -> None:
            self._listeners[listener.tenant_id].discard(listener)

        return remove

    def listening(self, tenant_id: UUID, agent_id: UUID) -> list[Listener]:
        return [x for x in self._listeners.get(tenant_id, ()) if x.agent_id == agent_id]

    # -- the database side -----------------------------------------------------------------

    async def _listen(self) -> None:
        """LISTEN for hints; reconnects after a database restart (what changed meanwhile is
        lost: listeners refetch when they next hear of a change)."""
        while True:
            try:
                async with self._db.listening(LISTEN_LIVE) as conn:
                    while True:
                        for note in await next_notifications(conn):
                            hints = parse_hints(note.payload)
                            if hints:
                                self._inbox.put_nowait(hints)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live-update listener lost its connection (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1.0)

    async def _fan_out(self) -> None:
        while True:
            hints = await self._inbox.get()
            while not self._inbox.empty():  # coalesce what arrived meanwhile
                hints.extend(self._inbox.get_nowait())
            try:
                await self._deliver(hints)
            except Exception:  # nothing may stop the fan-out for every later change
                log.exception("could not deliver live updates; they are dropped")

    async def _deliver(self, hints: list[Hint]) -> None:
        by_tenant: dict[UUID, list[Hint]] = defaultdict(list)
        for hint in hints:
            if self._listeners.get(hint.tenant_id):
                by_tenant[hint.tenant_id].append(hint)
        for tenant_id, theirs in by_tenant.items():
            by_agent: dict[UUID, list[Listener]] = defaultdict(list)
            for listener in list(self._listeners.get(tenant_id, ())):
                if listener.uris:
                    by_agent[listener.agent_id].append(listener)
            for agent_id, listeners in by_agent.items():
                try:
                    changed = await self.changed_for(tenant_id, agent_id, theirs, _uris(listeners))
                except Exception:
                    log.exception("could not decide a live update; this agent is not told")
                    continue
                for listener in listeners:
                    for uri in sorted(changed & listener.uris):
                        _safely(listener, ResourceUpdated(uri=uri))

    async def changed_for(
        self, tenant_id: UUID, agent_id: UUID, hints: list[Hint], uris: set[str]
    ) -> set[str]:
        """Of `uris`, those these hints change for this agent as it is now."""
        agent = await self._directory.get(tenant_id, agent_id)
        if agent is None or not agent.active:
            return set()
        readable: list[tuple[str, str, dict[str, str]]] = []
        for uri in uris:
            found = self._guard.registry.find_resource(uri)
            if found is None or found[0].uri not in LIVE_RESOURCES:
                continue
            spec, params = found
            if self._guard.resource_refusal(agent, spec) is None:
                readable.append((uri, spec.uri, params))
        if not readable:
            return set()
        rows = await self._visible_rows(agent, hints, readable)
        today = datetime.now(ZoneInfo(agent.time_zone)).date()
        changed = set()
        for uri, template, params in readable:
            if any(_touches(agent, template, params, h, rows, today) for h in hints):
                changed.add(uri)
        return changed

    async def _visible_rows(
        self, agent: Agent, hints: list[Hint], readable: list[tuple[str, str, dict[str, str]]]
    ) -> _Rows:
        """Of the hinted tasks and memory documents, those the agent can see, as row-level
        security under its scopes decides (with whether its queue counts a task); a deleted
        document is judged by the owner and visibility it had. A tasks `*` hint (many tasks
        written at once) asks about the tasks the agent listens to by id."""
        rows = _Rows()
        task_ids = {h.row_id for h in hints if h.domain == "tasks" and h.row_id not in ("", "*")}
        if any(h.domain == "tasks" and h.row_id == "*" for h in hints):
            task_ids |= {params["task_id"] for _, template, params in readable if template == TASK}
        doc_ids = {h.row_id for h in hints if h.domain == "mem_docs" and h.row_id and not _gone(h)}
        gone = [h for h in hints if h.domain == "mem_docs" and _gone(h)]
        if not task_ids and not doc_ids and not gone:
            return rows
        async with self._db.agent_tx(agent.tenant_id, agent.id, agent.access.scopes()) as tx:
            if task_ids:
                found = await tx.all(LIVE_VISIBLE_TASKS, ids=sorted(task_ids))
                rows.tasks = {str(r["id"]): r["in_queue"] for r in found}
            if doc_ids:
                rows.mem_docs = {
                    str(r["id"]) for r in await tx.all(LIVE_VISIBLE_MEM_DOCS, ids=sorted(doc_ids))
                }
            for hint in gone:
                _, owner, visibility = hint.detail.split(":", 2)
                if await tx.value(LIVE_MEM_DOC_IN_SCOPE, owner=owner or None, visibility=visibility):
                    rows.mem_docs.add(hint.row_id)
        return rows

    # -- rights ------------------------------------------------------------------------------

    def _snapshot(self, agent: Agent) -> tuple[Any, ...]:
        """What an agent's lists follow from: its rights, and the tools the tool map gives it."""
        tools = frozenset(spec.name for spec in self._guard.visible_tools(agent))
        return (agent.status, agent.capabilities, agent.access, tools)

    async def agents_changed(self) -> None:
        """An operator changed agents, grants or the tool map: tell each listening agent whose
        rights are not what they were that its lists changed."""
        for (tenant_id, agent_id), before in list(self._rights.items()):
            listeners = [x for x in self.listening(tenant_id, agent_id) if x.lists]
            if not self.listening(tenant_id, agent_id):
                del self._rights[(tenant_id, agent_id)]
                continue
            agent = await self._directory.get(tenant_id, agent_id)
            now = self._snapshot(agent) if agent is not None else None
            if now == before:
                continue
            self._rights[(tenant_id, agent_id)] = now
            for listener in listeners:
                for event in LIST_EVENTS:
                    _safely(listener, event)


@dataclass
class _Rows:
    """The hinted rows an agent can see: task id -> whether its queue counts it; doc ids."""

    tasks: dict[str, bool] = field(default_factory=dict)
    mem_docs: set[str] = field(default_factory=set)


def _gone(hint: Hint) -> bool:
    return hint.detail.startswith("gone:") and hint.detail.count(":") == 2


def _safely(listener: Listener, event: ServerEvent) -> None:
    try:
        listener.deliver(event)
    except Exception:  # one listener must not keep the others from hearing
        log.exception("a live-update listener failed")


def check_uris(uris: set[str]) -> None:
    """A listener follows at most MAX_URIS resources: each is decided on every change."""
    if len(uris) > MAX_URIS:
        raise MCPError(
            INVALID_PARAMS, f"A listener may follow at most {MAX_URIS} resources; listen to fewer at once."
        )


def _uris(listeners: list[Listener]) -> set[str]:
    return set().union(*(x.uris for x in listeners))


def _touches(
    agent: Agent, template: str, params: dict[str, str], hint: Hint, rows: _Rows, today: Any
) -> bool:
    """Whether this hint changes this resource for this agent."""
    many = hint.row_id == "*"  # many rows of the domain were written at once
    if template == QUEUE:
        if hint.domain != "tasks":
            return False
        # Counted in its queue now, or taken away from it (the assignee it had).
        return many or rows.tasks.get(hint.row_id, False) or hint.detail == str(agent.id)
    if template == TASK:
        task_id = params.get("task_id", "")
        return hint.domain == "tasks" and (hint.row_id == task_id or many) and task_id in rows.tasks
    if template == TODAY:
        return hint.domain == "appointments" and (
            many
            or any(_local_date(stamp, agent.time_zone) == today for stamp in hint.detail.split(",") if stamp)
        )
    if template == CONTEXT:
        if not agent.access.allows(hint.domain, "read"):
            return False
        if many:
            return True
        if hint.client_id != params.get("client_id"):
            return False
        if hint.domain in ("tasks", "mem_docs"):
            return hint.row_id in (rows.tasks if hint.domain == "tasks" else rows.mem_docs)
        if hint.domain == "clients" and hint.detail not in ("", "*"):
            hidden = agent.access.redacted("clients")
            return any(REDACTED_BY.get(column, column) not in hidden for column in hint.detail.split(","))
        return True
    return False


def _local_date(epoch: str, zone: str) -> Any:
    try:
        return datetime.fromtimestamp(int(epoch), UTC).astimezone(ZoneInfo(zone)).date()
    except (ValueError, OverflowError):
        return None


# -- the protocol side ----------------------------------------------------------------------


class AgentBus:
    """The SDK's `SubscriptionBus` seam for one listen stream: the hub hands it only the events
    meant for this agent, and the SDK's `ListenHandler` does the rest (ack, stamping, buffer)."""

    def __init__(self, hub: LiveHub, agent: Agent, params: SubscriptionsListenRequestParams) -> None:
        self._hub = hub
        self._agent = agent
        wanted = params.notifications
        self._uris = set(wanted.resource_subscriptions or ())
        self._lists = bool(
            wanted.tools_list_changed or wanted.resources_list_changed or wanted.prompts_list_changed
        )

    async def publish(self, event: ServerEvent) -> None:  # events come from the database only
        raise NotImplementedError

    def subscribe(self, listener: Deliver) -> Callable[[], None]:
        agent = self._agent
        return self._hub.add(
            Listener(agent.tenant_id, agent.id, listener, uris=self._uris, lists=self._lists), agent
        )


async def serve_listen(
    hub: LiveHub, agent: Agent, ctx: ServerRequestContext[Any, Any], params: SubscriptionsListenRequestParams
) -> SubscriptionsListenResult:
    """One `subscriptions/listen` stream for this agent."""
    return await ListenHandler(AgentBus(hub, agent, params))(ctx, params)


class LegacySubscriptions:
    """`resources/subscribe` (protocol versions before 2026-07-28) and list-changed notices for
    such clients: one listener per connection, sending on the connection's own channel.

    Keyed by the SDK's connection object (`ctx.session` is rebuilt for every request; the
    connection lives as long as the client's session), held weakly: a closed connection's
    listener goes with it."""

    def __init__(self, hub: LiveHub) -> None:
        self._hub = hub
        self._by_connection: weakref.WeakKeyDictionary[Any, Listener] = weakref.WeakKeyDictionary()
        self._sending: set[asyncio.Task[None]] = set()

    def watch(self, agent: Agent, ctx: ServerRequestContext[Any, Any]) -> Listener:
        """This client's listener (made on its first subscribe or list)."""
        connection = connection_of(ctx)
        known = self._by_connection.get(connection)
        if known is not None:
            return known
        ref = weakref.ref(connection)
        listener = Listener(agent.tenant_id, agent.id, lambda event: self._send(ref, event), counted=False)
        self._by_connection[connection] = listener
        remove = self._hub.add(listener, agent)
        # Gone when the client's connection closes (its exit stack), or at the latest when the
        # connection object is collected.
        connection.exit_stack.callback(remove)
        weakref.finalize(connection, remove)
        return listener

    def unsubscribe(self, ctx: ServerRequestContext[Any, Any], uri: str) -> None:
        known = self._by_connection.get(connection_of(ctx))
        if known is not None:
            known.uris.discard(uri)

    def _send(self, ref: weakref.ref[Any], event: ServerEvent) -> None:
        task = asyncio.create_task(self._notify(ref, event))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _notify(self, ref: weakref.ref[Any], event: ServerEvent) -> None:
        connection = ref()
        if connection is None:
            return
        wire = event_to_notification(event, {}).model_dump(by_alias=True, mode="json", exclude_none=True)
        try:
            await connection.outbound.notify(wire["method"], wire.get("params"))
        except Exception:  # the client has gone; its connection (and listener) go with it
            log.debug("a live update could not be sent to a closed connection", exc_info=True)
