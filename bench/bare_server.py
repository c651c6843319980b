"""The benchmark's bare MCP server: the same `mcp` SDK's low-level `Server` running the
identical SQL text from sql/queries/<domain>/<name>.sql, with no guard, no audit, no role
switch and no input models. It is the yardstick for what bizctx's governance costs.

    python bench/bare_server.py --dsn DSN --tools TOOLS.json                 # stdio
    python bench/bare_server.py --dsn DSN --tools TOOLS.json --port 8123     # streamable HTTP

TOOLS.json is a list of {"name": tool name, "query": "domain.name"}; a call's arguments are
the query's named parameters, passed to psycopg as they are. Not a test, not for production.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from bizctx.server.queries import QueryBook


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def build(dsn: str, tools: list[dict[str, str]], pool_size: int) -> tuple[Server[Any], AsyncConnectionPool]:
    book = QueryBook.load()
    texts = {t["name"]: book[t["query"]].text for t in tools}
    pool = AsyncConnectionPool(
        dsn,
        min_size=1,
        max_size=pool_size,
        kwargs={"autocommit": True, "row_factory": dict_row},
        open=False,
    )
    listed = [
        types.Tool(
            name=t["name"],
            description=f"Runs sql/queries/{t['query'].replace('.', '/')}.sql",
            input_schema={"type": "object", "additionalProperties": True},
        )
        for t in tools
    ]

    async def on_list_tools(ctx, params):
        return types.ListToolsResult(tools=listed)

    async def on_call_tool(ctx, params):
        try:
            text = texts[params.name]
            async with pool.connection() as conn:
                cur = await conn.execute(text, params.arguments or {}, prepare=True)  # type: ignore[arg-type]
                rows = await cur.fetchall() if cur.description else []
            data = {"rows": _jsonable(rows)}
            return types.CallToolResult(
                content=[types.TextContent(text=json.dumps(data, separators=(",", ":")))],
                structured_content=data,
            )
        except Exception as exc:  # the low-level server would send str(exc) as a protocol error
            return types.CallToolResult(content=[types.TextContent(text=f"error: {exc}")], is_error=True)

    server = Server("bare", version="0", on_list_tools=on_list_tools, on_call_tool=on_call_tool)
    return server, pool


async def serve_stdio(server: Server[Any], pool: AsyncConnectionPool) -> None:
    from mcp.server.stdio import stdio_server

    async with pool:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


async def serve_http(server: Server[Any], pool: AsyncConnectionPool, port: int) -> None:
    import uvicorn
    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.routing import Route

    manager = StreamableHTTPSessionManager(app=server)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with pool, manager.run():
            yield

    app = Starlette(routes=[Route("/mcp", StreamableHTTPASGIApp(manager))], lifespan=lifespan)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    await uvicorn.Server(config).serve()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--tools", required=True, help="JSON file: [{name, query}]")
    parser.add_argument("--port", type=int, help="serve streamable HTTP on 127.0.0.1:PORT (default: stdio)")
    parser.add_argument("--pool-size", type=int, default=2)
    args = parser.parse_args()
    with open(args.tools, encoding="utf-8") as f:
        tools = json.load(f)
    server, pool = build(args.dsn, tools, args.pool_size)
    if args.port:
        anyio.run(serve_http, server, pool, args.port)
    else:
        anyio.run(serve_stdio, server, pool)
    return 0


if __name__ == "__main__":
    sys.exit(main())
