"""One load-generating client process of bench/http_bench.py and bench/replica_bench.py (not a
test): opens its sessions with the official `mcp` client, warms them up, says `ready`, and then
for each `go SECONDS` line on stdin runs every session in a closed loop (one call in flight per
session) for that long and prints one JSON line: calls, errors, the first error. `quit` ends it.

    python bench/_http_load.py CONFIG.json

CONFIG: {"url", "kind": "streamable" | "sse", "mode": "auto" | "legacy",
         "headers": [one dict per session], "calls": [[tool, arguments], ...], "warmup": N}
Session k makes calls k, k + n, k + 2n, ... of the list, round and round.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client


def _transport(config: dict[str, Any], headers: dict[str, str]) -> Any:
    if config["kind"] == "sse":
        return sse_client(config["url"], headers=headers, timeout=60)
    # Generous connection limits: each session is its own client, one call in flight.
    http = httpx2.AsyncClient(headers=headers, timeout=60)
    return streamable_http_client(config["url"], http_client=http)


async def _session(
    config: dict[str, Any], k: int, clients: list[Any], ready: anyio.Event, stop: anyio.Event
) -> None:
    async with Client(_transport(config, config["headers"][k]), mode=config.get("mode", "auto")) as client:
        clients[k] = client
        ready.set()
        await stop.wait()


def _error_text(result: Any) -> str | None:
    if not result.is_error:
        return None
    return (" ".join(getattr(c, "text", "") for c in result.content) or "error")[:300]


async def main(path: str) -> None:
    config = json.loads(await anyio.Path(path).read_text(encoding="utf-8"))
    n = len(config["headers"])
    calls = config["calls"]
    clients: list[Any] = [None] * n
    stop = anyio.Event()
    stdin = anyio.wrap_file(sys.stdin)
    async with anyio.create_task_group() as tg:
        for k in range(n):
            ready = anyio.Event()
            tg.start_soon(_session, config, k, clients, ready, stop)
            with anyio.fail_after(60):
                await ready.wait()
        for k, client in enumerate(clients):  # warm-up: connections open, caches filled
            for i in range(config.get("warmup", 5)):
                name, args = calls[(k + i * n) % len(calls)]
                await client.call_tool(name, args)
        print("ready", flush=True)
        while True:
            line = (await stdin.readline()).strip()
            if not line or line == "quit":
                break
            seconds = float(line.split()[1])
            counts = [0] * n
            errors: list[str] = []
            deadline = time.monotonic() + seconds

            async def loop(
                k: int, deadline: float = deadline, counts: list[int] = counts, errors: list[str] = errors
            ) -> None:
                i = k
                client = clients[k]
                while time.monotonic() < deadline:
                    name, args = calls[i % len(calls)]
                    i += n
                    try:
                        error = _error_text(await client.call_tool(name, args))
                    except Exception as exc:  # counted, not fatal: the report shows the first
                        error = f"{type(exc).__name__}: {exc}"[:300]
                    if error is None:
                        counts[k] += 1
                    else:
                        errors.append(error)

            started = time.monotonic()
            async with anyio.create_task_group() as round_tg:
                for k in range(n):
                    round_tg.start_soon(loop, k)
            wall = time.monotonic() - started
            print(
                json.dumps(
                    {
                        "calls": sum(counts),
                        "errors": len(errors),
                        "first_error": errors[0] if errors else None,
                        "wall": wall,
                    }
                ),
                flush=True,
            )
        stop.set()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
