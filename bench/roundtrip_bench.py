"""Database round trips per governed write, and per read of get_client and get_client_context
(not a test): how many times a call's server waits for PostgreSQL's answer.

    python bench/roundtrip_bench.py              # 10 calls per tool and mode
    python bench/roundtrip_bench.py --calls 30

It starts a throwaway PostgreSQL, seeds the demo business, and runs `bizctx serve` over stdio
(the official client) with DATABASE_URL pointing at a small TCP proxy in this process. The
proxy counts, per connection, every answer PostgreSQL sends after the server sent something:
the backend writes only when a statement's results are asked for (a Sync, a Flush, an error),
so each such turn is one round trip the call waited for, whatever the client library
batches. For each write tool it prints the median turns per call, without and with an
idempotency_key, and a replay of a key; `on its connection` is the call's own transaction (the
pooled connection with the most turns during the call), `all` adds anything else the call
caused (an audit row after a rollback, live-update NOTIFYs after the commit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import anyio
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pg import ThrowawayPostgres, free_port
from _systems import bizctx_command
from _workloads import TENANT, _slots, load_fixtures
from mcp_bench import base_env, seed_demo

TOOLS = (
    "book_appointment",
    "reschedule_appointment",
    "record_payment",
    "create_invoice",
    "get_client",
    "get_client_context",
)
# Reads take no idempotency key: measured without one only.
READS = frozenset({"get_client", "get_client_context"})
CAPABILITIES = ["clients.read", "appointments.read", "appointments.write", "invoices.read", "invoices.write"]
ACCESS = {
    "clients": {"read": True, "redact": ["email", "phone"]},
    "appointments": {"read": True, "write": True},
    "invoices": {"read": True, "write": True},
}


class CountingProxy:
    """A TCP proxy to PostgreSQL that counts the backend's answers, per connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.turns: dict[int, int] = defaultdict(int)
        self._ids = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    def snapshot(self) -> dict[int, int]:
        return dict(self.turns)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._ids += 1
        conn = self._ids
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        state = {"last": "server"}

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, side: str) -> None:
            try:
                while data := await reader.read(65536):
                    if side == "server" and state["last"] == "client":
                        self.turns[conn] += 1
                    state["last"] = side
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        await asyncio.gather(pump(client_r, server_w, "client"), pump(server_r, client_w, "server"))


def since(before: dict[int, int], after: dict[int, int]) -> tuple[int, int]:
    """(turns on the busiest connection, turns on all) between two snapshots."""
    diffs = [n - before.get(c, 0) for c, n in after.items() if n - before.get(c, 0) > 0]
    return (max(diffs) if diffs else 0, sum(diffs))


