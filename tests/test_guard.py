"""The guard, through a real MCP client session: per-agent lists, permission, validation,
redaction, audit and error mapping. A probe domain exercises the mechanism itself;
each real domain's tools have their own tests."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import anyio
import psycopg
import pytest
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ConfigDict, Field

from bizctx.ops import operators
from bizctx.server.errors import NotFound
from bizctx.server.guard import Call
from bizctx.server.queries import QueryRef
from bizctx.server.redact import Redact
from bizctx.server.registry import Domain
from conftest import audit_rows, error_of

pytestmark = pytest.mark.anyio

probe = Domain("clients")
GET_TENANT = probe.query("get_tenant", domain="self")
CREATE_TENANT = QueryRef("operators", "create_tenant")


# Invocations per note, for the deadlock probes.
DEADLOCKS: dict[str | None, int] = {}


class ProbeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[str | None, Redact("clients", "notes")] = Field(default=None, description="A note.")
    count: int = Field(default=1, ge=1, le=10, description="How many.")
    fail: Literal["none", "not_found", "privilege", "crash", "deadlock_twice", "deadlock_always"] = Field(
        default="none", description="Failure."
    )


class Contact(BaseModel):
    label: str
    phone: Annotated[str | None, Redact("clients", "phone")] = None


class ProbeOut(BaseModel):
    tenant_id: uuid.UUID
    tenant_name: str
    count: int
    email: Annotated[str | None, Redact("clients", "email")] = None
    contacts: list[Contact] = []


@probe.tool(action="read", entity=("tenant", "tenant_id"))
async def probe_read(call: Call, args: ProbeIn) -> ProbeOut:
    """Probe the guard (read)."""
    row = await call.tx.one(GET_TENANT)
    if args.fail == "not_found":
        raise NotFound("No such probe; list probes first.")
    if args.fail == "privilege":
        # bizctx_app may not write tenants: the database refuses, with a message that names the table.
        await call.tx.one(CREATE_TENANT, name="x", time_zone="UTC", invoice_prefix="X")
    if args.fail == "crash":
        raise RuntimeError("secret internal detail: SELECT password FROM vault")
    if args.fail.startswith("deadlock"):
        DEADLOCKS[args.note] = DEADLOCKS.get(args.note, 0) + 1
        if args.fail == "deadlock_always" or DEADLOCKS[args.note] <= 2:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
    return ProbeOut(
        tenant_id=row["id"],
        tenant_name=row["name"],
        count=args.count,
        email="ann@example.com",
        contacts=[Contact(label="home", phone="+1 555 0100")],
    )


@probe.tool(action="write")
async def probe_write(call: Call, args: ProbeIn) -> ProbeOut:
    """Probe the guard (write)."""
    row = await call.tx.one(GET_TENANT)
    return ProbeOut(tenant_id=row["id"], tenant_name=row["name"], count=args.count)


class ProbeKey(BaseModel):
    probe_id: uuid.UUID


@probe.resource("bizctx://probes/{probe_id}", name="probe", entity=("probe", "probe_id"))
async def probe_resource(call: Call, params: ProbeKey) -> ProbeOut:
    """One probe."""
    row = await call.tx.one(GET_TENANT)
    return ProbeOut(tenant_id=row["id"], tenant_name=row["name"], count=1, email="ann@example.com")


@pytest.fixture
def domains():
    # Only bizctx://agent/me and the probe: the mechanism, without the real domains' tools.
    from bizctx.resources.agent import me

    return [me, probe]


READER = {"caps": ["clients.read"], "access": {"clients": {"read": True}}}


async def tool_names(client) -> set[str]:
    return {t.name for t in (await client.list_tools()).tools}


async def test_tools_list_shows_exactly_what_the_agent_may_call(make_agent, connect):
    reader = await make_agent(**READER)
    writer = await make_agent(
        caps=["clients.read", "clients.write"], access={"clients": {"read": True, "write": True}}
    )
    nobody = await make_agent()
    cap_but_closed = await make_agent(caps=["clients.read"], access={})
    open_but_no_cap = await make_agent(caps=[], access={"clients": {"read": True, "write": True}})
    read_only_access = await make_agent(caps=["clients.write"], access={"clients": {"read": True}})

    async with connect(reader) as c:
        assert await tool_names(c) == {"probe_read"}
    async with connect(writer) as c:
        assert await tool_names(c) == {"probe_read", "probe_write"}
    for agent in (nobody, cap_but_closed, open_but_no_cap, read_only_access):
        async with connect(agent) as c:
            assert await tool_names(c) == set()


async def test_tool_listing_carries_schemas_and_annotations(make_agent, connect):
    async with connect(await make_agent(**READER)) as c:
        (tool,) = (await c.list_tools()).tools
    assert tool.description == "Probe the guard (read)."
    assert tool.input_schema["properties"]["count"]["description"] == "How many."
    assert tool.output_schema is not None and "tenant_name" in tool.output_schema["required"]
    # Redactable output fields are optional, so a redacted result still validates.
    assert "email" not in tool.output_schema["required"]
    assert tool.annotations.read_only_hint is True
    assert tool.annotations.idempotent_hint is True
    assert tool.annotations.destructive_hint is False


async def test_an_allowed_call_returns_structured_content_and_is_audited(make_agent, connect, sql):
    agent = await make_agent(**READER)
    async with connect(agent) as c:
        result = await c.call_tool("probe_read", {"count": 3, "note": "gate code 1234"})
    assert not result.is_error
    assert result.structured_content == {
        "tenant_id": str(agent.tenant_id),
        "tenant_name": agent.tenant_name,
        "count": 3,
        "email": "ann@example.com",
        "contacts": [{"label": "home", "phone": "+1 555 0100"}],
    }
    assert agent.tenant_name in result.content[0].text
    (row,) = audit_rows(sql, agent)
    assert row["kind"] == "tool" and row["name"] == "probe_read"
    assert row["outcome"] == "ok" and row["error_code"] is None
    assert row["transport"] == "memory"
    assert row["entity_type"] == "tenant" and row["entity_id"] == str(agent.tenant_id)
    assert row["arguments"] == {"count": 3, "note": "gate code 1234"}
    assert row["duration_ms"] >= 0 and len(row["request_id"]) == 32


async def test_a_missing_capability_is_denied_named_and_audited(make_agent, connect, sql):
    agent = await make_agent(**READER)
    async with connect(agent) as c:
        result = await c.call_tool("probe_write", {"count": 1})
    assert result.is_error
    assert error_of(result)["code"] == "permission_denied"
    assert "clients.write" in result.content[0].text
    (row,) = audit_rows(sql, agent)
    assert (row["name"], row["outcome"], row["error_code"]) == ("probe_write", "denied", "permission_denied")


async def test_a_closed_domain_is_denied_even_with_the_capability(make_agent, connect, sql):
    agent = await make_agent(caps=["clients.read", "clients.write"], access={"clients": {"read": True}})
    async with connect(agent) as c:
        result = await c.call_tool("probe_write", {})
    assert error_of(result)["code"] == "permission_denied"
    assert "access_patterns" in result.content[0].text
    assert audit_rows(sql, agent)[0]["outcome"] == "denied"


async def test_redacted_fields_are_absent_everywhere_and_masked_in_the_audit(make_agent, connect, sql):
    agent = await make_agent(
        caps=["clients.read"], access={"clients": {"read": True, "redact": ["email", "phone", "notes"]}}
    )
    async with connect(agent) as c:
        # v2: a field redacted for the agent may not be set by it either (no conflict or match
        # can reveal it); the refused call is audited with the value masked.
        refused = await c.call_tool("probe_read", {"note": "the gate code is 4321", "count": 2})
        result = await c.call_tool("probe_read", {"count": 2})
        resource = await c.read_resource(f"bizctx://probes/{uuid.uuid4()}")
    assert error_of(refused)["code"] == "permission_denied" and "note" in error_of(refused)["message"]
    assert not result.is_error
    assert result.structured_content == {
        "tenant_id": str(agent.tenant_id),
        "tenant_name": agent.tenant_name,
        "count": 2,
        "contacts": [{"label": "home"}],
    }
    assert "ann@example.com" not in result.content[0].text and "555 0100" not in result.content[0].text
    assert "ann@example.com" not in resource.contents[0].text
    rows = audit_rows(sql, agent)
    assert rows[0]["arguments"] == {"note": "[redacted]", "count": 2}
    assert "gate code is 4321" not in str(rows)


async def test_bad_input_is_a_clear_error_and_runs_nothing(make_agent, connect, sql):
    agent = await make_agent(**READER)
    async with connect(agent) as c:
        result = await c.call_tool("probe_read", {"count": 0, "colour": "red"})
    assert result.is_error
    error = error_of(result)
    assert error["code"] == "invalid_input"
    assert "count" in error["message"] and "colour" in error["message"]
    (row,) = audit_rows(sql, agent)
    assert (row["outcome"], row["error_code"], row["entity_type"]) == ("error", "invalid_input", None)


async def test_handler_errors_map_to_codes_and_nothing_internal_leaks(make_agent, connect, sql):
    agent = await make_agent(**READER)
    async with connect(agent) as c:
        not_found = await c.call_tool("probe_read", {"fail": "not_found"})
        privilege = await c.call_tool("probe_read", {"fail": "privilege"})
        crash = await c.call_tool("probe_read", {"fail": "crash"})
    assert error_of(not_found)["code"] == "not_found"
    assert not_found.content[0].text == "not_found: No such probe; list probes first."
    for result in (privilege, crash):
        assert result.is_error
        assert error_of(result)["code"] == "internal"
        text = result.content[0].text + str(result.structured_content)
        for leak in ("secret", "SELECT", "permission denied", "tenants", "Traceback"):
            assert leak not in text
    rows = audit_rows(sql, agent)
    assert [(r["outcome"], r["error_code"]) for r in rows] == [
        ("error", "not_found"),
        ("error", "internal"),
        ("error", "internal"),
    ]
    # The failed call's transaction rolled back; its audit row was written afterwards,
    # and the request id in the message matches the audit row.
    assert rows[2]["request_id"] in crash.content[0].text


async def test_an_unknown_tool_is_not_found_and_audited(make_agent, connect, sql):
    agent = await make_agent(**READER)
    async with connect(agent) as c:
        result = await c.call_tool("drop_everything", {})
    assert error_of(result)["code"] == "not_found"
    assert audit_rows(sql, agent)[0]["name"] == "drop_everything"


async def test_resources_of_a_closed_domain_are_not_listed(make_agent, connect):
    reader = await make_agent(**READER)
    closed = await make_agent(caps=["clients.read"], access={})
    async with connect(reader) as c:
        templates = {t.uri_template for t in (await c.list_resource_templates()).resource_templates}
        resources = {str(r.uri) for r in (await c.list_resources()).resources}
    assert templates == {"bizctx://probes/{probe_id}"}
    assert resources == {"bizctx://agent/me"}
    async with connect(closed) as c:
        assert (await c.list_resource_templates()).resource_templates == []
        assert {str(r.uri) for r in (await c.list_resources()).resources} == {"bizctx://agent/me"}
        with pytest.raises(MCPError) as denied:
            await c.read_resource(f"bizctx://probes/{uuid.uuid4()}")
    assert denied.value.data["code"] == "permission_denied"


async def test_resource_errors_carry_codes(make_agent, connect, sql):
    agent = await make_agent(**READER)
    async with connect(agent) as c:
        with pytest.raises(MCPError) as bad:
            await c.read_resource("bizctx://probes/not-a-uuid")
        with pytest.raises(MCPError) as missing:
            await c.read_resource("bizctx://nothing/here")
    assert bad.value.data["code"] == "invalid_input"
    assert missing.value.data["code"] == "not_found"
    assert [r["outcome"] for r in audit_rows(sql, agent)] == ["error", "error"]


async def test_agent_me_says_who_the_agent_is(make_agent, connect, sql):
    agent = await make_agent(caps=["clients.read"], access={"clients": {"read": True, "redact": ["email"]}})
    async with connect(agent) as c:
        result = await c.read_resource("bizctx://agent/me")
    import json

    me = json.loads(result.contents[0].text)
    assert me["agent_id"] == str(agent.id) and me["name"] == agent.name
    assert me["tenant"] == {"id": str(agent.tenant_id), "name": agent.tenant_name, "time_zone": "UTC"}
    assert me["capabilities"] == ["clients.read"]
    assert me["access_patterns"]["clients"]["redact"] == ["email"]
    assert me["tools"] == ["probe_read"]
    (row,) = audit_rows(sql, agent)
    assert (row["kind"], row["name"], row["outcome"]) == ("resource", "bizctx://agent/me", "ok")


async def test_tools_list_pages_with_a_cursor(make_agent, connect, app):
    app.settings.page_size = 1
    agent = await make_agent(
        caps=["clients.read", "clients.write"], access={"clients": {"read": True, "write": True}}
    )
    async with connect(agent) as c:
        first = await c.list_tools()
        assert len(first.tools) == 1 and first.next_cursor
        second = await c.list_tools(cursor=first.next_cursor)
        assert len(second.tools) == 1 and second.next_cursor is None
        assert {first.tools[0].name, second.tools[0].name} == {"probe_read", "probe_write"}
        with pytest.raises(MCPError) as bad:
            await c.list_tools(cursor="garbage!")
    assert "cursor" in bad.value.message


async def _eventually(check, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not await check():
            await anyio.sleep(0.05)


async def test_operator_changes_reach_a_connected_agent_at_once(make_agent, connect, app, sql):
    agent = await make_agent(**READER)
    async with connect(agent) as c:
        assert await tool_names(c) == {"probe_read"}
        await operators.grant(app.db, agent.tenant_name, agent.name, ["clients.write"])
        await operators.set_access_patterns(
            app.db,
            agent.tenant_name,
            agent.name,
            operators.AccessPatterns.model_validate({"clients": {"read": True, "write": True}}),
        )

        async def sees_write():
            return await tool_names(c) == {"probe_read", "probe_write"}

        await _eventually(sees_write)
        await operators.set_status(app.db, agent.tenant_name, agent.name, "disabled")

        async def refused():
            r = await c.call_tool("probe_read", {})
            return r.is_error and error_of(r)["code"] == "permission_denied"

        await _eventually(refused)
        assert await tool_names(c) == set()
    assert audit_rows(sql, agent)[-1]["outcome"] == "denied"


async def test_a_deadlocked_call_is_run_again_and_succeeds_or_fails_retryable(make_agent, connect, sql):
    agent = await make_agent(**READER)
    async with connect(agent) as c:
        recovered = await c.call_tool("probe_read", {"fail": "deadlock_twice", "note": "a"})
        stuck = await c.call_tool("probe_read", {"fail": "deadlock_always", "note": "b"})
    assert not recovered.is_error and DEADLOCKS["a"] == 3
    error = error_of(stuck)
    assert error["code"] == "unavailable" and error["retryable"] is True
    assert DEADLOCKS["b"] == 3  # bounded: three attempts, then the caller is told to retry
    assert [(r["outcome"], r["error_code"]) for r in audit_rows(sql, agent)] == [
        ("ok", None),
        ("error", "unavailable"),
    ]
