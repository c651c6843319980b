"""Inputs that take a v1 form besides the one they list.

When a tool's vocabulary changed on purpose (DESIGN.md, v2 rules; CHANGELOG.md lists each
change), its input schema lists the one form every tool now uses, and validation still takes
the form v1 agents were written against, so no caller breaks. What a handler, a policy or an
idempotency key sees is the listed form: `"approve"` and `"approved"` are one argument.

    decision: Annotated[Decision, renamed({"approve": "approved", "reject": "rejected"})]
    status: Annotated[list[Status] | None, ONE_OR_MORE, listed_as(Status)]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BeforeValidator, TypeAdapter, WithJsonSchema


def renamed(old_names: Mapping[str, str]) -> BeforeValidator:
    """Takes a value's v1 name too, as the name it has now."""

    def rename(value: Any) -> Any:
        return old_names.get(value, value) if isinstance(value, str) else value

    return BeforeValidator(rename)


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


# A filter that takes one value, as every list tool's filters do, and v1's list of values too.
ONE_OR_MORE = BeforeValidator(_listed)


def listed_as(kind: Any) -> WithJsonSchema:
    """The schema a field is listed with: `kind`'s, where it also takes another form."""
    return WithJsonSchema(TypeAdapter(kind).json_schema())
