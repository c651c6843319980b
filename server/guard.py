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

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import mcp_types as types
import psycopg
from pydantic import BaseModel, ValidationError

from . import idempotency
from .access import AccessPatterns
from .audit import AuditEntry, write_audit
from .database import Database, Tx
from .errors import BizctxError, Internal, InvalidInput, NotFound, PermissionDenied, Unavailable
from .identity import Agent, AgentDirectory
from .paging import offset_page
from .redact import Redact, mask_arguments, shape
from .registry import Entity, Registry, ResourceSpec, ToolSpec
from .replies import TRANSIENT_SQLSTATES, as_bizctx_error, protocol_error, tool_error
from .settings import Settings

log = logging.getLogger("bizctx.guard")

REPLAYED_META_KEY = "bizctx/replayed"
TRANSIENT_ATTEMPTS = 3

S = TypeVar("S")


@dataclass(frozen=True)
class Principal:
    """The caller of one request, as the transport established it."""

    tenant_id: UUID
    agent_id: UUID
    transport: str


class Call:
    """What a handler is handed: the agent, its open transaction, and the app's services
    (e.g. the mem_docs domain's embedder)."""

    def __init__(
        self,
        agent: Agent,
        tx: Tx,
        request_id: str,
        settings: Settings,
        visible_tools: Callable[[], list[ToolSpec]],
        services: Mapping[type, Any],
    ) -> None:
        self.agent = agent
        self.tx = tx
        self.request_id = request_id
        self.settings = settings
        self.visible_tools = visible_tools
        self._services = services

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
        self._tool_cache: dict[str, types.Tool] = {}

    # -- who may see what ---------------------------------------------------------------

    def tool_capability(self, spec: ToolSpec) -> str:
        return self.directory.tool_capabilities.get(spec.name, spec.capability)

    def tool_refusal(self, agent: Agent, spec: ToolSpec) -> str | None:
        capability = self.tool_capability(spec)
        if capability not in agent.capabilities:
            return f"This agent lacks the capability {capability!r} that {spec.name} needs."
        if not agent.access.allows(spec.domain, spec.action):
            return f"This agent's access_patterns do not open the {spec.domain} domain for {spec.action}."
        return None

    def resource_refusal(self, agent: Agent, spec: ResourceSpec) -> str | None:
        if spec.capability is not None and spec.capability not in agent.capabilities:
            return f"This agent lacks the capability {spec.capability!r} that this resource needs."
        if spec.domain != "self" and not agent.access.allows(spec.domain, "read"):
            return f"This agent's access_patterns do not open the {spec.domain} domain for read."
        return None

    def visible_tools(self, agent: Agent) -> list[ToolSpec]:
        return [t for t in self.registry.tools.values() if self.tool_refusal(agent, t) is None]

    def visible_resources(self, agent: Agent) -> list[ResourceSpec]:
        return [r for r in self.registry.resources if self.resource_refusal(agent, r) is None]

    async def current_agent(self, principal: Principal) -> Agent:
        try:
            agent = await self.directory.get(principal.tenant_id, principal.agent_id)
        except (psycopg.Error, OSError) as exc:
            log.warning("agent lookup failed: %s", type(exc).__name__)
            raise Unavailable("The database is unavailable right now; retry in a few seconds.") from None
        if agent is None:
            raise PermissionDenied("This agent no longer exists; ask an operator for a new key.")
        return agent

    # -- lists ------------------------------------------------------------------------------

    async def list_tools(self, principal: Principal, cursor: str | None) -> types.ListToolsResult:
        agent = await self.current_agent(principal)
        tools = self.visible_tools(agent) if agent.active else []
        page, next_cursor = self._page(tools, cursor, kind="tools")
        return types.ListToolsResult(tools=[self._wire_tool(t) for t in page], next_cursor=next_cursor)

    async def list_resources(self, principal: Principal, cursor: str | None) -> types.ListResourcesResult:
        agent = await self.current_agent(principal)
        specs = [r for r in self.visible_resources(agent) if not r.is_template] if agent.active else []
        page, next_cursor = self._page(specs, cursor, kind="resources")
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=r.uri, name=r.name, description=r.description, mime_type="application/json"
                )
                for r in page
            ],
            next_cursor=next_cursor,
        )

    async def list_resource_templates(
        self, principal: Principal, cursor: str | None
    ) -> types.ListResourceTemplatesResult:
        agent = await self.current_agent(principal)
        specs = [r for r in self.visible_resources(agent) if r.is_template] if agent.active else []
        page, next_cursor = self._page(specs, cursor, kind="templates")
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    uri_template=r.uri, name=r.name, description=r.description, mime_type="application/json"
                )
                for r in page
            ],
            next_cursor=next_cursor,
        )

    def _page(self, items: list[Any], cursor: str | None, *, kind: str) -> tuple[list[Any], str | None]:
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

    def _wire_tool(self, spec: ToolSpec) -> types.Tool:
        tool = self._tool_cache.get(spec.name)
        if tool is None:
            tool = types.Tool(
                name=spec.name,
                title=spec.title,
                description=spec.description,
                input_schema=spec.input_schema(),
                output_schema=spec.output_model.model_json_schema(mode="serialization"),
                annotations=types.ToolAnnotations(
                    title=spec.title,
                    read_only_hint=spec.read_only,
                    destructive_hint=spec.destructive,
                    idempotent_hint=spec.idempotent,
                    open_world_hint=False,
                ),
            )
            self._tool_cache[spec.name] = tool
        return tool

    # -- calls --------------------------------------------------------------------------

    async def call_tool(
        self, principal: Principal, name: str, arguments: dict[str, Any] | None
    ) -> types.CallToolResult:
        spec = self.registry.tools.get(name)
        try:
            agent = await self.current_agent(principal)
            if spec is None:
                target = _Target("tool", name, _no_such_tool(name))
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
                )
            shaped, replayed = await self._governed(agent, principal.transport, target, arguments or {})
        except BizctxError as exc:
            return tool_error(exc)
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(shaped, ensure_ascii=False, separators=(",", ":")))],
            structured_content=shaped,
            meta={REPLAYED_META_KEY: True} if replayed else None,
        )

    async def read_resource(self, principal: Principal, uri: str) -> types.ReadResourceResult:
        try:
            agent = await self.current_agent(principal)
            found = self.registry.find_resource(uri)
            if found is None:
                target, params = _Target("resource", uri, _no_such_resource(uri)), {"uri": uri}
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
            raise protocol_error(exc) from None
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=uri, mime_type="application/json", text=json.dumps(shaped, ensure_ascii=False)
                )
            ]
        )

    async def _governed(
        self, agent: Agent, transport: str, target: _Target, raw: dict[str, Any]
    ) -> tuple[Any, bool]:
        """Run one request under every rule; its shaped result, and whether it was a replay."""
        started = time.perf_counter()
        request_id = uuid.uuid4().hex

        def hidden(mark: Redact) -> bool:
            # A field is hidden when the agent's access_patterns redact it, or close its
            # domain altogether (a client's e-mail nested in an invoice, for an agent
            # that may not read clients).
            return not agent.access.allows(mark.domain, "read") or mark.field in agent.access.redacted(
                mark.domain
            )

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
            key = None
            if target.takes_key:
                raw, key = idempotency.split_key(raw)
            if target.input_model is not None:
                args = _validate(target.input_model, raw)
            digest = idempotency.fingerprint(args) if key is not None else ""
            for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
                try:
                    scopes = agent.access.scopes()
                    async with self.db.agent_tx(agent.tenant_id, agent.id, scopes) as tx:
                        first = None
                        if key is not None:
                            first = await idempotency.claim(tx, target.name, key, digest, scopes)
                        if first is not None:
                            if first.fingerprint != digest or first.result is None:
                                raise idempotency.refusal(first, target.name, key or "")
                            if idempotency.narrowed(first, scopes):
                                raise idempotency.narrowed_refusal(first, target.name, key or "")
                            # The first result, re-shaped under the caller's access as it is now.
                            assert target.output_model is not None
                            shaped = shape(target.output_model.model_validate(first.result), hidden)
                            entity = (first.entity_type, first.entity_id)
                        else:
                            call = Call(
                                agent,
                                tx,
                                request_id,
                                self.settings,
                                lambda: self.visible_tools(agent),
                                self.services,
                            )
                            result = await target.invoke(call, args)
                            shaped = shape(result, hidden)
                            entity = target.entity.of(args, result) if target.entity else (None, None)
                            if key is not None:
                                idempotency.store(tx, target.name, key, shaped, entity)
                        entry.entity_type, entry.entity_id = entity
                        entry.replayed = first is not None
                        entry.duration_ms = (time.perf_counter() - started) * 1000
                        write_audit(tx, agent.tenant_id, agent.id, entry)
                    break
                except psycopg.Error as exc:
                    # A deadlock or serialization failure rolled the whole call back: nothing
                    # of it was written, so running it again is safe; the caller never sees it.
                    if exc.sqlstate not in TRANSIENT_SQLSTATES or attempt == TRANSIENT_ATTEMPTS:
                        raise
                    log.info("retrying after %s", exc.sqlstate, extra={"request_id": request_id})
            log.info(
                "%s %s ok%s",
                target.kind,
                target.name,
                " (replayed)" if entry.replayed else "",
                extra={"request_id": request_id, "agent": agent.name},
            )
            return shaped, entry.replayed
        except Exception as exc:
            error = as_bizctx_error(exc, request_id)
            if target.entity is not None and args is not None:
                entry.entity_type, entry.entity_id = target.entity.of(args)
            entry.replayed = False
            entry.outcome = "denied" if isinstance(error, PermissionDenied) else "error"
            entry.error_code = error.code
            entry.duration_ms = (time.perf_counter() - started) * 1000
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


def _no_such_tool(name: str) -> Invoke:
    async def invoke(call: Call, args: Any) -> BaseModel:
        raise NotFound(f"There is no tool named {name!r}; call tools/list to see the tools you may use.")

    return invoke


def _no_such_resource(uri: str) -> Invoke:
    async def invoke(call: Call, args: Any) -> BaseModel:
        raise NotFound(f"There is no resource at {uri!r}; list resources and templates to see yours.")

    return invoke


def _resource_invoker(spec: ResourceSpec) -> Invoke:
    async def invoke(call: Call, args: Any) -> BaseModel:
        return await (spec.handler(call, args) if spec.params_model else spec.handler(call))

    return invoke


def _validate(model: type[BaseModel], raw: Any) -> BaseModel:
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
