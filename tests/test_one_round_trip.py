"""A read answered by one read commits with it (issue 19, part 5): get_client's audit row and
COMMIT ride with its statement (get_client_context's with its statements, sent together), so
the call waits for PostgreSQL once; a client it does not find never commits a row that says
`ok`.

Round trips are counted in libpq's own trace of the agents' one pooled connection: each Sync
the server sent is one wait for PostgreSQL's answers (BEGIN, the opening and the statements
sent before it go out with it)."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import psycopg
import pytest
from pydantic import BaseModel

from bizctx.ops import policies
from bizctx.server.audit import AuditEntry, write_audit
from bizctx.server.database import Database, NoRow
from bizctx.server.guard import Call
from bizctx.server.queries import QueryRef
from bizctx.server.registry import Domain
from bizctx.server.settings import Settings
from conftest import ALL_RIGHTS, audit_rows, error_of, ok

pytestmark = pytest.mark.anyio

READ = {"caps": ["clients.read"], "access": {"clients": {"read": True}}}
WRITE = {"caps": ["clients.read", "clients.write"], "access": {"clients": {"read": True, "write": True}}}
GET_CLIENT = QueryRef("clients", "get_client")
GET_TENANT = QueryRef("self", "get_tenant")


@pytest.fixture
def settings(dsn: str, tmp_path: Path) -> Settings:
    # One pooled connection for agent calls: the one the trace watches.
    return Settings(
        database_url=dsn, data_dir=tmp_path, pool_min_size=1, pool_max_size=1, log_level="WARNING"
    )


@contextlib.asynccontextmanager
async def traced(db: Database, path: Path):
    """libpq's trace of the agents' pooled connection while the block runs."""
    async with db.pool.connection() as conn:
        pgconn = conn.pgconn
    with path.open("w") as out:
        pgconn.trace(out.fileno())
        try:
            yield
        finally:
            pgconn.untrace()


def syncs(path: Path) -> int:
    """The Sync messages the server sent to PostgreSQL: its waits for answers."""
    return sum(1 for line in path.read_text().splitlines() if "\tF\t" in line and line.endswith("\tSync"))


async def test_get_client_waits_for_the_database_once_and_is_audited_ok(
    app, make_agent, connect, sql, tmp_path
):
    writer = await make_agent(**WRITE)
    reader = await make_agent(**READ, tenant=writer.tenant_name)
    async with connect(writer) as w:
        client = await ok(w, "upsert_client", {"first_name": "Ann", "last_name": "Lee"})
    async with connect(reader) as c:
        await ok(c, "get_client", {"client_id": client["id"]})  # the connection's statements prepared
        async with traced(app.db, tmp_path / "get.trace"):
            got = await ok(c, "get_client", {"client_id": client["id"]})
        await ok(c, "get_client_context", {"client_id": client["id"]})
        async with traced(app.db, tmp_path / "context.trace"):
            context = await ok(c, "get_client_context", {"client_id": client["id"]})
        await ok(c, "list_interactions", {"client_id": client["id"]})
        async with traced(app.db, tmp_path / "interactions.trace"):
            await ok(c, "list_interactions", {"client_id": client["id"]})
    assert got["id"] == client["id"] and got["first_name"] == "Ann"
    assert syncs(tmp_path / "get.trace") == 1
    # The client and every section of its context the agent may read, sent together (Tx.many).
    assert syncs(tmp_path / "context.trace") == 1
    assert context["client"]["id"] == client["id"] and "open_invoices" in context["withheld"]
    # A read whose second statement waits for the first's answer, then for its COMMIT.
    assert syncs(tmp_path / "interactions.trace") >= 2
    rows = [r for r in audit_rows(sql, reader) if r["name"] == "get_client"]
    assert [(r["outcome"], r["error_code"]) for r in rows] == [("ok", None), ("ok", None)]
    for row in rows:
        assert (row["entity_type"], row["entity_id"]) == ("client", client["id"])
        assert row["arguments"] == {"client_id": client["id"]}
        # Its time until the statement went out, plus the transaction's time in the database.
        assert row["duration_ms"] > 0


async def test_every_one_read_tool_is_answered_in_one_round_trip(app, make_agent, connect, sql, tmp_path):
    """Each tool declared one_read that needs no argument (the lists), called with its defaults:
    one Sync, and an `ok` row. One that read a second time would fail (Tx refuses it)."""
    agent = await make_agent(**ALL_RIGHTS)
    tools = [
        spec
        for spec in app.guard.registry.tools.values()
        if spec.one_read and not any(f.is_required() for f in spec.input_model.model_fields.values())
    ]
    assert len(tools) >= 5, [t.name for t in tools]
    async with connect(agent) as c:
        for spec in tools:
            await ok(c, spec.name, {})  # its statement prepared on the connection
            async with traced(app.db, tmp_path / f"{spec.name}.trace"):
                await ok(c, spec.name, {})
            assert syncs(tmp_path / f"{spec.name}.trace") == 1, spec.name
    outcomes = {(r["name"], r["outcome"]) for r in audit_rows(sql, agent)}
    assert outcomes == {(spec.name, "ok") for spec in tools}


async def test_a_client_not_found_commits_nothing_and_is_audited_not_found(
    app, make_agent, connect, sql, tmp_path
):
    other = await make_agent(**WRITE)
    reader = await make_agent(**READ)
    async with connect(other) as o:
        theirs = await ok(o, "upsert_client", {"first_name": "Bo", "last_name": "Diaz"})
    missing = str(uuid.uuid4())
    async with connect(reader) as c:
        absent = await c.call_tool("get_client", {"client_id": missing})
        # Another tenant's client is not there either (row-level security), said the same way.
        hidden = await c.call_tool("get_client", {"client_id": theirs["id"]})
        again = await c.call_tool("get_client", {"client_id": missing})
        context = await c.call_tool("get_client_context", {"client_id": missing})
    assert error_of(absent)["code"] == "not_found"
    assert absent.content[0].text == f"not_found: No client {missing}; find clients with search_clients."
    assert error_of(hidden)["code"] == "not_found" and theirs["id"] in hidden.content[0].text
    # The connection was rolled back and served the next call (the pool has one).
    assert error_of(again)["code"] == "not_found"
    assert context.content[0].text == absent.content[0].text
    rows = audit_rows(sql, reader)
    assert [(r["outcome"], r["error_code"], r["entity_id"]) for r in rows] == [
        ("error", "not_found", missing),
        ("error", "not_found", theirs["id"]),
        ("error", "not_found", missing),
        ("error", "not_found", missing),
    ]


async def test_a_policy_on_get_client_is_checked_before_its_statement(
    app, make_agent, connect, sql, tmp_path
):
    """A policy's check reads first (a limit takes its use under a lock), so the call is no
    longer one read: it waits more than once, and its limit is counted as for any call."""
    writer = await make_agent(**WRITE)
    reader = await make_agent(**READ, tenant=writer.tenant_name)
    async with connect(writer) as w:
        client = await ok(w, "upsert_client", {"first_name": "Cy", "last_name": "Ode"})
    await policies.add_policy(
        app.db,
        reader.tenant_name,
        policies.NewPolicy(tool="get_client", effect="limit", max_calls=2, window="1h", per="agent"),
        "tests",
    )
    async with connect(reader) as c:
        await ok(c, "get_client", {"client_id": client["id"]})
        async with traced(app.db, tmp_path / "limited.trace"):
            await ok(c, "get_client", {"client_id": client["id"]})
        third = await c.call_tool("get_client", {"client_id": client["id"]})
    assert syncs(tmp_path / "limited.trace") > 1
    assert error_of(third)["code"] == "rate_limited"  # one agent's limit
    # (a refusal of a limit is counted, and written once a minute, not per call)
    outcomes = [r["outcome"] for r in audit_rows(sql, reader) if r["name"] == "get_client"]
    assert outcomes == ["ok", "ok"]


async def test_theone_probe_read_commits_the_transaction_and_nothing_may_follow(app, make_agent, sql):
    agent = await make_agent(**READ)
    async with app.db.agent_tx(agent.tenant_id, agent.id) as tx:
        tx.commit_with_next_read()
        tenant = await tx.one(GET_TENANT)
        assert tx.committed and tenant is not None
        with pytest.raises(RuntimeError, match="committed with its one read"):
            await tx.one(GET_TENANT)
    # What it found nothing for rolled back, and the connection is clean for the next call.
    with pytest.raises(NoRow):
        async with app.db.agent_tx(agent.tenant_id, agent.id) as tx:
            tx.commit_with_next_read()
            await tx.one(GET_CLIENT, client_id=uuid.uuid4())
    # Another error of the batch (here the opening's: the tenant's policies changed, BZ010)
    # raises from the read, and the deferred row never commits.
    with pytest.raises(psycopg.Error) as stale:
        async with app.db.agent_tx(agent.tenant_id, agent.id, policy_version=10**9) as tx:
            write_audit(tx, agent.tenant_id, agent.id, AuditEntry("stale", "memory", "tool", "probe"))
            tx.commit_with_next_read()
            await tx.one(GET_TENANT)
    assert stale.value.sqlstate == "BZ010"
    assert sql.execute("SELECT count(*) AS n FROM audit_logs WHERE request_id = 'stale'").fetchone()["n"] == 0
    async with app.db.agent_tx(agent.tenant_id, agent.id) as tx:
        assert (await tx.one(GET_TENANT)) == tenant
    # Outside pipeline mode (an operator's transaction runs an approved held call) the statement
    # fails as it is sent: the same NoRow.
    with pytest.raises(NoRow):
        async with app.db.operator_tx() as tx:
            await tx.one(GET_CLIENT, client_id=uuid.uuid4())


async def test_an_answer_that_fails_after_its_statement_committed_has_both_rows(
    app, make_agent, connect, sql, caplog
):
    """The one exception to one row per call (README, "Seeing what agents did"): the `ok` row
    rode with the statement and committed; the output model then refuses the row (a price of
    NaN, which the table's CHECK lets through and bizctx never writes), so the agent gets an
    internal error and the failure's row follows, with the same request id and a warning."""
    agent = await make_agent(**ALL_RIGHTS)
    sql.execute(
        "INSERT INTO services (tenant_id, code, name, duration_minutes, price, currency)"
        " VALUES (%s, 'nan', 'Not a number', 30, 'NaN', 'USD')",
        (agent.tenant_id,),
    )
    async with connect(agent) as c:
        result = await c.call_tool("list_services", {})
    assert error_of(result)["code"] == "internal"
    rows = audit_rows(sql, agent)
    assert [(r["name"], r["outcome"], r["error_code"]) for r in rows] == [
        ("list_services", "ok", None),
        ("list_services", "error", "internal"),
    ]
    assert rows[0]["request_id"] == rows[1]["request_id"]
    assert any(
        "failed after its one read committed its audit row" in r.getMessage()
        and getattr(r, "request_id", None) == rows[0]["request_id"]
        for r in caplog.records
    )


class OneIn(BaseModel):
    client_id: uuid.UUID


class OneOut(BaseModel):
    id: uuid.UUID


async def one_probe(call: Call, args: OneIn) -> OneOut:
    """A tool."""
    raise AssertionError("never called")


def testone_probe_statement_is_for_reads_whose_entity_is_in_their_arguments():
    domain = Domain("clients")
    with pytest.raises(TypeError, match="quick reads that write nothing"):
        domain.tool(action="write", one_read=True)(one_probe)
    with pytest.raises(TypeError, match="quick reads that write nothing"):
        domain.tool(action="read", also_writes="a counter", one_read=True)(one_probe)
    with pytest.raises(TypeError, match="quick reads that write nothing"):
        domain.tool(action="read", costly="a narrower query", one_read=True)(one_probe)
    with pytest.raises(TypeError, match="entity must be in its arguments"):
        domain.tool(action="read", entity=("client", "client_id", "id"), one_read=True)(one_probe)
    domain.tool(action="read", entity=("client", "client_id"), one_read=True)(one_probe)
    assert [t.one_read for t in domain.tools] == [True]
