"""Prompts: short templates for the business's common workflows, listed per agent.

A prompt names the tools its workflow uses; an agent is shown (and may get) only the prompts
whose every tool it may call, so a template never sends a model toward a refusal. Arguments
are typed by a pydantic model: MCP carries them as strings, and a bad one is refused with
what to fix, never echoed. A prompt reads no data: it is text that says which tools and
resources to use, so getting one writes no audit row (the calls it leads to do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from pydantic import BaseModel

from .errors import NotFound
from .guard import validate_input
from .identity import Agent

# The completer a prompt argument offers (server/completions.py), set on its field:
# Field(..., json_schema_extra={COMPLETE: "client_names"}).
COMPLETE = "complete"


@dataclass(frozen=True)
class PromptSpec:
    name: str
    title: str
    description: str
    tools: tuple[str, ...]
    arguments_model: type[BaseModel]
    render: Callable[[Any], str]

    def arguments(self) -> list[types.PromptArgument]:
        return [
            types.PromptArgument(name=name, description=field.description, required=field.is_required())
            for name, field in self.arguments_model.model_fields.items()
        ]

    def completer(self, argument: str) -> str | None:
        field = self.arguments_model.model_fields.get(argument)
        extra = field.json_schema_extra if field is not None else None
        return extra.get(COMPLETE) if isinstance(extra, dict) else None  # type: ignore[return-value]


class PromptBook:
    """Every prompt the server offers, by name, in list order."""

    def __init__(self, specs: Iterable[PromptSpec]) -> None:
        self.specs = {spec.name: spec for spec in specs}

    def visible(self, agent: Agent, tools: set[str]) -> list[PromptSpec]:
        """The prompts this agent may use: active, and every tool of the workflow callable."""
        if not agent.active:
            return []
        return [spec for spec in self.specs.values() if set(spec.tools) <= tools]

    def find(self, agent: Agent, tools: set[str], name: str) -> PromptSpec:
        spec = self.specs.get(name)
        if spec is None or spec not in self.visible(agent, tools):
            # The same answer for a prompt that does not exist and one this agent may not use.
            raise NotFound("There is no such prompt for you; prompts/list names the ones you may use.")
        return spec

    @staticmethod
    def listed(spec: PromptSpec) -> types.Prompt:
        return types.Prompt(
            name=spec.name, title=spec.title, description=spec.description, arguments=spec.arguments()
        )

    @staticmethod
    def render(spec: PromptSpec, arguments: dict[str, str] | None) -> types.GetPromptResult:
        text = spec.render(validate_input(spec.arguments_model, arguments or {}))
        return types.GetPromptResult(
            description=spec.description,
            messages=[types.PromptMessage(role="user", content=types.TextContent(text=text))],
        )
