"""Completions for resource-template variables and prompt arguments, governed like any read.

A completer is a named query over one domain: it runs through the guard as kind
`completion` (fair use, row-level security under the agent's scopes, an audit row), and an
agent is offered only what it may read: without the domain's read capability and access, or
for a template or prompt it may not use, the answer is an empty list (nothing was read, so
no audit row). A field redacted for the agent never matches (an e-mail prefix finds nothing
when e-mail is redacted), so a completion cannot confirm what redaction hides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mcp_types as types
from pydantic import BaseModel, ConfigDict, Field

from .errors import NotFound
from .guard import Call, Guard, Principal
from .identity import Agent
from .prompts import PromptBook
from .queries import QueryRef

MAX_VALUES = 100  # the protocol's cap per answer


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prefix: str = Field(max_length=200, description="What the user has typed so far.")


class CompleteOut(BaseModel):
    values: list[str]
    has_more: bool


@dataclass(frozen=True)
class Completer:
    name: str
    domain: str
    capability: str
    query: QueryRef
    # Whether the query can also match e-mail addresses (only where e-mail is not redacted).
    matches_email: bool = False

    def refusal(self, agent: Agent) -> bool:
        return self.capability not in agent.capabilities or not agent.access.allows(self.domain, "read")


def _completer(name: str, domain: str, matches_email: bool = False) -> Completer:
    return Completer(name, domain, f"{domain}.read", QueryRef("completions", name), matches_email)


COMPLETERS = {
    c.name: c
    for c in (
        _completer("client_ids", "clients", matches_email=True),
        _completer("client_names", "clients", matches_email=True),
        _completer("service_names", "appointments"),
        _completer("open_invoice_numbers", "invoices"),
        _completer("invoice_ids", "invoices"),
        _completer("task_ids", "tasks"),
    )
}

# Resource-template variables, by name, and what completes them.
TEMPLATE_VARIABLES = {"client_id": "client_ids", "invoice_id": "invoice_ids", "task_id": "task_ids"}

NOTHING = types.CompleteResult(completion=types.Completion(values=[], has_more=False))


class Completions:
    def __init__(self, guard: Guard, prompts: PromptBook) -> None:
        self._guard = guard
        self._prompts = prompts

    async def complete(
        self, principal: Principal, params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        agent = await self._guard.current_agent(principal)
        completer = self._completer_for(agent, params.ref, params.argument.name)
        if completer is None or completer.refusal(agent):
            return NOTHING
        with_email = completer.matches_email and "email" not in agent.access.redacted("clients")

        async def invoke(call: Call, args: CompleteIn) -> CompleteOut:
            params: dict[str, Any] = {"prefix": args.prefix}
            if completer.matches_email:
                params["with_email"] = with_email
            rows = await call.tx.all(completer.query, **params)
            return CompleteOut(
                values=[r["value"] for r in rows[:MAX_VALUES]], has_more=len(rows) > MAX_VALUES
            )

        found = await self._guard.complete(
            principal, completer.name, invoke, {"prefix": params.argument.value}, CompleteIn, CompleteOut
        )
        return types.CompleteResult(
            completion=types.Completion(values=found["values"], has_more=found["has_more"])
        )

    def _completer_for(
        self, agent: Agent, ref: types.ResourceTemplateReference | types.PromptReference, argument: str
    ) -> Completer | None:
        """The completer for this argument of this template or prompt, if the agent may use it."""
        if isinstance(ref, types.PromptReference):
            tools = {spec.name for spec in self._guard.visible_tools(agent)}
            try:
                name = self._prompts.find(agent, tools, ref.name).completer(argument)
            except NotFound:  # no such prompt for this agent: nothing to offer
                return None
        else:
            template = next((r for r in self._guard.registry.resources if r.uri == ref.uri), None)
            if template is None or self._guard.resource_refusal(agent, template) is not None:
                return None
            name = TEMPLATE_VARIABLES.get(argument)
        return COMPLETERS.get(name) if name else None