async def make_agent(owner_dsn: str) -> str:
    from bizctx.ops import operators
    from bizctx.server.access import parse_access_patterns
    from bizctx.server.app import open_database
    from bizctx.server.settings import Settings

    settings = Settings(database_url=owner_dsn, pool_min_size=1, pool_max_size=2)
    async with open_database(settings, migrate=False) as db:
        access = parse_access_patterns(ACCESS)
        new = await operators.create_agent(db, TENANT, "roundtrips", CAPABILITIES, access)
    return new.key


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    root = Path(tempfile.mkdtemp(prefix="bizctx-roundtrips-"))
    pg = ThrowawayPostgres(root / "db")
    try:
        await anyio.to_thread.run_sync(pg.start)
        owner_dsn = pg.create_database("bench")
        await anyio.to_thread.run_sync(seed_demo, owner_dsn, root / "data")
        key = await make_agent(owner_dsn)
        fx = await anyio.to_thread.run_sync(
            load_fixtures, owner_dsn, [], lambda texts: ([[0.0] * 384 for _ in texts], None)
        )
        with psycopg.connect(owner_dsn, autocommit=True) as conn:
            conn.execute("ANALYZE")
        proxy = CountingProxy(pg.port)
        await proxy.start()
        info = psycopg.conninfo.conninfo_to_dict(owner_dsn)
        info["port"] = str(proxy.port)
        proxied = psycopg.conninfo.make_conninfo("", **info)
        command, *cargs = bizctx_command()
        env = base_env(
            DATABASE_URL=proxied,
            BIZCTX_DATA_DIR=str(root / "data"),
            BIZCTX_AGENT_KEY=key,
            BIZCTX_LOG_LEVEL="WARNING",
            BIZCTX_CALLS_PER_MINUTE="1000000",
        )
        params = StdioServerParameters(command=command, args=[*cargs, "serve"], env=env)
        slot = _slots(fx)
        counter = {"slot": 0}
        service = fx.service
        assert service is not None

        def next_slot() -> tuple[str, str]:
            counter["slot"] += 1
            starts_at, cleaner = slot(counter["slot"] + 500)
            return starts_at.isoformat(), str(cleaner)

        results: dict[str, dict[str, Any]] = {}
        log = (root / "serve.log").open("w")
        async with Client(stdio_client(params, errlog=log)) as client:

            async def call(tool: str, arguments: dict[str, Any]) -> Any:
                result = await client.call_tool(tool, arguments)
                if result.is_error:
                    raise RuntimeError(f"{tool}: {result.content[0].text[:300]}")  # type: ignore[union-attr]
                return result.structured_content

            async def counted(tool: str, arguments: dict[str, Any]) -> tuple[int, int]:
                await anyio.sleep(0.05)  # let anything of the last call settle (NOTIFYs)
                before = proxy.snapshot()
                await call(tool, arguments)
                await anyio.sleep(0.05)
                return since(before, proxy.snapshot())

            async def invoice() -> str:
                made = await call(
                    "create_invoice",
                    {
                        "client_id": str(fx.client_ids[0]),
                        "currency": service["currency"],
                        "items": [{"description": "Bench", "quantity": "1", "unit_price": "1000.00"}],
                    },
                )
                return str(made["id"])

            invoice_id = await invoice()

            async def make(tool: str, i: int) -> dict[str, Any]:
                if tool == "book_appointment":
                    starts_at, cleaner = next_slot()
                    return {
                        "client_id": str(fx.client_ids[i % len(fx.client_ids)]),
                        "service_id": str(service["id"]),
                        "starts_at": starts_at,
                        "resource_id": cleaner,
                    }
                if tool == "reschedule_appointment":
                    booked = await call("book_appointment", await make("book_appointment", i))
                    starts_at, _ = next_slot()
                    return {"appointment_id": booked["id"], "starts_at": starts_at}
                if tool == "record_payment":
                    return {"invoice_id": invoice_id, "amount": "1.00", "method": "card"}
                if tool == "create_invoice":
                    return {
                        "client_id": str(fx.client_ids[i % len(fx.client_ids)]),
                        "currency": service["currency"],
                        "due_date": (date.today() + timedelta(days=30)).isoformat(),
                        "items": [
                            {"service_id": str(service["id"]), "quantity": "2"},
                            {"description": "Materials", "quantity": "1", "unit_price": "12.50"},
                        ],
                    }
                return {"client_id": str(fx.client_ids[i % len(fx.client_ids)])}

            n = 0
            for tool in args.tools.split(","):
                row: dict[str, Any] = {}
                for mode in ("no key", "key", "replay"):
                    if mode != "no key" and tool in READS:
                        continue
                    own: list[int] = []
                    every: list[int] = []
                    for i in range(args.warmup + args.calls):
                        n += 1
                        arguments = await make(tool, n)
                        if mode != "no key":
                            arguments["idempotency_key"] = f"rt-{uuid.uuid4()}"
                        if mode == "replay":
                            await call(tool, arguments)
                        counts = await counted(tool, arguments)
                        if i >= args.warmup:
                            own.append(counts[0])
                            every.append(counts[1])
                    row[mode] = {"own": statistics.median(own), "all": statistics.median(every)}
                results[tool] = row
                print(f"  {tool}: {json.dumps(row)}", file=sys.stderr, flush=True)
        log.close()
        await proxy.stop()
        return results
    finally:
        await anyio.to_thread.run_sync(pg.stop)
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description="database round trips per governed call (not a test)")
    p.add_argument("--calls", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--tools", default=",".join(TOOLS))
    args = p.parse_args()
    started = time.perf_counter()
    results = anyio.run(run, args)
    commit = (
        shutil.which("git")
        and __import__("subprocess")
        .run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
        )
        .stdout.strip()
    )
    print(f"database round trips per call (median of {args.calls}; commit {commit}):")
    print(f"{'tool':24} {'no key':>14} {'with key':>14} {'replayed key':>14}")
    for tool, row in results.items():
        cells = []
        for mode in ("no key", "key", "replay"):
            c = row.get(mode)
            cells.append(f"{c['own']:g} ({c['all']:g})" if c else "-")
        print(f"{tool:24} {cells[0]:>14} {cells[1]:>14} {cells[2]:>14}")
    print("each cell: on the call's own connection (on all connections); target <= 4 for the writes")
    print(f"finished in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
