"""The billing run: every business's due subscription periods invoiced, each once
(tools/subscriptions.py bills; migration 0120 keeps the promise). Run by `bizctx billing run`
and, on a schedule, by HTTP serve (server/jobs.py), never by stdio serve: one subscription per
transaction as role bizctx_app with the business's tenant set, so row-level security holds
and one failing subscription neither blocks nor undoes the others."""

from __future__ import annotations

import logging
from typing import Any

from bizctx.server.database import Database
from bizctx.tools import subscriptions

from .operators import find_tenant, list_tenants

log = logging.getLogger("bizctx.billing")


async def run_billing(db: Database, tenant_ref: str | None = None) -> list[dict[str, Any]]:
    """Bill what is due today in each business's time zone; a row per period invoiced, or per
    subscription that failed (with its error, logged; the next run tries it again)."""
    if tenant_ref is None:
        tenants = await list_tenants(db)
    else:
        async with db.operator_tx() as tx:
            tenants = [await find_tenant(tx, tenant_ref)]
    done: list[dict[str, Any]] = []
    for tenant in tenants:
        try:
            async with db.agent_tx(tenant["id"], None) as tx:
                due = await subscriptions.due_subscriptions(tx)
        except Exception as exc:
            log.exception("billing %s: listing its due subscriptions failed", tenant["name"])
            done.append(
                {
                    "tenant_name": tenant["name"],
                    "subscription_id": None,
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )
            continue
        for subscription_id in due:
            where = {"tenant_name": tenant["name"], "subscription_id": subscription_id}
            try:
                async with db.agent_tx(tenant["id"], None) as tx:
                    billed = await subscriptions.bill_subscription(tx, subscription_id)
            except Exception as exc:
                log.exception("billing subscription %s of %s failed", subscription_id, tenant["name"])
                done.append({**where, "error": f"{type(exc).__name__}: {exc}"})
                continue
            done.extend({**where, **period.model_dump()} for period in billed)
    if done:
        log.info("billing run: %d periods invoiced", sum("error" not in d for d in done))
    return done
