"""`bizctx audit` and `bizctx audit stats`: what agents did, filtered by agent, tool,
outcome and time, as the operator sees it from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bizctx.ops import operators
from bizctx.server.errors import OperatorError

pytestmark = pytest.mark.anyio

READER = {"caps": ["clients.read"], "access": {"clients": {"read": True}}}


def bizctx(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("bizctx")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bizctx.ops.cli"]
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def env(dsn, tmp_path) -> dict[str, str]:
    return {"DATABASE_URL": dsn, "BIZCTX_DATA_DIR": str(tmp_path), "PATH": os.environ.get("PATH", "")}


async def test_audit_shows_a_denied_mcp_call(make_agent, connect, env):
    agent = await make_agent(**READER)
    async with connect(agent) as c:
        denied = await c.call_tool("upsert_client", {"first_name": "Mallory"})
        allowed = await c.call_tool("search_clients", {"query": "x"})
    assert denied.is_error and not allowed.is_error

    done = bizctx(env, "audit", "--tenant", agent.tenant_name, "--outcome", "denied", "--json")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert (row["agent_name"], row["kind"], row["name"], row["outcome"], row["error_code"]) == (
        agent.name,
        "tool",
        "upsert_client",
        "denied",
        "permission_denied",
    )
    assert row["arguments"] == {"first_name": "Mallory"} and row["transport"] == "memory"

    # By agent name alone (any tenant), by tool, since a while ago; newest first.
    done = bizctx(env, "audit", "--agent", agent.name, "--since", "1h", "--json")
    assert [(r["name"], r["outcome"]) for r in json.loads(done.stdout)] == [
        ("search_clients", "ok"),
        ("upsert_client", "denied"),
    ]
    done = bizctx(env, "audit", "--agent", agent.name, "--tool", "search_clients", "--json")
    assert [r["name"] for r in json.loads(done.stdout)] == ["search_clients"]
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert json.loads(bizctx(env, "audit", "--agent", agent.name, "--since", later, "--json").stdout) == []

    # The plain listing (the original form of the command) still works.
    done = bizctx(env, "audit", "--tenant", agent.tenant_name)
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and "upsert_client" in lines[1] and "denied permission_denied" in lines[1]


async def test_audit_stats_counts_calls_denials_and_errors_per_agent_and_tool(make_agent, connect, env):
    reader = await make_agent(**READER)
    other = await make_agent(**READER, tenant=reader.tenant_name)
    async with connect(reader) as c:
        await c.call_tool("search_clients", {"query": "a"})
        await c.call_tool("search_clients", {"query": "b"})
        await c.call_tool("upsert_client", {"first_name": "x"})
        await c.call_tool("get_client", {"client_id": "not-a-uuid"})
    async with connect(other) as c:
        await c.call_tool("search_clients", {"query": "c"})

    done = bizctx(env, "audit", "stats", "--tenant", reader.tenant_name, "--since", "30m", "--json")
    assert done.returncode == 0, done.stderr
    stats = {(r["agent_name"], r["name"]): r for r in json.loads(done.stdout)}
    assert {k: (v["calls"], v["ok"], v["denied"], v["errors"]) for k, v in stats.items()} == {
        (reader.name, "search_clients"): (2, 2, 0, 0),
        (reader.name, "upsert_client"): (1, 0, 1, 0),
        (reader.name, "get_client"): (1, 0, 0, 1),
        (other.name, "search_clients"): (1, 1, 0, 0),
    }
    done = bizctx(env, "audit", "stats", "--tenant", reader.tenant_name, "--agent", other.name)
    header, *rows = done.stdout.splitlines()
    assert header.split()[:4] == ["tenant", "agent", "tool", "calls"] and len(rows) == 1
    assert other.name in rows[0] and "search_clients" in rows[0]


async def test_audit_refuses_a_bad_since_and_an_unknown_agent(make_agent, env):
    agent = await make_agent(**READER)
    done = bizctx(env, "audit", "--since", "yesterday")
    assert done.returncode == 2 and "give a span like 30m, 1h, 2d" in done.stderr
    done = bizctx(env, "audit", "--tenant", agent.tenant_name, "--agent", "nobody")
    assert done.returncode == 2 and "no agent named 'nobody'" in done.stderr


def test_since_takes_spans_and_iso_timestamps():
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert operators.parse_since("30m", now) == now - timedelta(minutes=30)
    assert operators.parse_since("1h", now) == now - timedelta(hours=1)
    assert operators.parse_since("2d", now) == now - timedelta(days=2)
    assert operators.parse_since("2025-02-28T09:00:00+01:00") == datetime(2025, 2, 28, 8, 0, tzinfo=UTC)
    assert operators.parse_since("2025-02-28") == datetime(2025, 2, 28, tzinfo=UTC)
    with pytest.raises(OperatorError, match="--since 'soon'"):
        operators.parse_since("soon")
