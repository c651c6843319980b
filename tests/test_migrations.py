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
