"""The agent directory through the official MCP client (issue 18, part 1): list_agents and
bizctx://agents show the tenant's agents with role, description, parent, capabilities, status
and last call, never a key, its prefix or its hash, never another tenant's agents; operators
place agents with `bizctx agent set --role --description --parent`."""

from __future__ import annotations

import hashlib
import json

import pytest
from test_audit_cli import bizctx

from bizctx.ops import operators
from bizctx.server.errors import OperatorError
from conftest import audit_rows, err, ok

pytestmark = pytest.mark.anyio

READER = {"caps": ["tasks.read"], "access": {"tasks": {"read": True}}}


@pytest.fixture
async def team(app, make_agent):
    """An orchestrator that reads the directory, two specialists (one disabled) and a director."""
    boss = await make_agent(**READER, name="orchestrator")
    tenant = boss.tenant_name
    director = await make_agent(
        caps=["tasks.read", "tasks.write"],
        access={"tasks": {"read": True, "write": True}},
        tenant=tenant,
        name="director",
    )
    cleaner = await make_agent(caps=["tasks.work"], tenant=tenant, name="scheduler")
    retired = await make_agent(tenant=tenant, name="old-billing")
    await operators.set_profile(
        app.db, tenant, "orchestrator", role="orchestrator", description="Runs the day."
    )
    await operators.set_profile(app.db, tenant, "director", role="director", parent_ref="orchestrator")
    await operators.set_profile(
        app.db, tenant, "scheduler", role="specialist", description="Books visits.", parent_ref="director"
    )
    await operators.set_status(app.db, tenant, "old-billing", "disabled")
    return boss, director, cleaner, retired


async def test_the_directory_shows_the_tenants_agents_and_never_their_keys(team, make_agent, connect, sql):
    boss, director, cleaner, retired = team
    stranger = await make_agent(**READER)  # another tenant
    async with connect(director) as c:
        await ok(c, "list_tasks", {})  # the director has called; the scheduler never has
    async with connect(boss) as c:
        result = await c.call_tool("list_agents", {})
        disabled = await ok(c, "list_agents", {"status": "disabled"})
        specialists = await ok(c, "list_agents", {"role": "specialist"})
        resource = await c.read_resource("bizctx://agents")
    assert not result.is_error
    listed = {a["name"]: a for a in result.structured_content["agents"]}
    assert list(listed) == ["director", "old-billing", "orchestrator", "scheduler"]  # by name, no stranger
    assert (listed["scheduler"]["role"], listed["scheduler"]["description"]) == (
        "specialist",
        "Books visits.",
    )
    assert (listed["scheduler"]["parent_agent_id"], listed["scheduler"]["parent_name"]) == (
        str(director.id),
        "director",
    )
    assert (
        listed["director"]["parent_name"] == "orchestrator" and listed["orchestrator"]["parent_name"] is None
    )
    assert (
        listed["scheduler"]["capabilities"] == ["tasks.work"] and listed["scheduler"]["last_seen_at"] is None
    )
    assert listed["director"]["last_seen_at"] is not None
    assert listed["old-billing"]["status"] == "disabled" and listed["scheduler"]["status"] == "active"
    assert [a["name"] for a in disabled["agents"]] == ["old-billing"]
    assert [a["name"] for a in specialists["agents"]] == ["scheduler"]
    text = result.content[0].text + resource.contents[0].text
    for agent in (boss, director, cleaner, retired):
        assert agent.key not in text and agent.key[:9] not in text
        assert hashlib.sha256(agent.key.encode()).hexdigest() not in text
    assert stranger.name not in text and "key" not in json.dumps(result.structured_content)
    shown = json.loads(resource.contents[0].text)
    assert [a["name"] for a in shown["agents"]] == list(listed)
    (row,) = [r for r in audit_rows(sql, boss) if r["name"] == "list_agents" and r["outcome"] == "ok"][:1]
    assert row["kind"] == "tool"


async def test_the_directory_needs_tasks_read_and_an_open_tasks_domain(team, make_agent, connect, sql):
    boss = team[0]
    no_capability = await make_agent(access={"tasks": {"read": True}}, tenant=boss.tenant_name)
    closed = await make_agent(caps=["tasks.read"], tenant=boss.tenant_name)
    for agent in (no_capability, closed):
        async with connect(agent) as c:
            denied = await err(c, "list_agents", {})
            tools = {t.name for t in (await c.list_tools()).tools}
        assert denied["code"] == "permission_denied" and "list_agents" not in tools
        assert [(r["name"], r["outcome"]) for r in audit_rows(sql, agent)] == [("list_agents", "denied")]


async def test_bad_directory_input_is_refused(team, connect):
    async with connect(team[0]) as c:
        bad_role = await err(c, "list_agents", {"role": "boss"})
        bad_cursor = await err(c, "list_agents", {"cursor": "not-a-cursor"})
    assert bad_role["code"] == bad_cursor["code"] == "invalid_input"
    assert "role" in bad_role["message"] and "cursor" in bad_cursor["message"]


async def test_a_parent_below_the_agent_is_refused_and_nothing_changes(app, team, sql):
    boss = team[0]
    with pytest.raises(OperatorError, match="not"):
        await operators.set_profile(app.db, boss.tenant_name, "orchestrator", parent_ref="scheduler")
    with pytest.raises(OperatorError, match="itself"):
        await operators.set_profile(app.db, boss.tenant_name, "director", parent_ref="director")
    row = sql.execute(
        "SELECT parent_agent_id FROM agents WHERE tenant_id = %s AND name = 'orchestrator'", (boss.tenant_id,)
    ).fetchone()
    assert row["parent_agent_id"] is None
    await operators.set_profile(app.db, boss.tenant_name, "scheduler", parent_ref="")
    cleared = sql.execute(
        "SELECT parent_agent_id, role FROM agents WHERE tenant_id = %s AND name = 'scheduler'",
        (boss.tenant_id,),
    ).fetchone()
    assert (cleared["parent_agent_id"], cleared["role"]) == (None, "specialist")


async def test_the_cli_places_an_agent_in_the_directory(team, dsn, tmp_path, connect):
    import os

    boss = team[0]
    env = {"DATABASE_URL": dsn, "BIZCTX_DATA_DIR": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    done = bizctx(
        env, "agent", "set", "old-billing", "--tenant", boss.tenant_name, "--role", "specialist",
        "--description", "Billed invoices until May.", "--parent", "orchestrator",
    )  # fmt: skip
    again = bizctx(env, "agent", "set", "old-billing", "--tenant", boss.tenant_name, "--role", "director")
    refused = bizctx(env, "agent", "set", "old-billing", "--tenant", boss.tenant_name)
    assert done.returncode == 0, done.stderr
    assert "specialist" in done.stdout and "orchestrator" in done.stdout
    assert refused.returncode == 2 and "--role" in refused.stderr
    # What is printed is what is stored: the description and parent given before are kept.
    assert "role director" in again.stdout and "Billed invoices until May." in again.stdout
    async with connect(boss) as c:
        (entry,) = (await ok(c, "list_agents", {"status": "disabled"}))["agents"]
    assert (entry["role"], entry["description"], entry["parent_name"]) == (
        "director",
        "Billed invoices until May.",
        "orchestrator",
    )
