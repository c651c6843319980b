"""The one guard every tool call and resource read goes through:

    agent as it is now -> capability and access_patterns -> argument validation
    -> transaction as bizctx_app with the tenant set -> handler (named SQL only)
    -> redaction -> audit row in the same transaction -> result

A denied or failed call is audited too, after the rollback. Errors become the codes of
errors.py; nothing internal (SQL, stack traces, exception text) reaches the caller.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import mcp_types as types
import psycopg
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ValidationError

from .access import AccessPatterns
from .audit import AuditEntry, write_audit
from .database import Database, Tx
from .embeddings import Embedder
from .errors import (
    BizctxError,
    Conflict,
    Internal,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from .identity import Agent, AgentDirectory
from .paging import offset_page
from .redact import Redact, mask_arguments, shape
from .registry import Registry, ResourceSpec, ToolSpec
from .settings import Settings

log = logging.getLogger("bizctx.guard")

# JSON-RPC codes for resource reads, which have no isError result: the standard ones
# where they fit, the implementation-defined band (-32000..-32019) for the rest.
_RESOURCE_ERROR_CODES = {
    "not_found": types.INVALID_PARAMS,
    "invalid_input": types.INVALID_PARAMS,
    "permission_denied": -32010,
    "conflict": -32011,
    "unavailable": -32012,
    "rate_limited": -32013,
    "internal": types.INTERNAL_ERROR,
}


@dataclass(frozen=True)
class Principal:
    """The caller of one request, as the transport established it."""

    tenant_id: UUID
    agent_id: UUID
    transport: str


class Call:
    """What a handler is handed: the agent, its open transaction, and where to note
    the entity the call is about (for the audit row)."""

    def __init__(
        self,
        agent: Agent,
        tx: Tx,
        request_id: str,
        settings: Settings,
        visible_tools: Callable[[], list[ToolSpec]],
        embedder: Embedder | None = None,
    ) -> None:
        self.agent = agent
        # The database's vector dimension and the active embedding provider (mem_docs).
        self.embedder = embedder
        self.visible_tools = visible_tools
        self.tx = tx
        self.request_id = request_id
        self.settings = settings
        self.entity_type: str | None = None
        self.entity_id: str | None = None

    @property
    def access(self) -> AccessPatterns:
        return self.agent.access

    def redacted(self, domain: str) -> frozenset[str]:
        return self.agent.access.redacted(domain)

    def about(self, entity_type: str, entity_id: Any) -> None:
        self.entity_type = entity_type
        self.entity_id = None if entity_id is None else str(entity_id)


Invoke = Callable[[Call, Any], Awaitable[BaseModel]]


class Guard:
    def __init__(
        self,
        db: Database,
        directory: AgentDirectory,
        registry: Registry,
        settings: Settings,
        embedder: Embedder | None = None,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.directory = directory
        self.registry = registry
        self.settings = settings
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
            raise MCPError(types.INVALID_PARAMS, exc.message, {"code": exc.code}) from None

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
                input_schema=spec.input_model.model_json_schema(),
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
        raw = arguments or {}
        spec = self.registry.tools.get(name)
        try:
            agent = await self.current_agent(principal)
            shaped = await self._governed(
                agent,
                principal.transport,
                kind="tool",
                name=name,
                raw=raw,
                input_model=spec.input_model if spec else None,
                refusal=self.tool_refusal(agent, spec) if spec else None,
                invoke=spec.handler if spec else _no_such_tool(name),
            )
        except BizctxError as exc:
            return error_result(exc)
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(shaped, ensure_ascii=False, separators=(",", ":")))],
            structured_content=shaped,
        )

    async def read_resource(self, principal: Principal, uri: str) -> types.ReadResourceResult:
        try:
            agent = await self.current_agent(principal)
            found = self.registry.find_resource(uri)
            if found is None:
                spec, params = None, {"uri": uri}
                invoke: Invoke = _no_such_resource(uri)
            else:
                spec, params = found
                invoke = _resource_invoker(spec)
            shaped = await self._governed(
                agent,
                principal.transport,
                kind="resource",
                name=spec.uri if spec else uri,
                raw=params,
                input_model=spec.params_model if spec else None,
                refusal=self.resource_refusal(agent, spec) if spec else None,
                invoke=invoke,
            )
        except BizctxError as exc:
            code = _RESOURCE_ERROR_CODES.get(exc.code, types.INTERNAL_ERROR)
            raise MCPError(code, exc.message, exc.to_dict()) from None
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=uri, mime_type="application/json", text=json.dumps(shaped, ensure_ascii=False)
                )
            ]
        )

    async def _governed(
        self,
        agent: Agent,
        transport: str,
        *,
        kind: str,
        name: str,
        raw: dict[str, Any],
        input_model: type[BaseModel] | None,
        refusal: str | None,
        invoke: Invoke,
    ) -> Any:
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
            kind=kind,
            name=name,
            arguments=mask_arguments(raw, input_model, hidden),
        )
        call: Call | None = None
        try:
            if not agent.active:
                raise PermissionDenied(
                    f"Agent {agent.name!r} is disabled; an operator must enable a new key."
                )
            if refusal is not None:
                raise PermissionDenied(refusal)
            args = _validate(input_model, raw) if input_model is not None else None
            for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
                try:
                    async with self.db.agent_tx(agent.tenant_id, agent.id) as tx:
                        call = Call(
                            agent,
                            tx,
                            request_id,
                            self.settings,
                            lambda: self.visible_tools(agent),
                            self.embedder,
                        )
                        result = await invoke(call, args)
                        shaped = shape(result, hidden)
                        entry.entity_type, entry.entity_id = call.entity_type, call.entity_id
                        entry.duration_ms = (time.perf_counter() - started) * 1000
                        write_audit(tx, agent.tenant_id, agent.id, entry)
                    break
                except psycopg.Error as exc:
                    # A deadlock or serialization failure rolled the whole call back: nothing
                    # of it was written, so running it again is safe; the caller never sees it.
                    if exc.sqlstate not in TRANSIENT_SQLSTATES or attempt == TRANSIENT_ATTEMPTS:
                        raise
                    log.info("retrying after %s", exc.sqlstate, extra={"request_id": request_id})
            log.info("%s %s ok", kind, name, extra={"request_id": request_id, "agent": agent.name})
            return shaped
        except Exception as exc:
            error = _as_bizctx_error(exc, request_id)
            if call is not None:  # the handler may have named its entity before failing
                entry.entity_type, entry.entity_id = call.entity_type, call.entity_id
            entry.outcome = "denied" if isinstance(error, PermissionDenied) else "error"
            entry.error_code = error.code
            entry.duration_ms = (time.perf_counter() - started) * 1000
            await self._audit_after_rollback(agent, entry)
            log.info(
                "%s %s %s (%s)",
                kind,
                name,
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


ERROR_META_KEY = "bizctx/error"


def error_result(exc: BizctxError) -> types.CallToolResult:
    """A tool error: text for the model (what happened, what to do, and any details it needs
    such as the next free slots), and the machine-readable error in `_meta["bizctx/error"]`
    for orchestrators. No structuredContent: clients validate it against the tool's
    outputSchema (the TypeScript SDK even on errors), which an error cannot match."""
    error = exc.to_dict()
    text = f"{exc.code}: {exc.message}"
    if exc.details:
        text += "\n" + json.dumps(exc.details, ensure_ascii=False, default=str)
    return types.CallToolResult(
        content=[types.TextContent(text=text)], is_error=True, meta={ERROR_META_KEY: error}
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


# Deadlock and serialization failure: the transaction was rolled back whole, so the
# guard runs the call again (a bounded number of times) instead of failing it.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})
TRANSIENT_ATTEMPTS = 3

# SQLSTATEs the database raises on purpose, and what they mean for the caller.
_SQLSTATE_ERRORS: dict[str, tuple[type[BizctxError], str]] = {
    "23P01": (Conflict, "This conflicts with an existing record (e.g. the time is already booked)."),
    "23505": (Conflict, "A record with the same unique value already exists."),
    "23503": (NotFound, "A record this refers to does not exist."),
    "23514": (InvalidInput, "A value is outside what is allowed."),
    "23502": (InvalidInput, "A required value is missing."),
    "57014": (Unavailable, "The query took too long and was cancelled; retry, or narrow it down."),
    "40001": (Unavailable, "The change clashed with a concurrent one; retry."),
    "40P01": (Unavailable, "The change clashed with a concurrent one; retry."),
    "55P03": (Unavailable, "The record is locked by another call; retry."),
}


def _as_bizctx_error(exc: Exception, request_id: str) -> BizctxError:
    if isinstance(exc, BizctxError):
        return exc
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate or ""
        if state in ("BZ001", "BZ002"):
            # Raised by our own triggers (BZ001: a status transition, BZ002: an action the
            # record's state forbids) with a message written for the caller.
            return Conflict(exc.diag.message_primary or "That change is not allowed in the record's state.")
        if state in _SQLSTATE_ERRORS:
            cls, message = _SQLSTATE_ERRORS[state]
            return cls(message)
        if state.startswith("22"):
            return InvalidInput("A value has the wrong format or is out of range.")
        if isinstance(exc, psycopg.DataError) and not state:
            # Refused by psycopg before it reached the server: text with a NUL character.
            return InvalidInput(
                "A text value contains a character that cannot be stored (NUL, \\u0000); remove it and retry."
            )
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) or state[:2] in (
            "08",
            "57",
            "53",
        ):
            log.warning("database unavailable: %s", exc, extra={"request_id": request_id})
            return Unavailable("The database is unavailable right now; retry in a few seconds.")
    log.error("internal error", exc_info=exc, extra={"request_id": request_id})
    return Internal(
        f"Something went wrong inside bizctx (request id {request_id}); this is not your input's fault."
    )
