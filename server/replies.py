"""The one translation of errors into MCP replies, for tools, resources and list calls alike:
the same error has the same code everywhere.

- Anything raised inside a call becomes a BizctxError (`as_bizctx_error`): ours as they
  are, database errors by SQLSTATE, everything else `internal` (logged with the request id;
  nothing internal reaches the client).
- A tool call answers with an `isError` result (`tool_error`): text for the model, and the
  machine-readable error in `_meta["bizctx/error"]`.
- A resource read or a list call has no error result, so it raises a JSON-RPC error
  (`protocol_error`) with the same object in `data`.
"""

from __future__ import annotations

import json
import logging

import mcp_types as types
import psycopg
from mcp.shared.exceptions import MCPError

from .errors import BizctxError, Conflict, Internal, InvalidInput, NotFound, Unavailable

log = logging.getLogger("bizctx.guard")

ERROR_META_KEY = "bizctx/error"

# JSON-RPC codes for errors outside a tool result: the standard ones where they fit, the
# implementation-defined band (-32000..-32019) for the rest.
JSONRPC_CODES = {
    "not_found": types.INVALID_PARAMS,
    "invalid_input": types.INVALID_PARAMS,
    "permission_denied": -32010,
    "conflict": -32011,
    "unavailable": -32012,
    "rate_limited": -32013,
    "policy_blocked": -32014,
    "approval_required": -32015,
    "internal": types.INTERNAL_ERROR,
}

# Deadlock and serialization failure: the transaction was rolled back whole, so the
# guard runs the call again (a bounded number of times) instead of failing it.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})

# SQLSTATEs the database raises on purpose, and what they mean for the caller.
_SQLSTATE_ERRORS: dict[str, tuple[type[BizctxError], str]] = {
    "23P01": (Conflict, "This conflicts with an existing record (e.g. the time is already booked)."),
    "23505": (Conflict, "A record with the same unique value already exists."),
    "23503": (NotFound, "A record this refers to does not exist."),
    "23514": (InvalidInput, "A value is outside what is allowed."),
    "23502": (InvalidInput, "A required value is missing."),
    "57014": (Unavailable, "The query took too long and was cancelled; retry, or narrow it down."),
    "40001": (Unavailable, "The change clashed with a concurrent one; retry."),
    "40P01": (Unavailable, "The change clashed with a concurrent one; retry."),
    "55P03": (Unavailable, "The record is locked by another call; retry."),
}


def tool_error(exc: BizctxError) -> types.CallToolResult:
    """A tool error: text for the model (what happened, what to do, and any details it needs
    such as the next free slots), and the machine-readable error in `_meta["bizctx/error"]`
    for orchestrators. No structuredContent: clients validate it against the tool's
    outputSchema (the TypeScript SDK even on errors), which an error cannot match."""
    error = exc.to_dict()
    text = f"{exc.code}: {exc.message}"
    if exc.details:
        text += "\n" + json.dumps(exc.details, ensure_ascii=False, default=str)
    return types.CallToolResult(
        content=[types.TextContent(text=text)], is_error=True, meta={ERROR_META_KEY: error}
    )


def protocol_error(exc: BizctxError) -> MCPError:
    """The JSON-RPC error for a resource read or a list call."""
    return MCPError(JSONRPC_CODES.get(exc.code, types.INTERNAL_ERROR), exc.message, exc.to_dict())


def as_bizctx_error(exc: BaseException, request_id: str) -> BizctxError:
    if isinstance(exc, BizctxError):
        return exc
    if isinstance(exc, OverflowError):
        # A date or number past what Python or the database can hold (a time near year 9999 plus
        # a duration): the caller's input, not our bug.
        return InvalidInput("A date or number is out of range; use values a calendar and a bank would.")
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate or ""
        if state in ("BZ001", "BZ002"):
            # Raised by our own triggers (BZ001: a status transition, BZ002: an action the
            # record's state forbids) with a message written for the caller.
            return Conflict(exc.diag.message_primary or "That change is not allowed in the record's state.")
        if state in _SQLSTATE_ERRORS:
            cls, message = _SQLSTATE_ERRORS[state]
            return cls(message)
        if state.startswith("22"):
            return InvalidInput("A value has the wrong format or is out of range.")
        if isinstance(exc, psycopg.DataError) and not state:
            # Refused by psycopg before it reached the server: text with a NUL character.
            return InvalidInput(
                "A text value contains a character that cannot be stored (NUL, \\u0000); remove it and retry."
            )
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) or state[:2] in (
            "08",
            "57",
            "53",
        ):
            log.warning("database unavailable: %s", exc, extra={"request_id": request_id})
            return Unavailable("The database is unavailable right now; retry in a few seconds.")
    log.error("internal error", exc_info=exc, extra={"request_id": request_id})
    return Internal(
        f"Something went wrong inside bizctx (request id {request_id}); this is not your input's fault."
    )


def constraint_of(exc: psycopg.Error) -> str | None:
    """The name of the constraint a database error is about (for handlers that turn a
    declared constraint into a better error)."""
    return exc.diag.constraint_name
