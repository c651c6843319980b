"""Prompts, completions and logging through the official client: what an agent is offered
follows its rights (prompts whose tools it may call; completion values it may read, never by a
redacted field), bad prompt arguments get an error that says what to fix, and a contact rule
that only warns reaches the client as a log message at the level it asked for."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import PromptReference, ResourceTemplateReference
from test_appointments import seed
from test_contact_rules import zone_at

from bizctx.ops import compliance
from bizctx.server.app import build_server
from conftest import ALL_RIGHTS, audit_rows, ok

pytestmark = pytest.mark.anyio

READER = {"caps": ["clients.read"], "access": {"clients": {"read": True}}}
BOOKER = {
    "caps": ["clients.read", "clients.write", "appointments.read", "appointments.write"],
    "access": {"clients": {"read": True, "write": True}, "appointments": {"read": True, "write": True}},
}
REDACTED = {"caps": ["clients.read"], "access": {"clients": {"read": True, "redact": ["email"]}}}
PROMPTS = {"book_client", "prepare_collections_contact", "daily_briefing", "onboard_client"}
CONTEXT = "bizctx://clients/{client_id}/context"


@pytest.fixture
async def tenant(make_tenant):
    return (await make_tenant())["name"]


async def prompt_names(connect, agent) -> set[str]:
    async with connect(agent) as c:
        return {p.name for p in (await c.list_prompts()).prompts}


async def completions(connect, agent, ref, argument: str, value: str) -> list[str]:
    async with connect(agent) as c:
        return (await c.complete(ref, {"name": argument, "value": value})).completion.values


# -- prompts ---------------------------------------------------------------------------------------


async def test_prompts_list_only_the_workflows_whose_tools_the_agent_may_call(make_agent, connect, tenant):
    everything = await make_agent(tenant=tenant, **ALL_RIGHTS)
    booker = await make_agent(tenant=tenant, **BOOKER)
    reader = await make_agent(tenant=tenant, **READER)
    assert await prompt_names(connect, everything) == PROMPTS
    assert await prompt_names(connect, booker) == {"book_client", "onboard_client"}
    assert await prompt_names(connect, reader) == set()


async def test_a_prompt_lists_typed_arguments_and_renders_them_quoted(make_agent, connect, tenant):
    booker = await make_agent(tenant=tenant, **BOOKER)
    async with connect(booker) as c:
        (listed,) = [p for p in (await c.list_prompts()).prompts if p.name == "book_client"]
        got = await c.get_prompt("book_client", {"client": "Ann Lee", "when": 'Tuesday "morning"'})
    assert [(a.name, a.required) for a in listed.arguments] == [
        ("client", True),
        ("service", False),
        ("when", False),
    ]
    (message,) = got.messages
    text = message.content.text
    assert message.role == "user"
    assert '"Ann Lee"' in text and "\"Tuesday 'morning'\"" in text
    for tool in ("search_clients", "find_available_slots", "book_appointment"):
        assert tool in text


async def test_a_prompt_the_agent_may_not_use_is_refused_like_one_that_does_not_exist(
    make_agent, connect, tenant
):
    reader = await make_agent(tenant=tenant, **READER)
    async with connect(reader) as c:
        with pytest.raises(MCPError) as hidden:
            await c.get_prompt("onboard_client", {"name": "Bo"})
        with pytest.raises(MCPError) as missing:
            await c.get_prompt("no_such_prompt", {})
    assert str(hidden.value) == str(missing.value)
    assert "prompts/list" in str(hidden.value)


async def test_bad_prompt_arguments_say_what_to_fix_without_echoing_them(make_agent, connect, tenant):
    everything = await make_agent(tenant=tenant, **ALL_RIGHTS)
    async with connect(everything) as c:
        with pytest.raises(MCPError) as wrong:
            await c.get_prompt(
                "prepare_collections_contact", {"invoice_number": "INV-1", "channel": "f4x-zz"}
            )
        with pytest.raises(MCPError) as absent:
            await c.get_prompt("book_client", {})
        with pytest.raises(MCPError) as unknown:
            await c.get_prompt("daily_briefing", {"colour": "blue"})
    assert "channel" in str(wrong.value) and "f4x-zz" not in str(wrong.value)
    assert "client" in str(absent.value) and "Field required" in str(absent.value)
    assert "colour" in str(unknown.value)


async def test_the_server_declares_prompts_completions_and_logging(make_agent, connect, tenant):
    agent = await make_agent(tenant=tenant, **READER)
    async with connect(agent) as c:
        caps = c.server_capabilities
    assert caps.prompts is not None and caps.completions is not None and caps.logging is not None


# -- completions -----------------------------------------------------------------------------------


@pytest.fixture
async def clients(make_agent, connect, tenant, sql):
    writer = await make_agent(tenant=tenant, **BOOKER)
    async with connect(writer) as c:
        ann = await ok(
            c,
            "upsert_client",
            {"first_name": "Ann", "last_name": "Lee", "email": "zed@example.com", "time_zone": zone_at(12)},
        )
        await ok(c, "upsert_client", {"first_name": "Andy", "last_name": "Moe"})
        await ok(c, "upsert_client", {"first_name": "Bob", "last_name": "Ray"})
    return {"writer": writer, "ann": ann["id"]}


async def test_client_names_complete_by_prefix_within_the_tenant(make_agent, connect, tenant, clients):
    reader = await make_agent(tenant=tenant, **READER)
    stranger = await make_agent(**READER)  # another tenant
    ref = PromptReference(name="book_client")
    # The reader may not use book_client (no appointments tools): nothing offered.
    assert await completions(connect, reader, ref, "client", "An") == []
    booker = await make_agent(tenant=tenant, **BOOKER)
    assert await completions(connect, booker, ref, "client", "an") == ["Andy Moe", "Ann Lee"]
    assert await completions(connect, booker, ref, "client", "b") == ["Bob Ray"]
    template = ResourceTemplateReference(uri=CONTEXT)
    assert await completions(connect, reader, template, "client_id", "Ann L") == [clients["ann"]]
    assert await completions(connect, stranger, template, "client_id", "Ann") == []


async def test_a_redacted_field_never_matches(make_agent, connect, tenant, clients):
    reader = await make_agent(tenant=tenant, **READER)
    redacted = await make_agent(tenant=tenant, **REDACTED)
    template = ResourceTemplateReference(uri=CONTEXT)
    assert await completions(connect, reader, template, "client_id", "zed@") == [clients["ann"]]
    assert await completions(connect, redacted, template, "client_id", "zed@") == []
    assert await completions(connect, redacted, template, "client_id", "Ann") == [clients["ann"]]


async def test_a_completion_is_audited_as_a_read_and_a_refused_one_reads_nothing(
    make_agent, connect, tenant, clients, sql
):
    reader = await make_agent(tenant=tenant, **READER)
    nobody = await make_agent(tenant=tenant, caps=["tasks.read"], access={"tasks": {"read": True}})
    template = ResourceTemplateReference(uri=CONTEXT)
    assert await completions(connect, reader, template, "client_id", "Bo") != []
    assert await completions(connect, nobody, template, "client_id", "Bo") == []
    (row,) = audit_rows(sql, reader)
    assert (row["kind"], row["name"], row["outcome"]) == ("completion", "client_ids", "ok")
    assert audit_rows(sql, nobody) == []


async def test_services_and_task_ids_complete_under_the_agents_scope(make_agent, connect, tenant, sql):
    booker = await make_agent(tenant=tenant, **BOOKER)
    seed(sql, booker.tenant_id)
    assert await completions(connect, booker, PromptReference(name="book_client"), "service", "de") == [
        "Deep clean"
    ]
    boss = await make_agent(
        tenant=tenant,
        caps=["tasks.read", "tasks.write"],
        access={"tasks": {"read": True, "write": True, "scope": "all"}},
    )
    worker = await make_agent(
        tenant=tenant, caps=["tasks.read"], access={"tasks": {"read": True, "scope": "assigned"}}
    )
    async with connect(boss) as c:
        theirs = await ok(c, "create_task", {"type": "t", "title": "Fix the van"})
        mine = await ok(
            c, "create_task", {"type": "t", "title": "Fix the sink", "assignee_agent_id": str(worker.id)}
        )
    ref = ResourceTemplateReference(uri="bizctx://tasks/{task_id}")
    assert set(await completions(connect, boss, ref, "task_id", "fix")) == {theirs["id"], mine["id"]}
    assert await completions(connect, worker, ref, "task_id", "fix") == [mine["id"]]


async def test_a_completion_longer_than_any_name_is_refused_with_what_to_fix(make_agent, connect, tenant):
    reader = await make_agent(tenant=tenant, **READER)
    async with connect(reader) as c:
        with pytest.raises(MCPError, match="prefix"):
            await c.complete(
                ResourceTemplateReference(uri=CONTEXT), {"name": "client_id", "value": "x" * 500}
            )


# -- logging ---------------------------------------------------------------------------------------


async def warn_rule(app, tenant: str) -> None:
    await compliance.set_rule(
        app.db,
        tenant,
        compliance.Rule(
            name="sms_daily",
            kind="frequency_cap",
            channels=("sms",),
            action="warn",
            max_contacts=1,
            window_days=1,
            reason="One SMS a day is plenty.",
        ),
        "ops-test",
    )


async def two_sms(c, client_id: str) -> None:
    for _ in range(2):
        await ok(
            c,
            "log_interaction",
            {"client_id": client_id, "channel": "sms", "direction": "outbound", "summary": "Hello"},
        )


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
@pytest.mark.parametrize(("level", "told"), [("warning", True), ("error", False)])
async def test_a_rule_that_only_warns_is_logged_to_the_client_at_its_level(
    app, tenant, clients, mode, level, told
):
    """Before 2026-07-28 logging/setLevel chooses the level; from it, each request's _meta."""
    await warn_rule(app, tenant)
    heard = []

    async def on_log(params) -> None:
        heard.append(params)

    server = build_server(app, lambda ctx: clients["writer"].principal)
    options = {"log_level": level} if mode != "legacy" else {}
    async with Client(server, mode=mode, logging_callback=on_log, **options) as c:
        if mode == "legacy":
            await c.set_logging_level(level)
        await two_sms(c, clients["ann"])
    if told:
        (note,) = heard
        assert note.level == "warning" and note.logger == "bizctx"
        assert note.data["rule"] == "sms_daily" and "One SMS a day" in note.data["message"]
    else:
        assert heard == []


@pytest.mark.parametrize(("level", "told"), [("warning", True), ("error", False), (None, False)])
async def test_a_warning_reaches_an_http_client_that_asks_for_it(app, tenant, clients, level, told):
    """Over streamable HTTP (2026-07-28) a request that cannot be notified is answered on the
    SDK's JSON path (server/http.py); one that asks for warnings still gets them first."""
    from mcp.client.streamable_http import streamable_http_client
    from test_transports import http_client, running

    await warn_rule(app, tenant)
    heard = []

    async def on_log(params) -> None:
        heard.append(params)

    options = {"log_level": level} if level else {}
    async with running(app, "streamable-http") as base:
        async with (
            http_client(clients["writer"].key) as http,
            Client(
                streamable_http_client(f"{base}/mcp", http_client=http),
                mode="2026-07-28",
                logging_callback=on_log,
                **options,
            ) as c,
        ):
            await two_sms(c, clients["ann"])
    if told:
        (note,) = heard
        assert note.level == "warning" and note.data["rule"] == "sms_daily"
    else:
        assert heard == []
