"""Operators' side of message templates (never through MCP): `bizctx templates
list|set|remove`. A template is checked whole when it is set: its placeholders must be from
the fixed list agents' renders govern (tools/contacts.py PLACEHOLDERS; migration 0080 holds
the same list), so a typo never reaches a client."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from bizctx.server.database import Database
from bizctx.server.errors import OperatorError
from bizctx.server.queries import QueryRef
from bizctx.tools.contacts import PLACEHOLDERS

from .operators import find_tenant

SET_TEMPLATE = QueryRef("operators", "set_template")
LIST_TEMPLATES = QueryRef("operators", "list_templates")
REMOVE_TEMPLATE = QueryRef("operators", "remove_template")

CHANNELS = ("email", "sms", "phone")
CATEGORIES = ("reminder", "payment_reminder", "final_notice", "marketing")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_TOKEN = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Template:
    name: str
    channel: str
    category: str
    body: str
    subject: str | None = None


def _checked(template: Template) -> dict[str, Any]:
    """The template's columns, or OperatorError saying what is wrong with it."""
    if not _NAME.match(template.name):
        raise OperatorError(
            f"template name {template.name!r}: lower-case letters, digits and _, starting with a letter"
        )
    if template.channel not in CHANNELS:
        raise OperatorError(f"--channel must be one of {', '.join(CHANNELS)}")
    if template.category not in CATEGORIES:
        raise OperatorError(f"--category must be one of {', '.join(CATEGORIES)}")
    if (template.channel == "email") != (template.subject is not None):
        raise OperatorError("an email template needs --subject; an sms or phone one takes none")
    if not 1 <= len(template.body) <= 5000 or len(template.subject or "") > 200:
        raise OperatorError("--body: 1 to 5,000 characters; --subject: at most 200")
    unknown = sorted(set(_TOKEN.findall((template.subject or "") + template.body)) - set(PLACEHOLDERS))
    if unknown:
        raise OperatorError(
            f"unknown placeholders {', '.join('{' + u + '}' for u in unknown)}: use only "
            + ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
        )
    return dataclasses.asdict(template)


async def set_template(db: Database, tenant_ref: str, template: Template) -> dict[str, Any]:
    columns = _checked(template)
    async with db.operator_tx() as tx:
        tenant = await find_tenant(tx, tenant_ref)
        await tx.row(SET_TEMPLATE, tenant_id=tenant["id"], **columns)
        return await tx.row(LIST_TEMPLATES, tenant_id=tenant["id"], name=template.name)


async def list_templates(db: Database, tenant_ref: str | None) -> list[dict[str, Any]]:
    async with db.operator_tx() as tx:
        tenant_id = (await find_tenant(tx, tenant_ref))["id"] if tenant_ref else None
        return await tx.all(LIST_TEMPLATES, tenant_id=tenant_id, name=None)


async def remove_template(db: Database, tenant_ref: str, name: str) -> dict[str, Any]:
    async with db.operator_tx() as tx:
        tenant = await find_tenant(tx, tenant_ref)
        removed = await tx.one(REMOVE_TEMPLATE, tenant_id=tenant["id"], name=name)
    if removed is None:
        raise OperatorError(
            f"tenant {tenant['name']!r} has no template {name!r} (see `bizctx templates list`)"
        )
    return removed
