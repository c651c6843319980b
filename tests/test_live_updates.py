"""Live updates through the official client: `subscriptions/listen` (2026-07-28) and the older
`resources/subscribe`, fed by the database (LISTEN/NOTIFY), so a change made through another
server process reaches a listener here; and never a word about what a listener may not read.

Tests wait generously for what must arrive (DESIGN: 10 s), and a fixed while for what must
not, after something else that must arrive has (so "nothing" is not just "not yet").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
import uuid
import warnings
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import anyio
import httpx2
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPError
from test_appointments import TZ, seed
from test_cli_and_stdio import bizctx_command
from test_transports import free_port, http_client

from bizctx.ops import operators
from bizctx.server.access import parse_access_patterns
from bizctx.server.app import build_server
from bizctx.server.live import parse_hints
from conftest import ok

pytestmark = pytest.mark.anyio

QUEUE = "bizctx://tasks/queue"
TODAY = "bizctx://appointments/today"
TASKS_ALL = {"tasks": {"read": True, "write": True, "scope": "all"}}
BOSS = {"caps": ["tasks.read", "tasks.write", "tasks.work"], "access": TASKS_ALL}
WORKER = {"caps": ["tasks.read", "tasks.work"], "access": {"tasks": {"read": True, "scope": "assigned"}}}
BOOKER = {
    "caps": ["clients.read", "clients.write", "appointments.read", "appointments.write"],
    "access": {"clients": {"read": True, "write": True}, "appointments": {"read": True, "write": True}},
}
WAIT = 10.0  # what must arrive
QUIET = 1.5  # what must not, after a control event has arrived


async def next_event(sub, timeout: float = WAIT):
    return await asyncio.wait_for(sub.__anext__(), timeout)


async def silent(sub, seconds: float = QUIET) -> None:
    with contextlib.suppress(TimeoutError):
        event = await asyncio.wait_for(sub.__anext__(), seconds)
        pytest.fail(f"expected no event, got {event}")


@pytest.fixture
async def tenant(make_tenant):
    return (await make_tenant(time_zone=TZ))["name"]


@contextlib.asynccontextmanager
async def http_server(dsn: str, tmp_path, **extra_env: str) -> AsyncIterator[str]:
    """`bizctx serve --transport streamable-http` in its own process, on this database."""
    port = free_port()
    env = {
        "DATABASE_URL": dsn,
        "BIZCTX_DATA_DIR": str(tmp_path),
        "PATH": os.environ.get("PATH", ""),
        "BIZCTX_EMBEDDING_PROVIDER": "none",
        "BIZCTX_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    process = subprocess.Popen(  # noqa: ASYNC220 (started once, stopped in finally)
        [*bizctx_command(), "serve", "--transport", "streamable-http", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with anyio.fail_after(60):
            while True:
                try:
                    async with http_client(None) as http:
                        if (await http.get(f"{base}/healthz")).status_code == 200:
                            break
                except httpx2.TransportError:
                    await anyio.sleep(0.2)
        yield f"{base}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_a_task_created_through_another_server_process_reaches_a_listener_here(
    make_agent, connect, dsn, tmp_path, tenant
):
    boss = await make_agent(tenant=tenant, **BOSS)
    worker = await make_agent(tenant=tenant, **BOSS)
    async with (
        http_server(dsn, tmp_path) as url,
        connect(worker) as c,
        c.listen(resource_subscriptions=[QUEUE]) as sub,
    ):
        async with (
            http_client(boss.key) as http,
            Client(streamable_http_client(url, http_client=http)) as other,
        ):
            started = time.monotonic()
            await ok(other, "create_task", {"type": "call_back", "title": "Call Ann back"})
        event = await next_event(sub)
        latency = time.monotonic() - started
    assert event == ResourceUpdated(uri=QUEUE)
    print(f"create_task on another process -> resources/updated here: {latency * 1000:.0f} ms")


async def test_a_listener_is_told_only_of_tasks_its_queue_shows(make_agent, connect, tenant):
    boss = await make_agent(tenant=tenant, **BOSS)
    mine = await make_agent(tenant=tenant, **WORKER)
    other = await make_agent(tenant=tenant, **WORKER)
    async with (
        connect(boss) as b,
        connect(mine) as m,
        m.listen(resource_subscriptions=[QUEUE]) as sub,
        connect(other) as watcher,
        watcher.listen(resource_subscriptions=[QUEUE]) as control,
    ):
        # Assigned to the other worker: in its queue, outside `mine`'s scope and queue.
        await ok(b, "create_task", {"type": "t", "title": "theirs", "assignee_agent_id": str(other.id)})
        assert await next_event(control) == ResourceUpdated(uri=QUEUE)
        await silent(sub)
        made = await ok(b, "create_task", {"type": "t", "title": "mine", "assignee_agent_id": str(mine.id)})
        assert await next_event(sub) == ResourceUpdated(uri=QUEUE)
    assert made["id"]


async def test_an_agent_without_the_right_hears_nothing_and_may_still_listen(make_agent, connect, tenant):
    boss = await make_agent(tenant=tenant, **BOSS)
    booker = await make_agent(tenant=tenant, **BOOKER)  # no tasks.read
    async with (
        connect(boss) as b,
        b.listen(resource_subscriptions=[QUEUE]) as control,
        connect(booker) as n,
        n.listen(
            resource_subscriptions=[QUEUE, "bizctx://tasks/00000000-0000-0000-0000-000000000000"]
        ) as sub,
    ):
        await ok(b, "create_task", {"type": "t", "title": "hidden"})
        assert await next_event(control) == ResourceUpdated(uri=QUEUE)
        await silent(sub)


async def test_a_task_status_change_reaches_the_task_listener(make_agent, connect, tenant):
    boss = await make_agent(tenant=tenant, **BOSS)
    async with connect(boss) as b:
        task = await ok(b, "create_task", {"type": "t", "title": "watch me"})
        uri = f"bizctx://tasks/{task['id']}"
        async with b.listen(resource_subscriptions=[uri]) as sub:
            await ok(b, "claim_next_task", {})
            assert await next_event(sub) == ResourceUpdated(uri=uri)


async def test_another_tenant_hears_nothing(make_agent, connect, tenant):
    boss = await make_agent(tenant=tenant, **BOSS)
    stranger = await make_agent(**BOSS)  # its own tenant
    async with (
        connect(boss) as b,
        b.listen(resource_subscriptions=[QUEUE]) as control,
        connect(stranger) as s,
        s.listen(resource_subscriptions=[QUEUE]) as sub,
    ):
        await ok(b, "create_task", {"type": "t", "title": "ours"})
        assert await next_event(control) == ResourceUpdated(uri=QUEUE)
        await silent(sub)


async def test_todays_schedule_fires_for_a_booking_today_and_not_for_next_week(
    make_agent, connect, sql, tenant
):
    booker = await make_agent(tenant=tenant, **BOOKER)
    biz = seed(sql, booker.tenant_id, hours=("00:00", "23:59"))
    now = datetime.now(ZoneInfo(TZ))
    today_slot = (now + timedelta(minutes=5)).replace(second=0, microsecond=0)
    if today_slot.date() != now.date() or today_slot.hour >= 22:  # too late today to book
        pytest.skip("too close to midnight in the business's zone to book today")
    base = {"client_id": str(biz.client), "service_id": str(biz.windows)}
    async with connect(booker) as c, c.listen(resource_subscriptions=[TODAY]) as sub:
        await ok(c, "book_appointment", {**base, "starts_at": (today_slot + timedelta(days=7)).isoformat()})
        await silent(sub)
        await ok(c, "book_appointment", {**base, "starts_at": today_slot.isoformat()})
        assert await next_event(sub) == ResourceUpdated(uri=TODAY)


async def test_a_change_to_a_redacted_field_does_not_reach_the_client_context(
    make_agent, connect, sql, tenant
):
    booker = await make_agent(tenant=tenant, **BOOKER)
    redacted = await make_agent(
        tenant=tenant, caps=["clients.read"], access={"clients": {"read": True, "redact": ["email"]}}
    )
    biz = seed(sql, booker.tenant_id)
    uri = f"bizctx://clients/{biz.client}/context"
    client_id = str(biz.client)
    async with (
        connect(booker) as c,
        c.listen(resource_subscriptions=[uri]) as control,
        connect(redacted) as r,
        r.listen(resource_subscriptions=[uri]) as sub,
    ):
        await ok(c, "upsert_client", {"client_id": client_id, "email": "ann.new@example.com"})
        assert await next_event(control) == ResourceUpdated(uri=uri)
        await silent(sub)
        await ok(c, "upsert_client", {"client_id": client_id, "last_name": "Leigh"})
        assert await next_event(sub) == ResourceUpdated(uri=uri)


async def test_an_operator_changing_rights_changes_only_that_agents_lists(app, make_agent, connect, tenant):
    changed = await make_agent(tenant=tenant, **BOSS)
    same = await make_agent(tenant=tenant, **BOSS)
    lists = {"tools_list_changed": True, "resources_list_changed": True, "prompts_list_changed": True}
    async with (
        connect(changed) as a,
        a.listen(**lists) as sub,
        connect(same) as b,
        b.listen(**lists) as unchanged,
    ):
        await operators.revoke(app.db, tenant, changed.name, ["tasks.write"])
        got = {await next_event(sub) for _ in range(3)}
        assert got == {ToolsListChanged(), ResourcesListChanged(), PromptsListChanged()}
        await silent(unchanged)
        tools = {t.name for t in (await a.list_tools()).tools}
    assert "create_task" not in tools


async def test_older_protocol_versions_subscribe_to_resources(app, make_agent, tenant):
    boss = await make_agent(tenant=tenant, **BOSS)
    heard: list[str] = []
    told = anyio.Event()

    async def on_message(message) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == "notifications/resources/updated":
            heard.append(str(root.params.uri))
            told.set()

    server = build_server(app, lambda ctx: boss.principal)
    async with Client(server, mode="legacy", message_handler=on_message) as c:
        caps = c.server_capabilities
        assert caps.resources.subscribe and caps.resources.list_changed and caps.tools.list_changed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await c.subscribe_resource(QUEUE)
        await ok(c, "create_task", {"type": "t", "title": "old client"})
        with anyio.fail_after(WAIT):
            await told.wait()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(MCPError):
                await c.subscribe_resource("bizctx://no/such/thing")
    assert heard == [QUEUE]


async def test_an_agent_holds_at_most_its_cap_of_listeners(app, make_agent, connect, tenant):
    boss = await make_agent(tenant=tenant, **BOSS)
    async with connect(boss) as c, contextlib.AsyncExitStack() as stack:
        for _ in range(app.settings.listeners_per_agent):
            await stack.enter_async_context(c.listen(resource_subscriptions=[QUEUE]))
        with pytest.raises(MCPError, match="live-update listeners"):
            async with c.listen(resource_subscriptions=[QUEUE]):
                pass


async def test_a_listener_follows_at_most_a_hundred_resources(make_agent, connect, tenant):
    boss = await make_agent(tenant=tenant, **BOSS)
    many = [f"bizctx://tasks/{uuid.uuid4()}" for _ in range(101)]
    async with connect(boss) as c:
        async with c.listen(resource_subscriptions=many[:100]):
            pass
        with pytest.raises(MCPError, match="at most 100 resources"):
            async with c.listen(resource_subscriptions=many):
                pass


async def test_a_disabled_agent_is_told_nothing(app, make_agent, connect, tenant):
    boss = await make_agent(tenant=tenant, **BOSS)
    other = await make_agent(tenant=tenant, **BOSS)
    async with (
        connect(boss) as b,
        b.listen(resource_subscriptions=[QUEUE]) as control,
        connect(other) as o,
        o.listen(resource_subscriptions=[QUEUE]) as sub,
    ):
        await operators.set_access_patterns(app.db, tenant, other.name, parse_access_patterns({}))
        with anyio.fail_after(WAIT):  # this server has heard of the change (a NOTIFY of its own)
            while (await app.directory.get(other.tenant_id, other.id)).access.allows("tasks", "read"):
                await anyio.sleep(0.05)
        await ok(b, "create_task", {"type": "t", "title": "after the change"})
        assert await next_event(control) == ResourceUpdated(uri=QUEUE)
        await silent(sub)


# -- from the hostile review -------------------------------------------------------------------


async def test_an_import_tells_the_listeners_of_what_it_changed(app, make_agent, connect, tenant, tmp_path):
    from test_import import load, write

    reader = await make_agent(tenant=tenant, caps=["clients.read"], access={"clients": {"read": True}})
    header = "external_ref,first_name,last_name\n"
    await load(app, tenant, "clients", write(tmp_path, "a.csv", header + "C-1,Ann,Lee\n"))
    async with connect(reader) as c:
        (hit,) = (await ok(c, "search_clients", {"query": "Ann Lee"}))["clients"]
        uri = f"bizctx://clients/{hit['id']}/context"
        async with c.listen(resource_subscriptions=[uri]) as sub:
            result = await load(app, tenant, "clients", write(tmp_path, "b.csv", header + "C-1,Ann,Leigh\n"))
            assert result.updated == 1
            assert await next_event(sub) == ResourceUpdated(uri=uri)


async def test_an_opt_out_changes_the_clients_context(make_agent, connect, sql, tenant):
    booker = await make_agent(tenant=tenant, **BOOKER)
    biz = seed(sql, booker.tenant_id)
    uri = f"bizctx://clients/{biz.client}/context"
    async with connect(booker) as c, c.listen(resource_subscriptions=[uri]) as sub:
        await ok(c, "set_client_preference", {"client_id": str(biz.client), "key": "opt_out", "value": "sms"})
        assert await next_event(sub) == ResourceUpdated(uri=uri)


async def test_a_task_taken_from_a_worker_changes_its_queue(app, make_agent, connect, tenant, dsn):
    boss = await make_agent(tenant=tenant, **BOSS)
    first = await make_agent(tenant=tenant, **WORKER)
    second = await make_agent(tenant=tenant, **WORKER)
    async with connect(boss) as b:
        task = await ok(
            b, "create_task", {"type": "t", "title": "move me", "assignee_agent_id": str(first.id)}
        )
    # The trigger names the assignee a task had when it is given to another.
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE tasks SET assignee_agent_id = %s WHERE id = %s", (second.id, task["id"]))
        (hints,) = conn.execute("SELECT current_setting('bizctx.live', true)").fetchone()
        conn.rollback()
    (line,) = [h for h in hints.splitlines() if task["id"] in h]
    assert line.endswith(f"|{first.id}")
    # The first worker's queue changed although the task is out of its sight now.
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE tasks SET assignee_agent_id = %s WHERE id = %s", (second.id, task["id"]))
    taken, other = parse_hints(line), parse_hints(line.rsplit("|", 1)[0] + "|")
    assert await app.live.changed_for(first.tenant_id, first.id, taken, {QUEUE}) == {QUEUE}
    assert await app.live.changed_for(first.tenant_id, first.id, other, {QUEUE}) == set()


async def test_publishing_survives_the_database_being_away(app, make_agent, connect, tenant, monkeypatch):
    from bizctx.server.errors import Unavailable

    boss = await make_agent(tenant=tenant, **BOSS)
    real, failures = app.db.publish, []

    async def flaky(hints: str) -> None:
        if not failures:
            failures.append(hints)
            raise Unavailable("The database is busy")
        await real(hints)

    monkeypatch.setattr(app.db, "publish", flaky)
    async with connect(boss) as b, b.listen(resource_subscriptions=[QUEUE]) as sub:
        await ok(b, "create_task", {"type": "t", "title": "after an outage"})
        assert await next_event(sub) == ResourceUpdated(uri=QUEUE)  # sent again, not lost
        await ok(b, "create_task", {"type": "t", "title": "and after that"})
        assert await next_event(sub) == ResourceUpdated(uri=QUEUE)
    assert failures


def test_a_forged_hint_is_dropped_alone():
    tenant, task = uuid.uuid4(), uuid.uuid4()
    good = f"{tenant}|tasks|{task}||"
    payload = "\n".join([f"{tenant}|tasks|not-a-uuid||", f"{tenant}|nosuch|{task}||", "junk", good])
    assert [(h.domain, h.row_id) for h in parse_hints(payload)] == [("tasks", str(task))]


async def test_many_tasks_at_once_fire_only_tasks_the_listener_can_see(app, make_agent, connect, tenant):
    boss = await make_agent(tenant=tenant, **BOSS)
    worker = await make_agent(tenant=tenant, **WORKER)  # scope: assigned
    async with connect(boss) as b:
        hidden = await ok(b, "create_task", {"type": "t", "title": "not yours"})
        mine = await ok(
            b, "create_task", {"type": "t", "title": "yours", "assignee_agent_id": str(worker.id)}
        )
    star = parse_hints(f"{worker.tenant_id}|tasks|*||")
    uris = {f"bizctx://tasks/{hidden['id']}", f"bizctx://tasks/{mine['id']}", QUEUE, TODAY}
    changed = await app.live.changed_for(worker.tenant_id, worker.id, star, uris)
    assert changed == {f"bizctx://tasks/{mine['id']}", QUEUE}
