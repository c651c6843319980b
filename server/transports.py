"""Serving the MCP server over a transport. stdio: one agent per process, its key from
BIZCTX_AGENT_KEY, checked before the protocol starts. HTTP: see http.py."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .app import authenticate_key, build_server, open_app, require_key, settle_heap
from .jobs import Job, running
from .settings import Settings
from .stdio import stdio_streams

log = logging.getLogger("bizctx.serve")


async def serve_stdio(settings: Settings, dsn: str) -> None:
    key = require_key(settings.agent_key.get_secret_value() if settings.agent_key else None)
    async with open_app(settings, dsn=dsn) as state:
        principal = await authenticate_key(state, key, "stdio")
        server = build_server(state, lambda ctx: principal)
        settle_heap()
        log.info("serving stdio for agent %s", principal.agent_id)
        async with stdio_streams() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


async def serve_over_http(
    settings: Settings, dsn: str, *, transport: str, host: str, port: int, jobs: Sequence[Job] = ()
) -> None:
    from .http import serve_http

    async with open_app(settings, dsn=dsn) as state, running(state.db, jobs):
        settle_heap()
        await serve_http(state, transport=transport, host=host, port=port)
