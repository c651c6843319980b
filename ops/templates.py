"""Operators' side of message templates (never through MCP): `bizctx templates
list|set|remove`. A template is checked whole when it is set: its placeholders must be from
the fixed list agents' renders govern (tools/contacts.py PLACEHOLDERS; migration 0080 holds
the same list), so a typo never reaches a client."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from bizctx.server.errors import OperatorError
from bizctx.server.queries import QueryRef
from bizctx.tools.contacts import PLACEHOLDERS

from .operators import TenantNamed

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


TEMPLATES = TenantNamed("template", "templates", SET_TEMPLATE, LIST_TEMPLATES, REMOVE_TEMPLATE, _checked)
