"""Limits, through the official client (and raw stdio and HTTP where the client would refuse to
send it): what one agent, with legitimate keys or none, did to everybody else against v1, row
by row of issue 14's table, now ends in a clear error or a bounded cost."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path

import anyio
import psycopg
import pytest
from test_appointments import at, future_day, insert_appointment, iso, seed
from test_reliability import own_postgres  # noqa: F401 (a fixture)
from test_transports import MCP_HEADERS, http_client, running

from bizctx.ops import operators
from bizctx.server import migrations
from bizctx.server.access import parse_access_patterns
from bizctx.server.app import open_app
from bizctx.server.bounds import MAX_DEPTH
from conftest import (
    ALL_RIGHTS,
    INITIALIZE,
    all_tools,
    audit_rows,
    count,
    err,
    error_of,
    ok,
    small_settings,
    stdio_env,
)

pytestmark = pytest.mark.anyio


def nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels):
        value = {"x": value}
    return value


async def test_deeply_nested_json_is_refused_wherever_it_would_be_kept(make_agent, connect, sql):
    agent = await make_agent(**ALL_RIGHTS)
    async with connect(agent) as c:
        client = await ok(c, "upsert_client", {"first_name": "Ann"})
        refusals = [
            await err(c, "create_task", {"type": "call", "title": "Deep", "payload": nested(250)}),
            await err(
                c, "set_client_preference", {"client_id": client["id"], "key": "k", "value": nested(250)}
            ),
            await err(c, "remember", {"content": "x", "doc_type": "knowledge", "metadata": nested(250)}),
        ]
        fine = await ok(c, "create_task", {"type": "call", "title": "Flat", "payload": nested(5)})
        listed = await ok(c, "list_tasks", {})
    assert all(r["code"] == "invalid_input" and str(MAX_DEPTH) in r["message"] for r in refusals), refusals
    assert [t["id"] for t in listed["tasks"]] == [fine["id"]]
    assert (
        count(sql, "client_preferences", agent.tenant_id) == 0
        and count(sql, "mem_docs", agent.tenant_id) == 0
    )


async def test_huge_preference_values_are_refused(make_agent, connect, sql):
    agent = await make_agent(**ALL_RIGHTS)
    async with connect(agent) as c:
        client = await ok(c, "upsert_client", {"first_name": "Ann"})
        big = await err(
            c, "set_client_preference", {"client_id": client["id"], "key": "k", "value": "x" * 3_500_000}
        )
        read = await ok(c, "get_client", {"client_id": client["id"]})
    assert big["code"] == "invalid_input" and "65,536" in big["message"]
    assert read["preferences"] == {} and count(sql, "client_preferences", agent.tenant_id) == 0


async def test_a_slot_search_too_costly_to_run_is_refused(make_agent, make_tenant, connect, sql):
    tenant = await make_tenant(time_zone="America/New_York")
    agent = await make_agent(**ALL_RIGHTS, tenant=tenant["name"])
    biz = seed(sql, agent.tenant_id)
    day = future_day(3)
    async with connect(agent) as c:
        month = {"service_id": str(biz.clean), "from": iso(day, "00:00"), "step_minutes": 5}
        month["to"] = iso(future_day(33), "00:00")
        costly = await err(c, "find_available_slots", month)
        week = await ok(c, "find_available_slots", {**month, "to": iso(future_day(9), "00:00")})
    assert costly["code"] == "invalid_input" and "step_minutes" in costly["message"]
    assert week["slots"]
    # The cost is start times x resources able to deliver it: a crew of eight is refused the
    # week in 5-minute steps, and answered for one of them.
    for name in ("C1", "C2", "C3", "C4", "C5", "C6"):
        sql.execute(
            "INSERT INTO resources (tenant_id, kind, name, capabilities) VALUES (%s, 'staff', %s, %s)",
            (agent.tenant_id, name, ["cleaning"]),
        )
    async with connect(agent) as c:
        crew = await err(c, "find_available_slots", {**month, "to": iso(future_day(9), "00:00")})
        one = await ok(
            c,
            "find_available_slots",
            {**month, "to": iso(future_day(9), "00:00"), "resource_id": str(biz.ana)},
        )
    assert (
        crew["code"] == "invalid_input"
        and "8 resources" in crew["message"]
        and "resource_id" in crew["message"]
    )
    assert one["slots"]


async def test_a_read_whose_cost_grows_with_the_business_has_a_budget(app, make_agent, connect, sql):
    agent = await make_agent(**ALL_RIGHTS)
    sql.execute(
        "INSERT INTO clients (tenant_id, first_name, last_name)"
        " SELECT %s, 'Ann' || g, 'Lee' || (g %% 97) FROM generate_series(1, 20000) g",
        (agent.tenant_id,),
    )
    one = sql.execute("SELECT id FROM clients WHERE tenant_id = %s LIMIT 1", (agent.tenant_id,)).fetchone()
    async with connect(agent) as c:
        within = await ok(c, "search_clients", {"query": "Ann 1234"})
        app.settings.costly_read_ms = 1  # a budget no search of 20,000 clients fits
        over = await err(c, "search_clients", {"query": "Ann 1234"})
        cheap = await ok(c, "get_client", {"client_id": str(one["id"])})
    assert within["clients"] and cheap["id"] == str(one["id"])
    assert over["code"] == "invalid_input" and over["retryable"] is False
    assert "0.001 s" in over["message"] and "more specific query" in over["message"]
    assert [r["error_code"] for r in audit_rows(sql, agent) if r["name"] == "search_clients"] == [
        None,
        "invalid_input",
    ]


async def test_a_huge_tool_name_or_uri_is_cut_in_the_reply_and_the_audit(make_agent, connect, sql):
    agent = await make_agent()  # no rights at all
    name = "x" * 3_500_000
    async with connect(agent) as c:
        result = await c.call_tool(name, {})
        with pytest.raises(Exception) as info:
            await c.read_resource(f"bizctx://{name}")
    assert len(result.content[0].text) < 1000 and error_of(result)["code"] in (
        "not_found",
        "permission_denied",
    )
    assert len(str(info.value)) < 2000
    for row in audit_rows(sql, agent):
        assert len(json.dumps(row, default=str)) < 10_000


async def test_a_redacted_field_cannot_be_set_so_no_conflict_tells_who_holds_it(make_agent, connect, sql):
    writer = await make_agent(**ALL_RIGHTS)
    masked = await make_agent(
        caps=["clients.read", "clients.write"],
        access={"clients": {"read": True, "write": True, "redact": ["email"]}},
        tenant=writer.tenant_name,
    )
    async with connect(writer) as c:
        await ok(c, "upsert_client", {"first_name": "Ann", "email": "ann@example.com"})
    async with connect(masked) as c:
        guess = await err(c, "upsert_client", {"first_name": "Eve", "email": "ann@example.com"})
        fresh = await err(c, "upsert_client", {"first_name": "Eve", "email": "nobody@example.com"})
    # The same answer whoever holds the address, naming no client.
    assert guess["code"] == fresh["code"] == "permission_denied" and "email" in guess["message"]
    assert "existing_client_id" not in guess and guess["message"] == fresh["message"]
    assert count(sql, "clients", writer.tenant_id) == 1


async def test_a_write_only_agent_gets_a_receipt_never_the_record(make_agent, make_tenant, connect, sql):
    tenant = await make_tenant(time_zone="America/New_York")
    clerk = await make_agent(
        caps=["appointments.write"], access={"appointments": {"write": True}}, tenant=tenant["name"]
    )
    biz = seed(sql, clerk.tenant_id)
    gone = insert_appointment(sql, biz, at(future_day(4), "10:00"), status="cancelled")
    live = insert_appointment(sql, biz, at(future_day(5), "10:00"))
    async with connect(clerk) as c:
        listed = {t.name: t for t in await all_tools(c)}
        noop = await ok(c, "cancel_appointment", {"appointment_id": str(gone)})
        args = {"appointment_id": str(live), "reason": "client asked", "idempotency_key": "cancel-live-1"}
        done = await ok(c, "cancel_appointment", args)
        again = await c.call_tool("cancel_appointment", args)
    for reply in (noop, done, again.structured_content):
        assert set(reply) == {"done", "entity_type", "entity_id", "note"}, reply
    assert noop["entity_id"] == str(gone) and done["entity_id"] == str(live)
    assert again.structured_content == done and (again.meta or {}).get("bizctx/replayed") is True
    schema = listed["cancel_appointment"].output_schema
    assert schema is not None and set(schema["properties"]) == set(done)
    status = sql.execute("SELECT status FROM appointments WHERE id = %s", (live,)).fetchone()["status"]
    assert status == "cancelled"


async def test_dates_at_the_end_of_the_calendar_are_invalid_input(make_agent, make_tenant, connect, sql):
    tenant = await make_tenant()
    agent = await make_agent(**ALL_RIGHTS, tenant=tenant["name"])
    biz = seed(sql, agent.tenant_id, tz="UTC")
    async with connect(agent) as c:
        far = {
            "client_id": str(biz.client),
            "service_id": str(biz.clean),
            "starts_at": "9999-12-31T23:30:00+00:00",
        }
        booking = await err(c, "book_appointment", far)
        slots = await err(
            c, "find_available_slots", {"service_id": str(biz.clean), "from": "9999-12-31T00:00:00+00:00"}
        )
    assert booking["code"] == slots["code"] == "invalid_input"


async def test_an_agent_cannot_hold_every_connection_with_calls_at_once(app, make_agent, connect, sql, dsn):
    greedy = await make_agent(**ALL_RIGHTS)
    other = await make_agent(**ALL_RIGHTS, tenant=greedy.tenant_name)
    app.guard.in_flight.limit, app.guard.in_flight.wait_seconds = 1, 0.5
    async with connect(greedy) as c:
        stuck = await ok(c, "upsert_client", {"first_name": "Stuck"})
        mine = await ok(c, "upsert_client", {"first_name": "Mine"})
    results: dict[str, dict] = {}
    with psycopg.connect(dsn, autocommit=False) as locker:
        locker.execute("SELECT 1 FROM clients WHERE id = %s FOR UPDATE", (stuck["id"],))

        async def slow() -> None:  # waits on the row lock, holding greedy's one turn
            async with connect(greedy) as c:
                results["slow"] = await ok(c, "upsert_client", {"client_id": stuck["id"], "last_name": "L"})

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow)
            await anyio.sleep(0.5)
            async with connect(greedy) as c:
                results["queued"] = await err(c, "get_client", {"client_id": mine["id"]})
            async with connect(other) as c:
                results["other"] = await ok(c, "get_client", {"client_id": mine["id"]})
            locker.rollback()
    assert results["queued"]["code"] == "rate_limited" and results["queued"]["limit"] == {
        "calls_in_flight": 1
    }
    assert results["other"]["id"] == mine["id"] and results["slow"]["last_name"] == "L"


async def test_costly_reads_take_turns_one_per_agent_and_a_few_per_server(app, make_agent, connect):
    greedy = await make_agent(**ALL_RIGHTS)
    other = await make_agent(**ALL_RIGHTS, tenant=greedy.tenant_name)
    third = await make_agent(**ALL_RIGHTS, tenant=greedy.tenant_name)
    turns = app.guard.in_flight
    turns.wait_seconds = 0.3
    turns.costly_limit, turns._costly = 2, asyncio.Semaphore(2)  # two at once on this server
    async with connect(greedy) as c:
        client = await ok(c, "upsert_client", {"first_name": "Ann"})
        # greedy's search is running (held here): its next one waits, then is refused ...
        async with turns.turn(greedy.id, costly=True):
            second = await err(c, "search_clients", {"query": "Ann"})
            cheap = await ok(c, "get_client", {"client_id": client["id"]})  # ... its cheap reads are not
            async with connect(other) as o:
                others = await ok(o, "search_clients", {"query": "Ann"})  # another agent's search runs
                async with turns.turn(other.id, costly=True):  # the server's two turns are taken
                    async with connect(third) as t:
                        full = await err(t, "search_clients", {"query": "Ann"})
    assert second["code"] == full["code"] == "rate_limited" and second["retry_after_s"] == 1
    assert second["limit"] == {"costly_reads_in_flight": {"agent": 1, "server": 2}}
    assert cheap["id"] == client["id"] and [x["id"] for x in others["clients"]] == [client["id"]]


async def test_an_agents_costly_reads_have_a_share_of_database_time(app, make_agent, connect, sql):
    greedy = await make_agent(**ALL_RIGHTS)
    other = await make_agent(**ALL_RIGHTS, tenant=greedy.tenant_name)
    app.guard.costly_time.seconds_per_minute = 0.001  # a millisecond a minute: one search spends it
    async with connect(greedy) as c:
        client = await ok(c, "upsert_client", {"first_name": "Ann"})
        first = await ok(c, "search_clients", {"query": "Ann"})
        spent = await err(c, "search_clients", {"query": "Ann"})
        cheap = await ok(c, "get_client", {"client_id": client["id"]})
    async with connect(other) as c:
        theirs = await ok(c, "search_clients", {"query": "Ann"})
    assert first["clients"] and theirs["clients"] and cheap["id"] == client["id"]
    assert spent["code"] == "rate_limited" and spent["retry_after_s"] >= 1
    assert spent["limit"] == {"costly_seconds_per_minute": 0.001}


async def test_an_agent_over_its_calls_per_minute_is_rate_limited_and_counted_not_logged_per_call(
    app, make_agent, connect, sql
):
    flooder = await make_agent(**ALL_RIGHTS)
    await operators.set_calls_per_minute(app.db, flooder.tenant_name, flooder.name, 5)
    other = await make_agent(**ALL_RIGHTS, tenant=flooder.tenant_name)
    app.guard.settings.rate_limited_seconds = 0  # paced refusals have their own test, below
    async with connect(flooder) as c:
        results = [await c.call_tool("list_tasks", {}) for _ in range(25)]
    async with connect(other) as c:
        theirs = [await c.call_tool("list_tasks", {}) for _ in range(10)]
    refused = [error_of(r) for r in results if r.is_error]
    assert sum(not r.is_error for r in results) == 5 and len(refused) == 20
    assert {e["code"] for e in refused} == {"rate_limited"}
    assert all(e["retry_after_s"] >= 1 and e["limit"] == {"calls_per_minute": 5} for e in refused)
    assert not any(r.is_error for r in theirs)  # another agent is not slowed down
    # Five audit rows for the calls that ran; the refusals become one row when flushed.
    assert len(audit_rows(sql, flooder)) == 5
    await app.guard.refusals.flush(app.db, everything=True)
    (summary,) = [r for r in audit_rows(sql, flooder) if r["error_code"] == "rate_limited"]
    assert summary["outcome"] == "blocked" and summary["arguments"]["refused_calls"] == 20
    assert summary["arguments"]["by_tool"] == {"list_tasks": 20}


async def test_a_refusal_is_answered_no_sooner_than_the_pace_and_others_are_not_held(
    app, make_agent, connect
):
    flooder = await make_agent(**ALL_RIGHTS)
    await operators.set_calls_per_minute(app.db, flooder.tenant_name, flooder.name, 1)
    other = await make_agent(**ALL_RIGHTS, tenant=flooder.tenant_name)
    app.guard.settings.rate_limited_seconds = 0.6
    loop = asyncio.get_running_loop()
    async with connect(flooder) as c, connect(other) as o:
        await ok(c, "list_tasks", {})
        refusals: list[float] = []
        others: list[float] = []

        async def refused() -> None:
            sent = loop.time()
            assert (await err(c, "list_tasks", {}))["code"] == "rate_limited"
            refusals.append(loop.time() - sent)

        async def theirs() -> None:
            await anyio.sleep(0.1)  # while the flooder's refusals are being held
            sent = loop.time()
            await ok(o, "list_tasks", {})
            others.append(loop.time() - sent)

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(refused)
            tg.start_soon(theirs)
    assert len(refusals) == 3 and min(refusals) >= 0.6
    (their_call,) = others
    assert their_call < 0.5  # held refusals take no turn and no connection from anybody


def serve_stdio(env: dict) -> subprocess.Popen:
    script = Path(sys.executable).with_name("bizctx")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bizctx.ops.cli"]
    return subprocess.Popen(
        [*command, "serve"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )


async def test_a_line_nested_past_any_parser_is_answered_and_the_server_keeps_running(
    make_agent, dsn, tmp_path
):
    agent = await make_agent(**ALL_RIGHTS)
    env = stdio_env(dsn, tmp_path, agent.key)

    def converse() -> list[dict]:
        process = serve_stdio(env)
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
            process.stdin.flush()
            process.stdout.readline()
            process.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
            process.stdin.write(b"[" * 5000 + b"\n")
            deep_call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_tasks"}}
            process.stdin.write(
                json.dumps(deep_call).encode()[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}\n"
            )
            process.stdin.write(b'{"jsonrpc":"2.0","id":3,"method":"tools/list"}\n')
            process.stdin.flush()
            return [json.loads(process.stdout.readline()) for _ in range(3)]
        finally:
            process.kill()
            process.wait()

    with anyio.fail_after(60):
        answers = await anyio.to_thread.run_sync(converse)
    assert answers[0]["error"]["code"] in (-32700, -32600)
    assert answers[1]["error"]["code"] in (-32700, -32600)
    assert answers[2]["id"] == 3 and answers[2]["result"]["tools"]  # still serving
    assert "pydantic" not in json.dumps(answers) and "Traceback" not in json.dumps(answers)


async def test_a_database_down_over_http_is_a_json_503_with_the_unavailable_code(own_postgres, tmp_path):  # noqa: F811
    migrations.migrate(own_postgres.dsn)
    settings = small_settings(own_postgres.dsn, tmp_path)
    async with open_app(settings, migrate=False) as app:
        tenant = await operators.create_tenant(app.db, "down-http")
        new = await operators.create_agent(
            app.db, tenant["name"], "agent", ["tasks.read"], parse_access_patterns({"tasks": {"read": True}})
        )
        async with running(app, "streamable-http") as base:
            await anyio.to_thread.run_sync(own_postgres.stop)
            async with http_client(new.key, **MCP_HEADERS) as http:
                response = await http.post(f"{base}/mcp", json=INITIALIZE)
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    body = response.json()
    assert body["error"]["code"] == "unavailable" and body["error"]["retryable"] is True
    assert "psycopg" not in response.text


async def test_an_sse_connection_with_a_bad_origin_logs_one_line_and_no_traceback(app, make_agent, caplog):
    agent = await make_agent(**ALL_RIGHTS)
    with caplog.at_level(logging.INFO):
        async with running(app, "sse") as base:
            async with http_client(agent.key, Origin="http://evil.example") as http:
                response = await http.get(f"{base}/sse")
    assert response.status_code == 403
    assert not [r for r in caplog.records if r.exc_info], [
        r.getMessage() for r in caplog.records if r.exc_info
    ]
    assert any("refused an SSE connection" in r.getMessage() for r in caplog.records)


async def test_one_agent_cannot_hold_every_http_session(app, make_agent):
    greedy = await make_agent(**ALL_RIGHTS)
    other = await make_agent(**ALL_RIGHTS, tenant=greedy.tenant_name)
    cap = app.settings.http_sessions_per_agent
    async with running(app, "streamable-http") as base:
        async with http_client(greedy.key, **MCP_HEADERS) as http:
            opened = [await http.post(f"{base}/mcp", json=INITIALIZE) for _ in range(cap + 2)]
        async with http_client(other.key, **MCP_HEADERS) as http:
            theirs = await http.post(f"{base}/mcp", json=INITIALIZE)
    assert [r.status_code for r in opened] == [200] * cap + [503, 503]
    assert theirs.status_code == 200


async def test_half_sent_requests_are_closed(app, make_agent, monkeypatch):
    import socket
    import time

    import uvicorn
    from test_transports import free_port

    from bizctx.server.http import HeaderDeadlineProtocol, build_http_app

    agent = await make_agent(**ALL_RIGHTS)
    monkeypatch.setattr(HeaderDeadlineProtocol, "HEADER_SECONDS", 1.0)
    app.settings.http_body_seconds = 1.0
    port = free_port()
    config = uvicorn.Config(
        build_http_app(app, transport="streamable-http", host="127.0.0.1"),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        http=HeaderDeadlineProtocol,
        timeout_keep_alive=60,  # not what closes the half-sent second request
    )
    server = uvicorn.Server(config)

    def until_closed(s: socket.socket, data: bytes) -> tuple[bytes, float]:
        """Send `data`; what comes back (b"" when the server closed the connection) and when."""
        s.sendall(data)
        s.settimeout(15)
        started = time.monotonic()
        try:
            received = s.recv(4096)
        except TimeoutError:
            received = b"<still open>"
        return received, time.monotonic() - started

    def half(data: bytes) -> tuple[bytes, float]:
        with socket.create_connection(("127.0.0.1", port)) as s:
            return until_closed(s, data)

    def after_a_first_request(data: bytes) -> tuple[bytes, float]:
        """Keep-alive: one whole request answered, then a half-sent second one."""
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            s.settimeout(15)
            first = b""
            while b"\r\n\r\n" not in first:
                first += s.recv(4096)
            head, _, body = first.partition(b"\r\n\r\n")
            length = int(
                next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))[15:]
            )
            while len(body) < length:
                body += s.recv(4096)
            assert head.startswith(b"HTTP/1.1 200"), first
            return until_closed(s, data)

    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.02)
        headers = await anyio.to_thread.run_sync(half, b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        body = await anyio.to_thread.run_sync(
            half,
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            + agent.key.encode()
            + b"\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
            b'Content-Length: 500\r\n\r\n{"jsonrpc":',
        )
        second = await anyio.to_thread.run_sync(after_a_first_request, b"POST /mcp HTTP/1.1\r\nHost: x\r\n")
        server.should_exit = True
    assert headers[0] != b"<still open>" and headers[1] < 5
    assert second[0] != b"<still open>" and second[1] < 5
    assert body[0] != b"<still open>" and body[1] < 5


async def test_malformed_envelopes_over_http_get_our_error_never_the_parsers(app, make_agent):
    agent = await make_agent(**ALL_RIGHTS)
    bodies = [
        b"{not json",
        b"[" * 5000 + b"]" * 5000,
        b'{"jsonrpc": "2.0", "id": 1, "method": 7}',
        b'{"jsonrpc": "1.0", "id": {"x": 1}, "method": "tools/list"}',
        b"[]",
    ]
    async with running(app, "streamable-http") as base:
        async with http_client(agent.key, **MCP_HEADERS) as http:
            replies = [await http.post(f"{base}/mcp", content=body) for body in bodies]
            alive = await http.post(f"{base}/mcp", json=INITIALIZE)
    for reply in replies:
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["code"] in (-32700, -32602, -32600), error
        assert "pydantic" not in reply.text and "validation error" not in reply.text.lower(), reply.text
        assert "fix it" in error["message"] or "not JSON" in error["message"]
    assert alive.status_code == 200
