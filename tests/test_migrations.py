"""`bizctx migrate`: each file once, in order, checksummed; edits to applied files refused."""

import shutil

import psycopg
import pytest

from bizctx.server import migrations
from bizctx.server.errors import StartupError


def test_migrate_twice_applies_everything_once(new_database):
    dsn = new_database()
    first = migrations.migrate(dsn)
    names = [m.name for m in migrations.discover()]
    assert first.applied == names and first.already == []
    second = migrations.migrate(dsn)
    assert second.applied == [] and second.already == names
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT name, checksum FROM schema_migrations ORDER BY name").fetchall()
    assert rows == [(m.name, m.checksum) for m in migrations.discover()]
    assert migrations.status(dsn) == {"applied": names, "pending": []}


def test_an_edited_applied_migration_stops_the_run_naming_the_file(new_database, tmp_path):
    dsn = new_database()
    root = tmp_path / "migrations"
    shutil.copytree(migrations.migrations_dir(), root)
    migrations.migrate(dsn, root=root)
    edited = sorted(root.glob("*.sql"))[0]
    edited.write_text(edited.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(StartupError, match=edited.name) as info:
        migrations.migrate(dsn, root=root)
    assert "edited after it was applied" in str(info.value)


def test_a_new_file_is_applied_and_a_failing_one_leaves_nothing_behind(new_database, tmp_path):
    dsn = new_database()
    root = tmp_path / "migrations"
    shutil.copytree(migrations.migrations_dir(), root)
    migrations.migrate(dsn, root=root)
    (root / "9000_extra.sql").write_text("CREATE TABLE extra_probe (id int);")
    (root / "9001_broken.sql").write_text("CREATE TABLE broken_probe (id int); SELECT * FROM no_such_table;")
    with pytest.raises(psycopg.errors.UndefinedTable):
        migrations.migrate(dsn, root=root)
    with psycopg.connect(dsn) as conn:
        applied = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
        assert "9000_extra.sql" in applied and "9001_broken.sql" not in applied
        assert conn.execute("SELECT to_regclass('broken_probe')").fetchone() == (None,)


def test_badly_named_migration_files_are_refused(tmp_path):
    (tmp_path / "1_first.sql").write_text("SELECT 1;")
    with pytest.raises(StartupError, match="NNNN_name.sql"):
        migrations.discover(tmp_path)


@pytest.mark.anyio
async def test_keys_in_flight_before_the_upgrade_are_never_run_twice(new_database, tmp_path):
    """v1 kept keys on the rows they created, shared by the whole tenant. After the upgrade a
    retry under such a key is refused (its arguments were never recorded), never run again,
    and the refusal names no record; a key goes to the agent that made the call where the
    row says so, so another agent's own "note-1" is its own call."""
    import json
    import uuid

    from mcp import Client

    from bizctx.server.app import build_server, open_app
    from bizctx.server.guard import Principal
    from bizctx.server.settings import Settings
    from conftest import ALL_RIGHTS, error_of

    dsn = new_database()
    v1 = tmp_path / "v1"
    v1.mkdir()
    for f in migrations.discover():
        if f.name < "0035":
            shutil.copy(f.path, v1 / f.name)
    migrations.migrate(dsn, root=v1)
    tenant, alice, bob = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES (%s, 'Legacy Cleaning')", (tenant,))
        for agent, name in ((alice, "alice"), (bob, "bob")):
            conn.execute(
                "INSERT INTO agents (tenant_id, id, name, key_prefix, key_hash, access_patterns)"
                " VALUES (%s, %s, %s, 'bctx_x', %s, %s)",
                (tenant, agent, name, f"{agent.int:064x}"[:64], json.dumps(ALL_RIGHTS["access"])),
            )
            v1_caps = [
                c for c in ALL_RIGHTS["caps"] if not c.startswith(("contacts.", "goals."))
            ]  # v1 had none
            for cap in v1_caps:
                conn.execute("INSERT INTO agent_capabilities VALUES (%s, %s, %s)", (tenant, agent, cap))
        doc = conn.execute(
            "INSERT INTO mem_docs (tenant_id, owner_agent_id, content, idempotency_key)"
            " VALUES (%s, %s, 'Alice''s note', 'note-1') RETURNING id",
            (tenant, alice),
        ).fetchone()[0]
        client = conn.execute(
            "INSERT INTO clients (tenant_id, first_name, idempotency_key) VALUES (%s, 'Ann', 'client-1')"
            " RETURNING id",
            (tenant,),
        ).fetchone()[0]
    migrations.migrate(dsn)
    settings = Settings(database_url=dsn, data_dir=tmp_path, pool_min_size=1, pool_max_size=2)

    def as_agent(state, agent):
        return Client(build_server(state, lambda ctx: Principal(tenant, agent, "memory")))

    async with open_app(settings, migrate=False) as state:
        async with as_agent(state, alice) as c:
            again = error_of(
                await c.call_tool(
                    "remember",
                    {"content": "Alice's note", "doc_type": "knowledge", "idempotency_key": "note-1"},
                )
            )
            client_again = error_of(
                await c.call_tool("upsert_client", {"first_name": "Ann", "idempotency_key": "client-1"})
            )
        async with as_agent(state, bob) as c:
            bobs = await c.call_tool(
                "remember", {"content": "Bob's note", "doc_type": "knowledge", "idempotency_key": "note-1"}
            )
            bob_client = error_of(
                await c.call_tool("upsert_client", {"first_name": "Ann", "idempotency_key": "client-1"})
            )
    assert again["code"] == client_again["code"] == bob_client["code"] == "conflict"
    assert again["first_call_at"] and "upgrade" in again["message"]
    assert str(doc) not in json.dumps(again) and str(client) not in json.dumps(bob_client)
    assert not bobs.is_error and bobs.structured_content["content"] == "Bob's note"
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM clients WHERE tenant_id = %s", (tenant,)).fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM mem_docs WHERE tenant_id = %s", (tenant,)).fetchone() == (
            2,
        )
