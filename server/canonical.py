"""The canonical form of validated arguments: what makes two calls "the same". Defaults are
applied (the model did that), an amount is one amount however written (`5` = `"5.00"`), an
instant is one instant in any offset. An explicit null is not an omitted field: tools that
update only the fields given read `null` as "clear it". Used by idempotency fingerprints and
by the filters a list cursor is bound to."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Collection
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel


def digest(args: BaseModel | None, *, exclude: Collection[str] = ()) -> str:
    """sha256 (hex) of the arguments' canonical JSON, leaving out the fields in `exclude`."""
    value = (
        None
        if args is None
        else {name: _field(args, name) for name in type(args).model_fields if name not in exclude}
    )
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_NULL_GIVEN = {"null": "given"}


def normal(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {name: _field(value, name) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {str(k): normal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normal(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((normal(v) for v in value), key=repr)
    if isinstance(value, Decimal):
        return {"decimal": format(value.normalize(), "f")} if value.is_finite() else str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, (date, time, UUID)):
        return str(value)
    if isinstance(value, enum.Enum):
        return normal(value.value)
    return value


def _field(model: BaseModel, name: str) -> Any:
    value = getattr(model, name)
    if value is None and name in model.model_fields_set:
        return _NULL_GIVEN
    return normal(value)
