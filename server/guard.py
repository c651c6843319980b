"""The one guard every tool call and resource read goes through:

    agent as it is now -> capability and access_patterns -> argument validation
    -> transaction as bizctx_app with the tenant and the agent's scopes set
    -> idempotency key (a write tool's retry is answered from the first call)
    -> handler (named SQL only) -> redaction -> audit row with the declared entity, in the
    same transaction -> result

A denied or failed call is audited too, after the rollback. Errors become the codes of
errors.py through replies.py; nothing internal (SQL, stack traces, exception text) reaches
the caller.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import mcp_types as types
import psycopg
from pydantic import BaseModel, ValidationError

from . import idempotency, notices, schemas
from .access import AccessPatterns
from .approvals import Approvals, Decider, Gate, HoldForApproval, Ran
from .audit import AuditEntry, write_audit
from .bounds import check_depth, check_size, cut
from .database import Database, Taken, Tx
from .errors import (
    BizctxError,
    Internal,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PolicyBlocked,
    RateLimited,
    Unavailable,
)
from .fairuse import CallRate, CostlyTime, InFlight, RefusalLog
from .identity import Agent, AgentDirectory
from .money import plain, printed
from .paging import offset_page
from .policy import TAKE_LIMIT, Money, Policy, PolicyBook, TenantPolicies
from .queries import QueryRef
from .redact import Hidden, Receipt, Redact, hidden_inputs, mask_arguments, receipt, shape
from .registry import Entity, Registry, ResourceSpec, ToolSpec
from .replies import TRANSIENT_SQLSTATES, as_bizctx_error, protocol_error, tool_error
from .settings import Settings

log = logging.getLogger("bizctx.guard")

REPLAYED_META_KEY = "bizctx/replayed"
TRANSIENT_ATTEMPTS = 3
SET_CALL_IDENTITY = QueryRef("governance", "set_call_identity")
# Raised by the opening statement when this server's cached policies are stale (migration 0060).
POLICIES_CHANGED = "BZ010"
QUERY_CANCELED = "57014"  # statement_timeout

S = TypeVar("S")


@dataclass(frozen=True)
class Principal:
    """The caller of one request, as the transport established it."""

    tenant_id: UUID
    agent_id: UUID
    transport: str


class Call:
    """What a handler is handed: the agent, its open transaction, the app's services (e.g.
    the mem_docs domain's embedder), and the approval gate (for decide_approval)."""

    def __init__(
        self,
        agent: Agent,
        tx: Tx,
        request_id: str,
        settings: Settings,
        visible_tools: Callable[[], list[ToolSpec]],
        services: Mapping[type, Any],
        approvals: Approvals,
        transport: str,
        policies: Callable[[], list[dict[str, Any]]] = list,
    ) -> None:
        self.agent = agent
        self.tx = tx
        self.request_id = request_id
        self.settings = settings
        self.visible_tools = visible_tools
        self._services = services
        self.approvals = approvals
        self.transport = transport
        # The policies on the tools this agent may call, as it may read them (bizctx://agent/me).
        self.policies = policies
        # The tenant's policies as this transaction checked them (their version): what enforce reads.
        self.policy_book: TenantPolicies | None = None
        # Running a call an approver approved: rules that would hold it for approval pass.
        self.approved = False

    @property
    def access(self) -> AccessPatterns:
        return self.agent.access

    def redacted(self, domain: str) -> frozenset[str]:
        return self.agent.access.redacted(domain)

    def service(self, kind: type[S]) -> S:
        """The service of this type a domain declared (see Domain.service)."""
        try:
            service: S = self._services[kind]
            return service
        except KeyError:
            raise Internal(f"{kind.__name__} is not set up on this server; tell an operator.") from None


Invoke = Callable[[Call, Any], Awaitable[BaseModel]]


@dataclass(frozen=True)
class _Target:
    """What one request asks for: a tool, a resource, or something that does not exist."""

    kind: str
    name: str
    invoke: Invoke
    input_model: type[BaseModel] | None = None
    output_model: type[BaseModel] | None = None
    refusal: str | None = None
    entity: Entity | None = None
    takes_key: bool = False
    spec: ToolSpec | None = None  # a tool's: its policies apply


class _Committed(Exception):
    """An answer that is an error but commits with the call (a call held for approval)."""

    def __init__(self, error: BizctxError) -> None:
        self.error = error


class _GiveBack(Exception):
    """Rolls back the limit uses taken for a call that is held instead of run."""


def hidden_for(agent: Agent) -> Hidden:
    """Which redaction marks hide a field from this agent: those its access_patterns redact,
    and every field of a domain they close (a client's e-mail nested in an invoice, for an
    agent that may not read clients)."""

    def hidden(mark: Redact) -> bool:
        return not agent.access.allows(mark.domain, "read") or mark.field in agent.access.redacted(
            mark.domain
        )

    return hidden


