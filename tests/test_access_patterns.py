"""access_patterns is strict: anything unknown is an error, never a silent grant."""

import pytest

from bizctx.server.access import AccessPatterns, parse_access_patterns


def test_a_valid_pattern_opens_exactly_what_it_names():
    access = parse_access_patterns(
        '{"clients": {"read": true, "redact": ["email", "phone"]}, "tasks": {"read": true, "write": true, '
        '"scope": "assigned"}}'
    )
    assert access.allows("clients", "read")
    assert not access.allows("clients", "write")
    assert access.allows("tasks", "write")
    assert access.tasks is not None and access.tasks.scope == "assigned"
    assert access.redacted("clients") == {"email", "phone"}
    # A domain that is missing is closed.
    assert not access.allows("invoices", "read")
    assert not access.allows("mem_docs", "read")


def test_an_empty_section_grants_nothing():
    access = parse_access_patterns({"clients": {}})
    assert not access.allows("clients", "read")
    assert not access.allows("clients", "write")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"client": {"read": true}}', "client: unknown domain"),
        ('{"clients": {"reed": true}}', "clients.reed: unknown key"),
        ('{"clients": {"redact": ["ssn"]}}', "cannot redact ['ssn']"),
        ('{"invoices": {"redact": ["email"]}}', "redactable fields here are none"),
        ('{"tasks": {"scope": "mine"}}', "tasks.scope"),
        ('{"mem_docs": {"scope": "everything"}}', "mem_docs.scope"),
        ('{"clients": {"read": "yes"}}', "clients.read"),
        ('{"clients": {"write": 1}}', "clients.write"),
        ("[]", "must be a JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_unknown_or_malformed_patterns_are_errors(raw, message):
    with pytest.raises(ValueError) as info:
        parse_access_patterns(raw)
    assert message in str(info.value)


def test_round_trip_through_json_is_lossless():
    access = parse_access_patterns(
        {"mem_docs": {"read": True, "scope": "own"}, "clients": {"redact": ["notes"]}}
    )
    assert AccessPatterns.model_validate(access.to_json()) == access
