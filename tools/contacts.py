"""The contacts domain: message templates, rendered under the caller's access, and the reminder
outbox (due reminders leased to one agent at a time, checked against the contact rules when
they are handed out, completed as sent or failed).

bizctx sends nothing itself: the agent holding a reminder's lease sends it through whatever
channel it has. bizctx guarantees each reminder is handed out to one agent at a time, never on
a channel a rule blocks at that moment (an opt-out skips it; quiet hours and caps defer it to
when it is allowed), counted against the caps from the moment it is handed out, and recorded
as the client's outbound interaction when it is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from bizctx.server.access import AccessPatterns
from bizctx.server.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from bizctx.server.guard import Call
from bizctx.server.money import printed
from bizctx.server.registry import Domain
from bizctx.tools.contact_rules import LOCK_CONTACT, NOW, BrokenRule, GovernedChannel, Verdict, judge

contacts = Domain("contacts")

LIST_TEMPLATES = contacts.query("list_templates")
TEMPLATE_FOR = contacts.query("template_for")
RENDER_FIELDS = contacts.query("render_fields")
DUE_REMINDERS = contacts.query("due_reminders")
REAP_REMINDERS = contacts.query("reap_reminders")
LEASE_REMINDER = contacts.query("lease_reminder")
SET_ASIDE_REMINDER = contacts.query("set_aside_reminder")
LEASED_REMINDER = contacts.query("leased_reminder")
FINISH_REMINDER = contacts.query("finish_reminder")
INSERT_INTERACTION = contacts.query("insert_interaction", domain="clients")

Category = Literal["reminder", "payment_reminder", "final_notice", "marketing"]
WITHHELD = "[withheld]"
# A reminder is handed out at most this many times (a lease that runs out, a failed send).
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Placeholder:
    """One template placeholder: the domain its value belongs to, the redactable field it is
    (if any), and the render_fields column it comes from."""

    domain: str | None
    column: str
    redact: str | None = None


# The fixed list (migration 0080 holds templates to it): no attribute access, no expressions.
PLACEHOLDERS: dict[str, Placeholder] = {
    "business_name": Placeholder(None, "business_name"),
    "client_name": Placeholder("clients", "client_name"),
    "client_first_name": Placeholder("clients", "client_first_name"),
    "client_email": Placeholder("clients", "client_email", redact="email"),
    "client_phone": Placeholder("clients", "client_phone", redact="phone"),
    "appointment_date": Placeholder("appointments", "appointment_date"),
    "appointment_time": Placeholder("appointments", "appointment_time"),
    "service_name": Placeholder("appointments", "service_name"),
    "invoice_number": Placeholder("invoices", "invoice_number"),
    "invoice_total": Placeholder("invoices", "invoice_total"),
    "invoice_balance": Placeholder("invoices", "invoice_balance"),
    "invoice_due_date": Placeholder("invoices", "invoice_due_date"),
    "currency": Placeholder("invoices", "currency"),
}
_TOKEN = re.compile(r"\{([a-z_]+)\}")
# The client's address on each channel, and the redactable field it is.
ADDRESS = {
    "email": ("client_email", "email"),
    "sms": ("client_mobile", "phone"),
    "phone": ("client_phone", "phone"),
}


def _text(value: Any, currency: str | None) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        # The only decimals a template is filled with are the invoice's amounts.
        return printed(value, currency)
    return str(value)


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str
    withheld: list[str]


def render(template: dict[str, Any], fields: dict[str, Any], access: AccessPatterns) -> Rendered:
    """Fill a template's placeholders from `fields`; one whose domain the caller may not read,
    or whose field is redacted for it, renders as [withheld], never its value."""
    withheld: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        spot = PLACEHOLDERS[name]
        hidden = spot.domain is not None and (
            not access.allows(spot.domain, "read") or (spot.redact or "") in access.redacted(spot.domain)
        )
        if hidden:
            withheld.append(name)
            return WITHHELD
        value = fields.get(spot.column)
        return _text(value, fields.get("currency")) if value is not None else ""

    subject = _TOKEN.sub(fill, template["subject"]) if template["subject"] is not None else None
    body = _TOKEN.sub(fill, template["body"])
    return Rendered(subject, body, sorted(set(withheld)))


def _needs(template: dict[str, Any], domain: str) -> bool:
    text = (template["subject"] or "") + template["body"]
    return any(PLACEHOLDERS[n].domain == domain for n in _TOKEN.findall(text))


# -- list_templates ---------------------------------------------------------------------------


class ListTemplatesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: GovernedChannel | None = None
    category: Category | None = None


class Template(BaseModel):
    id: UUID
    name: str
    channel: GovernedChannel
    category: Category
    subject: str | None = Field(default=None, description="For e-mail; placeholders in {braces}.")
    body: str = Field(description="The text, with placeholders in {braces} (see render_template).")
    updated_at: datetime


class ListTemplatesOut(BaseModel):
    templates: list[Template]
    placeholders: list[str] = Field(description="Every placeholder a template may use.")


@contacts.tool(action="read", title="List message templates", one_read=True)
async def list_templates(call: Call, args: ListTemplatesIn) -> ListTemplatesOut:
    """The business's message templates by name; render_template fills one for a client."""
    rows = await call.tx.all(LIST_TEMPLATES, channel=args.channel, category=args.category)
    return ListTemplatesOut(templates=[Template(**r) for r in rows], placeholders=sorted(PLACEHOLDERS))