def _resource_fields(spec: ResourceSpec) -> dict[str, Any]:
    return {"name": spec.name, "description": spec.description, "mime_type": "application/json"}


def write_only(agent: Agent, spec: ToolSpec | None) -> bool:
    """A plain write tool (capability `<domain>.write`) called by an agent that may change its
    domain but not read it. Working a task (tasks.work) or deciding one (tasks.approve) means
    reading it, and a tool that hands out other domains' data (`reads`, e.g. a claimed
    reminder) needs their read: those tools answer in full."""
    return (
        spec is not None
        and spec.capability == f"{spec.domain}.write"
        and not spec.reads
        and not agent.access.allows(spec.domain, "read")
    )


def _as_readable(
    agent: Agent, spec: ToolSpec | None, shaped: Any, entity: tuple[str | None, str | None]
) -> Any:
    """A write's result as its caller may read it: whole, or a receipt for a write-only caller
    (its tools/list shows the receipt's outputSchema for those tools)."""
    if spec is not None and write_only(agent, spec):
        return receipt(spec.domain, entity)
    return shaped


class Guard:
    def __init__(
        self,
        db: Database,
        directory: AgentDirectory,
        registry: Registry,
        settings: Settings,
        services: Mapping[type, Any] | None = None,
    ) -> None:
        self.db = db
        self.directory = directory
        self.registry = registry
        self.settings = settings
        self.services = dict(services or {})
        self.policies = PolicyBook(db)
        self.approvals = Approvals(self)
        self.rate = CallRate()
        self.refusals = RefusalLog()
        self.costly_time = CostlyTime(settings.costly_seconds_per_minute)
        self.in_flight = InFlight(
            settings.calls_in_flight, settings.pool_timeout, settings.costly_reads_at_once
        )
        self._tool_cache: dict[tuple[str, bool], types.Tool] = {}

    # -- who may see what ---------------------------------------------------------------

    def tool_capability(self, spec: ToolSpec) -> str:
        return self.directory.tool_capabilities.get(spec.name, spec.capability)

    def tool_refusal(self, agent: Agent, spec: ToolSpec) -> str | None:
        capability = self.tool_capability(spec)
        if capability not in agent.capabilities:
            return f"This agent lacks the capability {capability!r} that {spec.name} needs."
        if not agent.access.allows(spec.domain, spec.action):
            return f"This agent's access_patterns do not open the {spec.domain} domain for {spec.action}."
        for domain in spec.reads:
            if not agent.access.allows(domain, "read"):
                return (
                    f"{spec.name} returns {domain} data, and this agent's access_patterns do not open "
                    f"the {domain} domain for read."
                )
        return None

    def resource_refusal(self, agent: Agent, spec: ResourceSpec) -> str | None:
        if spec.capability is not None and spec.capability not in agent.capabilities:
            return f"This agent lacks the capability {spec.capability!r} that this resource needs."
        if spec.domain != "self" and not agent.access.allows(spec.domain, "read"):
            return f"This agent's access_patterns do not open the {spec.domain} domain for read."
        return None

    def visible_tools(self, agent: Agent) -> list[ToolSpec]:
        return [t for t in self.registry.tools.values() if self.tool_refusal(agent, t) is None]

    def policies_for(self, agent: Agent) -> list[dict[str, Any]]:
        """The policies that govern this agent's calls of the tools it may use."""
        book = self.policies.cached(agent.tenant_id)
        if book is None:
            return []
        return [
            p.describe()
            for t in self.visible_tools(agent)
            for p in book.by_tool.get(t.name, ())
            if p.agent_id is None or p.agent_id == agent.id
        ]

    def visible_resources(self, agent: Agent) -> list[ResourceSpec]:
        return [r for r in self.registry.resources if self.resource_refusal(agent, r) is None]

    def fair_use(self, agent: Agent, transport: str, name: str) -> None:
        """The agent's calls per minute (fairuse.py): refused before any database work, and
        counted for one audit row per minute, not written per call."""
        per_minute = agent.calls_per_minute or self.settings.calls_per_minute
        wait = self.rate.take(agent.id, per_minute)
        if wait is None:
            return
        self.refusals.note(agent.tenant_id, agent.id, transport, name)
        retry_after_s = max(1, math.ceil(wait))
        raise RateLimited(
            f"You are calling faster than your share ({per_minute} calls a minute); "
            f"retry in {retry_after_s} s.",
            limit={"calls_per_minute": per_minute},
            retry_after_s=retry_after_s,
        )

    async def _pace(self, error: BizctxError, arrived: float) -> None:
        """A rate_limited answer leaves no sooner than `rate_limited_seconds` after its call
        arrived. Refusing costs little, but an agent that ignores retry_after_s and calls
        again at once would otherwise spin: measured with bench/fairness_bench.py, two such
        agents (12 loops each) had hundreds of refusals a second answered, and the HTTP and
        JSON work of those, on both ends, took the CPU another agent's calls were waiting
        for. Held, a refusal costs a timer; a call that already waited its turn that long
        (InFlight) is not held again."""
        if isinstance(error, RateLimited):
            left = self.settings.rate_limited_seconds - (time.perf_counter() - arrived)
            if left > 0:
                await asyncio.sleep(left)

    async def current_agent(self, principal: Principal) -> Agent:
        try:
            agent = await self.directory.get(principal.tenant_id, principal.agent_id)
        except (psycopg.Error, OSError) as exc:
            log.warning("agent lookup failed: %s", type(exc).__name__)
            raise Unavailable("The database is unavailable right now; retry in a few seconds.") from None
        if agent is None:
            raise PermissionDenied("This agent no longer exists; ask an operator for a new key.")
        return agent

    async def listening_agent(self, principal: Principal) -> Agent:
        """The agent asking for live updates: it must be active (its rights are checked again
        at every delivery)."""
        agent = await self.current_agent(principal)
        if not agent.active:
            raise PermissionDenied(f"Agent {agent.name!r} is disabled; an operator must enable a new key.")
        return agent

    def check_subscribable(self, agent: Agent, uri: str) -> None:
        """A resource an agent subscribes to must exist and be readable by it now."""
        found = self.registry.find_resource(uri)
        if found is None:
            raise NotFound(
                "There is no such resource; resources/list and resources/templates/list name them."
            )
        refusal = self.resource_refusal(agent, found[0])
        if refusal is not None:
            raise PermissionDenied(refusal)

    # -- lists ------------------------------------------------------------------------------

    async def list_tools(self, principal: Principal, cursor: str | None) -> types.ListToolsResult:
        agent = await self.current_agent(principal)
        tools = self.visible_tools(agent) if agent.active else []
        page, next_cursor = self.page(tools, cursor, kind="tools")
        return types.ListToolsResult(
            tools=[self._wire_tool(t, as_receipt=write_only(agent, t)) for t in page], next_cursor=next_cursor
        )

    async def list_resources(self, principal: Principal, cursor: str | None) -> types.ListResourcesResult:
        page, next_cursor = await self._resource_page(principal, cursor, templates=False)
        listed = [types.Resource(uri=r.uri, **_resource_fields(r)) for r in page]
        return types.ListResourcesResult(resources=listed, next_cursor=next_cursor)

    async def list_resource_templates(
        self, principal: Principal, cursor: str | None
    ) -> types.ListResourceTemplatesResult:
        page, next_cursor = await self._resource_page(principal, cursor, templates=True)
        listed = [types.ResourceTemplate(uri_template=r.uri, **_resource_fields(r)) for r in page]
        return types.ListResourceTemplatesResult(resource_templates=listed, next_cursor=next_cursor)

    async def _resource_page(
        self, principal: Principal, cursor: str | None, *, templates: bool
    ) -> tuple[list[ResourceSpec], str | None]:
        """The agent's listed resources (or templates), one page."""
        agent = await self.current_agent(principal)
        visible = self.visible_resources(agent) if agent.active else []
        specs = [r for r in visible if r.is_template == templates and r.listed]
        return self.page(specs, cursor, kind="templates" if templates else "resources")

    def page(self, items: list[Any], cursor: str | None, *, kind: str) -> tuple[list[Any], str | None]:
        try:
            return offset_page(items, cursor, self.settings.page_size, kind=kind)
        except InvalidInput as exc:
            raise protocol_error(exc) from None

    def tool_input_schema(self, name: str) -> dict[str, Any] | None:
        """A tool's inputSchema by name, for the SDK's streamable-HTTP check of `Mcp-Param-*`
        headers. Without it the SDK runs (and serializes) a whole tools/list per tools/call to
        find the schema: about 60% of an HTTP call's CPU. It is the same schema for every agent;
        which agent may call the tool is still the guard's decision."""
        spec = self.registry.tools.get(name)
        return None if spec is None else self._wire_tool(spec).input_schema

    def _wire_tool(self, spec: ToolSpec, *, as_receipt: bool = False) -> types.Tool:
        tool = self._tool_cache.get((spec.name, as_receipt))
        if tool is None:
            output_model = Receipt if as_receipt else spec.output_model
            tool = types.Tool(
                name=spec.name,
                title=spec.title,
                description=spec.description,
                input_schema=spec.input_schema(),
                output_schema=schemas.output_schema(output_model),
                annotations=types.ToolAnnotations(
                    title=spec.title,
                    read_only_hint=spec.read_only,
                    destructive_hint=spec.destructive,
                    idempotent_hint=spec.idempotent,
                    open_world_hint=False,
                ),
            )
            self._tool_cache[(spec.name, as_receipt)] = tool
        return tool

    # -- calls --------------------------------------------------------------------------

    async def call_tool(
        self, principal: Principal, name: str, arguments: dict[str, Any] | None
    ) -> types.CallToolResult:
        spec = self.registry.tools.get(name)
        arrived = time.perf_counter()
        try:
            agent = await self.current_agent(principal)
            self.fair_use(agent, principal.transport, cut(name))
            if spec is None:
                target = _Target("tool", cut(name), _no_such_tool(name))
            else:
                target = _Target(
                    "tool",
                    name,
                    spec.handler,
                    input_model=spec.input_model,
                    output_model=spec.output_model,
                    refusal=self.tool_refusal(agent, spec),
                    entity=spec.entity,
                    takes_key=spec.takes_key,
                    spec=spec,
                )
            shaped, replayed = await self._governed(agent, principal.transport, target, arguments or {})
        except BizctxError as exc:
            await self._pace(exc, arrived)
            return tool_error(exc)
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(shaped, ensure_ascii=False, separators=(",", ":")))],
            structured_content=shaped,
            meta={REPLAYED_META_KEY: True} if replayed else None,
        )

    async def read_resource(self, principal: Principal, uri: str) -> types.ReadResourceResult:
        arrived = time.perf_counter()
        try:
            agent = await self.current_agent(principal)
            self.fair_use(agent, principal.transport, cut(uri))
            found = self.registry.find_resource(uri)
            if found is None:
                target, params = _Target("resource", cut(uri), _no_such_resource(uri)), {"uri": cut(uri)}
            else:
                spec, params = found
                target = _Target(
                    "resource",
                    spec.uri,
                    _resource_invoker(spec),
                    input_model=spec.params_model,
                    output_model=spec.output_model,
                    refusal=self.resource_refusal(agent, spec),
                    entity=spec.entity,
                )
            shaped, _ = await self._governed(agent, principal.transport, target, params)
        except BizctxError as exc:
            await self._pace(exc, arrived)
            raise protocol_error(exc) from None
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=uri, mime_type="application/json", text=json.dumps(shaped, ensure_ascii=False)
                )
            ]
        )

    async def complete(
        self,
        principal: Principal,
        name: str,
        invoke: Invoke,
        raw: dict[str, Any],
        input_model: type[BaseModel],
        output_model: type[BaseModel],
    ) -> Any:
        """A completion (server/completions.py): a read like a resource's, audited as kind
        `completion`; its shaped result, or the protocol error a client expects."""
        arrived = time.perf_counter()
        try:
            agent = await self.current_agent(principal)
            self.fair_use(agent, principal.transport, name)
            target = _Target("completion", name, invoke, input_model=input_model, output_model=output_model)
            shaped, _ = await self._governed(agent, principal.transport, target, raw)
        except BizctxError as exc:
            await self._pace(exc, arrived)
            raise protocol_error(exc) from None
        return shaped

    async def _governed(
        self, agent: Agent, transport: str, target: _Target, raw: dict[str, Any]
    ) -> tuple[Any, bool]:
        """Run one request under every rule; its shaped result, and whether it was a replay."""
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        hidden = hidden_for(agent)
        entry = AuditEntry(
            request_id=request_id,
            transport=transport,
            kind=target.kind,
            name=target.name,
            arguments=mask_arguments(raw, target.input_model, hidden),
        )
        args: BaseModel | None = None
        try:
            if not agent.active:
                raise PermissionDenied(
                    f"Agent {agent.name!r} is disabled; an operator must enable a new key."
                )
            if target.refusal is not None:
                raise PermissionDenied(target.refusal)
            check_depth(raw)
            key = None
            if target.takes_key:
                raw, key = idempotency.split_key(raw)
            if target.input_model is not None:
                args = validate_input(target.input_model, raw)
                check_size(raw)
                redacted = hidden_inputs(args, hidden, target.spec.domain) if target.spec else []
                if redacted:
                    raise PermissionDenied(
                        f"{', '.join(redacted)} {'is' if len(redacted) == 1 else 'are'} redacted for you, so "
                        "you may not set or match it; leave it out, or ask an agent that may see it."
                    )
            digest = idempotency.fingerprint(args) if key is not None else ""
            # Its turn among the agent's own calls, before it takes a pooled connection.
            costly = target.spec is not None and target.spec.costly is not None
            if costly:
                self.costly_time.check(agent.id)
            async with self.in_flight.turn(agent.id, costly=costly):
                ran_from = time.perf_counter()
                try:
                    answer = await self._transact(
                        agent, transport, target, args, key, digest, hidden, entry, started
                    )
                finally:
                    if costly:  # what it took of the database, finished or not
                        self.costly_time.charge(agent.id, time.perf_counter() - ran_from)
            log.info(
                "%s %s %s%s",
                target.kind,
                target.name,
                entry.outcome,
                " (replayed)" if entry.replayed else "",
                extra={"request_id": request_id, "agent": agent.name},
            )
            if isinstance(answer, BizctxError):
                raise _Committed(answer)  # held for approval: its task and audit row are committed
            return answer, entry.replayed
        except _Committed as held:
            if target.spec is not None and write_only(agent, target.spec):
                raise held.error.withheld(target.spec.domain) from None
            raise held.error from None
        except Exception as exc:
            error = as_bizctx_error(exc, request_id)
            if target.spec is not None and write_only(agent, target.spec):
                error = error.withheld(target.spec.domain)
            if target.entity is not None and args is not None:
                entry.entity_type, entry.entity_id = target.entity.of(args)
            entry.replayed = False
            entry.failed(error.code, error.details.get("rule"))
            entry.duration_ms = (time.perf_counter() - started) * 1000
            if isinstance(error, RateLimited):
                # Counted, not written per call: a flood costs no insert (one row a minute).
                self.refusals.note(agent.tenant_id, agent.id, transport, target.name)
            else:
                await self._audit_after_rollback(agent, entry)
            log.info(
                "%s %s %s (%s)",
                target.kind,
                target.name,
                entry.outcome,
                error.code,
                extra={"request_id": request_id, "agent": agent.name},
            )
            raise error from None

    async def _transact(
        self,
        agent: Agent,
        transport: str,
        target: _Target,
        args: BaseModel | None,
        key: str | None,
        digest: str,
        hidden: Hidden,
        entry: AuditEntry,
        started: float,
    ) -> Any:
        """The call's transaction, with its audit row: run again after a deadlock or a
        serialization failure (nothing of it was written), or after another server changed the
        tenant's policies (with them reloaded)."""
        request_id = entry.request_id
        costly = target.spec.costly if target.spec is not None else None
        budget_ms = self.settings.costly_read_ms if costly else None
        book = await self.policies.current(agent.tenant_id)
        for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
            try:
                scopes = agent.access.scopes()
                async with self.db.agent_tx(
                    agent.tenant_id,
                    agent.id,
                    scopes,
                    policy_version=book.version,
                    statement_timeout_ms=budget_ms,
                    durable=self._durable(target, book),
                ) as tx:
                    call = Call(
                        agent,
                        tx,
                        request_id,
                        self.settings,
                        lambda: self.visible_tools(agent),
                        self.services,
                        self.approvals,
                        transport,
                        lambda: self.policies_for(agent),
                    )
                    call.policy_book = book  # the snapshot this transaction checked
                    one_read = self._in_one_round_trip(target, key, book)
                    if one_read:
                        _audit_ahead(tx, agent, target, args, entry, started)
                    try:
                        answer = await self._answer(call, target, args, key, digest, scopes, hidden, entry)
                    except Exception:
                        if tx.committed_with_read:
                            # Its `ok` row is committed; the failure's row follows, same request id.
                            log.warning(
                                "%s failed after its one read committed its audit row",
                                target.name,
                                extra={"request_id": request_id},
                            )
                        raise
                    if not one_read:
                        entry.duration_ms = (time.perf_counter() - started) * 1000
                        write_audit(tx, agent.tenant_id, agent.id, entry)
                return answer
            except Taken as taken:  # the key was used before: nothing of this try was written
                assert key is not None
                return await self._replay(
                    agent, target, key, digest, scopes, hidden, entry, taken.found, started
                )
            except psycopg.Error as exc:
                if exc.sqlstate == QUERY_CANCELED and budget_ms is not None:
                    # The same call would run out again: what to change, not "retry".
                    notices.warn(
                        f"{target.name} was cut at its bound of {budget_ms / 1000:g} s of database time.",
                        tool=target.name,
                    )
                    raise InvalidInput(
                        f"{target.name} needs more than its {budget_ms / 1000:g} s of database time "
                        f"here; narrow it: {costly}."
                    ) from None
                if exc.sqlstate == POLICIES_CHANGED and attempt < TRANSIENT_ATTEMPTS:
                    # Another server changed this tenant's policies: reload, then decide.
                    book = await self.policies.load(agent.tenant_id)
                    continue
                # A deadlock or serialization failure rolled the whole call back: nothing
                # of it was written, so running it again is safe; the caller never sees it.
                if exc.sqlstate not in TRANSIENT_SQLSTATES or attempt == TRANSIENT_ATTEMPTS:
                    raise
                log.info("retrying after %s", exc.sqlstate, extra={"request_id": request_id})
        raise AssertionError("unreachable")

    def _in_one_round_trip(self, target: _Target, key: str | None, book: TenantPolicies) -> bool:
        """Whether the call's audit row and COMMIT ride with its one read
        (Tx.commit_with_next_read): a tool declared `one_read` (its statements raise when
        they find nothing it may answer, and its audit row's entity is in its arguments), called
        without an idempotency key, with no policy on it (a policy's check reads first)."""
        spec = target.spec
        return (
            target.kind == "tool"
            and spec is not None
            and spec.one_read
            and key is None
            and not book.by_tool.get(spec.name)
        )

    def _durable(self, target: _Target, book: TenantPolicies) -> bool:
        """Whether the call's commit waits for its WAL to reach disk: always, unless the operator
        chose async commits for read calls (Settings.read_audit_commit) and this is one, a call
        that writes nothing of the business's but its audit row: a read-only tool that writes no
        bookkeeping either (ToolSpec.also_writes) and on which no policy could count (a limit's
        counter must survive a crash), a resource read or a completion."""
        if self.settings.read_audit_commit != "async":
            return True
        if target.kind != "tool":
            return False
        spec = target.spec
        if spec is None or not spec.read_only or spec.also_writes is not None:
            return True
        return bool(book.by_tool.get(spec.name))

    async def _answer(
        self,
        call: Call,
        target: _Target,
        args: BaseModel | None,
        key: str | None,
        digest: str,
        scopes: dict[str, str],
        hidden: Hidden,
        entry: AuditEntry,
    ) -> Any:
        """Inside the call's transaction: the shaped result, or (committed with it) the
        approval_required error of a call held for approval. Fills in the audit entry."""
        if key is not None:
            await idempotency.claim(call.tx, target.name, key, digest, scopes)
            if target.spec is not None and call.policy_book and call.policy_book.by_tool.get(target.name):
                # A replay is answered before policies (a deny may come from memory, unread).
                await call.tx.settle()
        if target.spec is not None:
            gate = await self.enforce(call, target.spec, args, gate=True)
            if gate is not None:
                # Rehearsed first, then undone: a call that would fail now (no such invoice, already
                # paid) is refused at once instead of waiting for an approver to find out.
                try:
                    async with call.tx.savepoint():
                        await target.invoke(call, args)
                        raise _GiveBack()
                except (_GiveBack, HoldForApproval):
                    pass
                return await self._hold(call, target, args, gate, key, entry)
        try:
            result = await target.invoke(call, args)
        except HoldForApproval as found:  # a rule of the tool's domain (e.g. a contact rule)
            return await self._hold(call, target, args, found.gate, key, entry)
        shaped = shape(result, hidden)
        entity = target.entity.of(args, result) if target.entity else (None, None)
        if key is not None:
            idempotency.store(call.tx, target.name, key, shaped, entity)
        entry.entity_type, entry.entity_id = entity
        return _as_readable(call.agent, target.spec, shaped, entity)

    async def _replay(
        self,
        agent: Agent,
        target: _Target,
        key: str,
        digest: str,
        scopes: dict[str, str],
        hidden: Hidden,
        entry: AuditEntry,
        found: idempotency.FirstCall | None,
        started: float,
    ) -> Any:
        """A call whose key was used before, in a transaction of its own (the claiming one
        rolled back): the first call's result re-shaped under the caller's access now, or the
        refusal. Audited as replayed."""
        async with self.db.agent_tx(agent.tenant_id, agent.id, scopes) as tx:
            first = await idempotency.first_call(tx, target.name, key, found)
            if not idempotency.replayable(first, digest):
                raise idempotency.refusal(first, target.name, key)
            if idempotency.narrowed(first, scopes):
                raise idempotency.narrowed_refusal(first, target.name, key)
            entry.replayed = True
            entry.entity_type, entry.entity_id = first.entity_type, first.entity_id
            assert target.output_model is not None
            stored = first.result
            if first.task_id is not None:  # held for approval: what became of it
                stored = await self.approvals.outcome(tx, first.task_id)
            # The first result, re-shaped under the caller's access as it is now.
            shaped = shape(target.output_model.model_validate(stored), hidden)
            answer = _as_readable(agent, target.spec, shaped, (first.entity_type, first.entity_id))
            entry.duration_ms = (time.perf_counter() - started) * 1000
            write_audit(tx, agent.tenant_id, agent.id, entry)
        return answer

    async def _hold(
        self,
        call: Call,
        target: _Target,
        args: BaseModel | None,
        gate: Gate,
        key: str | None,
        entry: AuditEntry,
    ) -> BizctxError:
        """Hold the call for approval (its task, the held call, its key's record): the answer."""
        assert target.spec is not None
        held = await self.approvals.hold(call, target.spec, args, gate, key)
        entry.entity_type, entry.entity_id = target.entity.of(args) if target.entity else (None, None)
        entry.failed(held.code, held.details.get("policy"))
        if key is not None:
            idempotency.store(call.tx, target.name, key, None, (None, None), task_id=held.details["task_id"])
        return held

    async def enforce(
        self, call: Call, spec: ToolSpec, args: BaseModel | None, *, gate: bool
    ) -> Policy | None:
        """The tenant's policies on this call, in precedence order: a matching deny refuses
        it (policy_blocked); a matching limit takes a use under its counter's row lock, or
        refuses it (rate_limited for one agent's limit, policy_blocked for the tenant's); then,
        when `gate`, the approval policy that holds it, if any (its limits' uses are given
        back: they are taken when the approved call runs)."""
        book = call.policy_book
        policies = book.by_tool.get(spec.name, ()) if book is not None else ()
        if not policies:
            return None
        money: Money = (None, None)
        if spec.amount is not None and any(p.needs_amount for p in policies):
            money = await spec.amount(call, args)
        matched = [p for p in policies if p.matches(call.agent.id, args, money)]
        for p in matched:
            if p.effect == "deny":
                raise PolicyBlocked(
                    f"A policy of your business forbids this {spec.name} call"
                    + (f": {p.reason}" if p.reason else ".")
                    + " Do not retry it; ask a person if it must be done.",
                    rule=p.describe(),
                    reason=p.reason,
                )
        gates = [p for p in matched if p.effect == "require_approval"] if gate else []
        limits = [p for p in matched if p.effect == "limit"]
        if limits and gates:
            # Checked, not spent: a held call may never run.
            try:
                async with call.tx.savepoint():
                    for p in limits:
                        await self._take(call, spec, p, money)
                    raise _GiveBack()
            except _GiveBack:
                pass
        else:
            for p in limits:
                await self._take(call, spec, p, money)
        return gates[0] if gates else None

    async def _take(self, call: Call, spec: ToolSpec, policy: Policy, money: Money) -> None:
        amount, currency = money
        if policy.max_amount is not None and amount is not None and amount > policy.max_amount:
            # No window will ever let this one call through: not a matter of waiting.
            moved = f"{printed(amount, currency)} {currency}" if currency else plain(amount)
            raise PolicyBlocked(
                f"This {spec.name} call moves {moved}, more than its limit of {plain(policy.max_amount)} "
                f"per {policy.window_seconds} s allows at all; a person must do it, or raise the limit.",
                rule=policy.describe(),
                reason=policy.reason,
            )
        subject = str(call.agent.id) if policy.scope == "agent" else "tenant"
        if policy.max_amount is not None:
            subject += f":{currency or '?'}"  # amounts add up per currency, never across
        taken = await call.tx.row(
            TAKE_LIMIT,
            policy_id=policy.id,
            subject=subject,
            window_seconds=policy.window_seconds,
            max_calls=policy.max_calls,
            max_amount=policy.max_amount,
            amount=amount if policy.max_amount is not None else None,
        )
        if taken["allowed"]:
            return
        wait = int(taken["retry_after_s"])
        what = f"{policy.max_calls} calls" if policy.max_amount is None else plain(policy.max_amount)
        limit = {**policy.describe()}
        if policy.scope == "agent":
            raise RateLimited(
                f"You reached your limit for {spec.name} ({what} per {policy.window_seconds} s); "
                f"retry in {wait} s, or ask a person to raise the limit.",
                limit=limit,
                retry_after_s=wait,
            )
        next_allowed_at = (datetime.now(UTC) + timedelta(seconds=wait)).isoformat()
        raise PolicyBlocked(
            f"Your business's limit for {spec.name} ({what} per {policy.window_seconds} s, for all its "
            f"agents together) is reached; it frees up at {next_allowed_at}.",
            rule=limit,
            reason=policy.reason,
            next_allowed_at=next_allowed_at,
        )

    async def execute_held(self, tx: Tx, held: dict[str, Any], decider: Decider) -> Ran:
        """Run a held call on its approval, in a savepoint of the decision's transaction, as its
        requester with the requester's rights now (permission, deny and limit policies checked
        again; never held again); audited as the requester's call, naming the approval task."""
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        spec = self.registry.tools.get(held["tool"])
        requester = await self.directory.current(tx, held["tenant_id"], held["requested_by_agent_id"])
        entry = AuditEntry(
            request_id=request_id,
            transport=held["transport"],
            kind="tool",
            name=held["tool"],
            arguments=held["arguments"],
            approval_task_id=held["task_id"],
        )
        try:
            if spec is None or requester is None:
                raise NotFound(f"The tool {held['tool']} or the agent that asked for it no longer exists.")
            hidden = hidden_for(requester)
            entry.arguments = mask_arguments(held["arguments"], spec.input_model, hidden)
            refusal = (
                self.tool_refusal(requester, spec) if requester.active else f"{requester.name} is disabled."
            )
            if refusal is not None:
                raise PermissionDenied(f"{refusal} (checked when the approved call ran)")
            args = validate_input(spec.input_model, held["arguments"])
            book = await self.policies.checked(tx, held["tenant_id"])
            async with tx.savepoint():
                await tx.execute(SET_CALL_IDENTITY, **Decider(agent=requester).identity)
                call = Call(
                    requester,
                    tx,
                    request_id,
                    self.settings,
                    lambda: self.visible_tools(requester),
                    self.services,
                    self.approvals,
                    held["transport"],
                )
                call.policy_book = book
                call.approved = True
                await self.enforce(call, spec, args, gate=False)
                result = await spec.handler(call, args)
                shaped = shape(result, hidden)
            entry.entity_type, entry.entity_id = spec.entity.of(args, result) if spec.entity else (None, None)
            summary = {"outcome": "succeeded", "tool": spec.name, "entity_type": entry.entity_type}
            ran = Ran("succeeded", result=shaped, summary={**summary, "entity_id": entry.entity_id})
        except Exception as exc:
            error = as_bizctx_error(exc, request_id)
            entry.failed(error.code, error.details.get("rule"))
            # The task's result is read by its requester and by tasks readers, who may not read
            # the tool's domain: it tells how the call ended, never the record's state.
            told = error.withheld(spec.domain) if spec is not None else error
            failure = {"code": told.code, "message": told.message}
            ran = Ran(
                "failed",
                error=error.to_dict(),
                summary={"outcome": "failed", "tool": held["tool"], "error": failure},
            )
        finally:
            await tx.execute(SET_CALL_IDENTITY, **decider.identity)
        entry.duration_ms = (time.perf_counter() - started) * 1000
        write_audit(tx, held["tenant_id"], held["requested_by_agent_id"], entry)
        log.info("approved %s ran: %s", held["tool"], ran.status, extra={"request_id": request_id})
        return ran

    async def _audit_after_rollback(self, agent: Agent, entry: AuditEntry) -> None:
        try:
            async with self.db.agent_tx(agent.tenant_id, agent.id) as tx:
                write_audit(tx, agent.tenant_id, agent.id, entry)
        except Exception:
            # The database may be the reason the call failed; the log keeps the record.
            log.exception(
                "could not write the audit row for a failed call",
                extra={"request_id": entry.request_id, "audit": entry.__dict__},
            )


