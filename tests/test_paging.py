"""Cursors, through the official client: opaque, bound to their list and filters, and a
forged one is invalid input, however it was forged."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from bizctx.server.canonical import digest
from bizctx.tools.clients import SearchClientsIn
from conftest import ALL_RIGHTS, err, ok

pytestmark = pytest.mark.anyio


def forged(position: dict | str) -> str:
    raw = position if isinstance(position, str) else json.dumps(position)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def test_forged_cursors_are_invalid_input(make_agent, connect):
    agent = await make_agent(**ALL_RIGHTS)
    filters = digest(SearchClientsIn(), exclude=("limit", "cursor"))[:16]
    cursors = [
        forged("[" * 1400),  # nested past json's recursion limit
        forged({"k": "search_clients", "f": filters, "s": float("nan"), "i": str(uuid.UUID(int=0))}),
        "x" * 1990,
    ]
    async with connect(agent) as c:
        await ok(c, "upsert_client", {"first_name": "Ann"})
        for cursor in cursors:
            error = await err(c, "search_clients", {"cursor": cursor})
            assert error["code"] == "invalid_input", cursor[:40]
        for cursor in cursors[:1]:
            error = await err(c, "list_tasks", {"cursor": cursor})
            assert error["code"] == "invalid_input"
    # json.dumps writes NaN unquoted; the cursor above really carries one.
    assert "NaN" in base64.urlsafe_b64decode(cursors[1] + "==").decode()
