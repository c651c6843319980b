"""Serving the MCP server over a transport. stdio: one agent per process, its key from
BIZCTX_AGENT_KEY, checked before the protocol starts. HTTP: see http.py."""

from __future__ import annotations

import logging

from mcp.server.stdio import stdio_server

from .app import authenticate_key, build_server, open_app
from .settings import Settings
from .stdio import PipesUnavailable, stdio_streams

log = logging.getLogger("bizctx.serve")


async def serve_stdio(settings: Settings) -> None:
    key = settings.agent_key.get_secret_value() if settings.agent_key else None
    if not key:  # refuse before starting anything
        await authenticate_key(None, key, "stdio")  # type: ignore[arg-type]
    async with open_app(settings) as state:
        principal = await authenticate_key(state, key, "stdio")
        server = build_server(state, lambda ctx: principal)
        log.info("serving stdio for agent %s", principal.agent_id)
        try:
            streams = stdio_streams()
            read_stream, write_stream = await streams.__aenter__()
        except PipesUnavailable as exc:
            log.info("stdin/stdout are not pipes (%s); using the SDK's threaded stdio", exc)
            async with stdio_server() as (read_stream, write_stream):
                await server.run(read_stream, write_stream, server.create_initialization_options())
            return
        try:
            await server.run(read_stream, write_stream, server.create_initialization_options())
        finally:
            await streams.__aexit__(None, None, None)


async def serve_over_http(settings: Settings, *, transport: str, host: str, port: int) -> None:
    from .http import serve_http

    async with open_app(settings) as state:
        await serve_http(state, transport=transport, host=host, port=port)
