"""Redaction: a field an agent may not see is removed from every output (nested ones
included) and masked in the audit row's arguments.

Output and input models mark such fields with `Redact(domain, field)`:

    email: Annotated[str | None, Redact("clients", "email")] = None

so the rule follows the data, not the name a field happens to have in one output.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python

from .money import Money, plain, printed

MASK = "[redacted]"


@dataclass(frozen=True, slots=True)
class Redact:
    domain: str
    field: str


class OmitIfNone:
    """Marks an optional section that is left out of the output (not sent as null) when it
    is None: a section withheld from the agent is absent, like a redacted field."""


OMIT_IF_NONE = OmitIfNone()

Hidden = Callable[[Redact], bool]


@functools.cache
def marks(model: type[BaseModel]) -> dict[str, Redact]:
    """The redaction marks of a model's fields, by field name."""
    found = {}
    for name, info in model.model_fields.items():
        for meta in info.metadata:
            if isinstance(meta, Redact):
                found[name] = meta
    return found


@functools.cache
def amounts(model: type[BaseModel]) -> dict[str, Money]:
    """The model's fields that are money, by field name (see money.py)."""
    return {
        name: meta
        for name, info in model.model_fields.items()
        for meta in info.metadata
        if isinstance(meta, Money)
    }


@functools.cache
def omitted_if_none(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(
        name
        for name, info in model.model_fields.items()
        if any(isinstance(m, OmitIfNone) for m in info.metadata)
    )


@functools.cache
def nested_models(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """For each field holding a model (alone, optional or in a list/dict), that model."""
    found = {}
    for name, info in model.model_fields.items():
        inner = _model_in(info.annotation)
        if inner is not None:
            found[name] = inner
    return found


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if (
        origin in (list, tuple, set, frozenset, dict, typing.Union, types.UnionType)
        or origin is typing.Annotated
    ):
        for arg in typing.get_args(annotation):
            inner = _model_in(arg)
            if inner is not None:
                return inner
    return None


# Leaf types that are JSON as they are (exact types: a str enum or an int subclass still goes
# through pydantic's conversion).
_AS_IS = frozenset({str, int, float, bool})


@dataclass(frozen=True, slots=True)
class _Field:
    """What shape needs of one field of a model, worked out once per model."""

    name: str
    key: str  # its name in the output (a serialization alias, else the name)
    mark: Redact | None
    omitted_if_none: bool
    money: Money | None


@functools.cache
def _plan(model: type[BaseModel]) -> tuple[_Field, ...]:
    field_marks, optional, money = marks(model), omitted_if_none(model), amounts(model)
    return tuple(
        _Field(
            name, info.serialization_alias or name, field_marks.get(name), name in optional, money.get(name)
        )
        for name, info in model.model_fields.items()
    )


def shape(value: Any, hidden: Hidden, within: tuple[BaseModel, ...] = ()) -> Any:
    """`value` as JSON-able data, without the fields `hidden` says to remove, and every decimal
    in its one printed form (money.py); `within` are the models enclosing it, innermost first.

    Every answer passes through here, so the common leaves (None, and the JSON types as they
    are) are taken in the loops instead of by a call each."""
    if value is None or type(value) in _AS_IS:
        return value
    if isinstance(value, BaseModel):
        scope = (value, *within)
        out: dict[str, Any] = {}
        for field in _plan(type(value)):
            if field.mark is not None and hidden(field.mark):
                continue
            item = getattr(value, field.name)
            if item is None:
                if not field.omitted_if_none:
                    out[field.key] = None
            elif type(item) in _AS_IS:
                out[field.key] = item
            elif field.money is not None and isinstance(item, Decimal):
                out[field.key] = printed(item, _currency(field.money, scope))
            else:
                out[field.key] = shape(item, hidden, scope)
        return out
    if isinstance(value, (list, tuple)):
        return [v if v is None or type(v) in _AS_IS else shape(v, hidden, within) for v in value]
    if isinstance(value, dict):
        return {str(k): shape(v, hidden, within) for k, v in value.items()}
    if isinstance(value, Decimal):
        return plain(value)
    return to_jsonable_python(value)


def _currency(mark: Money, scope: tuple[BaseModel, ...]) -> str | None:
    """The currency an amount is in: the named field of its model, else of the nearest enclosing
    model that has it."""
    for model in scope:
        if mark.currency in type(model).model_fields:
            value = getattr(model, mark.currency)
            return value if isinstance(value, str) else None
    return None


class Receipt(BaseModel):
    """What a write tool returns to an agent that may change its domain but not read it: that
    the write was done and which record it touched, nothing of the record itself (a write-only
    agent cancelling a cancelled appointment would otherwise read it, with no change made)."""

    done: Literal[True] = Field(default=True, description="The write was done (or already had been).")
    entity_type: str | None = Field(description="The kind of record the write touched.")
    entity_id: str | None = Field(description="The record the write touched.")
    note: str = Field(description="Why the reply is only a receipt.")


def receipt(domain: str, entity: tuple[str | None, str | None]) -> dict[str, Any]:
    return Receipt(
        entity_type=entity[0],
        entity_id=entity[1],
        note=f"You may change {domain} but not read it, so the reply names only the record written.",
    ).model_dump(mode="json")


def mask_arguments(raw: Any, model: type[BaseModel] | None, hidden: Hidden) -> Any:
    """The raw call arguments with every hidden field's value replaced by MASK."""
    if model is None or not isinstance(raw, dict):
        return raw
    field_marks = marks(model)
    inner = nested_models(model)
    by_alias = {(info.alias or name): name for name, info in model.model_fields.items()}
    out: dict[Any, Any] = {}
    for key, value in raw.items():
        name = by_alias.get(key, key) if isinstance(key, str) else key
        mark = field_marks.get(name)
        if mark is not None and hidden(mark):
            out[key] = MASK
        elif name in inner and isinstance(value, list):
            out[key] = [mask_arguments(v, inner[name], hidden) for v in value]
        elif name in inner:
            out[key] = mask_arguments(value, inner[name], hidden)
        else:
            out[key] = value
    return out


def check_output_model(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> None:
    """A redactable output field must be optional: it may be absent from the result,
    and clients validate structuredContent against the outputSchema."""
    seen = seen if seen is not None else set()
    if model in seen:
        return
    seen.add(model)
    for name in marks(model):
        if model.model_fields[name].is_required():
            raise TypeError(f"{model.__name__}.{name} is redactable, so it must have a default")
    for inner in nested_models(model).values():
        check_output_model(inner, seen)


def hidden_inputs(args: BaseModel, hidden: Hidden, domain: str) -> list[str]:
    """The fields of `args` of the tool's own domain that the caller gave a value although they
    are hidden from it: an agent may not set what it may not see (a uniqueness conflict would
    tell it who holds the value). A field of another domain a tool takes (the client address
    a booking is at) is masked in the audit row, but may be given."""
    field_marks = marks(type(args))
    return sorted(
        name
        for name in args.model_fields_set
        if name in field_marks
        and field_marks[name].domain == domain
        and hidden(field_marks[name])
        and getattr(args, name) is not None
    )
