"""The benchmark's bare MCP server: the same `mcp` SDK's low-level `Server` running the
identical SQL text from sql/queries/<domain>/<name>.sql, with no guard, no audit, no role
switch and no input models. It is the yardstick for what bizctx's governance costs.

    python bench/bare_server.py --dsn DSN --tools TOOLS.json                 # stdio
    python bench/bare_server.py --dsn DSN --tools TOOLS.json --port 8123     # streamable HTTP
    python bench/bare_server.py ... --port 8123 --high-level                 # MCPServer, stateless, JSON

Two options keep it ungoverned but pay what DESIGN.md's contract itself asks of every call, as
cheaply as it can be paid, to measure the floor under issue 19's part 5. Only for tools whose
bizctx result is their statement's one row (get_client):

--schemas        the tools publish bizctx's own inputSchema and outputSchema (which the client
                 validates each result against) and answer bizctx's shape, the row itself.
--contract T:A   also: each call runs as `bizctx_app` with agent A's settings in tenant T
                 (bizctx's own opening statement, so RLS applies), writes bizctx's audit row in
                 the same transaction and commits, all in ONE round trip (its row says `ok`
                 before the statement ran; one that says how the call ended needs two: see
                 --audit-after-read). No guard, no input models, no redaction, no policies.
                 --async-commit: its COMMIT does not wait for the WAL flush, as bizctx's
                 reads do under BIZCTX_READ_AUDIT_COMMIT=async.

--audit-after-read  with --contract: the audit row is written once the statement's rows are in
                 and says how the call ended (ok, or not_found for no row), as bizctx's does:
                 two round trips, the least a row that says so costs in generic SQL (a
                 statement of its own per tool could compute the outcome in one).

--fast-stdio serves stdio with bizctx's own transport (server/stdio.py: the pipes on the event
loop, none of the SDK's worker threads), as bizctx does: the floors use it, so what they cost
is the contract's alone, not a slower transport's.

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
import uuid
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


def _lister(listed: list[types.Tool]) -> Any:
    async def on_list_tools(ctx, params):
        return types.ListToolsResult(tools=listed)

    return on_list_tools


def _bizctx_specs(tools: list[dict[str, str]]) -> list[Any]:
    from bizctx.server.app import load_domains
    from bizctx.server.registry import Registry

    registry = Registry(load_domains())
    return [registry.tools[t["name"]] for t in tools]


def _bizctx_models(tools: list[dict[str, str]]) -> dict[str, Any]:
    """bizctx's output model of each tool."""
    return {spec.name: spec.output_model for spec in _bizctx_specs(tools)}


def _bizctx_tools(tools: list[dict[str, str]]) -> list[types.Tool]:
    """bizctx's own listing of these tools: the same inputSchema and outputSchema."""
    from bizctx.server.schemas import output_schema

    listed = []
    for spec in _bizctx_specs(tools):
        listed.append(
            types.Tool(
                name=spec.name,
                description=spec.description,
                input_schema=spec.input_schema(),
                output_schema=output_schema(spec.output_model),
            )
        )
    return listed


def contract_statements(book: QueryBook) -> tuple[str, str, str, str]:
    """bizctx's BEGIN, opening statement (role, tenant, agent, scopes, timeout, durability),
    audit insert and COMMIT: what the contract adds around a call's statement."""
    begin, opening, audit, commit = (
        book[q].text
        for q in (
            "governance.begin_transaction",
            "governance.begin_governed_call",
            "governance.insert_audit_log",
            "governance.commit_transaction",
        )
    )
    return begin, opening, audit, commit


def contract_settings(tenant_id: str, agent_id: str, async_commit: bool) -> dict[str, Any]:
    """The opening statement's parameters: the agent's tenant and id, the narrowest scopes."""
    return {
        "tenant_id": tenant_id,
        "agent_id": agent_id,
        "tasks_scope": "assigned",
        "mem_docs_scope": "own",
        "statement_timeout": "30000",
        "policy_version": None,
        "synchronous_commit": "off" if async_commit else None,
    }


