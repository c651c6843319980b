"""`bizctx demo`: a demo business with three agents of different rights, their keys in a
file only the user can read, and how to connect. Re-running it changes nothing but
keys that went missing.

The business goes in through the front door: its records through the importer, and what
its agents did (calls logged, tasks queued, worked and approved, things remembered)
through the tools, as those agents, so every rule, check and audit row applies."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import mcp_types as types

from bizctx.server.access import parse_access_patterns
from bizctx.server.app import AppState
from bizctx.server.database import Database
from bizctx.server.errors import OperatorError
from bizctx.server.guard import Guard, Principal
from bizctx.server.queries import QueryRef

from . import demo_data
from .importer import ImportResult, import_rows
from .operators import (
    create_agent,
    create_tenant,
    find_tenant,
    get_agent,
    get_tenant,
    rotate_key,
    set_profile,
)

log = logging.getLogger("bizctx.demo")

DEMO_SEEDED = QueryRef("demo", "demo_seeded")
TENANT = "Demo Home Services"
TIME_ZONE = "America/New_York"
UNFINISHED = (
    " (if an earlier `bizctx demo` stopped half-way on another day, run it again with a fresh data directory)"
)

AGENTS: dict[str, dict[str, Any]] = {
    # Takes the calls (and logs them) and books the visits; never sees e-mail or phone; reads
    # the message templates (what to say when calling back).
    "front-desk": {
        "capabilities": [
            "clients.read",
            "clients.write",
            "appointments.read",
            "appointments.write",
            "contacts.read",
        ],
        "access": {
            "clients": {"read": True, "write": True, "redact": ["email", "phone"]},
            "appointments": {"read": True, "write": True},
            "contacts": {"read": True},
        },
    },
    # Invoices and payments; asks operations to approve what needs approval (refunds).
    "billing": {
        "capabilities": ["invoices.read", "invoices.write", "clients.read", "tasks.read", "tasks.write"],
        "access": {
            "invoices": {"read": True, "write": True},
            "clients": {"read": True},
            "tasks": {"read": True, "write": True, "scope": "assigned"},
        },
    },
    # Runs the queue, decides approvals (reading the invoices a held void is about), keeps the
    # business's memory, sends the due reminders (reading the clients and appointments they
    # are for), and sets the business's goals (reading the KPIs that measure them).
    "operations": {
        "capabilities": [
            "tasks.read",
            "tasks.write",
            "tasks.work",
            "tasks.approve",
            "mem_docs.read",
            "mem_docs.write",
            "invoices.read",
            "contacts.read",
            "contacts.write",
            "clients.read",
            "appointments.read",
            "goals.read",
            "goals.write",
        ],
        "access": {
            "tasks": {"read": True, "write": True, "scope": "all"},
            "mem_docs": {"read": True, "write": True, "scope": "own_and_shared"},
            "invoices": {"read": True},
            "contacts": {"read": True, "write": True},
            "clients": {"read": True},
            "appointments": {"read": True},
            "goals": {"read": True, "write": True},
        },
    },
}


def keys_path(data_dir: Path) -> Path:
    return data_dir / "demo-keys.json"


def read_keys(data_dir: Path) -> dict[str, str]:
    path = keys_path(data_dir)
    return json.loads(path.read_text()) if path.exists() else {}


def write_keys(data_dir: Path, keys: dict[str, str]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = keys_path(data_dir)
    # Created 0600: the keys are never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(keys, f, indent=2)
    os.chmod(path, 0o600)


async def seed(app: AppState, known_keys: dict[str, str]) -> dict[str, str]:
    """The demo tenant, its agents and its data; returns each agent's key (new ones only
    when missing). Re-running it adds nothing: once the demo is complete it is left alone."""
    keys = await _tenant_and_agents(app.db, known_keys)
    async with app.db.operator_tx() as tx:
        tenant = await find_tenant(tx, TENANT)
        seeded = await tx.value(DEMO_SEEDED, tenant_id=tenant["id"], external_ref=demo_data.COMPLETE_REF)
    if not seeded:
        agents = {name: (await get_agent(app.db, TENANT, name))["id"] for name in AGENTS}
        today = datetime.now(ZoneInfo(tenant["time_zone"])).date()
        business = demo_data.build(today, tenant["time_zone"])
        counts = await _seed_data(app, tenant["id"], agents, business)
        log.info("seeded the demo business: %s", counts)
    return keys


async def _tenant_and_agents(db: Database, known_keys: dict[str, str]) -> dict[str, str]:
    if await get_tenant(db, TENANT) is None:
        await create_tenant(db, TENANT, time_zone=TIME_ZONE)
    keys = dict(known_keys)
    for name, spec in AGENTS.items():
        try:
            await get_agent(db, TENANT, name)
            exists = True
        except OperatorError:
            exists = False
        if not exists:
            access = parse_access_patterns(spec["access"])
            keys[name] = (await create_agent(db, TENANT, name, spec["capabilities"], access)).key
        elif name not in keys:
            keys[name] = (await rotate_key(db, TENANT, name)).key
    return keys


async def _seed_data(
    app: AppState, tenant_id: UUID, agents: dict[str, UUID], business: demo_data.Business
) -> dict[str, int]:
    """The business's records through the importer, then its agents' work through the tools,
    as any business and its agents would do it. Not one transaction: a run that stopped
    half-way is finished by the next on the same day (its imports find their rows unchanged,
    its calls replay from their idempotency keys); on a later day the rows and calls differ
    and are refused (see UNFINISHED). The invoices come last: see demo_data.COMPLETE_REF."""
    loaded = {
        kind: await _load(app.db, tenant_id, kind, business.rows[kind])
        for kind in ("services", "resources", "availability", "clients", "appointments")
    }
    ids = loaded["clients"].ids
    clients = {row["external_ref"]: ids[n] for n, row in enumerate(business.rows["clients"], 1)}
    call = _caller(app.guard, tenant_id, agents)
    calls = demo_data.interaction_calls(business, clients)
    for agent, tool, args in calls:
        await call(agent, tool, args)
    tasks = await demo_data.work_the_queue(business, clients, agents, call)
    for agent, tool, args in demo_data.memory_calls(business, clients):
        await call(agent, tool, args)
    for agent, tool, args in demo_data.visit_calls(business, loaded["appointments"].ids):
        await call(agent, tool, args)
    services = {row["code"]: loaded["services"].ids[n] for n, row in enumerate(business.rows["services"], 1)}
    today = datetime.now(ZoneInfo(TIME_ZONE)).date()
    for agent, tool, args in demo_data.recurring_calls(business, clients, services, today, TIME_ZONE):
        await call(agent, tool, args)
    for name, role, description, parent in demo_data.HIERARCHY:
        await set_profile(app.db, TENANT, name, role=role, description=description, parent_ref=parent)
    await demo_data.set_goals(call)
    invoices = await _load(app.db, tenant_id, "invoices", business.rows["invoices"])
    await _held_void(app.guard, tenant_id, agents, business, invoices.ids)
    await _collections_ladder(app.guard, tenant_id, agents, business, invoices.ids)
    rows = {kind: len(business.rows[kind]) for kind in ("clients", "appointments", "invoices")}
    return rows | {"interactions": len(calls), "tasks": tasks, "mem_docs": len(business.memories)}


async def _load(db: Database, tenant_id: UUID, kind: str, rows: list[dict[str, Any]]) -> ImportResult:
    result = await import_rows(
        db, str(tenant_id), kind, rows, with_ids=kind in ("services", "clients", "appointments", "invoices")
    )
    if not result.imported:
        problems = "; ".join(str(e) for e in result.errors[:5])
        raise OperatorError(f"seeding the demo: its {kind} did not import: {problems}{UNFINISHED}")
    return result


async def _held_void(
    guard: Guard, tenant_id: UUID, agents: dict[str, UUID], business: demo_data.Business, ids: dict[int, Any]
) -> None:
    """The approval gate at work: billing voids an open invoice entered twice, and the
    tenant's default policy holds the void for operations to decide (bizctx approvals list,
    or decide_approval as operations)."""
    n = next(n for n, row in enumerate(business.rows["invoices"], 1) if row["status"] == "open")
    reason = demo_data.HELD_VOID_REASON
    args = {"invoice_id": str(ids[n]), "reason": reason, "idempotency_key": "demo-void"}
    result = await guard.call_tool(Principal(tenant_id, agents["billing"], "memory"), "void_invoice", args)
    code = (result.meta or {}).get("bizctx/error", {}).get("code")
    if code != "approval_required":
        raise OperatorError(f"seeding the demo: billing's void was not held ({code}){UNFINISHED}")


async def _collections_ladder(
    guard: Guard, tenant_id: UUID, agents: dict[str, UUID], business: demo_data.Business, ids: dict[int, Any]
) -> None:
    """A collections ladder at work: billing starts one on the most overdue invoice of a client
    with no opt-outs, so its due step is queued (bizctx://invoices/{id}/collection; operations
    claims its steps)."""
    held = next(n for n, row in enumerate(business.rows["invoices"], 1) if row["status"] == "open")
    reachable = {c["external_ref"] for c in business.rows["clients"] if not c["opt_outs"]}
    today = datetime.now(ZoneInfo(TIME_ZONE)).date()
    n = min(
        (
            (row["due_date"], n)
            for n, row in enumerate(business.rows["invoices"], 1)
            if row["status"] in ("open", "partial")
            and row["due_date"] < today
            and row["client_ref"] in reachable
            and n != held
        ),
    )[1]
    args = {"invoice_id": str(ids[n]), "idempotency_key": "demo-collection"}
    billing = Principal(tenant_id, agents["billing"], "memory")
    result = await guard.call_tool(billing, "start_collection", args)
    if result.is_error:
        code = (result.meta or {}).get("bizctx/error", {}).get("code")
        raise OperatorError(f"seeding the demo: billing could not start collections ({code}){UNFINISHED}")


def _caller(guard: Guard, tenant_id: UUID, agents: dict[str, UUID]) -> demo_data.Call:
    """Tool calls as the demo agents, through the guard like any MCP client's (permission,
    validation, audit row); a refusal stops the seeding."""

    async def call(agent: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        result = await guard.call_tool(Principal(tenant_id, agents[agent], "memory"), tool, args)
        if result.is_error:
            text = " ".join(c.text for c in result.content if isinstance(c, types.TextContent))
            raise OperatorError(f"seeding the demo: {agent} could not {tool}: {text}{UNFINISHED}")
        return result.structured_content or {}

    return call


def connect_instructions(
    keys: dict[str, str], data_dir: Path, database_url: str | None, *, host: str, port: int, serving: bool
) -> str:
    command = shutil.which("bizctx") or f"{sys.executable} -m bizctx.ops.cli"
    env = {"BIZCTX_AGENT_KEY": keys["front-desk"]}
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        env["BIZCTX_DATA_DIR"] = str(data_dir)
    cmd, *args = command.split()
    url = f"http://{host}:{port}/mcp"
    snippet = {
        "mcpServers": {
            "bizctx": {"command": cmd, "args": [*args, "serve"], "env": env},
            "bizctx-http": {
                "type": "streamable-http",
                "url": url,
                "headers": {"Authorization": f"Bearer {keys['front-desk']}"},
            },
        }
    }
    env_flags = " ".join(f"-e {k}={v}" for k, v in env.items())
    lines = [
        f"Demo business {TENANT!r} is ready. Agent keys (also in {keys_path(data_dir)}, mode 0600):",
        *(f"  {name:12} {key}" for name, key in keys.items()),
        "  front-desk: clients (e-mail and phone redacted), their calls and scheduling;",
        "  billing: invoices, clients and its approval requests; operations: tasks, approvals and memory.",
        "",
        "MCP Inspector (CLI mode), as the front desk, over stdio:",
        f"  npx @modelcontextprotocol/inspector --cli {env_flags} {command} serve --method tools/list",
    ]
    if serving:
        lines += [
            "",
            f"Serving streamable HTTP at {url} (Ctrl-C stops it); agents send their key as a bearer token:",
            f"  npx @modelcontextprotocol/inspector --cli {url} --transport http "
            f'--header "Authorization: Bearer {keys["front-desk"]}" --method tools/list',
        ]
    lines += [
        "",
        "mcp.json for Claude Desktop / Cursor (swap the key for another agent):",
        json.dumps(snippet, indent=2),
    ]
    return "\n".join(lines)
