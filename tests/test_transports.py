"""HTTP transports (streamable HTTP and SSE) with bearer agent keys, Origin checks and
/healthz, through the official MCP client over real loopback sockets; and stdio's stdout
hygiene in a real child process."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from bizctx.server.http import build_http_app
from conftest import CLIENT_READ_TOOLS, INITIALIZE, audit_rows

pytestmark = pytest.mark.anyio

READER = {"caps": ["clients.read"], "access": {"clients": {"read": True}}}
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def running(app, transport: str) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(
        build_http_app(app, transport=transport, host="127.0.0.1"),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


def http_client(key: str | None, **headers: str) -> httpx2.AsyncClient:
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return httpx2.AsyncClient(headers=headers, timeout=30)


async def test_streamable_http_serves_several_agents_each_its_own_tools(app, make_agent, sql):
    reader = await make_agent(**READER)
    writer = await make_agent(
        caps=["clients.read", "clients.write"], access={"clients": {"read": True, "write": True}}
    )
    async with running(app, "streamable-http") as base:
        names = {}
        for agent in (reader, writer):
            async with (
                http_client(agent.key) as http,
                Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
            ):
                names[agent.name] = {t.name for t in (await client.list_tools()).tools}
                me = json.loads((await client.read_resource("bizctx://agent/me")).contents[0].text)
                assert me["agent_id"] == str(agent.id)
        async with (
            http_client(writer.key) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        ):
            created = await client.call_tool("upsert_client", {"first_name": "Web"})
    assert names[reader.name] == CLIENT_READ_TOOLS
    assert names[writer.name] == names[reader.name] | {
        "upsert_client",
        "log_interaction",
        "set_client_preference",
    }
    assert not created.is_error
    row = audit_rows(sql, writer)[-1]
    assert (row["transport"], row["name"], row["outcome"]) == ("streamable-http", "upsert_client", "ok")


async def test_a_tools_call_over_http_does_not_list_tools_on_the_server(app, make_agent, monkeypatch):
    # The SDK checks Mcp-Param-* headers against the called tool's inputSchema; left to find
    # it by itself, it runs and serializes a whole tools/list per tools/call (most of an HTTP
    # call's CPU). The server hands it the schema by name instead.
    agent = await make_agent(**READER)
    listings = 0
    list_tools = app.guard.list_tools

    async def counting(*args, **kwargs):
        nonlocal listings
        listings += 1
        return await list_tools(*args, **kwargs)

    monkeypatch.setattr(app.guard, "list_tools", counting)
    async with running(app, "streamable-http") as base:
        async with (
            http_client(agent.key) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        ):
            await client.list_tools()
            for _ in range(3):
                result = await client.call_tool("search_clients", {"query": "nobody"})
                assert not result.is_error
    assert listings == 1
    schema = app.guard.tool_input_schema("search_clients")
    assert schema is not None and "query" in schema["properties"]
    assert app.guard.tool_input_schema("no_such_tool") is None


async def test_sse_answers_tools_list_and_call(app, make_agent, sql):
    agent = await make_agent(**READER)
    async with running(app, "sse") as base:
        async with Client(
            sse_client(f"{base}/sse", headers={"Authorization": f"Bearer {agent.key}"})
        ) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            result = await client.call_tool("search_clients", {"query": "nobody"})
    assert "search_clients" in tools
    assert result.structured_content == {"clients": [], "next_cursor": None}
    assert audit_rows(sql, agent)[-1]["transport"] == "sse"


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_missing_and_wrong_keys_get_401(app, transport):
    path = "/mcp" if transport == "streamable-http" else "/sse"
    async with running(app, transport) as base:
        for key in (None, "bctx_" + "0" * 43, "not-even-a-key"):
            async with http_client(key, **MCP_HEADERS) as http:
                if transport == "sse":
                    response = await http.get(f"{base}{path}")
                else:
                    response = await http.post(f"{base}{path}", json=INITIALIZE)
            assert response.status_code == 401, key
            assert response.headers["www-authenticate"].startswith("Bearer")
            # It names what to send, so a client does not go looking for OAuth.
            assert "Authorization: Bearer <agent key>" in response.json()["error_description"]
            assert "Authorization: Bearer <agent key>" in response.headers["www-authenticate"]


async def test_a_bad_origin_is_refused_even_with_a_good_key(app, make_agent):
    agent = await make_agent(**READER)
    async with running(app, "streamable-http") as base:
        async with http_client(agent.key, **MCP_HEADERS, Origin="http://evil.example") as http:
            bad = await http.post(f"{base}/mcp", json=INITIALIZE)
        async with http_client(agent.key, **MCP_HEADERS, Origin="http://localhost:3000") as http:
            good = await http.post(f"{base}/mcp", json=INITIALIZE)
    assert bad.status_code == 403
    assert good.status_code == 200


async def test_healthz_needs_no_key_and_shows_no_data(app):
    async with running(app, "streamable-http") as base, http_client(None) as http:
        response = await http.get(f"{base}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up"}


def bizctx_command() -> list[str]:
    script = Path(sys.executable).with_name("bizctx")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bizctx.ops.cli"]


async def test_stdout_carries_nothing_but_protocol_on_stdio(make_agent, dsn, tmp_path):
    agent = await make_agent(**READER)
    env = {
        "DATABASE_URL": dsn,
        "BIZCTX_DATA_DIR": str(tmp_path),
        "BIZCTX_AGENT_KEY": agent.key,
        "BIZCTX_LOG_LEVEL": "DEBUG",  # as chatty as it gets: all of it must go to stderr
        "PATH": os.environ.get("PATH", ""),
    }
    requests = [
        INITIALIZE,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "search_clients", "arguments": {}},
        },
        {"jsonrpc": "2.0", "id": 4, "method": "resources/read", "params": {"uri": "bizctx://agent/me"}},
    ]

    def converse() -> tuple[list[str], str]:
        # Keep stdin open until every answer is in, as a real client does; stderr goes to a
        # file so a chatty log can never block the pipe we read.
        with open(tmp_path / "stderr.log", "w+") as err:
            process = subprocess.Popen(
                [*bizctx_command(), "serve"],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
            out = []
            for request in requests:
                process.stdin.write(json.dumps(request) + "\n")
                process.stdin.flush()
                if "id" in request:
                    out.append(process.stdout.readline())
            process.stdin.close()
            out += process.stdout.read().splitlines()
            process.wait(timeout=60)
            err.seek(0)
            return out, err.read()

    stdout_lines, stderr = await anyio.to_thread.run_sync(converse)
    lines = [line for line in stdout_lines if line.strip()]
    messages = [json.loads(line) for line in lines]  # every line is JSON: nothing else on stdout
    assert all(m.get("jsonrpc") == "2.0" for m in messages)
    assert sorted(m["id"] for m in messages if "id" in m) == [1, 2, 3, 4]
    assert not any("error" in m for m in messages)
    assert "request_id" in stderr  # the logs went to stderr, with the request id


async def test_serve_over_http_from_the_cli(make_agent, dsn, tmp_path):
    agent = await make_agent(**READER)
    port = free_port()
    env = {"DATABASE_URL": dsn, "BIZCTX_DATA_DIR": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    process = subprocess.Popen(  # noqa: ASYNC220 (started once, stopped in finally)
        [*bizctx_command(), "serve", "--transport", "streamable-http", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with anyio.fail_after(60):
            while True:
                try:
                    async with http_client(None) as http:
                        if (await http.get(f"{base}/healthz")).status_code == 200:
                            break
                except httpx2.TransportError:
                    await anyio.sleep(0.2)
        async with (
            http_client(agent.key) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        ):
            assert "search_clients" in {t.name for t in (await client.list_tools()).tools}
    finally:
        process.terminate()
        process.wait(timeout=30)


def json_answers(app):
    return dataclasses.replace(app, settings=app.settings.model_copy(update={"http_json_response": True}))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_json_responses_give_the_same_result_as_streamed_ones(app, make_agent, mode):
    agent = await make_agent(**READER)
    results = []
    for served in (app, json_answers(app)):
        async with running(served, "streamable-http") as base:
            async with (
                http_client(agent.key) as http,
                Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as client,
            ):
                results.append(
                    (await client.call_tool("search_clients", {"query": "nobody"})).structured_content
                )
                refused = await client.call_tool("upsert_client", {"first_name": "X"})
                results.append(refused.is_error)
    assert results[0] == results[2] == {"clients": [], "next_cursor": None}
    assert results[1] is results[3] is True  # a refusal is the same tool error either way


@pytest.mark.parametrize("json_response", [False, True])
async def test_a_disabled_agents_key_stops_working_on_its_next_http_call(app, make_agent, json_response):
    from bizctx.ops.operators import set_status

    agent = await make_agent(**READER)
    served = json_answers(app) if json_response else app
    async with running(served, "streamable-http") as base:
        async with (
            http_client(agent.key) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        ):
            assert not (await client.call_tool("search_clients", {"query": "nobody"})).is_error
            await set_status(app.db, agent.tenant_name, agent.name, "disabled")
            with anyio.fail_after(10):  # the directory reloads when the database tells it
                while True:
                    reply = await http.post(
                        f"{base}/mcp",
                        headers={**MCP_HEADERS, "mcp-protocol-version": "2026-07-28"},
                        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
                    )
                    if reply.status_code == 401:
                        break
                    await anyio.sleep(0.05)


def test_only_a_read_that_cannot_be_notified_is_answered_as_json():
    """A request no notification can reach and that writes nothing takes the SDK's JSON path;
    a write keeps the stream, whose disconnect watcher cancels it when its client leaves."""
    from bizctx.server.http import answered_alone

    def body(method: str, meta: dict | None = None, tool: str = "get_client") -> bytes:
        params = {"name": tool, "arguments": {}, **({"_meta": meta} if meta is not None else {})}
        return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()

    modern = "2026-07-28"
    writes = frozenset({"upsert_client"})
    level = "io.modelcontextprotocol/logLevel"
    assert answered_alone(body("tools/call"), modern, writes)
    assert answered_alone(body("resources/read"), modern, writes)
    assert answered_alone(body("tools/call", {level: "error"}), modern, writes)
    assert not answered_alone(body("tools/call", tool="upsert_client"), modern, writes)
    assert not answered_alone(body("tools/call", {level: "warning"}), modern, writes)
    assert not answered_alone(body("tools/call", {level: "debug"}), modern, writes)
    assert not answered_alone(body("subscriptions/listen"), modern, writes)
    assert not answered_alone(b"not json", modern, writes)
    assert not answered_alone(b"[1, 2]", modern, writes)
