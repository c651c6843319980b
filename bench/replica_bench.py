"""Replicas (issue 19, part 7; not a test): calls/s of get_client at 32 agents from one
stateless `bizctx serve --transport streamable-http` process against two on the same database
behind a load balancer, interleaved fixed-time rounds, with the CPU each process spent per call.

    python bench/replica_bench.py                  # 3 rounds x 15 s per cell, 100,000 clients
    python bench/replica_bench.py --quick          # 1 round x 5 s, demo data only

It needs HAProxy on PATH (Debian: `apt-get install haproxy`; not installed silently), balancing
round-robin in HTTP mode, which HAProxy decides per request: one agent's session, on its one
connection, is answered by both replicas (the report counts, from the replicas' logs, the
agents whose calls each replica answered).
Cells:

  1 process           one stateless server, the clients straight at it (the baseline)
  1 process + proxy   the same server behind HAProxy (what the proxy alone costs)
  2 processes + proxy two stateless servers behind HAProxy

On a 2-core machine the database, the servers, HAProxy and the load generator share the two
cores, so two replicas cannot double anything: the report gives CPU milliseconds per call of
each part, and the scaling they project when each part has cores of its own.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pg import free_port
from http_bench import Cell, CpuMeter, Loaders, Server, bizctx_server, say, set_up, summarize

TARGET = 1.8


def haproxy_config(port: int, backends: list[int]) -> str:
    servers = "\n".join(f"    server s{i} 127.0.0.1:{p}" for i, p in enumerate(backends))
    return f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    option http-keep-alive
frontend mcp
    bind 127.0.0.1:{port}
    default_backend bizctx
backend bizctx
    balance roundrobin
{servers}
"""


class Proxy:
    def __init__(self, work: Path, name: str, backends: list[int]) -> None:
        self.port = free_port()
        config = work / f"haproxy-{name}.cfg"
        config.write_text(haproxy_config(self.port, backends))
        log = open(work / "logs" / f"haproxy-{name}.log", "ab")
        self.process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=log, stderr=log)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", type=int, default=32)
    p.add_argument("--processes", type=int, default=2, help="client processes")
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int, default=100_000)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.clients = 1, 5.0, 0
    if shutil.which("haproxy") is None:
        raise SystemExit("replica_bench needs HAProxy on PATH (Debian: apt-get install haproxy)")
    args.install_peers = False
    setup = set_up(args, args.agents, set())
    stateless = {"BIZCTX_HTTP_STATELESS": "1"}
    one = bizctx_server(setup, "one", "1 process", **stateless)
    a = bizctx_server(setup, "replica-a", "replica a", **stateless)
    b = bizctx_server(setup, "replica-b", "replica b", **stateless)
    servers: list[Server] = [one, a, b]
    proxies: list[Proxy] = []
    cells: list[Cell] = []
    try:
        for s in servers:
            s.start(setup.root / "logs")
        for s in servers:
            s.wait_listening()
        proxy_one = Proxy(setup.root, "one", [one.port])
        proxy_two = Proxy(setup.root, "two", [a.port, b.port])
        proxies = [proxy_one, proxy_two]
        time.sleep(1.0)
        headers = [{"Authorization": f"Bearer {k}"} for k in setup.env.agent_keys]
        calls = setup.calls["bizctx"]
        targets = [
            ("1 process", one.url, one, [one.process.pid]),  # type: ignore[union-attr]
            ("1 process + proxy", f"http://127.0.0.1:{proxy_one.port}/mcp", one, [one.process.pid]),  # type: ignore[union-attr]
            (
                "2 processes + proxy",
                f"http://127.0.0.1:{proxy_two.port}/mcp",
                a,
                [a.process.pid, b.process.pid],  # type: ignore[union-attr]
            ),
        ]
        proxy_pid = {"1 process": None, "1 process + proxy": proxy_one.process.pid}
        proxy_pid["2 processes + proxy"] = proxy_two.process.pid
        cpu_pids: dict[str, list[int]] = {}
        for name, url, _server, pids in targets:
            loaders = Loaders(
                setup.root,
                name.replace(" ", "_").replace("+", ""),
                url,
                "streamable",
                headers,
                calls,
                args.processes,
            )
            cell = Cell(name, name, Server(name, name, [], {}), loaders)
            cpu_pids[name] = pids
            cells.append(cell)
        for c in cells:
            c.loaders.wait_ready()
        say("measuring")
        pg_meter = CpuMeter(pg=setup.pg)
        for r in range(args.rounds):
            order = cells[r % len(cells) :] + cells[: r % len(cells)]
            for cell in order:
                meters = {
                    "server": CpuMeter(cpu_pids[cell.name]),
                    "client": CpuMeter(cell.loaders.pids),
                    "proxy": CpuMeter([pp] if (pp := proxy_pid[cell.name]) else []),
                    "pg": pg_meter,
                }
                before = {k: m.read() for k, m in meters.items()}
                result = cell.loaders.run(args.seconds)
                after = {k: m.read() for k, m in meters.items()}
                for k, m in meters.items():
                    result[f"{k}_cpu_s"] = m.spent(before[k], after[k])
                result["calls_per_s"] = result["calls"] / result["wall"]
                cell.rounds.append(result)
                say(
                    f"  round {r + 1} {cell.name:22} {result['calls_per_s']:7.1f} calls/s "
                    f"({result['errors']} errors)"
                )
        rows = []
        for cell in cells:
            row = summarize(cell)
            total = sum(x["calls"] for x in cell.rounds) or 1
            row["proxy_cpu_ms_per_call"] = round(sum(x["proxy_cpu_s"] for x in cell.rounds) * 1000 / total, 3)
            rows.append(row)
        served = {s.name: calls_by_agent(setup.root / "logs" / f"{s.name}.log") for s in (a, b)}
        report(rows, args, served)
        if args.json:
            Path(args.json).write_text(json.dumps({"cells": rows, "served_by_replica": served}, indent=2))
    finally:
        for c in cells:
            c.loaders.close()
        for pr in proxies:
            pr.stop()
        for s in servers:
            s.stop()
        setup.pg.cleanup()
    return 0


