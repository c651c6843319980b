"""The systems the benchmark compares, each able to open N sessions over a transport and
make one call of a workload on session k:

- floor: psycopg alone (one connection per agent), the same SQL and parameters;
- governed: the same statement through bizctx's own database layer, in its call framing
  (pool, BEGIN with role/tenant/agent, the audit row committed with it), no MCP;
- bare: bench/bare_server.py, the same `mcp` SDK's low-level Server, the same SQL, no governance;
- bare-fast: the bare server over bizctx's own stdio transport (no worker threads);
- bare-schemas: that, with bizctx's inputSchema and outputSchema and result shape;
- bare-contract: the bare server paying only what the contract asks of every call (bizctx's
  schemas, the RLS role and settings, the audit row in the call's transaction), in one round trip;
- bare-contract-async: the same, its commit not waiting for the WAL flush;
- bare-contract-after-read: that, its audit row written once the rows are in, saying how the
  call ended (two round trips, as bizctx's reads);
- bizctx: `bizctx serve`, the governed call (guard, RLS, redaction, audit);
- toolbox: MCP Toolbox for Databases, a `postgres-sql` tool per statement;
- postgres-mcp: its `execute_sql` tool, the statement with its parameters bound client-side.

stdio runs one server process per agent (stdio has one identity per process); HTTP runs one
server process that all agents' sessions share.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psycopg
from _pg import free_port
from _workloads import Call, Workload, wire
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from psycopg.rows import dict_row

BENCH_DIR = Path(__file__).resolve().parent


def bizctx_command() -> list[str]:
    script = Path(sys.executable).with_name("bizctx")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bizctx.server.cli"]


@dataclass
class Env:
    """Where everything is, shared by all systems of one run."""

    work: Path  # temp dir of this run (configs, logs)
    owner_dsn: str  # what bizctx connects with (it switches to bizctx_app per call)
    peer_dsn: str  # the ungoverned role the baselines and peers use
    peer_conninfo: dict[str, Any]
    peer_url: str
    agent_keys: list[str]
    data_dir: Path
    book: Any  # bizctx QueryBook
    workloads: dict[str, Workload]
    tenant_id: Any = None  # the demo tenant, and the benchmark agents (session k is agent k)
    agent_ids: list[Any] = field(default_factory=list)
    toolbox_bin: Path | None = None
    postgres_mcp_bin: Path | None = None
    logs: list[Any] = field(default_factory=list)

    def log(self, name: str) -> Any:
        (self.work / "logs").mkdir(exist_ok=True)
        f = open(self.work / "logs" / f"{name}.log", "a")
        self.logs.append(f)
        return f


class System:
    name = "system"
    label = "system"
    transports: tuple[str, ...] = ("stdio", "http")

    def __init__(self, env: Env) -> None:
        self.env = env
        self.sessions: list[Any] = []

    def supports(self, tool: str) -> str | None:
        """None when this system can run the tool, else why not."""
        return None

    @contextlib.asynccontextmanager
    async def open(self, transport: str, n: int) -> AsyncIterator[System]:
        yield self

    def prepared(self, workload: Workload, call: Call) -> Any:
        """What to send for this call, made before the clock starts."""
        raise NotImplementedError

    async def send(self, k: int, payload: Any) -> str | None:
        """Make one call on session k; the error text, or None when it succeeded."""
        raise NotImplementedError


class Floor(System):
    name = "floor"
    label = "psycopg alone"
    transports = ("none",)

    @contextlib.asynccontextmanager
    async def open(self, transport: str, n: int) -> AsyncIterator[System]:
        conns = [
            await psycopg.AsyncConnection.connect(self.env.peer_dsn, autocommit=True, row_factory=dict_row)
            for _ in range(n)
        ]
        self.sessions = conns
        try:
            yield self
        finally:
            for c in conns:
                await c.close()

    def prepared(self, workload: Workload, call: Call) -> Any:
        return self.env.book[workload.query].text, wire(call.params)

    async def send(self, k: int, payload: Any) -> str | None:
        text, params = payload
        try:
            cur = await self.sessions[k].execute(text, params, prepare=True)
            if cur.description:
                await cur.fetchall()
        except psycopg.Error as exc:
            return str(exc)[:200]
        return None


class Governed(System):
    """The floor's statement in bizctx's own transaction framing, through bizctx's Database:
    pool checkout, BEGIN + role/tenant/agent, the statement (prepared), the audit row and
    COMMIT. What governance costs in SQL, without MCP, the guard's Python or the transport."""

    name = "governed"
    label = "governed SQL alone"
    transports = ("none",)

    @contextlib.asynccontextmanager
    async def open(self, transport: str, n: int) -> AsyncIterator[System]:
        from bizctx.server.app import open_database
        from bizctx.server.audit import AuditEntry, write_audit
        from bizctx.server.settings import Settings

        self._audit_entry, self._write_audit = AuditEntry, write_audit  # imported once, not per call
        settings = Settings(database_url=self.env.owner_dsn, pool_min_size=n, pool_max_size=n)
        async with open_database(settings, migrate=False) as db:
            self.db = db
            self.sessions = list(range(n))
            yield self

    def prepared(self, workload: Workload, call: Call) -> Any:
        return workload, call.params

    async def send(self, k: int, payload: Any) -> str | None:
        workload, params = payload
        agent_id = self.env.agent_ids[k]
        entry = self._audit_entry(
            request_id=os.urandom(16).hex(),
            transport="stdio",
            kind="tool",
            name=workload.tool,
            arguments=params,
        )
        try:
            # The bench agents' scopes (_workloads.AGENT_ACCESS): tasks all, mem_docs own_and_shared.
            scopes = {"tasks": "all", "mem_docs": "own_and_shared"}
            async with self.db.agent_tx(self.env.tenant_id, agent_id, scopes) as tx:
                for query, values in workload.settings:
                    await tx.all(query, **values)
                await tx.all(workload.query, **params)
                self._write_audit(tx, self.env.tenant_id, agent_id, entry)
        except psycopg.Error as exc:
            return str(exc)[:200]
        return None