# -- render_template --------------------------------------------------------------------------


class RenderTemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(min_length=1, max_length=60, description="Its name.")
    client_id: UUID
    appointment_id: UUID | None = Field(default=None, description="For a template about one.")
    invoice_id: UUID | None = Field(default=None, description="For a template about one.")


class RenderTemplateOut(BaseModel):
    template: str
    channel: GovernedChannel
    subject: str | None = None
    body: str
    withheld: list[str] = Field(
        description="Placeholders rendered as [withheld]: data you may not read (ask an agent that may)."
    )


@contacts.tool(action="read", title="Render a message template", entity=("client", "client_id"))
async def render_template(call: Call, args: RenderTemplateIn) -> RenderTemplateOut:
    """Fill a message template for a client (and an appointment or invoice); what you may not
    read renders as [withheld]. It contacts nobody: check_contact first, log_interaction
    after."""
    return await render_named(call, args)


async def render_named(call: Call, args: RenderTemplateIn) -> RenderTemplateOut:
    """A template by name, filled for a client (and appointment or invoice) under the caller's
    access: render_template's answer, and a claimed collections task's message."""
    template = await call.tx.one(TEMPLATE_FOR, name=args.template, channel=None, category=None)
    if template is None:
        raise NotFound("No template has that name; list them with list_templates.")
    for domain, given in (("appointments", args.appointment_id), ("invoices", args.invoice_id)):
        if _needs(template, domain) and given is None:
            what = domain[:-1]
            raise InvalidInput(f"Template {args.template!r} is about an {what}: pass {what}_id.")
    fields = await call.tx.one(
        RENDER_FIELDS,
        client_id=args.client_id,
        appointment_id=args.appointment_id,
        invoice_id=args.invoice_id,
    )
    if fields is None:
        raise NotFound(f"No client {args.client_id}; find clients with search_clients.")
    for column, given in (("appointment_id", args.appointment_id), ("invoice_id", args.invoice_id)):
        if given is not None and fields[column] is None:
            raise NotFound(f"No {column[:-3]} {given} of this client.")
    rendered = render(template, fields, call.access)
    return RenderTemplateOut(
        template=template["name"],
        channel=template["channel"],
        subject=rendered.subject,
        body=rendered.body,
        withheld=rendered.withheld,
    )


# -- claim_due_reminders ----------------------------------------------------------------------


class ClaimDueRemindersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=5, ge=1, le=20)
    channels: list[GovernedChannel] | None = Field(
        default=None, min_length=1, description="Those you send on."
    )
    lease_seconds: int = Field(default=300, ge=30, le=3600, description="Yours to send until then.")


