"""The benchmark's bare MCP server: the same `mcp` SDK's low-level `Server` running the
identical SQL text from sql/queries/<domain>/<name>.sql, with no guard, no audit, no role
switch and no input models. It is the yardstick for what bizctx's governance costs.

    python bench/bare_server.py --dsn DSN --tools TOOLS.json                 # stdio
    python bench/bare_server.py --dsn DSN --tools TOOLS.json --port 8123     # streamable HTTP
    python bench/bare_server.py ... --port 8123 --high-level                 # MCPServer, stateless, JSON

--high-level serves the same statements from the SDK's high-level `MCPServer` (a typed function
per tool, its parameters the query's), streamable HTTP stateless with JSON responses: the
ungoverned Python peer issue 19 measures HTTP throughput against.

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


def _pool(dsn: str, pool_size: int) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        dsn,
        min_size=1,
        max_size=pool_size,
        kwargs={"autocommit": True, "row_factory": dict_row},
        open=False,
    )


def build(dsn: str, tools: list[dict[str, str]], pool_size: int) -> tuple[Server[Any], AsyncConnectionPool]:
    book = QueryBook.load()
    texts = {t["name"]: book[t["query"]].text for t in tools}
    pool = _pool(dsn, pool_size)
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


def build_high_level(
    dsn: str, tools: list[dict[str, str]], pool_size: int
) -> tuple[Any, AsyncConnectionPool]:
    """The same statements as typed MCPServer tools: one keyword parameter per named parameter."""
    import inspect
    import re

    from mcp.server.mcpserver import MCPServer

    book = QueryBook.load()
    pool = _pool(dsn, pool_size)
    server = MCPServer("bare-high-level")
    for t in tools:
        text = book[t["query"]].text
        names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", text)))

        def make(text: str, names: list[str]) -> Any:
            async def run(**params: Any) -> dict[str, Any]:
                async with pool.connection() as conn:
                    cur = await conn.execute(text, params, prepare=True)  # type: ignore[arg-type]
                    rows = await cur.fetchall() if cur.description else []
                return {"rows": _jsonable(rows)}

            run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
                [
                    inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Any)
                    for n in names
                ],
                return_annotation=dict[str, Any],
            )
            run.__annotations__ = {**{n: Any for n in names}, "return": dict[str, Any]}
            return run

        server.tool(name=t["name"], description=f"Runs sql/queries/{t['query'].replace('.', '/')}.sql")(
            make(text, names)
        )
    return server, pool


async def serve_high_level_http(server: Any, pool: AsyncConnectionPool, port: int) -> None:
    import uvicorn

    app = server.streamable_http_app(stateless_http=True, json_response=True)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    async with pool:
        await uvicorn.Server(config).serve()


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
    parser.add_argument(
        "--high-level",
        action="store_true",
        help="MCPServer, stateless HTTP with JSON responses (needs --port)",
    )
    args = parser.parse_args()
    with open(args.tools, encoding="utf-8") as f:
        tools = json.load(f)
    if args.high_level:
        high, pool = build_high_level(args.dsn, tools, args.pool_size)
        anyio.run(serve_high_level_http, high, pool, args.port)
        return 0
    server, pool = build(args.dsn, tools, args.pool_size)
    if args.port:
        anyio.run(serve_http, server, pool, args.port)
    else:
        anyio.run(serve_stdio, server, pool)
    return 0


if __name__ == "__main__":
    sys.exit(main())
