"""Operators' side of contact governance (never through MCP): the tenant's contact rules,
`bizctx compliance list|set|remove`. Opt-outs are not among them: they always block.
A rule is checked whole when it is set, so a typo never reaches a contact."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from bizctx.server.database import Database
from bizctx.server.errors import OperatorError
from bizctx.server.queries import QueryRef

from .operators import TenantNamed

SET_RULE = QueryRef("operators", "set_compliance_rule")
LIST_RULES = QueryRef("operators", "list_compliance_rules")
REMOVE_RULE = QueryRef("operators", "remove_compliance_rule")

KINDS = ("quiet_hours", "frequency_cap")
ACTIONS = ("block", "require_approval", "warn")
CHANNELS = ("email", "sms", "phone")
CATEGORIES = ("reminder", "collections", "marketing", "other")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    channels: tuple[str, ...]
    action: str = "block"
    allowed_from: str | None = None
    allowed_until: str | None = None
    max_contacts: int | None = None
    window_days: int | None = None
    reason: str | None = None
    categories: tuple[str, ...] | None = None


def _checked(rule: Rule) -> dict[str, Any]:
    """The rule's columns, or OperatorError saying what is wrong with it."""
    if not _NAME.match(rule.name):
        raise OperatorError(
            f"rule name {rule.name!r}: lower-case letters, digits and _, starting with a letter"
        )
    unknown = sorted(set(rule.channels) - set(CHANNELS))
    if not rule.channels or unknown:
        raise OperatorError(f"--channels: give some of {', '.join(CHANNELS)} (not {', '.join(unknown)})")
    if rule.kind == "quiet_hours":
        times = (rule.allowed_from, rule.allowed_until)
        if not all(t is not None and _TIME.match(t) for t in times):
            raise OperatorError("quiet_hours needs --from and --until as HH:MM (contact allowed between)")
        if (rule.allowed_from or "") >= (rule.allowed_until or ""):
            raise OperatorError("--from must come before --until (the hours contact is allowed, one day)")
        if rule.max_contacts is not None or rule.window_days is not None:
            raise OperatorError("quiet_hours takes --from and --until, not --max or --window-days")
    elif rule.kind == "frequency_cap":
        if rule.max_contacts is None or not 1 <= rule.max_contacts <= 1000:
            raise OperatorError("frequency_cap needs --max, 1 to 1000 contacts per client and channel")
        if rule.window_days is None or not 1 <= rule.window_days <= 366:
            raise OperatorError("frequency_cap needs --window-days, 1 to 366")
        if rule.allowed_from is not None or rule.allowed_until is not None:
            raise OperatorError("frequency_cap takes --max and --window-days, not --from or --until")
    else:
        raise OperatorError(f"--kind must be one of {', '.join(KINDS)}")
    if rule.action not in ACTIONS:
        raise OperatorError(f"--action must be one of {', '.join(ACTIONS)}")
    if rule.categories is not None and (not rule.categories or set(rule.categories) - set(CATEGORIES)):
        raise OperatorError(f"--categories: some of {', '.join(CATEGORIES)} (omit for every contact)")
    categories = sorted(set(rule.categories)) if rule.categories is not None else None
    return {**dataclasses.asdict(rule), "channels": sorted(set(rule.channels)), "categories": categories}


RULES = TenantNamed(
    "contact rule", "compliance", SET_RULE, LIST_RULES, REMOVE_RULE, _checked, by_column="created_by"
)


async def set_rule(db: Database, tenant_ref: str, rule: Rule, set_by: str) -> dict[str, Any]:
    return await RULES.set(db, tenant_ref, rule, set_by)


async def list_rules(db: Database, tenant_ref: str | None) -> list[dict[str, Any]]:
    return await RULES.list(db, tenant_ref)


async def remove_rule(db: Database, tenant_ref: str, name: str) -> dict[str, Any]:
    return await RULES.remove(db, tenant_ref, name)
