"""Opaque cursors. A cursor is the position after the last item of a page, base64url
JSON; an agent treats it as opaque and a tampered one is invalid input."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .canonical import digest
from .errors import InvalidInput

# Ours are well under this; a longer one is forged (and json would recurse on its nesting).
MAX_CURSOR = 2000
_BAD_CURSOR = "The cursor is not valid; pass next_cursor unchanged, or omit it to start from the first page."


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True, default=_jsonable).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


def decode_cursor(cursor: str | None, *, kind: str) -> dict[str, Any] | None:
    if cursor is None or cursor == "":
        return None
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        position = None
    if not isinstance(position, dict) or position.get("k") != kind:
        raise InvalidInput(
            "The cursor is not valid here. Pass the next_cursor of the previous page unchanged, "
            "or omit it to start from the first page."
        )
    return position


def offset_page(
    items: list[Any], cursor: str | None, size: int, *, kind: str
) -> tuple[list[Any], str | None]:
    """A page of an in-memory list (tools/list, resources/list)."""
    position = decode_cursor(cursor, kind=kind)
    start = position.get("o", 0) if position else 0
    if not isinstance(start, int) or start < 0 or start > len(items):
        raise InvalidInput("The cursor is out of range; omit it to start from the first page.")
    page = items[start : start + size]
    end = start + len(page)
    return page, (encode_cursor({"k": kind, "o": end}) if end < len(items) else None)


MAX_PAGE = 100


class PageIn(BaseModel):
    """The paging fields every list tool takes (inherit from it)."""

    model_config = ConfigDict(extra="forbid")

    # Its schema says it all: per page, default 25, at most MAX_PAGE.
    limit: int = Field(default=25, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=2000, description="The last page's next_cursor.")


class PageOut(BaseModel):
    """What every list tool's result carries besides its items (inherit from it)."""

    next_cursor: str | None = Field(
        default=None, description="Pass as cursor for the next page; null at the end."
    )


# What a keyset position may hold: a value of one of these types, or None where declared.
Position = type | tuple[type, ...]

_FILTER_CHARS = 16


def _filters(args: BaseModel) -> str:
    return digest(args, exclude=PageIn.model_fields)[:_FILTER_CHARS]


def read_cursor(args: PageIn, *, kind: str, **fields: Position) -> dict[str, Any] | None:
    """The keyset position `args.cursor` points after, each field converted to its declared
    type (`c=datetime, i=UUID`; a tuple with `type(None)` allows null); None for the first
    page. A cursor is bound to its list and to the call's filters: one of another list, of
    other filters, or tampered with, is invalid input."""
    position = decode_cursor(args.cursor, kind=kind)
    if position is None:
        return None
    if position.get("f") != _filters(args):
        raise InvalidInput("This cursor belongs to different filters; omit it to start from the first page.")
    try:
        return {name: _typed(position[name], wanted) for name, wanted in fields.items()}
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        raise InvalidInput(_BAD_CURSOR) from None


def _typed(value: Any, wanted: Position) -> Any:
    kinds = wanted if isinstance(wanted, tuple) else (wanted,)
    if value is None:
        if type(None) in kinds:
            return None
        raise ValueError("null position")
    kind = next(k for k in kinds if k is not type(None))
    if kind is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive time")
        return parsed
    if kind is date:
        return date.fromisoformat(value)
    if kind is UUID:
        return UUID(value)
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return float(value)
    if isinstance(value, kind) and not isinstance(value, bool):
        return value
    raise TypeError(f"{kind.__name__} expected")


def keyset_page(
    rows: list[dict[str, Any]],
    args: PageIn,
    *,
    kind: str,
    key: Callable[[dict[str, Any]], dict[str, Any]],
) -> tuple[list[dict[str, Any]], str | None]:
    """Cut a keyset query's rows (fetched with LIMIT args.limit + 1) to a page, and the
    cursor after its last row, bound to the call's filters: pages never overlap or skip,
    whatever is inserted meanwhile."""
    if len(rows) <= args.limit:
        return rows, None
    page = rows[: args.limit]
    return page, encode_cursor({"k": kind, "f": _filters(args), **key(page[-1])})
