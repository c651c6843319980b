"""Streamable HTTP for replicas: stateless (BIZCTX_HTTP_STATELESS=1), so a load balancer
may send each request anywhere, with live updates still crossing processes through the
database; and, where sessions are used, SSE streams a client can resume (Last-Event-ID)."""

from __future__ import annotations

import dataclasses
import json

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.subscriptions import ResourceUpdated
from test_live_updates import BOSS, QUEUE, http_server, next_event
from test_transports import MCP_HEADERS, http_client, running

from conftest import INITIALIZE, ok

pytestmark = pytest.mark.anyio

LEGACY = "2025-11-25"


def stateless(app):
    return dataclasses.replace(app, settings=app.settings.model_copy(update={"http_stateless": True}))


@pytest.fixture
async def tenant_name(make_tenant):
    return (await make_tenant())["name"]


async def data_events(http, url: str, headers: dict[str, str], *, want: int, seconds: float) -> list[dict]:
    """The first `want` data events of a GET stream, or what came within `seconds`."""
    found: list[dict] = []
    block: dict[str, str] = {}
    with anyio.move_on_after(seconds):
        async with http.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                return found
            async for line in response.aiter_lines():
                if line:
                    name, _, value = line.partition(":")
                    block[name] = value.removeprefix(" ")
                    continue
                if block.get("data"):
                    found.append(block)
                    if len(found) >= want:
                        break
                block = {}
    return found


def sse_events(body: str) -> list[dict[str, str]]:
    """The events of an SSE body: each a dict of its fields (id, retry, data, event)."""
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if fields:
            events.append(fields)
    return events


async def test_stateless_http_needs_no_session_and_any_replica_answers(app, make_agent, tenant_name):
    agent = await make_agent(tenant=tenant_name, **BOSS)
    async with (
        running(stateless(app), "streamable-http") as one,
        running(stateless(app), "streamable-http") as two,
    ):
        async with http_client(agent.key) as http:
            init = {**INITIALIZE, "params": {**INITIALIZE["params"], "protocolVersion": LEGACY}}
            opened = await http.post(f"{one}/mcp", json=init, headers=MCP_HEADERS)
            # No session to stick to: the next request goes to the other replica, no header.
            call = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "create_task", "arguments": {"type": "t", "title": "anywhere"}},
            }
            called = await http.post(
                f"{two}/mcp", json=call, headers={**MCP_HEADERS, "mcp-protocol-version": LEGACY}
            )
    assert opened.status_code == 200 and "mcp-session-id" not in opened.headers
    # Nothing can reach a client outside a request here: no resources/subscribe, no list_changed
    # on a standing stream (subscriptions/listen streams in its own request).
    (init_answer,) = [json.loads(e["data"]) for e in sse_events(opened.text) if e.get("data")]
    caps = init_answer["result"]["capabilities"]
    assert not caps["resources"].get("subscribe") and not caps["tools"].get("listChanged")
    assert called.status_code == 200
    (answer,) = [json.loads(e["data"]) for e in sse_events(called.text) if e.get("data")]
    assert answer["id"] == 2 and answer["result"]["isError"] is False


async def test_live_updates_cross_stateless_replicas(make_agent, dsn, tmp_path, tenant_name):
    boss = await make_agent(tenant=tenant_name, **BOSS)
    worker = await make_agent(tenant=tenant_name, **BOSS)
    env = {"BIZCTX_HTTP_STATELESS": "1"}
    async with (
        http_server(dsn, tmp_path / "a", **env) as listening_url,
        http_server(dsn, tmp_path / "b", **env) as writing_url,
        http_client(worker.key) as listen_http,
        Client(streamable_http_client(listening_url, http_client=listen_http)) as listener,
        listener.listen(resource_subscriptions=[QUEUE]) as sub,
        http_client(boss.key) as write_http,
        Client(streamable_http_client(writing_url, http_client=write_http)) as writer,
    ):
        await ok(writer, "create_task", {"type": "t", "title": "from the other replica"})
        assert await next_event(sub) == ResourceUpdated(uri=QUEUE)


async def test_a_dropped_sse_stream_is_resumed_from_its_last_event(app, make_agent, tenant_name):
    agent = await make_agent(tenant=tenant_name, **BOSS)
    async with running(app, "streamable-http") as base, http_client(agent.key) as http:
        init = {**INITIALIZE, "params": {**INITIALIZE["params"], "protocolVersion": LEGACY}}
        opened = await http.post(f"{base}/mcp", json=init, headers=MCP_HEADERS)
        session = {
            **MCP_HEADERS,
            "mcp-session-id": opened.headers["mcp-session-id"],
            "mcp-protocol-version": LEGACY,
        }
        await http.post(
            f"{base}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session
        )
        call = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": "create_task", "arguments": {"type": "t", "title": "resume me"}},
        }
        streamed = await http.post(f"{base}/mcp", json=call, headers=session)
        priming, *rest = sse_events(streamed.text)
        # The client "lost" the stream right after the priming event: it resumes from there.
        sse = {**session, "accept": "text/event-stream"}
        replayed = await data_events(
            http, f"{base}/mcp", {**sse, "last-event-id": priming["id"]}, want=1, seconds=10
        )
        unknown = await data_events(
            http, f"{base}/mcp", {**sse, "last-event-id": "999999"}, want=1, seconds=2
        )
    assert priming["id"] and priming["retry"] == str(app.settings.http_retry_ms) and not priming.get("data")
    (answer,) = [e for e in rest if e.get("data")]
    assert [json.loads(e["data"])["id"] for e in replayed] == [7]
    assert replayed[0]["data"] == answer["data"]
    assert unknown == []