def calls_by_agent(log: Path) -> dict[str, int]:
    """The tool calls a server answered, per agent, from its log (a JSON line per call)."""
    counts: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("logger") == "bizctx.guard" and str(entry.get("msg", "")).startswith("tool "):
            counts[entry.get("agent", "?")] = counts.get(entry.get("agent", "?"), 0) + 1
    return counts


def report(rows: list[dict[str, Any]], args: argparse.Namespace, served: dict[str, dict[str, int]]) -> None:
    base = rows[0]["calls_per_s"]
    print(
        f"\n== get_client, {args.agents} agents over {args.processes} client processes, stateless streamable "
        f"HTTP, {args.rounds} interleaved rounds of {args.seconds:.0f} s =="
    )
    print(
        f"{'cell':22} {'calls/s':>8} {'vs 1 process':>13} {'server ms/call':>15} {'pg ms/call':>11} "
        f"{'proxy ms/call':>14} {'client ms/call':>15}  errors"
    )
    for r in rows:
        print(
            f"{r['system']:22} {r['calls_per_s']:8.1f} {r['calls_per_s'] / base:12.2f}x "
            f"{r['server_cpu_ms_per_call']:15.2f} {r['pg_cpu_ms_per_call']:11.2f} "
            f"{r['proxy_cpu_ms_per_call']:14.2f} {r['client_cpu_ms_per_call']:15.2f}  {r['errors']}"
        )
    proxied, two = rows[1], rows[-1]
    # DESIGN.md's "Scale on this machine": on 2 cores, what must hold is CPU per call flat from 1
    # to 2 replicas (both behind the proxy: the same path) and no error when an agent's calls
    # cross replicas.
    print(
        f"  CPU per call, 2 processes against 1 behind the proxy: server {two['server_cpu_ms_per_call']:.2f} "
        f"against {proxied['server_cpu_ms_per_call']:.2f} ms "
        f"({two['server_cpu_ms_per_call'] / proxied['server_cpu_ms_per_call']:.2f}x), PostgreSQL "
        f"{two['pg_cpu_ms_per_call']:.2f} against {proxied['pg_cpu_ms_per_call']:.2f} ms "
        f"({two['pg_cpu_ms_per_call'] / proxied['pg_cpu_ms_per_call']:.2f}x); errors in the 2-process cell: "
        f"{two['errors']}"
    )
    agents = set().union(*(set(c) for c in served.values()))
    both = [g for g in agents if all(c.get(g, 0) for c in served.values())]
    print(
        f"  calls crossing replicas: {len(both)} of {len(agents)} agents had calls answered by both replicas "
        "on their one connection ("
        + ", ".join(f"{name}: {sum(c.values())} calls" for name, c in served.items())
        + ")"
    )
    cores = 2
    per_call = (
        two["server_cpu_ms_per_call"]
        + two["pg_cpu_ms_per_call"]
        + two["proxy_cpu_ms_per_call"]
        + two["client_cpu_ms_per_call"]
    )
    print(
        f"  two replicas: {two['calls_per_s'] / base:.2f}x one process (target {TARGET}x until the database "
        f"saturates); {per_call:.2f} ms of CPU per call in all, so {cores} cores cap this machine near "
        f"{cores * 1000 / per_call:.0f} calls/s whatever the replica count."
    )
    server_ms = two["server_cpu_ms_per_call"]
    pg_ms = two["pg_cpu_ms_per_call"]
    print(
        f"  projected, each part on cores of its own: one server process (one core) tops out near "
        f"{1000 / server_ms:.0f} calls/s, two near {2000 / server_ms:.0f}; PostgreSQL at "
        f"{pg_ms:.2f} ms per call saturates {1000 / pg_ms:.0f} calls/s per core it has."
    )


if __name__ == "__main__":
    sys.exit(main())
