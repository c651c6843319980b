"""`bizctx demo`: a demo business with three agents of different rights, their keys in a
file only the user can read, and how to connect. Re-running it changes nothing but
keys that went missing."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from .access import parse_access_patterns
from .database import Database
from .operators import OperatorError, create_agent, create_tenant, get_agent, get_tenant, rotate_key

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


async def seed(db: Database, known_keys: dict[str, str]) -> dict[str, str]:
    """The demo tenant and agents; returns each agent's key (new ones only when missing)."""
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


def connect_instructions(keys: dict[str, str], data_dir: Path, database_url: str | None) -> str:
    command = shutil.which("bizctx") or f"{sys.executable} -m bizctx.server.cli"
    env = {"BIZCTX_AGENT_KEY": keys["front-desk"]}
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        env["BIZCTX_DATA_DIR"] = str(data_dir)
    cmd, *args = command.split()
    snippet = {"mcpServers": {"bizctx": {"command": cmd, "args": [*args, "serve"], "env": env}}}
    env_flags = " ".join(f"-e {k}={v}" for k, v in env.items())
    return "\n".join(
        [
            f"Demo business {TENANT!r} is ready. Agent keys (also in {keys_path(data_dir)}, mode 0600):",
            *(f"  {name:12} {key}" for name, key in keys.items()),
            "",
            "Connect with the MCP Inspector (CLI mode), as the front desk:",
            f"  npx @modelcontextprotocol/inspector --cli {env_flags} {command} serve --method tools/list",
            "",
            "Or paste into Claude Desktop / Cursor's mcp.json (swap the key for another agent):",
            json.dumps(snippet, indent=2),
        ]
    )
