"""Notices: warnings about an agent's own call, sent to its client as log messages.

A handler (or the guard) calls `warn(...)` while serving a request; the protocol layer
(server/app.py) opens the request's list with `collecting()` and sends each notice as
`notifications/message` at level `warning` just before the answer (on 2026-07-28 a notice
rides the request's own stream, which the answer closes). What is sent
follows the protocol version: on 2026-07-28 a request opts in through its `_meta` (the SDK
filters); before, `logging/setLevel` sets a connection's level (`LogLevels`), and without one
warnings are sent. A notice says what concerns the caller's own call (a contact rule that only
warned, a read cut by its time bound), never another agent's data.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

log = logging.getLogger("bizctx.notices")

# The SDK marks logging deprecated from 2026-07-28 and warns on every use; bizctx serves the
# versions before it too, where logging/setLevel is the way.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning, message=".*logging capability.*")

LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
LOGGER = "bizctx"

_notes: ContextVar[list[dict[str, Any]] | None] = ContextVar("bizctx_notices", default=None)


def warn(message: str, **details: Any) -> None:
    """A warning about the current call for its client (nothing when no request collects)."""
    notes = _notes.get()
    if notes is not None:
        notes.append({"message": message, **details})


@contextlib.contextmanager
def collecting() -> Iterator[list[dict[str, Any]]]:
    notes: list[dict[str, Any]] = []
    token = _notes.set(notes)
    try:
        yield notes
    finally:
        _notes.reset(token)


class LogLevels:
    """The level each connection set with logging/setLevel (before 2026-07-28), held weakly."""

    def __init__(self) -> None:
        self._by_connection: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def set(self, ctx: ServerRequestContext[Any, Any], level: str) -> None:
        self._by_connection[connection_of(ctx)] = level

    def allows(self, ctx: ServerRequestContext[Any, Any], level: str) -> bool:
        if ctx.session.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return True  # the request's own opt-in decides, in the SDK
        chosen = self._by_connection.get(connection_of(ctx), "info")
        return LEVELS.index(level) >= LEVELS.index(chosen)

    async def send(self, ctx: ServerRequestContext[Any, Any], notes: list[dict[str, Any]]) -> None:
        if not notes or not self.allows(ctx, "warning"):
            return
        unique = [n for i, n in enumerate(notes) if n not in notes[:i]]  # a rehearsed call notes twice
        for note in unique:
            try:
                await ctx.session.send_log_message(
                    "warning", note, logger=LOGGER, related_request_id=ctx.request_id
                )
            except Exception:  # the client went away: the answer itself has been sent or lost
                log.debug("a notice could not be sent", exc_info=True)
                return


def connection_of(ctx: ServerRequestContext[Any, Any]) -> Any:
    """The SDK's per-connection object behind the per-request session (`ctx.session` is
    rebuilt for every request): the low-level server offers no other handle on "this client"
    that outlives a request."""
    return ctx.session._connection
