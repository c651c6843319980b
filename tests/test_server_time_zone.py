"""Timestamps reach agents in UTC whatever time zone the database server is configured with
(initdb takes the machine's; a managed database may be set to anything)."""

from __future__ import annotations

import psycopg
import pytest

from bizctx.server import migrations
from conftest import ok

pytestmark = pytest.mark.anyio

FAR_ZONE = "Pacific/Kiritimati"  # UTC+14: a different date from UTC for half of every day


@pytest.fixture(scope="module")
def dsn(new_database) -> str:
    """This module's database, whose sessions default to a zone far from UTC."""
    url = new_database()
    migrations.migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        name = conn.info.dbname
        conn.execute(
            psycopg.sql.SQL("ALTER DATABASE {} SET TimeZone = {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Literal(FAR_ZONE)
            )
        )
    return url


async def test_timestamps_are_utc_when_the_database_defaults_to_another_zone(make_agent, connect, sql):
    assert sql.execute("SHOW TimeZone").fetchone()["TimeZone"] == FAR_ZONE  # the premise holds
    agent = await make_agent(
        caps=["tasks.read", "tasks.write"], access={"tasks": {"read": True, "write": True}}
    )
    async with connect(agent) as c:
        task = await ok(
            c, "create_task", {"type": "call", "title": "Ring back", "run_after": "2099-01-01T00:00:00+14:00"}
        )
        listed = await ok(c, "list_tasks", {})
    assert task["run_after"] == "2098-12-31T10:00:00Z"
    assert task["created_at"].endswith("Z")
    assert listed["tasks"][0]["run_after"] == "2098-12-31T10:00:00Z"
