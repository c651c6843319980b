"""Bounds on what an agent can send, in one place: no call can store what breaks another
agent's client, or cost everyone else.

- Every call's arguments: at most MAX_DEPTH levels of nesting (checked by the guard before
  validation) and MAX_ARGUMENTS_CHARS of JSON (after it, so a field's own limit speaks first).
- Every free JSON value a tool keeps (a task's payload and result, a client preference, a
  memory document's metadata): the `FreeJson` type, MAX_DEPTH levels and MAX_FREE_JSON_CHARS.
- Names and URIs that reach the audit row, the log or an error message: cut to MAX_NAME.
Refusals are `invalid_input` saying what the limit is; nothing is stored.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator

from .errors import InvalidInput

MAX_DEPTH = 20
MAX_ARGUMENTS_CHARS = 1_000_000
MAX_FREE_JSON_CHARS = 65_536
MAX_NAME = 200


def depth(value: Any) -> int:
    """How deeply `value` nests (a scalar is 0), without recursion: a hostile value may nest
    deeper than Python's stack."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            items: Any = item.values()
        elif isinstance(item, (list, tuple)):
            items = item
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        if level > MAX_DEPTH + 1:
            return level  # deep enough to refuse; no need to walk the rest
        stack.extend((child, level) for child in items)
    return deepest


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str))


def check_depth(raw: Any) -> None:
    """A call's arguments as they arrived: refused when they nest too deep (before validation,
    which would recurse into them)."""
    if depth(raw) > MAX_DEPTH:
        raise InvalidInput(f"The arguments nest deeper than {MAX_DEPTH} levels; flatten them and call again.")


def check_size(raw: Any) -> None:
    """A call's arguments, once each field is within its own limits: refused when too large
    all together."""
    if _size(raw) > MAX_ARGUMENTS_CHARS:
        raise InvalidInput(
            f"The arguments may be at most {MAX_ARGUMENTS_CHARS:,} characters of JSON; send less per call."
        )


def _free_json(value: Any) -> Any:
    if value is None:
        return value
    if depth(value) > MAX_DEPTH:
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels; flatten it")
    if _size(value) > MAX_FREE_JSON_CHARS:
        raise ValueError(f"is larger than {MAX_FREE_JSON_CHARS:,} characters of JSON; keep it smaller")
    return value


# A JSON value a tool keeps as it is, for others to read later: bounded in depth and size.
FreeJson = Annotated[Any, AfterValidator(_free_json)]
FreeJsonObject = Annotated[dict[str, Any], AfterValidator(_free_json)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


# Text that must say something (a title, a reason): kept stripped; only whitespace is refused.
NonBlank = Annotated[str, AfterValidator(_not_blank)]


def cut(text: str, limit: int = MAX_NAME) -> str:
    """A name or URI as the audit row, the log and messages keep it."""
    return text if len(text) <= limit else f"{text[:limit]}...[{len(text) - limit} more characters]"
