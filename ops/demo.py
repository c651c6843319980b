"""`bizctx demo`: a demo business with three agents of different rights, their keys in a
file only the user can read, and how to connect. Re-running it changes nothing but
keys that went missing."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from bizctx.server.access import parse_access_patterns
from bizctx.server.database import Database
from bizctx.server.errors import OperatorError
from bizctx.server.queries import QueryRef
from bizctx.server.settings import Settings

from .demo_data import Embed, seed_data
from .operators import create_agent, create_tenant, get_agent, get_tenant, rotate_key

log = logging.getLogger("bizctx.demo")

DEMO_SEEDED = QueryRef("demo", "demo_seeded")
TENANT = "Demo Home Services"
TIME_ZONE = "America/New_York"

AGENTS: dict[str, dict[str, Any]] = {
    "front-desk": {
        "capabilities": ["clients.read", "appointments.read", "appointments.write"],
        "access": {
            "clients": {"read": True, "redact": ["email", "phone"]},
            "appointments": {"read": True, "write": True},
        },
    },
    "billing": {
        "capabilities": ["invoices.read", "invoices.write", "clients.read"],
        "access": {"invoices": {"read": True, "write": True}, "clients": {"read": True}},
    },
    "operations": {
        "capabilities": [
            "tasks.read",
            "tasks.write",
            "tasks.work",
            "tasks.approve",
            "mem_docs.read",
            "mem_docs.write",
        ],
        "access": {
            "tasks": {"read": True, "write": True, "scope": "all"},
            "mem_docs": {"read": True, "write": True, "scope": "own_and_shared"},
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


async def seed_with_embeddings(
    db: Database, settings: Settings, known_keys: dict[str, str]
) -> dict[str, str]:
    """seed(), embedding the memory documents with the provider the settings choose (none:
    they are stored without vectors and found by full-text search only)."""
    from bizctx.tools.mem_docs.embeddings import open_embedder

    async with open_embedder(settings, db) as embedder:

        async def embed(texts: list[str]) -> tuple[list[list[float]], str]:
            return await embedder.embed(texts), embedder.model or ""

        return await seed(db, known_keys, embed if embedder.provider is not None else None)


async def seed(db: Database, known_keys: dict[str, str], embed: Embed | None = None) -> dict[str, str]:
    """The demo tenant, its agents and its data; returns each agent's key (new ones only
    when missing). Re-running it adds nothing: the data is seeded once, in one transaction."""
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
    tenant = await get_tenant(db, TENANT)
    agent_ids = {name: (await get_agent(db, TENANT, name))["id"] for name in AGENTS}
    async with db.operator_tx() as tx:
        if not await tx.value(DEMO_SEEDED, tenant_id=tenant["id"]):
            counts = await seed_data(tx, tenant["id"], tenant["time_zone"], agent_ids, embed)
            log.info("seeded the demo business: %s", counts)
    return keys


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
        "  front-desk: clients (e-mail and phone redacted) and scheduling; billing: invoices and clients;",
        "  operations: tasks and memory.",
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
