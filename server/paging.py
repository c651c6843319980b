"""Opaque cursors. A cursor is the position after the last item of a page, base64url
JSON; an agent treats it as opaque and a tampered one is invalid input."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidInput


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True, default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, kind: str) -> dict[str, Any] | None:
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
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

    limit: int = Field(default=25, ge=1, le=MAX_PAGE, description=f"Items per page, 1-{MAX_PAGE}.")
    cursor: str | None = Field(
        default=None,
        max_length=2000,
        description="next_cursor from the previous page, unchanged; omit for the first page.",
    )


def keyset_page(
    rows: list[dict[str, Any]], limit: int, *, kind: str, key: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[list[dict[str, Any]], str | None]:
    """Cut a keyset query's rows (fetched with LIMIT limit + 1) to a page, and the cursor
    after its last row: pages never overlap or skip, whatever is inserted meanwhile."""
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor({"k": kind, **key(page[-1])})
