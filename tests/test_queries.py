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
    book = QueryBook.load(tmp_path)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        with pytest.raises(StartupError, match="probe.bad") as info:
            await book.validate(conn)
    assert "nme" in str(info.value)


async def test_calling_a_query_with_wrong_parameters_is_a_programming_error(app):
    async with app.db.operator_tx() as tx:
        with pytest.raises(TypeError, match="missing parameters \\['ref'\\]"):
            await tx.one(QueryRef("governance", "find_tenant"), name="x")
