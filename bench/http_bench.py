"""Throughput over HTTP (issue 19, part 6; not a test): calls per second of get_client with
16 sessions over 2 client processes, each system measured for a fixed time in interleaved
rounds, with the CPU each process spent per call.

    python bench/http_bench.py                      # 3 rounds x 15 s per system, 100,000 clients
    python bench/http_bench.py --quick              # 1 round x 5 s, demo data only (a smoke run)
    python bench/http_bench.py --install-peers      # also install postgres-mcp into bench/.cache
    python bench/http_bench.py --profile bizctx     # also py-spy that system's server for a round
    python bench/http_bench.py --json out.json

Systems (every server process started once, its client processes kept open across rounds):

  bizctx            `bizctx serve --transport streamable-http` (stateful sessions: the default)
  bizctx-stateless  the same with BIZCTX_HTTP_STATELESS=1
  bizctx-json       stateless with BIZCTX_HTTP_JSON_RESPONSE=1 (one JSON body per answer, no SSE)
  bizctx-async      the default with BIZCTX_READ_AUDIT_COMMIT=async (a read's audit row commits
                    without waiting for the WAL flush)
  bare-mcpserver    bench/bare_server.py --high-level: the SDK's high-level MCPServer, the same
                    SQL, no governance, stateless streamable HTTP with JSON responses (the
                    baseline of issue 19's target)
  bare-mcpserver-contract
                    the same paying only what DESIGN.md's contract asks of every call
                    (bare_server.py --contract: bizctx's output model, role and settings, and
                    audit row in the call's transaction, in one round trip): the floor under
                    the target
  bare-mcpserver-contract-async
                    the same, its COMMIT not waiting for the WAL flush (the floor under
                    BIZCTX_READ_AUDIT_COMMIT=async)
  bare-mcpserver-contract-after-read
                    the same, its audit row written once the statement's rows are in, saying
                    how the call ended (--audit-after-read): two round trips, as bizctx's reads
  bare-lowlevel     bench/bare_server.py: the low-level Server, default streamable HTTP
  postgres-mcp      postgres-mcp 0.3.0 over SSE (it has no streamable HTTP), its execute_sql

The official `mcp` 2.x client negotiates protocol 2026-07-28, which is one POST per call
whatever the server's session settings; `--legacy` adds cells with clients that negotiate the
handshake-era protocol (2025-11-25: sessions, the SSE-framed answers of a stateful server).

Per system: calls/s (median of rounds), and CPU milliseconds per call of the server process,
of PostgreSQL (all its backends) and of the client processes; ratios against the bare
MCPServer and postgres-mcp from the same run. Target (issue 19): bizctx >= 0.8x the bare
MCPServer and ahead of postgres-mcp.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cpu import CpuMeter
from _pg import ThrowawayPostgres, free_port
from _systems import BENCH_DIR, Bizctx, Env, PostgresMcp, _pythonpath, _tools_spec, bizctx_command
from _workloads import load_fixtures, wire, workloads
from mcp_bench import (
    CACHE,
    PROFILE_RATE,
    make_agents,
    make_peer_role,
    resolve_peers,
    seed_demo,
    summarize_profile,
)

TARGET_VS_BARE = 0.8
TOOL = "get_client"


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- servers and load -----------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    label: str
    command: list[str]
    env: dict[str, str]
    path: str = "/mcp"
    kind: str = "streamable"  # or "sse"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    keyed: bool = False  # sends each session's agent key
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    def start(self, logs: Path) -> None:
        self.port = free_port()
        command = [a.replace("{port}", str(self.port)) for a in self.command]
        log = open(logs / f"{self.name}.log", "ab")
        self.process = subprocess.Popen(
            command, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )

    def wait_listening(self, limit: float = 90) -> None:
        import socket

        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode} (see its log)")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not listen within {limit:.0f} s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Loaders:
    """The client processes of one cell: each opens its share of the sessions and waits for `go`."""

    def __init__(
        self,
        work: Path,
        name: str,
        url: str,
        kind: str,
        headers: list[dict[str, str]],
        calls: list[tuple[str, dict[str, Any]]],
        processes: int,
        mode: str = "auto",
    ) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        per = [headers[i::processes] for i in range(processes)]
        for i, share in enumerate(per):
            config = work / f"load-{name}-{i}.json"
            config.write_text(
                json.dumps(
                    {"url": url, "kind": kind, "mode": mode, "headers": share, "calls": calls, "warmup": 5}
                )
            )
            err = open(work / f"load-{name}-{i}.log", "a")
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, str(BENCH_DIR / "_http_load.py"), str(config)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                    env={**os.environ, "PYTHONPATH": _pythonpath()},
                )
            )

    def wait_ready(self) -> None:
        for p in self.procs:
            assert p.stdout is not None
            line = p.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"a load process failed to start (exit {p.poll()}); see its log")

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def run(self, seconds: float) -> dict[str, Any]:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(f"go {seconds}\n")
            p.stdin.flush()
        results = []
        for p in self.procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            if not line:
                raise RuntimeError(f"a load process died (exit {p.poll()}); see its log")
            results.append(json.loads(line))
        return {
            "calls": sum(r["calls"] for r in results),
            "errors": sum(r["errors"] for r in results),
            "first_error": next((r["first_error"] for r in results if r["first_error"]), None),
            "wall": max(r["wall"] for r in results),
        }

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    assert p.stdin is not None
                    p.stdin.write("quit\n")
                    p.stdin.flush()
                    p.wait(timeout=20)
                except (OSError, subprocess.TimeoutExpired):
                    p.kill()


# -- set-up ---------------------------------------------------------------------------------------


@dataclass
class Setup:
    pg: ThrowawayPostgres
    env: Env
    root: Path
    calls: dict[str, list[tuple[str, dict[str, Any]]]]  # per call style: bizctx, bare, postgres-mcp


def add_clients(owner_dsn: str, tenant_id: Any, n: int) -> None:
    """n more clients in the benchmark tenant, generated by the server (one statement)."""
    if n <= 0:
        return
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO clients (tenant_id, first_name, last_name, email, phone) "
            "SELECT %(t)s, 'Bench' || g, 'Client' || g, 'bench' || g || '@example.com', "
            "'+1 555 ' || lpad(g::text, 7, '0') FROM generate_series(1, %(n)s) AS g",
            {"t": tenant_id, "n": n},
        )


def no_embeddings(texts: list[str]) -> tuple[list[list[float]], str | None]:
    return [[0.0] * 383 + [1.0] for _ in texts], None


def set_up(args: argparse.Namespace, agents: int, wanted: set[str]) -> Setup:
    peers = resolve_peers(args.install_peers, wanted & {"postgres-mcp"})
    for p in peers.values():
        say(f"peer {p.name}: " + (f"skipped ({p.skipped})" if p.skipped else f"{p.version} at {p.path}"))
    root = Path(tempfile.mkdtemp(prefix="bizctx-http-bench-"))
    (root / "logs").mkdir()
    pg = ThrowawayPostgres(root / "db").start()
    say(f"PostgreSQL on 127.0.0.1:{pg.port}")
    owner_dsn = pg.create_database("bench")
    data_dir = root / "data"
    seed_demo(owner_dsn, data_dir)
    import anyio

    keys, agent_ids = anyio.run(make_agents, owner_dsn, agents)
    with psycopg.connect(owner_dsn) as conn:
        tenant_id = conn.execute("SELECT id FROM tenants WHERE name = 'Demo Home Services'").fetchone()[0]  # type: ignore[index]
    started = time.perf_counter()
    add_clients(owner_dsn, tenant_id, args.clients)
    say(f"demo seeded, {agents} agents, {args.clients} more clients ({time.perf_counter() - started:.1f} s)")
    fixtures = load_fixtures(owner_dsn, agent_ids, no_embeddings)
    password = uuid.uuid4().hex
    make_peer_role(owner_dsn, password, fixtures.tenant_id, agent_ids[0])
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
    from bizctx.server.queries import QueryBook

    book = QueryBook.load()
    all_workloads = workloads(fixtures)
    work = {TOOL: all_workloads[TOOL]}
    peer_dsn = pg.dsn("bench", "bench_peer", password)
    env = Env(
        work=root,
        owner_dsn=owner_dsn,
        peer_dsn=peer_dsn,
        peer_conninfo=psycopg.conninfo.conninfo_to_dict(peer_dsn),
        peer_url=f"postgresql://bench_peer:{password}@127.0.0.1:{pg.port}/bench",
        agent_keys=keys,
        data_dir=data_dir,
        book=book,
        workloads=work,
        tenant_id=fixtures.tenant_id,
        agent_ids=agent_ids,
        postgres_mcp_bin=peers["postgres-mcp"].path if "postgres-mcp" in peers else None,
    )
    w = work[TOOL]
    made = [w.make(i) for i in range(2000)]
    pmcp = PostgresMcp(env)
    calls = {
        "bizctx": [(TOOL, c.args) for c in made],
        "bare": [(TOOL, wire(c.params)) for c in made],
        "postgres-mcp": [pmcp.arguments(w, c) for c in made] if env.postgres_mcp_bin else [],
    }
    return Setup(pg, env, root, calls)


def bizctx_server(setup: Setup, name: str, label: str, **extra: str) -> Server:
    base = Bizctx(setup.env).base_env()
    env = {**base, "BIZCTX_POOL_MAX_SIZE": "16", **extra}
    return Server(
        name,
        label,
        [*bizctx_command(), "serve", "--transport", "streamable-http", "--port", "{port}"],
        env,
        calls=setup.calls["bizctx"],
        keyed=True,
    )


def make_servers(setup: Setup, wanted: list[str]) -> list[Server]:
    tools_file = setup.root / "bare-tools.json"
    tools_file.write_text(json.dumps(_tools_spec(setup.env)))
    bare = [
        sys.executable,
        str(BENCH_DIR / "bare_server.py"),
        "--dsn",
        setup.env.peer_dsn,
        "--tools",
        str(tools_file),
    ]
    bare_env = {**os.environ, "PYTHONPATH": _pythonpath()}
    # The contract's minimum (bare_server.py --contract) switches to bizctx_app: the owner's DSN.
    contract_floor = [
        *bare[:3],
        setup.env.owner_dsn,
        *bare[4:],
        *("--port", "{port}", "--pool-size", "16", "--high-level"),
        *("--contract", f"{setup.env.tenant_id}:{setup.env.agent_ids[0]}"),
    ]
    made: dict[str, Server] = {
        "bizctx": bizctx_server(setup, "bizctx", "bizctx (stateful default)"),
        "bizctx-stateless": bizctx_server(
            setup, "bizctx-stateless", "bizctx (BIZCTX_HTTP_STATELESS)", BIZCTX_HTTP_STATELESS="1"
        ),
        "bizctx-json": bizctx_server(
            setup,
            "bizctx-json",
            "bizctx (BIZCTX_HTTP_STATELESS + JSON_RESPONSE)",
            BIZCTX_HTTP_STATELESS="1",
            BIZCTX_HTTP_JSON_RESPONSE="1",
        ),
        "bizctx-async": bizctx_server(
            setup, "bizctx-async", "bizctx (BIZCTX_READ_AUDIT_COMMIT=async)", BIZCTX_READ_AUDIT_COMMIT="async"
        ),
        "bare-mcpserver": Server(
            "bare-mcpserver",
            "bare MCPServer (stateless, JSON)",
            [*bare, "--port", "{port}", "--pool-size", "16", "--high-level"],
            bare_env,
            calls=setup.calls["bare"],
        ),
        "bare-mcpserver-contract": Server(
            "bare-mcpserver-contract",
            "bare MCPServer + contract's minimum",
            contract_floor,
            bare_env,
            calls=setup.calls["bare"],
        ),
        "bare-mcpserver-contract-async": Server(
            "bare-mcpserver-contract-async",
            "bare MCPServer + contract, async commit",
            [*contract_floor, "--async-commit"],
            bare_env,
            calls=setup.calls["bare"],
        ),
        "bare-mcpserver-contract-after-read": Server(
            "bare-mcpserver-contract-after-read",
            "bare MCPServer + contract, async, audit after read",
            [*contract_floor, "--async-commit", "--audit-after-read"],
            bare_env,
            calls=setup.calls["bare"],
        ),
        "bare-lowlevel": Server(
            "bare-lowlevel",
            "bare low-level Server",
            [*bare, "--port", "{port}", "--pool-size", "16"],
            bare_env,
            calls=setup.calls["bare"],
        ),
    }
    if setup.env.postgres_mcp_bin is not None:
        made["postgres-mcp"] = Server(
            "postgres-mcp",
            "postgres-mcp 0.3.0 (SSE)",
            [
                str(setup.env.postgres_mcp_bin),
                "--access-mode=unrestricted",
                "--transport=sse",
                "--sse-host=127.0.0.1",
                "--sse-port={port}",
                setup.env.peer_url,
            ],
            {"PATH": os.environ.get("PATH", "")},
            path="/sse",
            kind="sse",
            calls=setup.calls["postgres-mcp"],
        )
    return [made[n] for n in wanted if n in made]


@dataclass
class Cell:
    name: str  # system[/legacy]
    label: str
    server: Server
    loaders: Loaders
    rounds: list[dict[str, Any]] = field(default_factory=list)


def measure(
    cells: list[Cell], pg: ThrowawayPostgres, rounds: int, seconds: float, cpu_pids: dict[str, list[int]]
) -> None:
    """Interleaved rounds: each round runs every cell once, the order rotating."""
    pg_meter = CpuMeter(pg=pg)
    for r in range(rounds):
        order = cells[r % len(cells) :] + cells[: r % len(cells)]
        for cell in order:
            server_meter = CpuMeter(cpu_pids[cell.server.name])
            client_meter = CpuMeter(cell.loaders.pids)
            before = (server_meter.read(), pg_meter.read(), client_meter.read())
            result = cell.loaders.run(seconds)
            after = (server_meter.read(), pg_meter.read(), client_meter.read())
            result["server_cpu_s"] = CpuMeter.spent(before[0], after[0])
            result["pg_cpu_s"] = CpuMeter.spent(before[1], after[1])
            result["client_cpu_s"] = CpuMeter.spent(before[2], after[2])
            result["calls_per_s"] = result["calls"] / result["wall"]
            cell.rounds.append(result)
            say(
                f"  round {r + 1} {cell.name:26} {result['calls_per_s']:7.1f} calls/s"
                + (f"  ({result['errors']} errors: {result['first_error']})" if result["errors"] else "")
            )


def summarize(cell: Cell) -> dict[str, Any]:
    calls = sum(r["calls"] for r in cell.rounds) or 1

    def per_call(key: str) -> float:
        return round(sum(r[key] for r in cell.rounds) * 1000 / calls, 3)

    return {
        "system": cell.name,
        "label": cell.label,
        "calls_per_s": round(statistics.median(r["calls_per_s"] for r in cell.rounds), 1),
        "rounds_calls_per_s": [round(r["calls_per_s"], 1) for r in cell.rounds],
        "errors": sum(r["errors"] for r in cell.rounds),
        "first_error": next((r["first_error"] for r in cell.rounds if r["first_error"]), None),
        "server_cpu_ms_per_call": per_call("server_cpu_s"),
        "pg_cpu_ms_per_call": per_call("pg_cpu_s"),
        "client_cpu_ms_per_call": per_call("client_cpu_s"),
        # All three sides together: on a saturated machine calls/s goes as its inverse.
        "cpu_ms_per_call": round(
            per_call("server_cpu_s") + per_call("pg_cpu_s") + per_call("client_cpu_s"), 3
        ),
    }


def profile(cell: Cell, seconds: float) -> dict[str, Any]:
    """py-spy the cell's server process for one more round of load: where its CPU goes."""
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists() or cell.server.process is None:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    out = CACHE / "profiles" / f"http-{cell.name.replace('/', '-')}-{time.strftime('%Y%m%dT%H%M%S')}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    spy_proc = subprocess.Popen(
        [spy, "record", "--pid", str(cell.server.process.pid), "--duration", str(int(seconds))]
        + ["--rate", str(PROFILE_RATE), "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    result = cell.loaders.run(seconds - 1.5)
    _, err = spy_proc.communicate()
    if spy_proc.returncode != 0 or not out.exists():
        return {"skipped": f"py-spy failed: {err.strip()[-300:]}"}
    return summarize_profile(out, calls=result["calls"])


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def print_report(result: dict[str, Any]) -> None:
    rows = result["systems"]
    by = {r["system"]: r for r in rows}
    bare = by.get("bare-mcpserver", {}).get("calls_per_s")
    bare_cpu = by.get("bare-mcpserver", {}).get("cpu_ms_per_call")
    pmcp = by.get("postgres-mcp", {}).get("calls_per_s")
    print(
        f"\n== {TOOL} over HTTP: {result['sessions']} sessions over {result['processes']} client processes, "
        f"{result['rounds']} interleaved rounds of {result['seconds']:.0f} s, "
        f"{result['clients_in_tenant']} extra clients =="
    )
    print(
        f"{'system':28} {'calls/s':>8} {'vs bare MCPServer':>18} {'vs postgres-mcp':>16} "
        f"{'server ms/call':>15} {'pg ms/call':>11} {'client ms/call':>15} {'bare CPU / CPU':>15}  errors"
    )
    for r in rows:
        print(
            f"{r['system']:28} {r['calls_per_s']:8.1f} {ratio(r['calls_per_s'], bare):>18} "
            f"{ratio(r['calls_per_s'], pmcp):>16} {r['server_cpu_ms_per_call']:15.2f} "
            f"{r['pg_cpu_ms_per_call']:11.2f} {r['client_cpu_ms_per_call']:15.2f} "
            f"{ratio(bare_cpu, r['cpu_ms_per_call']):>15}  {r['errors']}"
        )
    print("  (CPU ms per call: user + system CPU of the process(es) over the rounds / calls made)")
    print(
        "  (bare CPU / CPU: the bare MCPServer's CPU per call, server + PostgreSQL + clients, over this\n"
        "   system's: the calls/s ratio the machine's cores allow when saturated, steadier than the\n"
        "   measured one, whose rounds move with the machine's speed)"
    )
    for v in result["verdicts"]:
        print(f"  {v}")
    for name, prof in result.get("profiles", {}).items():
        print(f"\n-- py-spy of {name}'s server under load --")
        if "skipped" in prof:
            print(f"  skipped: {prof['skipped']}")
            continue
        print(
            f"  {prof['samples']} samples, {prof['calls']} calls, "
            f"{prof['cpu_ms_per_call']} ms of Python per call (wall samples: include waits for a core)"
        )
        for k, v in prof["by_category_pct"].items():
            print(f"  {v:5.1f}%  {k}")
        print("  top inclusive:")
        for f, v in prof["top_inclusive_pct"]:
            print(f"  {v:5.1f}%  {f}")
        print(f"  raw stacks: {prof['raw']}")


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    by = {r["system"]: r for r in rows}
    out = []
    bare = by.get("bare-mcpserver", {}).get("calls_per_s")
    pmcp = by.get("postgres-mcp", {}).get("calls_per_s")
    for r in rows:
        if not r["system"].startswith("bizctx"):
            continue
        parts = []
        if bare:
            x = r["calls_per_s"] / bare
            parts.append(
                f"{x:.2f}x the bare MCPServer "
                f"({'meets' if x >= TARGET_VS_BARE else 'misses'} >= {TARGET_VS_BARE}x)"
            )
        if pmcp:
            x = r["calls_per_s"] / pmcp
            parts.append(f"{x:.2f}x postgres-mcp ({'ahead' if x > 1 else 'behind'})")
        out.append(f"{r['system']}: " + "; ".join(parts or ["no baseline measured"]))
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--systems", default="bizctx,bizctx-stateless,bizctx-json,bare-mcpserver,bare-lowlevel,postgres-mcp"
    )
    p.add_argument("--sessions", type=int, default=16)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int, default=100_000, help="clients added to the demo tenant")
    p.add_argument("--legacy", action="store_true", help="also clients of the handshake-era protocol")
    p.add_argument("--install-peers", action="store_true")
    p.add_argument("--profile", default="", help="systems to py-spy for one more round, e.g. bizctx")
    p.add_argument("--quick", action="store_true", help="1 round of 5 s, no extra clients")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.clients = 1, 5.0, 0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    setup = set_up(args, args.sessions, set(wanted))
    servers = make_servers(setup, wanted)
    cells: list[Cell] = []
    try:
        for s in servers:
            s.start(setup.root / "logs")
        for s in servers:
            s.wait_listening()
        say("servers listening: " + ", ".join(f"{s.name}:{s.port}" for s in servers))
        keys = setup.env.agent_keys
        for s in servers:
            modes = ["auto"] + (["legacy"] if args.legacy and s.kind == "streamable" else [])
            for mode in modes:
                headers = [
                    {"Authorization": f"Bearer {keys[k]}"} if s.keyed else {} for k in range(args.sessions)
                ]
                name = s.name if mode == "auto" else f"{s.name}/legacy"
                loaders = Loaders(
                    setup.root, name.replace("/", "-"), s.url, s.kind, headers, s.calls, args.processes, mode
                )
                cells.append(
                    Cell(name, s.label + (" 2025-11-25 client" if mode == "legacy" else ""), s, loaders)
                )
        for c in cells:
            c.loaders.wait_ready()
        say(f"{len(cells)} cells ready; measuring")
        cpu_pids = {s.name: [s.process.pid] for s in servers if s.process is not None}
        measure(cells, setup.pg, args.rounds, args.seconds, cpu_pids)
        rows = [summarize(c) for c in cells]
        result: dict[str, Any] = {
            "tool": TOOL,
            "sessions": args.sessions,
            "processes": args.processes,
            "rounds": args.rounds,
            "seconds": args.seconds,
            "clients_in_tenant": args.clients,
            "systems": rows,
            "verdicts": verdicts(rows),
            "profiles": {},
        }
        for name in [n.strip() for n in args.profile.split(",") if n.strip()]:
            cell = next((c for c in cells if c.name == name), None)
            if cell is not None:
                say(f"profiling {name}")
                result["profiles"][name] = profile(cell, max(args.seconds, 10))
        print_report(result)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
    finally:
        for c in cells:
            c.loaders.close()
        for s in servers:
            s.stop()
        setup.pg.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