class DueReminder(BaseModel):
    reminder_id: UUID
    appointment_id: UUID
    client_id: UUID
    channel: GovernedChannel
    to: str = Field(description="The client's address on the channel (e-mail or phone number).")
    subject: str | None = None
    body: str = Field(description="The message, rendered from the business's template.")
    template: str
    attempts: int = Field(description="Times handed out, this one included (at most 3).")
    lease_expires_at: datetime = Field(description="Complete it before this, or it is handed out again.")
    warnings: list[BrokenRule] = Field(
        description="Contact rules that only warn and that this contact breaks."
    )


class SetAside(BaseModel):
    reminder_id: UUID
    rule: str = Field(description="The rule (opt_out, a compliance rule's name, or no_address).")
    reason: str
    deferred_to: datetime | None = Field(
        default=None, description="Handed out again from then; null when skipped for good."
    )


class ClaimDueRemindersOut(BaseModel):
    reminders: list[DueReminder] = Field(
        description="Yours to send now; complete each with complete_reminder."
    )
    set_aside: list[SetAside] = Field(description="Due, but a rule stops them now: skipped or deferred.")


def _addressable(access: AccessPatterns, wanted: list[GovernedChannel] | None) -> list[str]:
    """The channels whose client address the caller may see, of those it asked for."""
    redacted = access.redacted("clients")
    asked: list[str] = list(wanted or ADDRESS)
    usable = [ch for ch in asked if ADDRESS[ch][1] not in redacted]
    if not usable:
        raise PermissionDenied(
            f"The client's address on {', '.join(asked)} is redacted for you, so you cannot send those "
            "reminders; an agent that may see it must."
        )
    return usable


def _set_aside(
    due: dict[str, Any], verdict: Verdict, address: str | None, template: dict[str, Any] | None
) -> SetAside | None:
    """Why a due reminder cannot go now, if it cannot: an opt-out (or nothing to send to, or
    with) skips it; a rule that waiting ends, blocking or asking for an approval nobody gives
    a reminder, defers it to when it ends."""
    stop = [*verdict.blocking, *verdict.needing_approval]
    if stop and all(r.rule != "opt_out" for r in stop):
        ends = [r.next_allowed_at for r in stop]
        wait = verdict.next_allowed_at if verdict.blocking else None
        if not verdict.blocking and all(end is not None for end in ends):
            wait = max(end for end in ends if end is not None)
        return SetAside(reminder_id=due["id"], rule=stop[0].rule, reason=stop[0].reason, deferred_to=wait)
    if stop:
        opt_out = next(r for r in stop if r.rule == "opt_out")
        return SetAside(reminder_id=due["id"], rule="opt_out", reason=opt_out.reason)
    if not address:
        reason = f"The client has no {due['channel']} address on record."
        return SetAside(reminder_id=due["id"], rule="no_address", reason=reason)
    if template is None:
        reason = f"The business has no {due['channel']} reminder template (bizctx templates)."
        return SetAside(reminder_id=due["id"], rule="no_template", reason=reason)
    return None


