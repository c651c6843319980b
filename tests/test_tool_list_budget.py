"""Lean lists (issue 20, part 5): what a full-rights agent's tools/list costs the model.

An agent pays for every listed token in every conversation. The budget counts what a host
puts in front of the model for each tool, name + description + inputSchema, as characters / 4
(the rough tokens of English and JSON). The inputSchema is counted as compact JSON
(`separators=(",", ":")`, `ensure_ascii=False`): that is how the server sends it (the SDK's
JSON-RPC messages are compact), so whitespace a pretty-printer would add is not ours to pay
for; a host that re-indents pays the same per tool for every server.

Output schemas are not in the budget (most hosts do not show them to the model), but they
must stay complete, valid JSON Schema 2020-12 documents, each self-contained, without the
same sub-schema spelled out twice."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from conftest import ALL_RIGHTS, all_tools

pytestmark = pytest.mark.anyio

# DESIGN.md, "Tools and resources: the public contract": the 30 tools of v1.
V1_TOOLS = frozenset(
    {
        "search_clients",
        "get_client",
        "get_client_context",
        "upsert_client",
        "log_interaction",
        "set_client_preference",
        "list_services",
        "list_resources",
        "find_available_slots",
        "list_appointments",
        "book_appointment",
        "reschedule_appointment",
        "cancel_appointment",
        "set_appointment_status",
        "list_invoices",
        "get_invoice",
        "create_invoice",
        "record_payment",
        "void_invoice",
        "receivables_aging",
        "create_task",
        "list_tasks",
        "claim_next_task",
        "complete_task",
        "fail_task",
        "request_approval",
        "decide_approval",
        "remember",
        "recall",
        "forget",
    }
)

# DESIGN.md, "MCP beyond tools": tokens (characters / 4).
V1_BUDGET = 6_000
PER_TOOL_BUDGET = 200


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def listed_tokens(tool: Any) -> float:
    """What the model reads of one tool: its name, its description and its inputSchema."""
    return (len(tool.name) + len(tool.description or "") + len(compact(tool.input_schema))) / 4


def _walk(node: Any, path: str = "#"):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


async def listing(make_agent, connect) -> list[Any]:
    agent = await make_agent(**ALL_RIGHTS)
    async with connect(agent) as client:
        return await all_tools(client)


async def test_a_full_rights_agents_tool_list_fits_the_budget(make_agent, connect):
    tools = await listing(make_agent, connect)
    names = {t.name for t in tools}
    assert V1_TOOLS <= names, sorted(V1_TOOLS - names)
    v1 = sum(listed_tokens(t) for t in tools if t.name in V1_TOOLS)
    average = sum(listed_tokens(t) for t in tools) / len(tools)
    heaviest = sorted(((round(listed_tokens(t)), t.name) for t in tools), reverse=True)[:5]
    print(f"\nv1 ({len(V1_TOOLS)} tools): {v1:.0f} tokens; all {len(tools)}: {average:.1f} a tool")
    assert v1 <= V1_BUDGET, f"the v1 tools cost {v1:.0f} tokens (budget {V1_BUDGET}); heaviest: {heaviest}"
    assert average <= PER_TOOL_BUDGET, (
        f"{len(tools)} tools cost {average:.1f} tokens each on average (budget {PER_TOOL_BUDGET}); "
        f"heaviest: {heaviest}"
    )


async def test_input_schemas_carry_no_generated_titles_or_null_unions(make_agent, connect):
    """pydantic's defaults cost tokens and say nothing: a `title` that repeats the field's name,
    and `anyOf [X, {type: null}]` for a field that may simply be left out."""
    for tool in await listing(make_agent, connect):
        for path, node in _walk(tool.input_schema):
            assert "title" not in node or not isinstance(node["title"], str), (tool.name, path)
            variants = node.get("anyOf") or []
            assert {"type": "null"} not in variants, (tool.name, path)


async def test_output_schemas_are_valid_self_contained_and_not_repeated(make_agent, connect):
    """Each outputSchema is its own document (the TypeScript SDK compiles each one alone, in
    Ajv strict mode): valid 2020-12, every `$ref` resolved inside it, no generated titles, no
    object sub-schema written out twice where one `$defs` entry would do, and no `$defs` entry
    used only once (written where it is used instead: a `$ref` costs a validating client a lookup
    each time it meets one)."""
    tools = await listing(make_agent, connect)
    total = 0
    for tool in tools:
        schema = tool.output_schema
        assert schema is not None, tool.name
        Draft202012Validator.check_schema(schema)
        total += len(compact(schema))
        seen: dict[str, str] = {}
        uses = dict.fromkeys(schema.get("$defs", {}), 0)
        for path, node in _walk(schema):
            ref = node.get("$ref")
            if isinstance(ref, str):
                assert ref.startswith("#/$defs/"), (tool.name, path, ref)
                assert ref.removeprefix("#/$defs/") in schema.get("$defs", {}), (tool.name, path, ref)
                uses[ref.removeprefix("#/$defs/")] += 1
            assert not isinstance(node.get("title"), str), (tool.name, path)
            if node.get("type") == "object" and "properties" in node and "/properties/" in path:
                text = compact(node)
                assert text not in seen, f"{tool.name}: {path} repeats {seen.get(text)}"
                seen[text] = path
        assert all(count >= 2 for count in uses.values()), (tool.name, uses)
    print(f"\noutput schemas: {total} characters over {len(tools)} tools")
