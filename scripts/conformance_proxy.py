"""A loopback HTTP proxy that adds `Authorization: Bearer <key>` to every request.

The official conformance suite cannot send a header, and bizctx answers 401 without an agent
key; scripts/conformance puts this between them. It is a byte pipe, not an HTTP client: it
rewrites the request head only and then copies bytes both ways as they arrive, so SSE
responses stream through unbuffered and Host/Origin reach bizctx as the suite sent them (the
suite's DNS-rebinding scenario depends on that). Because only a connection's first request
head is rewritten, it asks for `Connection: close`: the server then closes after its
response, and the client opens a new connection (so gets a new head) for its next request.

    BIZCTX_AGENT_KEY=bctx_... python scripts/conformance_proxy.py LISTEN_PORT UPSTREAM_PORT

The key comes from the environment, not argv, so it does not show in `ps`. For tests only:
it binds 127.0.0.1, and lends its key to any local process that connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

HOST = "127.0.0.1"
# Headers the proxy replaces: the client's own credentials (none, from the suite) and its
# wish to keep the connection alive (see above).
REPLACED = (b"authorization:", b"connection:", b"keep-alive:")


def rewrite(head: bytes, key: bytes) -> bytes:
    """The request head (request line and headers, ending in a blank line) with our key."""
    request_line, *headers = head[: -len(b"\r\n\r\n")].split(b"\r\n")
    kept = [h for h in headers if not h.lower().startswith(REPLACED)]
    added = [b"Authorization: Bearer " + key, b"Connection: close"]
    return b"\r\n".join([request_line, *kept, *added]) + b"\r\n\r\n"


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # read() returns whatever has arrived, so each SSE event is passed on at once.
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()


async def handle(
    client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, key: bytes, upstream_port: int
) -> None:
    upstream_w: asyncio.StreamWriter | None = None
    try:
        head = await client_r.readuntil(b"\r\n\r\n")
        upstream_r, upstream_w = await asyncio.open_connection(HOST, upstream_port)
        upstream_w.write(rewrite(head, key))
        # Whichever side ends first (the response is complete, or the client went away from
        # a stream) ends the exchange: the other direction is cancelled, both sockets closed.
        tasks = [
            asyncio.create_task(pipe(client_r, upstream_w)),
            asyncio.create_task(pipe(upstream_r, client_w)),
        ]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass  # a client or server that hung up: nothing to answer
    finally:
        for w in (client_w, upstream_w):
            if w is not None:
                w.close()
                with contextlib.suppress(OSError):
                    await w.wait_closed()


async def main() -> None:
    listen_port, upstream_port = int(sys.argv[1]), int(sys.argv[2])
    key = os.environ["BIZCTX_AGENT_KEY"].encode()
    server = await asyncio.start_server(lambda r, w: handle(r, w, key, upstream_port), HOST, listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
