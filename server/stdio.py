"""MCP over stdio without worker threads, and without dropping lines it cannot parse.

The SDK's `stdio_server()` reads and writes through `anyio.wrap_file`: three thread hops
per request (a third of a bare server's time, see FACTS.md); and a line that is not a
valid message (bad JSON, a lone UTF-16 surrogate) is dropped unanswered, so the client
waits forever. This transport reads and writes the pipes on the event loop, and answers
such a line with a JSON-RPC error (-32700 not JSON, -32600 not a valid message).

As the SDK does, it moves the protocol off fd 0/1 while serving: fd 0 reads the null
device and fd 1 points at stderr, so stray output of a library can never corrupt the wire.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import mcp_types as types
from mcp.server.stdio import stdio_server
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage

log = logging.getLogger("bizctx.stdio")

MAX_LINE = 64 * 1024 * 1024  # one message; larger is refused by the reader, not buffered forever


class PipesUnavailable(Exception):
    """stdin/stdout are not pipes the event loop can watch (a regular file, a closed fd)."""


async def _open_pipes() -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Any]:
    for fd in (0, 1):
        # epoll watches pipes, sockets and terminals; a regular file or /dev/null is
        # accepted by connect_*_pipe and then fails in a callback, so check up front.
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)):
            raise PipesUnavailable(f"fd {fd} is not a pipe, socket or terminal")
    loop = asyncio.get_running_loop()
    in_fd, out_fd = os.dup(0), os.dup(1)
    try:
        reader = asyncio.StreamReader(limit=MAX_LINE)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(in_fd, "rb", 0))
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(out_fd, "wb", 0)
        )
    except (OSError, ValueError) as exc:
        for fd in (in_fd, out_fd):
            with suppress(OSError):
                os.close(fd)
        raise PipesUnavailable(str(exc)) from exc
    writer = asyncio.StreamWriter(transport, protocol, None, loop)

    # Divert fd 0 and 1 while serving; restore them afterwards.
    saved_in, saved_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)

    def restore() -> None:
        for saved, fd in ((saved_in, 0), (saved_out, 1)):
            with suppress(OSError):
                os.dup2(saved, fd)
                os.close(saved)

    return reader, writer, restore


def _refusal(line: bytes) -> types.JSONRPCError:
    """The error answering a line that is not a valid message, with its id when it has one."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than any message needs
        return types.JSONRPCError(
            jsonrpc="2.0",
            id=None,
            error=types.ErrorData(code=types.PARSE_ERROR, message="Parse error: not JSON"),
        )
    request_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
        request_id = None
    return types.JSONRPCError(
        jsonrpc="2.0",
        id=request_id,
        error=types.ErrorData(
            code=types.INVALID_REQUEST,
            message="Invalid message (malformed JSON-RPC, or text that is not valid Unicode such as a "
            "lone surrogate); fix the request and send it again.",
        ),
    )


@asynccontextmanager
async def stdio_streams() -> AsyncIterator[tuple[Any, Any]]:
    """(read_stream, write_stream) for `Server.run`, over the process's stdin/stdout; the
    SDK's threaded stdio when they are not pipes the event loop can watch."""
    try:
        reader, writer, restore = await _open_pipes()
    except PipesUnavailable as exc:
        log.info("stdin/stdout are not pipes (%s); using the SDK's threaded stdio", exc)
        pipes = False
    else:
        pipes = True
    if not pipes:
        async with stdio_server() as streams:
            yield streams
        return
    read_writer, read_stream = create_context_streams[SessionMessage | Exception](0)
    write_stream, write_reader = create_context_streams[SessionMessage](0)
    lock = anyio.Lock()

    async def send(message: Any) -> None:
        payload = message.model_dump_json(by_alias=True, exclude_unset=True).encode("utf-8") + b"\n"
        async with lock:
            writer.write(payload)
            await writer.drain()

    async def read_stdin() -> None:
        async with read_writer:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than MAX_LINE: answer, then drop the rest of it
                    await send(_refusal(b""))
                    continue
                if not line:
                    return  # EOF: the client went away
                if not line.strip():
                    continue
                try:
                    message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                except Exception:
                    log.info("answered an invalid stdin line with a JSON-RPC error")
                    await send(_refusal(line))
                    continue
                await read_writer.send(SessionMessage(message))

    async def write_stdout() -> None:
        async with write_reader:
            async for session_message in write_reader:
                await send(session_message.message)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(read_stdin)
            tg.start_soon(write_stdout)
            yield read_stream, write_stream
            tg.cancel_scope.cancel()
    finally:
        writer.close()
        restore()
