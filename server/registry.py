"""The tool and resource registry. Each domain module creates one `Domain` and declares
its tools and resources on it, each with its action and capability where it is defined:

    clients = Domain("clients")
    GET_CLIENT = clients.query("get_client")

    @clients.tool(action="read", capability="clients.read", read_only=True)
    async def get_client(call: Call, args: GetClientIn) -> ClientOut:
        \"\"\"Docstring the model reads.\"\"\"

The guard does everything else: listing, validation, permission, transaction,
redaction, audit, error mapping.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .queries import QueryRef
from .redact import check_output_model

Handler = Callable[..., Awaitable[BaseModel]]

_TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TEMPLATE_VAR = re.compile(r"\{(\w+)\}")


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

    def query(self, name: str, *, domain: str | None = None) -> QueryRef:
        ref = QueryRef(domain or self.name, name)
        self.queries.append(ref)
        return ref

    def tool(
        self,
        *,
        action: str,
        capability: str,
        read_only: bool = False,
        destructive: bool = False,
        idempotent: bool = False,
        title: str | None = None,
    ) -> Callable[[Handler], Handler]:
        if action not in ("read", "write"):
            raise ValueError(f"action must be read or write, not {action!r}")

        def register(fn: Handler) -> Handler:
            if not _TOOL_NAME.match(fn.__name__):
                raise TypeError(f"tool name {fn.__name__!r} is not a valid tool name")
            input_model, output_model = _models(fn)
            if input_model is None:
                raise TypeError(f"tool {fn.__name__} needs a pydantic input model as its second parameter")
            check_output_model(output_model)
            self.tools.append(
                ToolSpec(
                    name=fn.__name__,
                    domain=self.name,
                    action=action,
                    capability=capability,
                    description=_doc(fn),
                    input_model=input_model,
                    output_model=output_model,
                    handler=fn,
                    read_only=read_only,
                    destructive=destructive,
                    idempotent=idempotent,
                    title=title,
                )
            )
            return fn

        return register

    def resource(self, uri: str, *, name: str, capability: str | None) -> Callable[[Handler], Handler]:
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

    def find_resource(self, uri: str) -> tuple[ResourceSpec, dict[str, str]] | None:
        # Static URIs first: `bizctx://appointments/today` is not appointment "today".
        for spec in sorted(self.resources, key=lambda r: r.is_template):
            params = spec.match(uri)
            if params is not None:
                return spec, params
        return None
