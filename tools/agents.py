"""The agent directory (the tasks domain): the tenant's agents as other agents may see them,
so an orchestrator can find a specialist to assign a task to: name, role, description,
parent, capabilities, status and when each last called. Never a key, its prefix or its hash;
never another tenant's agents (row-level security, and the last-seen function's own tenant
filter: sql/migrations/0135_agent_directory.sql)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from bizctx.server.guard import Call
from bizctx.server.paging import PageIn, PageOut, keyset_page, read_cursor
from bizctx.tools.tasks import tasks

LIST_AGENTS = tasks.query("list_agents")

Role = Literal["orchestrator", "director", "specialist"]


class AgentEntry(BaseModel):
    id: UUID = Field(description="Use it (or the name) as create_task's assignee.")
    name: str
    role: Role | None = Field(
        default=None, description="Its place in the hierarchy, when an operator set one."
    )
    description: str | None = Field(default=None, description="What it does, as an operator wrote it.")
    status: Literal["active", "disabled"] = Field(
        description="A disabled agent cannot call or claim anything."
    )
    parent_agent_id: UUID | None = Field(default=None, description="The agent it reports to.")
    parent_name: str | None = None
    capabilities: list[str]
    last_seen_at: datetime | None = Field(description="Its latest call; null: it never called.")
    created_at: datetime


class ListAgentsIn(PageIn):
    role: Role | None = None
    status: Literal["active", "disabled"] | None = None


class ListAgentsOut(PageOut):
    agents: list[AgentEntry]


async def agent_page(call: Call, args: ListAgentsIn) -> ListAgentsOut:
    after = read_cursor(args, kind="list_agents", n=str)
    rows: list[dict[str, Any]] = await call.tx.all(
        LIST_AGENTS,
        role=args.role,
        status=args.status,
        after_name=after["n"] if after else None,
        limit=args.limit + 1,
    )
    page, next_cursor = keyset_page(rows, args, kind="list_agents", key=lambda r: {"n": r["name"]})
    return ListAgentsOut(agents=[AgentEntry(**r) for r in page], next_cursor=next_cursor)


@tasks.tool(action="read", title="List agents")
async def list_agents(call: Call, args: ListAgentsIn) -> ListAgentsOut:
    """The agents of your business, by name: role, description, who each reports to,
    capabilities, status, last call; whom to assign a task. Returns a page and a next_cursor."""
    return await agent_page(call, args)