@contacts.tool(action="write", title="Claim due reminders", reads=("clients", "appointments"))
async def claim_due_reminders(call: Call, args: ClaimDueRemindersIn) -> ClaimDueRemindersOut:
    """Take the due appointment reminders to send, each rendered with the client's address and
    leased to you. Contact rules apply now: opted out, skipped; quiet hours or a cap, deferred.
    Send each, then complete_reminder; an expired lease hands it out again."""
    channels = _addressable(call.access, args.channels)
    await call.tx.execute(REAP_REMINDERS, max_attempts=MAX_ATTEMPTS)
    due = await call.tx.all(DUE_REMINDERS, channels=channels, limit=args.limit, max_attempts=MAX_ATTEMPTS)
    # The clients' contact locks, in one order for every claimer (no deadlock between two).
    for client_id in sorted({r["client_id"] for r in due}):
        await call.tx.value(LOCK_CONTACT, client_id=client_id)
    now = await call.tx.value(NOW)
    handed: list[DueReminder] = []
    set_aside: list[SetAside] = []
    for r in due:
        verdict = await judge(call, r["client_id"], r["channel"], now, "reminder")
        fields = await call.tx.one(
            RENDER_FIELDS, client_id=r["client_id"], appointment_id=r["appointment_id"], invoice_id=None
        )
        template = await call.tx.one(TEMPLATE_FOR, name=None, channel=r["channel"], category="reminder")
        address = fields[ADDRESS[r["channel"]][0]] if fields else None
        aside = _set_aside(r, verdict, address, template)
        if aside is not None:
            await call.tx.execute(
                SET_ASIDE_REMINDER,
                reminder_id=r["id"],
                defer_to=aside.deferred_to,
                rule=aside.rule,
                reason=aside.reason,
            )
            set_aside.append(aside)
            continue
        assert fields is not None and template is not None and address
        rendered = render(template, fields, call.access)
        lease = await call.tx.row(LEASE_REMINDER, reminder_id=r["id"], lease_seconds=args.lease_seconds)
        handed.append(
            DueReminder(
                reminder_id=r["id"],
                appointment_id=r["appointment_id"],
                client_id=r["client_id"],
                channel=r["channel"],
                to=address,
                subject=rendered.subject,
                body=rendered.body,
                template=template["name"],
                attempts=lease["attempts"],
                lease_expires_at=lease["lease_expires_at"],
                warnings=verdict.warnings,
            )
        )
    return ClaimDueRemindersOut(reminders=handed, set_aside=set_aside)


# -- complete_reminder ------------------------------------------------------------------------


class CompleteReminderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reminder_id: UUID = Field(description="One you claimed.")
    outcome: Literal["sent", "failed"]
    error: str | None = Field(default=None, max_length=1000, description="For failed.")


class CompletedReminder(BaseModel):
    reminder_id: UUID
    status: Literal["sent", "pending", "failed"] = Field(
        description="sent; pending (failed, handed out again in 5 minutes); failed (no attempts left)."
    )
    channel: GovernedChannel
    attempts: int
    sent_at: datetime | None = None
    interaction_id: UUID | None = Field(
        default=None, description="The outbound interaction recorded in the client's history when sent."
    )


@contacts.tool(
    action="write",
    idempotent=True,
    title="Complete a reminder",
    entity=("appointment_reminder", "reminder_id"),
)
async def complete_reminder(call: Call, args: CompleteReminderIn) -> CompletedReminder:
    """Say how a reminder you claimed went: sent (logged in the client's history) or failed
    (tried again later, 3 attempts at most)."""
    if args.outcome == "sent" and args.error is not None:
        raise InvalidInput("error is for outcome failed; leave it out for sent.")
    held = await call.tx.one(LEASED_REMINDER, reminder_id=args.reminder_id)
    if held is None:
        raise NotFound(f"No reminder {args.reminder_id}; claim reminders with claim_due_reminders.")
    if held["status"] != "leased" or held["leased_by_agent_id"] != call.agent.id:
        raise Conflict(
            f"Reminder {args.reminder_id} is not leased to you (it is {held['status']}): its lease ran out "
            "and it was handed out again, or it was completed. Claim again with claim_due_reminders.",
            status=held["status"],
        )
    interaction_id = None
    if args.outcome == "sent":
        logged = await call.tx.one(
            INSERT_INTERACTION,
            client_id=held["client_id"],
            channel=held["channel"],
            direction="outbound",
            summary=f"Appointment reminder sent by {held['channel']}.",
            content=None,
            occurred_at=None,
            category="reminder",
        )
        interaction_id = logged["id"] if logged else None
    row = await call.tx.row(
        FINISH_REMINDER,
        reminder_id=args.reminder_id,
        sent=args.outcome == "sent",
        max_attempts=MAX_ATTEMPTS,
        interaction_id=interaction_id,
        error=args.error,
    )
    return CompletedReminder(**row)
