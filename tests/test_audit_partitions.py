"""The audit log at scale (migration 0170): a partition per month, made ahead of time; a
default partition so that no insert fails for a missing month; `bizctx audit export` and
`bizctx audit prune`, which removes rows past the retention only once they are in the export
file when one is asked for. Speed lives in bench/audit_bench.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from bizctx.ops import audit_log
from bizctx.server import migrations
from bizctx.server.app import open_database
from bizctx.server.queries import QueryBook
from conftest import small_settings

INSERT = QueryBook.load()["governance.insert_audit_log"].text
BEGIN = QueryBook.load()["governance.begin_agent_call"].text


def bizctx(dsn: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("bizctx")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bizctx.ops.cli"]
    env = {"DATABASE_URL": dsn, "BIZCTX_DATA_DIR": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def audit_dsn(new_database) -> str:
    """A database of this module's own: a prune removes every tenant's old rows."""
    dsn = new_database()
    migrations.migrate(dsn)
    return dsn


@pytest.fixture
def db(audit_dsn: str):
    with psycopg.connect(audit_dsn, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def tenant_and_agent(conn: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    tenant, agent = uuid.uuid4(), uuid.uuid4()
    conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s)", (tenant, f"t-{tenant.hex[:8]}"))
    conn.execute(
        "INSERT INTO agents (tenant_id, id, name, key_prefix, key_hash) VALUES (%s, %s, 'a', 'bctx_x', %s)",
        (tenant, agent, f"{agent.int:064x}"[:64]),
    )
    return tenant, agent


def seed(conn: psycopg.Connection, tenant: Any, agent: Any, when: str, n: int = 1) -> list[int]:
    """n audit rows at `when` (an ISO time), as an operator backfilling them would."""
    rows = conn.execute(
        "INSERT INTO audit_logs (tenant_id, occurred_at, agent_id, request_id, transport, kind, name,"
        " outcome, error_code, duration_ms, arguments, rule)"
        " SELECT %s, %s::timestamptz + g * interval '1 second', %s, 'r-' || g, 'stdio', 'tool', 'get_client',"
        " 'denied', 'permission_denied', 1.25 + g, jsonb_build_object('client_id', 'c-' || g, 'n', 1.50),"
        ' \'{"rule": "x"}\' FROM generate_series(1, %s) g RETURNING id',
        (tenant, when, agent, n),
    ).fetchall()
    return [r["id"] for r in rows]


def where(conn: psycopg.Connection, ids: list[int]) -> list[str]:
    return [
        r["p"]
        for r in conn.execute(
            "SELECT tableoid::regclass::text AS p FROM audit_logs WHERE id = ANY(%s) ORDER BY id", (ids,)
        )
    ]


def month_partition(when: datetime) -> str:
    return f"audit_logs_{when.astimezone(UTC):%Y_%m}"


@pytest.mark.anyio
async def test_a_calls_row_lands_in_the_partition_of_its_month(make_agent, connect, sql):
    agent = await make_agent(caps=["clients.read"], access={"clients": {"read": True}})
    async with connect(agent) as c:
        assert not (await c.call_tool("search_clients", {"query": "x"})).is_error
    (row,) = sql.execute(
        "SELECT tableoid::regclass::text AS p, occurred_at FROM audit_logs WHERE tenant_id = %s",
        (agent.tenant_id,),
    ).fetchall()
    assert row["p"] == month_partition(row["occurred_at"])
    # The month after exists already, so the first call of next month needs nothing made.
    parts = [r["partition_name"] for r in sql.execute("SELECT partition_name FROM bizctx_audit_partitions()")]
    now = datetime.now(UTC)
    next_month = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    assert {month_partition(now), month_partition(next_month), "audit_logs_default"} <= set(parts)


def test_backfilled_rows_land_in_their_months_partition(db):
    tenant, agent = tenant_and_agent(db)
    assert db.execute("SELECT bizctx_ensure_audit_partitions('2003-04-10', 2) AS n").fetchone()["n"] == 2
    ids = seed(db, tenant, agent, "2003-04-30T23:59:57Z", 2) + seed(db, tenant, agent, "2003-05-01T00:00:00Z")
    assert where(db, ids) == ["audit_logs_2003_04", "audit_logs_2003_04", "audit_logs_2003_05"]


def test_an_agents_insert_in_a_month_without_a_partition_does_not_fail(db, audit_dsn):
    """The server ran past the months made for it: the call's row waits in the default
    partition, and moves into its month when the partition is made (by the next process to
    start, or HTTP serve's hourly job)."""
    tenant, agent = tenant_and_agent(db)
    this_month = month_partition(datetime.now(UTC))
    assert db.execute("SELECT bizctx_drop_audit_partition(%s) AS n", (this_month,)).fetchone() is not None
    with psycopg.connect(audit_dsn) as conn:
        conn.execute(
            BEGIN,
            {
                "tenant_id": str(tenant),
                "agent_id": str(agent),
                "tasks_scope": "all",
                "mem_docs_scope": "all",
                "statement_timeout": "5000",
            },
        )
        conn.execute(
            INSERT,
            {
                "tenant_id": tenant,
                "agent_id": agent,
                "request_id": "late",
                "transport": "stdio",
                "kind": "tool",
                "name": "get_client",
                "entity_type": None,
                "entity_id": None,
                "outcome": "ok",
                "error_code": None,
                "duration_ms": 1,
                "database_time": False,
                "arguments": "{}",
                "replayed": False,
                "approval_task_id": None,
                "rule": None,
            },
        )
        conn.commit()
    (late,) = db.execute("SELECT id FROM audit_logs WHERE tenant_id = %s", (tenant,)).fetchall()
    assert where(db, [late["id"]]) == ["audit_logs_default"]
    assert db.execute("SELECT bizctx_ensure_audit_partitions() AS n").fetchone()["n"] == 1
    assert where(db, [late["id"]]) == [this_month]
    assert db.execute("SELECT count(*) AS n FROM audit_logs_default").fetchone()["n"] == 0


def exported_rows(db: psycopg.Connection, path: Path) -> list[dict[str, Any]]:
    """The export's lines read back as audit rows."""
    return [
        db.execute("SELECT (jsonb_populate_record(NULL::audit_logs, %s::jsonb)).*", (line,)).fetchone()
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def test_prune_exports_then_removes_only_the_rows_older_than_the_cutoff(db, audit_dsn, tmp_path):
    tenant, agent = tenant_and_agent(db)
    db.execute("SELECT bizctx_ensure_audit_partitions('2001-01-01', 2)")
    december = seed(db, tenant, agent, "2000-12-31T12:00:00Z")  # no partition: the default one
    january = seed(db, tenant, agent, "2001-01-20T08:00:00+01:00", 3)
    early_february = seed(db, tenant, agent, "2001-02-14T23:59:57Z", 2)
    late_february = seed(db, tenant, agent, "2001-02-15T00:00:00Z", 2)
    assert where(db, december + january[:1]) == ["audit_logs_default", "audit_logs_2001_01"]
    old = december + january + early_february
    before = db.execute("SELECT * FROM audit_logs WHERE id = ANY(%s) ORDER BY id", (old,)).fetchall()

    export = tmp_path / "audit-2001.jsonl"
    done = bizctx(
        audit_dsn,
        tmp_path,
        "audit",
        "prune",
        "--before",
        "2001-02-15T00:00Z",
        "--output",
        str(export),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["partitions_dropped"], result["rows_removed"], result["rows_exported"]) == (
        ["audit_logs_2001_01"],
        len(old),
        len(old),
    )
    # The file holds every removed row, exactly: read back, each is the row it was.
    assert sorted(exported_rows(db, export), key=lambda r: r["id"]) == before
    remaining = db.execute("SELECT id FROM audit_logs WHERE tenant_id = %s ORDER BY id", (tenant,)).fetchall()
    assert [r["id"] for r in remaining] == late_february
    parts = [r["partition_name"] for r in db.execute("SELECT partition_name FROM bizctx_audit_partitions()")]
    assert "audit_logs_2001_01" not in parts and "audit_logs_2001_02" in parts

    # An existing file is never overwritten, and then nothing is removed.
    export.write_text("earlier evidence\n")
    again = bizctx(audit_dsn, tmp_path, "audit", "prune", "--before", "2001-03-01", "--output", str(export))
    assert again.returncode != 0 and "exists" in again.stderr
    assert export.read_text() == "earlier evidence\n"
    assert (
        db.execute("SELECT count(*) AS n FROM audit_logs WHERE tenant_id = %s", (tenant,)).fetchone()["n"]
        == 2
    )


def test_export_writes_the_old_rows_and_removes_nothing(db, audit_dsn, tmp_path):
    tenant, agent = tenant_and_agent(db)
    db.execute("SELECT bizctx_ensure_audit_partitions('2002-06-01', 1)")
    ids = seed(db, tenant, agent, "2002-06-03T10:00:00Z", 3)
    rows = db.execute("SELECT * FROM audit_logs WHERE id = ANY(%s) ORDER BY id", (ids,)).fetchall()
    export = tmp_path / "out.jsonl"
    done = bizctx(
        audit_dsn,
        tmp_path,
        "audit",
        "export",
        "--tenant",
        f"t-{tenant.hex[:8]}",
        "--before",
        "2002-07-01",
        "--output",
        str(export),
    )
    assert done.returncode == 0, done.stderr
    assert sorted(exported_rows(db, export), key=lambda r: r["id"]) == rows
    assert where(db, ids) == ["audit_logs_2002_06"] * 3
    # To stdout, the same lines.
    done = bizctx(
        audit_dsn, tmp_path, "audit", "export", "--tenant", f"t-{tenant.hex[:8]}", "--before", "2002-07-01"
    )
    assert sorted(done.stdout.splitlines()) == sorted(export.read_text().splitlines())


class BrokenFile:
    """An export file whose disk fills up at the second row."""

    name = "broken.jsonl"

    def __init__(self) -> None:
        self.lines = 0

    def write(self, text: str) -> int:
        if text != "\n":
            self.lines += 1
            if self.lines == 2:
                raise OSError(28, "No space left on device")
        return len(text)


@pytest.mark.anyio
async def test_a_failed_export_removes_nothing(db, audit_dsn, tmp_path):
    tenant, agent = tenant_and_agent(db)
    db.execute("SELECT bizctx_ensure_audit_partitions('2004-02-01', 1)")
    ids = seed(db, tenant, agent, "2004-02-02T00:00:00Z", 3)
    async with open_database(small_settings(audit_dsn, tmp_path), migrate=False) as database:
        with pytest.raises(OSError):
            await audit_log.prune(database, datetime(2004, 3, 1, tzinfo=UTC), export_to=BrokenFile())  # type: ignore[arg-type]
    assert where(db, ids) == ["audit_logs_2004_02"] * 3


def test_the_migration_carries_existing_rows_over(new_database, tmp_path):
    dsn = new_database()
    before = tmp_path / "before"
    before.mkdir()
    for f in migrations.discover():
        if f.name < "0170":
            shutil.copy(f.path, before / f.name)
    migrations.migrate(dsn, root=before)
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        tenant, agent = tenant_and_agent(conn)
        ids = (
            seed(conn, tenant, agent, "2025-03-31T23:00:00-02:00", 2)  # April in UTC
            + seed(conn, tenant, agent, "2026-01-15T00:00:00Z")
            + seed(conn, tenant, agent, "2099-01-01T00:00:00Z")  # far ahead: kept, in the default
        )
        rows = conn.execute("SELECT * FROM audit_logs ORDER BY id").fetchall()
    migrations.migrate(dsn)
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        assert conn.execute("SELECT * FROM audit_logs ORDER BY id").fetchall() == rows
        assert where(conn, ids) == [
            "audit_logs_2025_04",
            "audit_logs_2025_04",
            "audit_logs_2026_01",
            "audit_logs_default",
        ]
        # Ids go on from the last one.
        (new,) = seed(conn, tenant, agent, datetime.now(UTC).isoformat())
        assert new > max(ids)
        # Every month between the oldest row and next month has its partition.
        parts = [
            r["partition_name"] for r in conn.execute("SELECT partition_name FROM bizctx_audit_partitions()")
        ]
        assert parts[0] == "audit_logs_2025_04" and "audit_logs_2025_09" in parts
        assert month_partition(datetime.now(UTC)) in parts
