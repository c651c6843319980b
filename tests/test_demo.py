"""`bizctx demo`: a realistic business, seeded once, whose three agents each can do their
job and nothing else."""

from __future__ import annotations

import json
import stat
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest
from mcp import Client

from bizctx.ops import demo
from bizctx.server import migrations
from bizctx.server.app import build_server, open_app
from bizctx.server.errors import OperatorError
from bizctx.server.guard import Principal
from bizctx.server.settings import Settings
from conftest import error_of

pytestmark = pytest.mark.anyio

COUNTS = """
SELECT (SELECT count(*) FROM clients) AS clients,
       (SELECT count(*) FROM appointments WHERE series_id IS NULL) AS appointments,
       (SELECT count(*) FROM appointments WHERE series_id IS NOT NULL) AS series_appointments,
       (SELECT count(*) FROM appointment_series) AS series,
       (SELECT count(*) FROM subscriptions) AS subscriptions,
       (SELECT count(*) FROM invoices) AS invoices, (SELECT count(*) FROM tasks) AS tasks,
       (SELECT count(*) FROM mem_docs) AS mem_docs, (SELECT count(*) FROM agents) AS agents,
       (SELECT count(*) FROM resources WHERE kind = 'staff') AS staff,
       (SELECT count(*) FROM services) AS services
"""


@pytest.fixture
def demo_settings(new_database, tmp_path) -> Settings:
    dsn = new_database()
    migrations.migrate(dsn)
    return Settings(database_url=dsn, data_dir=tmp_path, log_level="WARNING")


