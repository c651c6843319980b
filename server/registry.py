"""The tool and resource registry. Each domain module creates one `Domain` and declares
its tools and resources on it, each with its action where it is defined, and only what
differs from the defaults (capability `<domain>.<action>`, read tools read-only):

    clients = Domain("clients")
    GET_CLIENT = clients.query("get_client")

    @clients.tool(action="read", entity=("client", "client_id"))
    async def get_client(call: Call, args: GetClientIn) -> ClientOut:
        \"\"\"Docstring the model reads.\"\"\"

The guard does everything else: listing, validation, permission, idempotency keys (every
write tool takes one), transaction, redaction, audit (with the declared entity), error
mapping.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from . import idempotency, schemas
from .policy import AmountOf
from .queries import QueryRef
from .redact import check_output_model

Handler = Callable[..., Awaitable[BaseModel]]
# Opens a service a domain's handlers use (e.g. an embedder) for the app's lifetime.
ServiceFactory = Callable[[Any, Any], AbstractAsyncContextManager[Any]]

_TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TEMPLATE_VAR = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Entity:
    """What a call is about, for its audit row: a type, and where its id is. Each path is
    looked up in the validated arguments, then in the result (dotted: `task.id`); the
    first value found wins, so `("client", "client_id", "id")` names the client given, or
    the one created."""

    type: str
    paths: tuple[str, ...]

    def of(self, args: Any, result: Any = None) -> tuple[str | None, str | None]:
        for path in self.paths:
            for source in (args, result):
                value = _lookup(source, path)
                if value is not None:
                    return self.type, str(value)
        return None, None


def _lookup(source: Any, path: str) -> Any:
    for part in path.split("."):
        if source is None:
            return None
        source = source.get(part) if isinstance(source, dict) else getattr(source, part, None)
    return source


def _entity(declared: tuple[str, ...] | None) -> Entity | None:
    if declared is None:
        return None
    if len(declared) < 2:
        raise TypeError(f"entity={declared!r}: give a type and at least one path")
    return Entity(declared[0], tuple(declared[1:]))


@dataclass(frozen=True)
class ToolSpec:
    name: str
    domain: str
    action: str
    capability: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    handler: Handler
    read_only: bool
    destructive: bool
    idempotent: bool
    title: str | None = None
    entity: Entity | None = None
    # The call's effective (amount, currency), for policies that compare or limit money.
    amount: AmountOf | None = None
    # A read whose cost grows with the business: how to narrow it (see Domain.tool).
    costly: str | None = None
    # Other domains whose data it returns: their read is needed too (see Domain.tool).
    reads: tuple[str, ...] = ()
    # What a read tool also writes, as bookkeeping (see Domain.tool).
    also_writes: str | None = None
    # A read answered by one statement or one Tx.many batch: its audit row and COMMIT ride with
    # it (see Domain.tool).
    one_read: bool = False

    @property
    def takes_key(self) -> bool:
        """Every write tool takes an idempotency_key; the guard keeps it."""
        return self.action == "write"

    def input_schema(self) -> dict[str, Any]:
        schema = schemas.input_schema(self.input_model)
        if self.takes_key:
            schema.setdefault("properties", {})[idempotency.FIELD] = idempotency.key_schema()
        return schema


@dataclass(frozen=True)
class ResourceSpec:
    """A static resource (`uri`) or a resource template (`uri` with `{vars}`)."""

    uri: str
    name: str
    domain: str
    capability: str | None
    description: str
    output_model: type[BaseModel]
    handler: Handler
    params_model: type[BaseModel] | None = None
    pattern: re.Pattern[str] | None = field(default=None, compare=False)
    entity: Entity | None = None
    # False: readable, but not in resources/list (an answer names its URI when it matters).
    listed: bool = True

    @property
    def is_template(self) -> bool:
        return self.pattern is not None

    def match(self, uri: str) -> dict[str, str] | None:
        if self.pattern is None:
            return {} if uri == self.uri else None
        m = self.pattern.fullmatch(uri)
        return m.groupdict() if m else None


def _doc(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn)
    if not doc:
        raise TypeError(f"{fn.__name__} needs a docstring: it is the description the model reads")
    return doc


def _models(fn: Callable[..., Any]) -> tuple[type[BaseModel] | None, type[BaseModel]]:
    hints = typing.get_type_hints(fn)
    params = list(inspect.signature(fn).parameters)
    input_model = hints.get(params[1]) if len(params) > 1 else None
    output_model = hints.get("return")
    if not (isinstance(output_model, type) and issubclass(output_model, BaseModel)):
        raise TypeError(f"{fn.__name__} must return a pydantic model")
    return input_model, output_model


class Domain:
    """One domain's tools, resources and the named queries its handlers use."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tools: list[ToolSpec] = []
        self.resources: list[ResourceSpec] = []
        self.queries: list[QueryRef] = []
        self.constraints: list[str] = []
        self.services: dict[type, ServiceFactory] = {}

    def query(self, name: str, *, domain: str | None = None) -> QueryRef:
        ref = QueryRef(domain or self.name, name)
        self.queries.append(ref)
        return ref

    def service(self, kind: type, factory: ServiceFactory) -> None:
        """A service the domain's handlers get with `call.service(kind)`: `factory(settings,
        db)` opens it when the app starts, and closes it when the app stops."""
        self.services[kind] = factory

    def constraint(self, name: str) -> str:
        """The name of a database constraint a handler turns into a better error; a test
        checks that every declared name exists in the catalog."""
        self.constraints.append(name)
        return name

    def tool(
        self,
        *,
        action: str,
        capability: str | None = None,
        read_only: bool | None = None,
        destructive: bool = False,
        idempotent: bool | None = None,
        title: str | None = None,
        entity: tuple[str, ...] | None = None,
        amount: AmountOf | None = None,
        costly: str | None = None,
        reads: tuple[str, ...] = (),
        also_writes: str | None = None,
        one_read: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Declare a tool. Defaults: capability `<domain>.<action>`; read tools are read-only
        and idempotent. `entity` names what a call is about (see Entity); `amount` tells the
        money a call moves, `async (call, args) -> (amount, currency)`, for policies. `costly`
        marks a read whose cost grows with the business: its statements get the shorter
        BIZCTX_COSTLY_READ_MS budget, and the text says how to narrow a call that ran out.
        `reads` names the other domains whose data the tool returns: an agent needs read on
        each of them to see or call it. `also_writes` says what a read tool writes besides its
        audit row (bookkeeping, still read-only to an agent): its COMMIT waits for the WAL flush
        even under BIZCTX_READ_AUDIT_COMMIT=async, and the call waits for it. `one_read`
        says a read tool's handler reads once: one statement, or several sent together
        (Tx.many), which raise BZ404 (bizctx_found) when they find nothing the tool answers:
        the call's audit row and COMMIT are sent with them, one round trip in all
        (Tx.commit_with_next_read). Its
        `entity` must be in its arguments (the audit row is written before the answer), and
        it may not be `costly` (a statement that runs long widens the window in which a lost
        connection still commits the row: guard._audit_ahead)."""
        if action not in ("read", "write"):
            raise ValueError(f"action must be read or write, not {action!r}")
        is_read = action == "read"

        def register(fn: Handler) -> Handler:
            if not _TOOL_NAME.match(fn.__name__):
                raise TypeError(f"tool name {fn.__name__!r} is not a valid tool name")
            input_model, output_model = _models(fn)
            if input_model is None:
                raise TypeError(f"tool {fn.__name__} needs a pydantic input model as its second parameter")
            check_output_model(output_model)
            if one_read and (not is_read or also_writes is not None or costly is not None):
                # A costly read's statement runs long: a connection lost meanwhile would leave
                # PostgreSQL to commit the `ok` row sent with it (see guard._audit_ahead).
                raise TypeError(f"tool {fn.__name__}: one_read is for quick reads that write nothing")
            if one_read and entity is not None and not set(entity[1:]) <= set(input_model.model_fields):
                raise TypeError(f"tool {fn.__name__}: a one_read tool's entity must be in its arguments")
            self.tools.append(
                ToolSpec(
                    name=fn.__name__,
                    domain=self.name,
                    action=action,
                    capability=capability or f"{self.name}.{action}",
                    description=_doc(fn),
                    input_model=input_model,
                    output_model=output_model,
                    handler=fn,
                    read_only=is_read if read_only is None else read_only,
                    destructive=destructive,
                    idempotent=is_read if idempotent is None else idempotent,
                    title=title,
                    entity=_entity(entity),
                    amount=amount,
                    costly=costly,
                    reads=reads,
                    also_writes=also_writes,
                    one_read=one_read,
                )
            )
            return fn

        return register

    def resource(
        self,
        uri: str,
        *,
        name: str,
        capability: str | None = None,
        entity: tuple[str, ...] | None = None,
        listed: bool = True,
    ) -> Callable[[Handler], Handler]:
        """Declare a resource; it needs `<domain>.read` unless told otherwise (the `self`
        domain needs nothing)."""
        if capability is None and self.name != "self":
            capability = f"{self.name}.read"

        def register(fn: Handler) -> Handler:
            params_model, output_model = _models(fn)
            check_output_model(output_model)
            variables = _TEMPLATE_VAR.findall(uri)
            pattern = None
            if variables:
                if params_model is None or set(variables) != set(params_model.model_fields):
                    raise TypeError(f"resource {uri}: its params model must have exactly {variables}")
                regex = _TEMPLATE_VAR.sub(
                    lambda m: f"(?P<{m.group(1)}>[^/?#]+)",
                    re.escape(uri).replace(r"\{", "{").replace(r"\}", "}"),
                )
                pattern = re.compile(regex)
            self.resources.append(
                ResourceSpec(
                    uri=uri,
                    name=name,
                    domain=self.name,
                    capability=capability,
                    description=_doc(fn),
                    output_model=output_model,
                    handler=fn,
                    params_model=params_model,
                    pattern=pattern,
                    entity=_entity(entity),
                    listed=listed,
                )
            )
            return fn

        return register


class Registry:
    """Every domain's tools and resources, by name, in a stable order."""

    def __init__(self, domains: list[Domain]) -> None:
        self.domains = domains
        self.tools: dict[str, ToolSpec] = {}
        self.resources: list[ResourceSpec] = []
        for d in domains:
            for t in d.tools:
                if t.name in self.tools:
                    raise TypeError(f"two tools are named {t.name}")
                self.tools[t.name] = t
            self.resources.extend(d.resources)

    @property
    def queries(self) -> list[QueryRef]:
        return [q for d in self.domains for q in d.queries]

    @property
    def services(self) -> dict[type, ServiceFactory]:
        return {kind: factory for d in self.domains for kind, factory in d.services.items()}

    @property
    def constraints(self) -> list[str]:
        return [c for d in self.domains for c in d.constraints]

    def find_resource(self, uri: str) -> tuple[ResourceSpec, dict[str, str]] | None:
        # Static URIs first: `bizctx://appointments/today` is not appointment "today".
        for spec in sorted(self.resources, key=lambda r: r.is_template):
            params = spec.match(uri)
            if params is not None:
                return spec, params
        return None