def contract_audit_row(
    tenant_id: str, agent_id: str, transport: str, name: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    """The audit insert's parameters for one `ok` call of tool `name`."""
    from psycopg.types.json import Jsonb

    return {
        "tenant_id": tenant_id,
        "agent_id": agent_id,
        "request_id": uuid.uuid4().hex,
        "transport": transport,
        "kind": "tool",
        "name": name,
        "entity_type": None,
        "entity_id": None,
        "outcome": "ok",
        "error_code": None,
        "duration_ms": 0,
        "database_time": False,
        "arguments": Jsonb(arguments),
        "replayed": False,
        "approval_task_id": None,
        "rule": None,
    }


def _in_contract(
    pool: AsyncConnectionPool,
    book: QueryBook,
    who: tuple[str, str],
    transport: str,
    async_commit: bool = False,
    after_read: bool = False,
) -> Any:
    """Runs a statement paying the contract's minimum (see the module's doc): BEGIN, bizctx's
    opening statement, the statement, bizctx's audit row and COMMIT, in one pipeline sync
    (`after_read`: two, the audit row and COMMIT sent once the statement's rows are in)."""
    tenant_id, agent_id = who
    begin, opening, audit, commit = contract_statements(book)
    settings = contract_settings(tenant_id, agent_id, async_commit)

    async def run(name: str, text: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        row = contract_audit_row(tenant_id, agent_id, transport, name, arguments)
        async with pool.connection() as conn, conn.pipeline() as pipeline:
            await conn.execute(begin, prepare=False)
            await conn.execute(opening, settings, prepare=True)
            cur = await conn.execute(text, arguments, prepare=True)  # type: ignore[arg-type]
            rows = None
            if after_read:  # the row says how the call ended: it waits for the statement's rows
                await pipeline.sync()
                rows = await cur.fetchall()
                if not rows:
                    row.update(outcome="error", error_code="not_found")
            await conn.execute(audit, row, prepare=True)
            await conn.execute(commit, prepare=False)
        return rows if rows is not None else await cur.fetchall()

    return run


def _plain(pool: AsyncConnectionPool) -> Any:
    """Runs a statement alone, in autocommit."""

    async def run(name: str, text: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        async with pool.connection() as conn:
            cur = await conn.execute(text, arguments, prepare=True)  # type: ignore[arg-type]
            return await cur.fetchall() if cur.description else []

    return run


def build(
    dsn: str,
    tools: list[dict[str, str]],
    pool_size: int,
    *,
    schemas: bool = False,
    contract: tuple[str, str] | None = None,
    transport: str = "stdio",
    async_commit: bool = False,
    after_read: bool = False,
) -> tuple[Server[Any], AsyncConnectionPool]:
    book = QueryBook.load()
    texts = {t["name"]: book[t["query"]].text for t in tools}
    pool = _pool(dsn, pool_size)
    if schemas or contract:
        listed = _bizctx_tools(tools)
    else:
        listed = [
            types.Tool(
                name=t["name"],
                description=f"Runs sql/queries/{t['query'].replace('.', '/')}.sql",
                input_schema={"type": "object", "additionalProperties": True},
            )
            for t in tools
        ]
    run = (
        _in_contract(pool, book, contract, transport, async_commit, after_read) if contract else _plain(pool)
    )

    async def on_call_tool(ctx, params):
        try:
            rows = await run(params.name, texts[params.name], params.arguments or {})
            # bizctx's shape (the one row) where its outputSchema is published.
            data = (_jsonable(rows[0]) if rows else {}) if schemas or contract else {"rows": _jsonable(rows)}
            return types.CallToolResult(
                content=[types.TextContent(text=json.dumps(data, separators=(",", ":")))],
                structured_content=data,
            )
        except Exception as exc:  # the low-level server would send str(exc) as a protocol error
            return types.CallToolResult(content=[types.TextContent(text=f"error: {exc}")], is_error=True)

    server = Server("bare", version="0", on_list_tools=_lister(listed), on_call_tool=on_call_tool)
    return server, pool


def build_high_level(
    dsn: str,
    tools: list[dict[str, str]],
    pool_size: int,
    *,
    schemas: bool = False,
    contract: tuple[str, str] | None = None,
    async_commit: bool = False,
    after_read: bool = False,
) -> tuple[Any, AsyncConnectionPool]:
    """The same statements as typed MCPServer tools: one keyword parameter per named parameter.
    With --schemas or --contract, a tool returns bizctx's output model (the MCPServer then
    publishes its schema and checks each result against it, as a typed peer's tool does)."""
    import inspect
    import re

    from mcp.server.mcpserver import MCPServer

    book = QueryBook.load()
    pool = _pool(dsn, pool_size)
    server = MCPServer("bare-high-level")
    statement = (
        _in_contract(pool, book, contract, "streamable-http", async_commit, after_read)
        if contract
        else _plain(pool)
    )
    models = _bizctx_models(tools) if schemas or contract else {}
    for t in tools:
        text = book[t["query"]].text
        names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", text)))
        model = models.get(t["name"])

        def make(name: str, text: str, names: list[str], model: Any) -> Any:
            async def run(**params: Any) -> Any:
                rows = await statement(name, text, params)
                return model(**rows[0]) if model is not None else {"rows": _jsonable(rows)}

            returns = model if model is not None else dict[str, Any]
            run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
                [
                    inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Any)
                    for n in names
                ],
                return_annotation=returns,
            )
            run.__annotations__ = {**{n: Any for n in names}, "return": returns}
            return run

        server.tool(name=t["name"], description=f"Runs sql/queries/{t['query'].replace('.', '/')}.sql")(
            make(t["name"], text, names, model)
        )
    return server, pool


async def serve_high_level_http(server: Any, pool: AsyncConnectionPool, port: int) -> None:
    import uvicorn

    app = server.streamable_http_app(stateless_http=True, json_response=True)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    async with pool:
        await uvicorn.Server(config).serve()


async def serve_stdio(server: Server[Any], pool: AsyncConnectionPool, fast: bool = False) -> None:
    if fast:  # bizctx's own stdio transport: the pipes on the event loop, no worker threads
        from bizctx.server.stdio import stdio_streams as streams
    else:
        from mcp.server.stdio import stdio_server as streams

    async with pool:
        async with streams() as (read_stream, write_stream):
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
        "--schemas", action="store_true", help="bizctx's schemas and result shape (see above)"
    )
    parser.add_argument(
        "--contract", metavar="TENANT:AGENT", help="pay the contract's minimum per call (see above)"
    )
    parser.add_argument(
        "--fast-stdio",
        action="store_true",
        help="serve stdio with bizctx's own transport (no worker threads) instead of the SDK's",
    )
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="with --contract: commit without waiting for the WAL flush (BIZCTX_READ_AUDIT_COMMIT=async)",
    )
    parser.add_argument(
        "--audit-after-read",
        action="store_true",
        help="with --contract: the audit row waits for the statement's rows and says how the call ended",
    )
    parser.add_argument(
        "--high-level",
        action="store_true",
        help="MCPServer, stateless HTTP with JSON responses (needs --port)",
    )
    args = parser.parse_args()
    with open(args.tools, encoding="utf-8") as f:
        tools = json.load(f)
    tenant, _, agent = (args.contract or "").partition(":")
    floor: dict[str, Any] = {
        "schemas": args.schemas,
        "contract": (tenant, agent) if args.contract else None,
        "async_commit": args.async_commit,
        "after_read": args.audit_after_read,
    }
    if args.high_level:
        high, pool = build_high_level(args.dsn, tools, args.pool_size, **floor)
        anyio.run(serve_high_level_http, high, pool, args.port)
        return 0
    transport = "streamable-http" if args.port else "stdio"
    server, pool = build(args.dsn, tools, args.pool_size, transport=transport, **floor)
    if args.port:
        anyio.run(serve_http, server, pool, args.port)
    else:
        anyio.run(serve_stdio, server, pool, args.fast_stdio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