def counts(dsn: str) -> dict:
    with psycopg.connect(dsn, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(COUNTS).fetchone()


async def seed(settings: Settings) -> dict[str, str]:
    async with open_app(settings, migrate=False) as app:
        keys = await demo.seed(app, demo.read_keys(settings.data_dir))
    demo.write_keys(settings.data_dir, keys)
    return keys


async def test_the_demo_is_realistic_and_seeding_twice_adds_nothing(demo_settings):
    keys = await seed(demo_settings)
    first = counts(demo_settings.database_url)
    again = await seed(demo_settings)
    assert again == keys
    assert counts(demo_settings.database_url) == first
    assert first["clients"] >= 200 and first["staff"] == 6 and first["services"] >= 5
    assert first["mem_docs"] >= 100 and first["agents"] == 3
    path = demo.keys_path(demo_settings.data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == keys
    with psycopg.connect(demo_settings.database_url) as conn:
        statuses = lambda table: {r[0] for r in conn.execute(f"SELECT DISTINCT status FROM {table}")}  # noqa: E731
        assert statuses("invoices") == {"draft", "open", "partial", "paid", "void"}
        assert statuses("tasks") == {
            "pending",
            "awaiting_approval",
            "claimed",
            "completed",
            "failed",
            "dead",
            "cancelled",
        }
        overdue = conn.execute(
            "SELECT count(*) FROM invoices WHERE status IN ('open', 'partial') AND due_date < current_date"
        ).fetchone()[0]
        assert overdue > 0
        assert conn.execute("SELECT count(*) FROM opt_outs").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM clients WHERE time_zone IS NOT NULL").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM resource_unavailability").fetchone()[0] > 0
        past, future = conn.execute(
            "SELECT count(*) FILTER (WHERE starts_at < now()), count(*) FILTER (WHERE starts_at > now()) "
            "FROM appointments"
        ).fetchone()
        assert past > 50 and future > 50
        # Through the front door: what the agents did, each did through the tools, audited.
        done = {
            (r[0], r[1])
            for r in conn.execute(
                "SELECT a.name, l.name FROM audit_logs l JOIN agents a ON a.tenant_id = l.tenant_id "
                "AND a.id = l.agent_id WHERE l.outcome = 'ok'"
            )
        }
        assert {
            ("front-desk", "log_interaction"),
            ("billing", "create_task"),
            ("operations", "claim_next_task"),
            ("operations", "decide_approval"),
            ("operations", "remember"),
        } <= done
        by_hand = conn.execute(
            "SELECT (SELECT count(*) FROM client_interactions WHERE agent_id IS NULL) "
            "+ (SELECT count(*) FROM tasks WHERE created_by_agent_id IS NULL)"
        ).fetchone()[0]
        assert by_hand == 0 and conn.execute("SELECT count(*) FROM client_interactions").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM client_segment_memberships").fetchone()[0] >= 150
        # The approval gate: billing's void waits for operations (the default policy holds it).
        held = conn.execute(
            "SELECT c.tool, a.name, t.status FROM approval_calls c JOIN tasks t ON t.id = c.task_id "
            "JOIN agents a ON a.tenant_id = c.tenant_id AND a.id = c.requested_by_agent_id"
        ).fetchall()
        assert held == [("void_invoice", "billing", "awaiting_approval")]
        # A collections ladder runs on an overdue invoice, its due step queued as a task.
        ladders = conn.execute(
            "SELECT c.status, count(*) FILTER (WHERE s.status = 'queued') FROM collections c "
            "JOIN collection_steps s ON s.collection_id = c.id GROUP BY c.id, c.status"
        ).fetchall()
        assert [status for status, _ in ladders] == ["active"] and ladders[0][1] == 1
        assert conn.execute("SELECT count(*) FROM message_templates").fetchone()[0] >= 7
        # The last visits were delivered and rated, through the front desk's tools.
        rated = conn.execute(
            "SELECT a.status, f.overall_rating FROM appointment_feedback f JOIN service_deliveries d"
            " ON d.tenant_id = f.tenant_id AND d.appointment_id = f.appointment_id"
            " JOIN appointments a ON a.tenant_id = f.tenant_id AND a.id = f.appointment_id"
            " ORDER BY a.starts_at"
        ).fetchall()
        assert [status for status, _ in rated] == ["completed"] * 3 and {r for _, r in rated} == {5, 2, 4}
        assert {("front-desk", "record_delivery"), ("front-desk", "record_feedback")} <= done
        # Recurring visits booked as series, and two clients on plans the billing run bills.
        series = conn.execute(
            "SELECT s.frequency, count(a.id) FROM appointment_series s JOIN appointments a"
            " ON a.tenant_id = s.tenant_id AND a.series_id = s.id GROUP BY s.id, s.frequency ORDER BY 1, 2"
        ).fetchall()
        assert [f for f, _ in series] == ["biweekly", "weekly", "weekly"] and all(n >= 1 for _, n in series)
        plans = conn.execute(
            "SELECT billing_interval, status, next_billing_on = starts_on FROM subscriptions ORDER BY 1"
        ).fetchall()
        assert plans == [("month", "active", True), ("quarter", "active", True)]
        assert {("front-desk", "book_series"), ("billing", "create_subscription")} <= done
        # A small hierarchy, and goals under one, each measured by a KPI and owned by an agent.
        team = conn.execute(
            "SELECT a.name, a.role, p.name FROM agents a"
            " LEFT JOIN agents p ON p.id = a.parent_agent_id ORDER BY 1"
        ).fetchall()
        assert team == [
            ("billing", "specialist", "operations"),
            ("front-desk", "specialist", "operations"),
            ("operations", "orchestrator", None),
        ]
        goals = conn.execute(
            "SELECT g.name, g.kpi, p.name, o.name FROM goals g LEFT JOIN goals p ON p.id = g.parent_goal_id"
            " LEFT JOIN agents o ON o.id = g.responsible_agent_id ORDER BY g.kpi NULLS FIRST"
        ).fetchall()
        assert [(kpi, parent) for _, kpi, parent, _ in goals] == [
            (None, None),
            ("new_clients", "Grow the business"),
            ("no_show_rate", "Grow the business"),
            ("revenue_collected", "Grow the business"),
        ]
        assert {owner for *_, owner in goals} == {"operations", "front-desk", "billing"}


async def test_a_seeding_that_stopped_half_way_is_finished_by_the_next_without_duplicates(
    demo_settings, monkeypatch
):
    memory_calls = demo.demo_data.memory_calls

    def stop_after_ten(business, clients):
        return [*memory_calls(business, clients)[:10], ("operations", "remember", {"content": ""})]

    monkeypatch.setattr(demo.demo_data, "memory_calls", stop_after_ten)
    with pytest.raises(OperatorError, match="operations could not remember"):
        await seed(demo_settings)
    monkeypatch.setattr(demo.demo_data, "memory_calls", memory_calls)
    await seed(demo_settings)

    business = demo.demo_data.build(datetime.now(ZoneInfo(demo.TIME_ZONE)).date(), demo.TIME_ZONE)
    found = counts(demo_settings.database_url)
    # Its tasks, the approval task that holds billing's void, and the collections ladder's due step.
    assert found["tasks"] == len(business.tasks) + 2 and found["mem_docs"] == len(business.memories)
    assert found["appointments"] == len(business.rows["appointments"])
    assert (found["series"], found["subscriptions"]) == (3, 2) and 3 <= found["series_appointments"] <= 16
    assert found["invoices"] == len(business.rows["invoices"])
    with psycopg.connect(demo_settings.database_url) as conn:
        logged = conn.execute("SELECT count(*) FROM client_interactions").fetchone()[0]
    assert logged == len(business.interactions)


# (agent, a tool it may call with its arguments, a tool it lacks)
JOBS = [
    ("front-desk", ("search_clients", {"query": "smith"}), "create_invoice"),
    ("front-desk", ("list_templates", {}), "claim_due_reminders"),
    ("billing", ("list_invoices", {"overdue_only": True}), "decide_approval"),
    ("operations", ("list_tasks", {}), "upsert_client"),
    # Sends the reminders: reads the templates, claims due reminders (reading their clients).
    ("operations", ("list_templates", {"category": "reminder"}), "create_invoice"),
]


async def test_every_demo_agent_can_do_its_job_and_nothing_else(demo_settings):
    keys = await seed(demo_settings)
    async with open_app(demo_settings, migrate=False) as app:
        for name, (tool, args), lacking in JOBS:
            agent = await app.directory.by_key(keys[name])
            principal = Principal(agent.tenant_id, agent.id, "memory")
            async with Client(build_server(app, lambda ctx, p=principal: p)) as client:
                allowed = await client.call_tool(tool, args)
                denied = await client.call_tool(lacking, {})
                tools = {t.name for t in (await client.list_tools()).tools}
            assert not allowed.is_error, (name, allowed.content[0].text)
            assert denied.is_error and error_of(denied)["code"] == "permission_denied"
            assert tool in tools and lacking not in tools
            if tool == "search_clients":
                hits = allowed.structured_content["clients"]
                assert hits and all("email" not in h and "phone" not in h for h in hits)
            if tool == "list_invoices":
                assert allowed.structured_content["invoices"]
            if tool == "list_templates":
                assert allowed.structured_content["templates"]


async def test_operations_recalls_demo_memories_by_meaning(demo_settings):
    keys = await seed(demo_settings)
    async with open_app(demo_settings, migrate=False) as app:
        agent = await app.directory.by_key(keys["operations"])
        result = await app.guard.call_tool(
            Principal(agent.tenant_id, agent.id, "memory"),
            "recall",
            {"query": "what if a cat is loose", "k": 3},
        )
    assert not result.is_error, result.content[0].text
    hits = (
        result.structured_content["hits"]
        if "hits" in result.structured_content
        else result.structured_content
    )
    assert any("pet" in json.dumps(h).lower() or "cat" in json.dumps(h).lower() for h in hits)


async def test_operations_reads_the_goals_and_brings_the_dead_task_back(demo_settings):
    keys = await seed(demo_settings)
    with psycopg.connect(demo_settings.database_url) as conn:
        (dead,) = conn.execute("SELECT id FROM tasks WHERE status = 'dead'").fetchone()
    async with open_app(demo_settings, migrate=False) as app:
        agent = await app.directory.by_key(keys["operations"])
        principal = Principal(agent.tenant_id, agent.id, "memory")
        listed = await app.guard.call_tool(principal, "list_goals", {})
        retried = await app.guard.call_tool(principal, "retry_dead_task", {"task_id": str(dead)})
        directory = await app.guard.call_tool(principal, "list_agents", {})
    assert not listed.is_error and not retried.is_error, (listed.content, retried.content)
    progress = {g["name"]: g["progress"] for g in listed.structured_content["goals"]}
    assert progress["Grow the business"] is None
    assert progress["Twenty new clients a month"]["value"] == "200"  # the demo's clients, all new
    assert progress["Collect this month's invoices"]["percent_of_target"] is not None
    assert (retried.structured_content["status"], retried.structured_content["attempts"]) == ("pending", 0)
    roles = {a["name"]: (a["role"], a["parent_name"]) for a in directory.structured_content["agents"]}
    assert roles["front-desk"] == ("specialist", "operations")
