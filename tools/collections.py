"""Collections ladders (the invoices domain): escalation steps for an overdue invoice, each of
which becomes, at its time, a claimable `collections_contact` task whose message is rendered
when it is claimed (migration 0085 says how the steps advance and end)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from bizctx.server.errors import Conflict, NotFound, PolicyBlocked
from bizctx.server.guard import Call
from bizctx.tools.contact_rules import NOW, judge
from bizctx.tools.invoices import invoices

COLLECTION_TARGET = invoices.query("collection_target")
COLLECTION_RUNNING = invoices.query("collection_running")
START_COLLECTION = invoices.query("start_collection")
STOP_COLLECTION = invoices.query("stop_collection")
COLLECTION_VIEW = invoices.query("collection_view")
COLLECTION_STEPS_DUE = invoices.query("collection_steps_due", domain="tasks")  # see tools/tasks.py


class CollectionStep(BaseModel):
    step: int
    channel: Literal["email", "sms", "phone"]
    template: str = Field(description="The message template the step's contact uses.")
    due_at: datetime = Field(description="When it becomes a claimable collections_contact task.")
    status: Literal["scheduled", "queued", "skipped"] = Field(
        description="scheduled: not yet its time; queued: its task exists; skipped: see note."
    )
    task_id: UUID | None = None
    task_status: str | None = Field(default=None, description="Its task's state, when you may see the task.")
    note: str | None = None


class Collection(BaseModel):
    id: UUID
    invoice_id: UUID
    client_id: UUID
    status: Literal["active", "stopped", "completed"] = Field(
        description="active; stopped (by an agent, or the client opted out of all contact); "
        "completed (the invoice was paid or voided)."
    )
    end_reason: str | None = None
    started_at: datetime
    ended_at: datetime | None = None
    steps: list[CollectionStep]


async def collection_view(call: Call, invoice_id: UUID) -> Collection:
    row = await call.tx.one(COLLECTION_VIEW, invoice_id=invoice_id)
    if row is None:
        raise NotFound(f"No collection for invoice {invoice_id}; start one with start_collection.")
    return Collection(**row)


class StartCollectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_id: UUID = Field(description="An overdue invoice.")


@invoices.tool(action="write", title="Start collections", entity=("invoice", "invoice_id"))
async def start_collection(call: Call, args: StartCollectionIn) -> Collection:
    """Start the collections ladder on an overdue invoice: each step (e-mail, sms, call, final
    notice) becomes a claimable collections_contact task at its time; steps already past
    collapse into one. Steps are skipped once the invoice is settled or the channel opted out.
    Returns the ladder."""
    target = await call.tx.one(COLLECTION_TARGET, invoice_id=args.invoice_id)
    if target is None:
        raise NotFound(f"No invoice {args.invoice_id}; find invoices with list_invoices.")
    if target["status"] not in ("open", "partial") or not target["overdue"]:
        raise Conflict(
            f"Invoice {target['invoice_number'] or '(draft)'} is not overdue (it is {target['status']}, "
            "and a ladder is for an open invoice past its due date).",
            status=target["status"],
        )
    if await call.tx.one(COLLECTION_RUNNING, invoice_id=args.invoice_id) is not None:
        raise Conflict(
            f"A collections ladder already runs on invoice {target['invoice_number']}; see "
            f"bizctx://invoices/{args.invoice_id}/collection, or stop it with stop_collection."
        )
    opted = await judge(call, target["client_id"], "chat", await call.tx.value(NOW))
    if any(r.rule == "opt_out" for r in opted.blocking):  # only an opt-out of all covers a chat
        raise PolicyBlocked(
            "The client opted out of all contact, so no collections ladder can run for them.",
            rule="opt_out",
            reason=opted.blocking[0].reason,
        )
    await call.tx.value(START_COLLECTION, invoice_id=args.invoice_id)
    await call.tx.execute(COLLECTION_STEPS_DUE)
    return await collection_view(call, args.invoice_id)


class StopCollectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_id: UUID
    reason: str = Field(min_length=1, max_length=500, description="e.g. a payment plan was agreed.")


@invoices.tool(action="write", idempotent=True, title="Stop collections", entity=("invoice", "invoice_id"))
async def stop_collection(call: Call, args: StopCollectionIn) -> Collection:
    """Stop an invoice's collections ladder: steps not yet due are skipped, an unclaimed task
    cancelled. Returns the ladder."""
    if await call.tx.one(STOP_COLLECTION, invoice_id=args.invoice_id, reason=args.reason) is None:
        await collection_view(call, args.invoice_id)  # not found when there never was one
        raise Conflict(
            f"No collections ladder runs on invoice {args.invoice_id}: it ended already "
            f"(see bizctx://invoices/{args.invoice_id}/collection)."
        )
    await call.tx.execute(COLLECTION_STEPS_DUE)
    return await collection_view(call, args.invoice_id)
