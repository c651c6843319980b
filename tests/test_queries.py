"""Named queries: loaded once, checked on the server at start-up, called by name only."""

import psycopg
import pytest

from bizctx.server.app import load_domains
from bizctx.server.errors import StartupError
from bizctx.server.queries import QueryBook, QueryRef
from bizctx.server.registry import Registry

pytestmark = pytest.mark.anyio


def test_every_query_file_loads_with_its_named_parameters():
    book = QueryBook.load()
    assert len(book) > 0
    q = book["governance.find_agent_by_key_hash"]
    assert q.params == {"key_hash"}
    assert "%(key_hash)s" in q.text and "$1" in q.positional_text()


def test_every_query_a_real_handler_names_exists():
    QueryBook.load().require(Registry(load_domains()).queries)


def test_a_handler_naming_a_missing_query_fails_startup():
    with pytest.raises(StartupError, match="clients.no_such_query"):
        QueryBook.load().require([QueryRef("clients", "no_such_query")])


async def test_every_shipped_query_parses_on_the_server(dsn):
    book = QueryBook.load()
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await book.validate(conn)


async def test_a_query_that_does_not_parse_fails_startup(dsn, tmp_path):
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "bad.sql").write_text(
        "-- refers to a column that does not exist\nSELECT nme FROM tenants"
    )
    book = QueryBook.load((tmp_path,))
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        with pytest.raises(StartupError, match="probe.bad") as info:
            await book.validate(conn)
    assert "nme" in str(info.value)


async def test_calling_a_query_with_wrong_parameters_is_a_programming_error(app):
    async with app.db.operator_tx() as tx:
        with pytest.raises(TypeError, match="missing parameters \\['ref'\\]"):
            await tx.one(QueryRef("operators", "find_tenant"), name="x")


def test_the_seeded_tool_capabilities_are_what_the_tools_declare(sql):
    """tool_capabilities is seeded by migration (operators may edit it later): on a fresh
    database it must be exactly the map the tools declare, defaults included."""
    declared = {t.name: t.capability for t in Registry(load_domains()).tools.values()}
    seeded = {r["tool_name"]: r["capability"] for r in sql.execute("SELECT * FROM tool_capabilities")}
    assert seeded == declared


def test_every_constraint_a_handler_maps_exists_by_that_name(sql):
    mapped = set(Registry(load_domains()).constraints)
    names = {r["conname"] for r in sql.execute("SELECT conname FROM pg_constraint")}
    indexes = {r["relname"] for r in sql.execute("SELECT relname FROM pg_class WHERE relkind = 'i'")}
    assert len(mapped) >= 10
    assert mapped - names - indexes == set()
