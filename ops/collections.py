"""Operators' side of collections (never through MCP): each tenant's ladder, `bizctx
collections ladder` and `set-ladder`. A ladder is set whole and checked first: days after the
due date in order, each step's template one of the tenant's on the step's channel."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bizctx.server.database import Database
from bizctx.server.errors import OperatorError
from bizctx.server.queries import QueryRef

from .operators import find_tenant

LIST_LADDERS = QueryRef("operators", "list_ladders")
SET_LADDER = QueryRef("operators", "set_ladder")
TEMPLATE_CHANNELS = QueryRef("operators", "template_channels")

_STEP = re.compile(r"^(\d{1,3}):(email|sms|phone):([a-z][a-z0-9_]{0,59})$")
MAX_STEPS = 20


@dataclass(frozen=True)
class Step:
    days: int
    channel: str
    template: str


def parse_step(text: str) -> Step:
    """DAYS:CHANNEL:TEMPLATE, e.g. 7:sms:payment_reminder_sms."""
    m = _STEP.match(text)
    if m is None:
        raise OperatorError(
            f"--step {text!r}: DAYS:CHANNEL:TEMPLATE, e.g. 7:sms:payment_reminder_sms "
            "(channel email, sms or phone)"
        )
    return Step(int(m.group(1)), m.group(2), m.group(3))


async def set_ladder(db: Database, tenant_ref: str, steps: list[Step]) -> list[dict[str, Any]]:
    if not 1 <= len(steps) <= MAX_STEPS:
        raise OperatorError(f"a ladder has 1 to {MAX_STEPS} steps")
    days = [s.days for s in steps]
    if days != sorted(set(days)) or days[-1] > 366:
        raise OperatorError("the steps' days after the due date must rise, from 0 to 366 at most")
    async with db.operator_tx() as tx:
        tenant = await find_tenant(tx, tenant_ref)
        channels = {r["name"]: r["channel"] for r in await tx.all(TEMPLATE_CHANNELS, tenant_id=tenant["id"])}
        for s in steps:
            if channels.get(s.template) != s.channel:
                raise OperatorError(
                    f"step {s.days}:{s.channel}:{s.template}: the tenant has no {s.channel} template named "
                    f"{s.template!r} (see `bizctx templates list`)"
                )
        await tx.execute(
            SET_LADDER,
            tenant_id=tenant["id"],
            days=days,
            channels=[s.channel for s in steps],
            templates=[s.template for s in steps],
        )
        return await tx.all(LIST_LADDERS, tenant_id=tenant["id"])


async def list_ladders(db: Database, tenant_ref: str | None) -> list[dict[str, Any]]:
    async with db.operator_tx() as tx:
        tenant_id = (await find_tenant(tx, tenant_ref))["id"] if tenant_ref else None
        return await tx.all(LIST_LADDERS, tenant_id=tenant_id)
