"""The JSON schemas tools are listed with, built from their pydantic models.

An agent pays for every listed token in every conversation, so a schema says what the model
needs and nothing else. pydantic's defaults add what says nothing: a `title` on every field
and model that repeats its name, a model's docstring (written for developers), and
`anyOf [X, {"type": "null"}]` with `"default": null` for every optional field, although
leaving the field out means the same. Here:

- no generated titles; an input model's docstring is not sent (its field's description says
  what it is);
- an optional input field whose null means nothing but "not given" is just X, not required
  (the server still accepts an explicit null: validation is the model's, not the schema's);
  a field whose null means something else (it clears a value: `NULL_CLEARS`) keeps null, as
  `"type": [X, "null"]`;
- in output schemas a value that may be null says so the same short way, and defaults (which
  validate nothing) are left out.

A model used twice in one schema is written once, in that schema's `$defs` (pydantic's
`$ref`s); a model used once is written where it is used, as pydantic's `$ref` to a `$defs`
entry it would be otherwise. That is shorter, and cheaper for every client that validates
answers: the Python SDK validates each structuredContent with `jsonschema`, which resolves a
`$ref` each time it meets one, for every item of a list (measured: 16 us per item, a fifth of
the validation of a page of search_clients). Each tool's outputSchema is a document of its
own (clients compile each one alone), so a `$ref` never points outside it, and a model two
tools return is written in both.

Every schema stays valid JSON Schema 2020-12 that the TypeScript SDK's Ajv compiles in strict
mode (a `type` array is allowed there only with "null", which is all it is used for here)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

_NULL = {"type": "null"}
_NUMBER_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


class NullClears:
    """Marks an optional input field whose explicit null is not the same as leaving it out (it
    clears the value, as in upsert_client): its schema keeps null.

        notes: Annotated[str | None, NULL_CLEARS] = None"""


NULL_CLEARS = NullClears()


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A tool's inputSchema (a resource template's parameters too)."""
    return _compact(_inline_single_use(model.model_json_schema(mode="validation", schema_generator=_Lean)))


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A tool's outputSchema: what its structuredContent is, exactly."""
    return _compact(_inline_single_use(model.model_json_schema(mode="serialization", schema_generator=_Lean)))


class _Lean(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        json_schema.pop("title", None)
        if self.mode == "validation":
            json_schema.pop("description", None)
        properties = json_schema.get("properties", {})
        for name, field in schema["cls"].model_fields.items():
            prop = properties.get(field.alias or name)
            if prop is None:
                continue
            if self.mode == "serialization":
                prop.pop("default", None)
            elif any(isinstance(m, NullClears) for m in field.metadata):
                # Left out, the value stays as it is: not the same as null.
                prop.pop("default", None)
            elif field.default is None:
                _drop_null(prop)
                prop.pop("default", None)
        return json_schema


def _inline_single_use(document: dict[str, Any]) -> dict[str, Any]:
    """The document with each `$defs` entry that one `$ref` uses written in its place (a
    reference's own keywords, such as a field's description, kept beside the model's); the
    entries used twice or more, or by themselves (a recursive model), stay."""
    defs = document.get("$defs")
    if not defs:
        return document
    uses: dict[str, int] = dict.fromkeys(defs, 0)
    for node in _nodes(document):
        name = _ref_name(node)
        if name in uses:
            uses[name] += 1
    single = {name for name, count in uses.items() if count == 1 and not _refers_to(defs[name], name)}
    if not single:
        return document

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(v) for v in node]
        if not isinstance(node, dict):
            return node
        name = _ref_name(node)
        if name in single:
            own = {k: inline(v) for k, v in node.items() if k != "$ref"}
            return {**inline(defs[name]), **own}
        return {k: inline(v) for k, v in node.items() if k != "$defs"}

    out = inline(document)
    kept = {name: inline(schema) for name, schema in defs.items() if name not in single}
    if kept:
        out["$defs"] = kept
    return out


def _nodes(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def _ref_name(node: dict[str, Any]) -> str | None:
    ref = node.get("$ref")
    return ref.removeprefix("#/$defs/") if isinstance(ref, str) and ref.startswith("#/$defs/") else None


def _refers_to(schema: Any, name: str) -> bool:
    return any(_ref_name(node) == name for node in _nodes(schema))


def _drop_null(prop: dict[str, Any]) -> None:
    """An optional field left out instead of null: its schema without the null."""
    variants = prop.get("anyOf")
    if not isinstance(variants, list) or _NULL not in variants:
        return
    prop.pop("default", None)
    rest = [v for v in variants if v != _NULL]
    if len(rest) > 1:
        prop["anyOf"] = rest
        return
    del prop["anyOf"]
    for key, value in rest[0].items():
        prop.setdefault(key, value)


def _nullable(node: dict[str, Any]) -> None:
    """`anyOf [X, null]` said the short way, `"type": [X's type, "null"]`, where X has one
    type (a `$ref` or a union keeps its anyOf; its null goes to the first branch that can take
    it, so no anyOf branch is a bare null)."""
    variants = node.get("anyOf")
    if not isinstance(variants, list) or _NULL not in variants:
        return
    rest = [v for v in variants if v != _NULL]
    target = next((v for v in rest if isinstance(v.get("type"), str)), None)
    if target is None:
        return
    target["type"] = [target["type"], "null"]
    if "enum" in target:
        target["enum"] = [*target["enum"], None]
    if len(rest) > 1:
        node["anyOf"] = rest
        return
    del node["anyOf"]
    for key, value in target.items():
        node.setdefault(key, value)


def _compact(node: Any) -> Any:
    """The whole document, bottom up: nulls said the short way, whole numbers without `.0`, and
    no `additionalProperties: true` (what an object allows anyway)."""
    if isinstance(node, list):
        return [_compact(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _compact(v) for k, v in node.items()}
    if out.get("additionalProperties") is True:
        del out["additionalProperties"]
    _nullable(out)
    for key in _NUMBER_KEYWORDS:
        value = out.get(key)
        if isinstance(value, float) and value.is_integer():
            out[key] = int(value)
    return out