def _audit_ahead(
    tx: Tx, agent: Agent, target: _Target, args: BaseModel | None, entry: AuditEntry, started: float
) -> None:
    """The audit row of a call answered by one read, sent with it, before its rows are in
    (Tx.commit_with_next_read): `ok`, unless the statement or the COMMIT fails (then nothing of
    it commits, and the failure's row is written after the rollback, as for any call).

    Two cases leave a second row with the same request id. An answer that fails after the
    statement came back (a row its output model refuses: data written outside bizctx, or a
    bug) gets the failure's row after the committed `ok`. A connection lost while the read
    runs gets `unavailable`, and PostgreSQL may still run it and commit the `ok` row it was
    sent with (the outcome of a COMMIT whose answer never came is unknown; one_read is for
    statements of milliseconds, not for costly reads)."""
    entry.entity_type, entry.entity_id = target.entity.of(args) if target.entity else (None, None)
    entry.duration_ms = (time.perf_counter() - started) * 1000
    write_audit(tx, agent.tenant_id, agent.id, entry, database_time=True)
    tx.commit_with_next_read()


def _no_such_tool(name: str) -> Invoke:
    async def invoke(call: Call, args: Any) -> BaseModel:
        raise NotFound(
            f"There is no tool named {cut(name, 64)!r}; call tools/list to see the tools you may use."
        )

    return invoke


def _no_such_resource(uri: str) -> Invoke:
    async def invoke(call: Call, args: Any) -> BaseModel:
        raise NotFound(
            f"There is no resource at {cut(uri, 200)!r}; list resources and templates to see yours."
        )

    return invoke


def _resource_invoker(spec: ResourceSpec) -> Invoke:
    async def invoke(call: Call, args: Any) -> BaseModel:
        return await (spec.handler(call, args) if spec.params_model else spec.handler(call))

    return invoke


def validate_input(model: type[BaseModel], raw: Any) -> BaseModel:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False)[:10]:
            where = ".".join(str(p) for p in err["loc"]) or "arguments"
            problems.append(f"{where}: {err['msg']}")
        raise InvalidInput(
            "Invalid arguments. " + "; ".join(problems) + ". Fix these and call again."
        ) from None