# -- MCP systems ------------------------------------------------------------------------------


def _error_text(result: Any) -> str | None:
    if not result.is_error:
        return None
    texts = [getattr(c, "text", "") for c in result.content]
    return (" ".join(texts) or "error")[:300]


async def _hold(
    make: Callable[[], Any],
    sessions: list[Any],
    index: int,
    ready: anyio.Event,
    stop: anyio.Event,
    errors: list,
) -> None:
    for attempt in range(2):  # one retry: a start-up can time out on a machine busy starting 15 others
        try:
            async with Client(make()) as client:
                sessions[index] = client
                ready.set()
                await stop.wait()
                return
        except Exception as exc:  # reported by open()
            if sessions[index] is not None or attempt == 1:
                while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
                    exc = exc.exceptions[0]
                errors.append(exc)
                ready.set()
                return


class McpSystem(System):
    """A system reached by the official MCP client."""

    def server_process(self, port: int) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def stdio_params(self, k: int) -> StdioServerParameters:
        raise NotImplementedError

    def http_url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/mcp"

    def http_headers(self, k: int) -> dict[str, str]:
        return {}

    def http_transport(self, url: str, k: int) -> Any:
        return streamable_http_client(
            url, http_client=httpx2.AsyncClient(headers=self.http_headers(k), timeout=60)
        )

    def arguments(self, workload: Workload, call: Call) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def open(self, transport: str, n: int) -> AsyncIterator[System]:
        process = None
        if transport == "http":
            port = free_port()
            process = self.server_process(port)
            await _wait_for_port(port, process, self.name)
            url = self.http_url(port)
            makers = [lambda k=k: self.http_transport(url, k) for k in range(n)]
        else:
            log = self.env.log(self.name)
            makers = [lambda k=k: stdio_client(self.stdio_params(k), errlog=log) for k in range(n)]
        self.sessions = [None] * n
        stop = anyio.Event()
        errors: list[Exception] = []
        try:
            async with anyio.create_task_group() as tg:
                # Start a few at a time: 16 Python servers importing at once on 2 cores just thrash.
                limit = anyio.Semaphore(4)

                async def start(k: int) -> None:
                    async with limit:
                        ready = anyio.Event()
                        tg.start_soon(_hold, makers[k], self.sessions, k, ready, stop, errors)
                        await ready.wait()

                async with anyio.create_task_group() as starting:
                    for k in range(n):
                        starting.start_soon(start, k)
                try:
                    if errors:
                        raise RuntimeError(f"{self.name} over {transport}: {errors[0]!r}") from errors[0]
                    yield self
                finally:
                    stop.set()
        finally:
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()

    def prepared(self, workload: Workload, call: Call) -> Any:
        return self.arguments(workload, call)

    async def send(self, k: int, payload: Any) -> str | None:
        name, arguments = payload
        result = await self.sessions[k].call_tool(name, arguments)
        return _error_text(result)


async def _wait_for_port(port: int, process: subprocess.Popen[bytes], name: str, limit: float = 90) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before listening (see its log)")
        try:
            stream = await anyio.connect_tcp("127.0.0.1", port)
        except OSError:
            await anyio.sleep(0.1)
            continue
        await stream.aclose()
        return
    raise RuntimeError(f"{name} did not listen on port {port} within {limit:.0f} s")


class Bizctx(McpSystem):
    name = "bizctx"
    label = "bizctx (governed)"

    def supports(self, tool: str) -> str | None:
        return None if tool in self.env.workloads else "not available"

    def base_env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.env.owner_dsn,
            "BIZCTX_DATA_DIR": str(self.env.data_dir),
            "PATH": os.environ.get("PATH", ""),
            # Each stdio process serves one agent; HTTP serves all 16 from one pool.
            "BIZCTX_POOL_MAX_SIZE": "4",
            # A benchmark is a flood by design: fair use would measure itself.
            "BIZCTX_CALLS_PER_MINUTE": "1000000",
        }

    def stdio_params(self, k: int) -> StdioServerParameters:
        command, *args = bizctx_command()
        env = {**self.base_env(), "BIZCTX_AGENT_KEY": self.env.agent_keys[k]}
        return StdioServerParameters(command=command, args=[*args, "serve"], env=env)

    def server_process(self, port: int) -> subprocess.Popen[bytes]:
        env = {**self.base_env(), "BIZCTX_POOL_MAX_SIZE": "16"}
        return subprocess.Popen(
            [*bizctx_command(), "serve", "--transport", "streamable-http", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.env.log(f"{self.name}-http"),
            stderr=subprocess.STDOUT,
        )

    def http_headers(self, k: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env.agent_keys[k]}"}

    def arguments(self, workload: Workload, call: Call) -> tuple[str, dict[str, Any]]:
        return workload.tool, call.args


class BizctxAsyncReads(Bizctx):
    """bizctx with BIZCTX_READ_AUDIT_COMMIT=async: a read call's audit row commits without
    waiting for the WAL flush (the operator setting DESIGN.md allows; durable is the default)."""

    name = "bizctx-async"
    label = "bizctx, async read commits"

    def base_env(self) -> dict[str, str]:
        return {**super().base_env(), "BIZCTX_READ_AUDIT_COMMIT": "async"}


def _tools_spec(env: Env) -> list[dict[str, str]]:
    return [{"name": w.tool, "query": w.query} for w in env.workloads.values() if w.query in env.book]


class Bare(McpSystem):
    name = "bare"
    label = "bare mcp Server"

    def tools_file(self) -> Path:
        path = self.env.work / "bare-tools.json"
        path.write_text(json.dumps(_tools_spec(self.env)))
        return path

    def supports(self, tool: str) -> str | None:
        w = self.env.workloads.get(tool)
        return None if w is not None and w.query in self.env.book else "no baseline statement"

    def command(self) -> list[str]:
        return [
            sys.executable,
            str(BENCH_DIR / "bare_server.py"),
            "--dsn",
            self.env.peer_dsn,
            "--tools",
            str(self.tools_file()),
        ]

    def extra(self, agent: int) -> list[str]:
        """The variant's own options (the variants below), for the server of session `agent`."""
        return []

    def stdio_params(self, k: int) -> StdioServerParameters:
        command, *args = [*self.command(), *self.extra(k)]
        return StdioServerParameters(
            command=command, args=args, env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": _pythonpath()}
        )

    def server_process(self, port: int) -> subprocess.Popen[bytes]:
        # One process serves every session (as agent 0, for the contract's settings).
        return subprocess.Popen(
            [*self.command(), *self.extra(0), "--port", str(port), "--pool-size", "16"],
            env={**os.environ, "PYTHONPATH": _pythonpath()},
            stdin=subprocess.DEVNULL,
            stdout=self.env.log(f"{self.name}-http"),
            stderr=subprocess.STDOUT,
        )

    def arguments(self, workload: Workload, call: Call) -> tuple[str, dict[str, Any]]:
        return workload.tool, wire(call.params)


class BareFast(Bare):
    """The bare server over bizctx's own stdio transport (bare_server.py --fast-stdio): what
    that transport alone saves (over HTTP, the same as bare)."""

    name = "bare-fast"
    label = "bare, bizctx's stdio transport"

    def extra(self, agent: int) -> list[str]:
        return ["--fast-stdio"]  # over HTTP it changes nothing


class BareSchemas(Bare):
    """The bare server publishing bizctx's inputSchema and outputSchema and answering its
    shape (bare_server.py --schemas), over bizctx's own stdio transport as bizctx is (against
    bare-fast: what the schemas cost the client, which validates every result against them)."""

    name = "bare-schemas"
    label = "bare + bizctx's schemas"

    def supports(self, tool: str) -> str | None:
        # Only tools whose bizctx result is their statement's one row.
        return super().supports(tool) if tool == "get_client" else "only get_client"

    def extra(self, agent: int) -> list[str]:
        return ["--schemas", "--fast-stdio"]

    def arguments(self, workload: Workload, call: Call) -> tuple[str, dict[str, Any]]:
        return workload.tool, call.args


class BareContract(BareSchemas):
    """The bare server paying only what DESIGN.md's contract asks of every call (bare_server.py
    --contract): bizctx's schemas, and its role and settings and audit row in the call's
    transaction, in one round trip, with no governance in Python: the floor under issue 19's
    part 5."""

    name = "bare-contract"
    label = "bare + contract's minimum"

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--dsn") + 1] = self.env.owner_dsn  # it switches to bizctx_app
        return command

    def extra(self, agent: int) -> list[str]:
        return ["--contract", f"{self.env.tenant_id}:{self.env.agent_ids[agent]}", "--fast-stdio"]


class BareContractAsync(BareContract):
    """The contract's minimum with commits that do not wait for the WAL flush: the floor for
    bizctx under BIZCTX_READ_AUDIT_COMMIT=async."""

    name = "bare-contract-async"
    label = "bare + contract, async commit"

    def extra(self, agent: int) -> list[str]:
        return [*super().extra(agent), "--async-commit"]


class BareContractAfterRead(BareContractAsync):
    """The contract's minimum, async commit, with an audit row that says how the call ended
    (bare_server.py --audit-after-read): it waits for the statement's rows, as bizctx's does,
    so it costs a second round trip."""

    name = "bare-contract-after-read"
    label = "bare + contract, async, audit after read"

    def extra(self, agent: int) -> list[str]:
        return [*super().extra(agent), "--audit-after-read"]


def _pythonpath() -> str:
    return os.pathsep.join(p for p in sys.path if p)


class Toolbox(McpSystem):
    name = "toolbox"
    label = "MCP Toolbox (Go)"

    def supports(self, tool: str) -> str | None:
        if self.env.toolbox_bin is None:
            return "not installed"
        return Bare.supports(self, tool)  # type: ignore[arg-type]

    def config_file(self) -> Path:
        path = self.env.work / "toolbox.yaml"
        if path.exists():
            return path
        info = self.env.peer_conninfo
        tools: dict[str, Any] = {}
        for w in self.env.workloads.values():
            if w.query not in self.env.book:
                continue
            query = self.env.book[w.query]
            order = _param_order(query.text)
            example = wire(w.make(0).params) if not w.example_params else wire(w.example_params)
            parameters = []
            for name in order:
                from _workloads import toolbox_type

                spec = {"name": name, "description": name, **toolbox_type(example.get(name))}
                if example.get(name) is None:
                    spec["required"] = False
                parameters.append(spec)
            tools[w.tool] = {
                "kind": "postgres-sql",
                "source": "bench",
                "description": f"sql/queries/{w.query.replace('.', '/')}.sql",
                "parameters": parameters,
                "statement": query.positional_text(),
            }
        config = {
            "sources": {
                "bench": {
                    "kind": "postgres",
                    "host": info["host"],
                    "port": str(info["port"]),
                    "database": info["dbname"],
                    "user": info["user"],
                    "password": info["password"],
                }
            },
            "tools": tools,
        }
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        return path

    def args(self) -> list[str]:
        return ["--config", str(self.config_file()), "--disable-reload", "--log-level", "ERROR"]

    def stdio_params(self, k: int) -> StdioServerParameters:
        return StdioServerParameters(
            command=str(self.env.toolbox_bin),
            args=[*self.args(), "--stdio"],
            env={"PATH": os.environ.get("PATH", "")},
        )

    def server_process(self, port: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(self.env.toolbox_bin), *self.args(), "--port", str(port), "--address", "127.0.0.1"],
            stdin=subprocess.DEVNULL,
            stdout=self.env.log("toolbox-http"),
            stderr=subprocess.STDOUT,
        )

    def arguments(self, workload: Workload, call: Call) -> tuple[str, dict[str, Any]]:
        params = wire(call.params)
        return workload.tool, {k: v for k, v in params.items() if v is not None}


def _param_order(text: str) -> list[str]:
    import re

    order: list[str] = []
    for m in re.finditer(r"%%|%\((\w+)\)s", text):
        if m.group(1) and m.group(1) not in order:
            order.append(m.group(1))
    return order


class PostgresMcp(McpSystem):
    name = "postgres-mcp"
    label = "postgres-mcp (Python)"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self._mogrifier: psycopg.Connection | None = None

    def supports(self, tool: str) -> str | None:
        if self.env.postgres_mcp_bin is None:
            return "not installed"
        return Bare.supports(self, tool)  # type: ignore[arg-type]

    def stdio_params(self, k: int) -> StdioServerParameters:
        return StdioServerParameters(
            command=str(self.env.postgres_mcp_bin),
            args=["--access-mode=unrestricted", "--transport=stdio", self.env.peer_url],
            env={"PATH": os.environ.get("PATH", "")},
        )

    def server_process(self, port: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                str(self.env.postgres_mcp_bin),
                "--access-mode=unrestricted",
                "--transport=sse",
                "--sse-host=127.0.0.1",
                f"--sse-port={port}",
                self.env.peer_url,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.env.log("postgres-mcp-sse"),
            stderr=subprocess.STDOUT,
        )

    def http_url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/sse"

    def http_transport(self, url: str, k: int) -> Any:
        # postgres-mcp 0.3.0 has no streamable HTTP: its HTTP transport is SSE.
        return sse_client(url, timeout=60)

    def arguments(self, workload: Workload, call: Call) -> tuple[str, dict[str, Any]]:
        if self._mogrifier is None:
            self._mogrifier = psycopg.connect(self.env.peer_dsn, autocommit=True)
        text = self.env.book[workload.query].text
        sql = psycopg.ClientCursor(self._mogrifier).mogrify(text, wire(call.params))
        return "execute_sql", {"sql": sql}
