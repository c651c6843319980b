"""The contacts domain through the official MCP client: message templates rendered under the
caller's access, and the reminder outbox (due reminders leased to one agent at a time, checked
against the contact rules when handed out, completed as sent or failed).

The business's zone is one where it is midday now, so the default quiet hours (08:00-21:00 for
phone and sms) let its clients' reminders go; a client of its own zone at night shows them
deferred."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import anyio
import psycopg
import pytest
from test_appointments import insert_appointment, seed
from test_contact_rules import zone_at

from bizctx.tools.contacts import PLACEHOLDERS
from conftest import audit_rows, count, err, error_of, ok

pytestmark = pytest.mark.anyio

SENDER = {
    "caps": ["contacts.read", "contacts.write", "clients.read", "clients.write", "appointments.read"],
    "access": {
        "contacts": {"read": True, "write": True},
        "clients": {"read": True, "write": True},
        "appointments": {"read": True},
    },
}


@pytest.fixture
async def shop(make_tenant, make_agent, sql):
    tenant = await make_tenant(time_zone=zone_at(12))
    sender = await make_agent(**SENDER, tenant=tenant["name"], name="sender")
    other = await make_agent(**SENDER, tenant=tenant["name"], name="other-sender")
    biz = seed(sql, sender.tenant_id, tz=zone_at(12))
    return {"tenant": tenant, "sender": sender, "other": other, "biz": biz}


def appointment(sql, biz, client=None, days: int = 1):
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    if client is not None:
        biz = type(biz)(**{**vars(biz), "client": client})
    return insert_appointment(sql, biz, starts)


def reminder(sql, biz, appointment_id, channel: str = "sms", minutes_ago: int = 1):
    return sql.execute(
        "INSERT INTO appointment_reminders (tenant_id, appointment_id, channel, send_at)"
        " VALUES (%s, %s, %s, now() - make_interval(mins => %s)) RETURNING id",
        (biz.tenant_id, appointment_id, channel, minutes_ago),
    ).fetchone()["id"]


def status_of(sql, reminder_id) -> dict:
    return sql.execute("SELECT * FROM appointment_reminders WHERE id = %s", (reminder_id,)).fetchone()


def client_in(sql, biz, zone: str, **fields) -> object:
    return sql.execute(
        "INSERT INTO clients (tenant_id, first_name, time_zone, email, phone) VALUES (%s, %s, %s, %s, %s) "
        "RETURNING id",
        (
            biz.tenant_id,
            fields.get("name", "Owl"),
            zone,
            fields.get("email"),
            fields.get("phone", "+1 555 0199"),
        ),
    ).fetchone()["id"]


# -- the outbox ---------------------------------------------------------------------------------


async def test_a_due_reminder_is_handed_out_once_rendered_and_recorded_when_sent(shop, connect, sql):
    biz = shop["biz"]
    due = reminder(sql, biz, appointment(sql, biz))
    async with connect(shop["sender"]) as c:
        claimed = await ok(c, "claim_due_reminders", {})
        async with connect(shop["other"]) as o:
            nothing = await ok(o, "claim_due_reminders", {})
            not_theirs = await err(o, "complete_reminder", {"reminder_id": str(due), "outcome": "sent"})
        done = await ok(
            c, "complete_reminder", {"reminder_id": str(due), "outcome": "sent", "idempotency_key": "sent-1"}
        )
        again = await ok(
            c, "complete_reminder", {"reminder_id": str(due), "outcome": "sent", "idempotency_key": "sent-1"}
        )
        after = await ok(c, "claim_due_reminders", {})
        history = await ok(c, "list_interactions", {"client_id": str(biz.client)})
    [handed] = claimed["reminders"]
    assert handed["reminder_id"] == str(due) and handed["channel"] == "sms" and handed["attempts"] == 1
    assert handed["to"] == "+1 555 010 0200" and handed["template"] == "reminder_sms"
    assert "Deep clean" in handed["body"] and shop["tenant"]["name"] in handed["body"]
    assert "Reply STOP" in handed["body"] and "{" not in handed["body"]
    assert nothing == {"reminders": [], "set_aside": []}
    assert not_theirs["code"] == "conflict" and "not leased to you" in not_theirs["message"]
    assert done["status"] == "sent" and done["interaction_id"] is not None and again == done
    assert after["reminders"] == []
    [sent] = history["interactions"]
    assert (sent["id"], sent["direction"], sent["channel"]) == (done["interaction_id"], "outbound", "sms")
    row = status_of(sql, due)
    assert row["status"] == "sent" and row["leased_by_agent_id"] is None and row["attempts"] == 1
    names = [r["name"] for r in audit_rows(sql, shop["sender"])]
    assert names.count("claim_due_reminders") == 2 and names.count("complete_reminder") == 2


async def test_a_lease_that_runs_out_hands_the_reminder_out_again_three_times_at_most(shop, connect, sql):
    biz = shop["biz"]
    due = reminder(sql, biz, appointment(sql, biz))

    def run_out() -> None:  # the lease's end, brought forward (as if its holder went silent)
        sql.execute(
            "UPDATE appointment_reminders SET lease_expires_at = now() - interval '1 s' WHERE id = %s", (due,)
        )

    async with connect(shop["sender"]) as c, connect(shop["other"]) as o:
        first = await ok(c, "claim_due_reminders", {"lease_seconds": 60})
        run_out()
        second = await ok(o, "claim_due_reminders", {})
        late = await err(c, "complete_reminder", {"reminder_id": str(due), "outcome": "sent"})
        run_out()
        third = await ok(c, "claim_due_reminders", {})
        run_out()
        fourth = await ok(o, "claim_due_reminders", {})
        gone = await err(c, "complete_reminder", {"reminder_id": str(due), "outcome": "sent"})
    assert [r["attempts"] for r in (*first["reminders"], *second["reminders"], *third["reminders"])] == [
        1,
        2,
        3,
    ]
    assert late["code"] == "conflict"
    # Three attempts: not handed out a fourth time, and failed (a lease that ran out is no contact).
    assert fourth == {"reminders": [], "set_aside": []} and gone["code"] == "conflict"
    row = status_of(sql, due)
    assert (row["status"], row["last_error"]) == ("failed", "Handed out 3 times; no agent completed it.")
    assert count(sql, "client_interactions", biz.tenant_id) == 0


async def test_a_failed_send_goes_back_to_the_outbox_a_little_later(shop, connect, sql):
    biz = shop["biz"]
    due = reminder(sql, biz, appointment(sql, biz), channel="email")
    async with connect(shop["sender"]) as c:
        await ok(c, "claim_due_reminders", {"channels": ["email"]})
        failed = await ok(
            c, "complete_reminder", {"reminder_id": str(due), "outcome": "failed", "error": "bounced"}
        )
        now = await ok(c, "claim_due_reminders", {})
    assert failed["status"] == "pending" and failed["attempts"] == 1
    assert now["reminders"] == []  # due again in 5 minutes, not at once
    assert status_of(sql, due)["send_at"] > datetime.now(UTC) + timedelta(minutes=4)


async def test_an_opt_out_skips_a_reminder_and_quiet_hours_defer_it(shop, connect, sql):
    biz = shop["biz"]
    opted = reminder(sql, biz, appointment(sql, biz))
    owl = client_in(sql, biz, zone_at(3))
    night = reminder(sql, biz, appointment(sql, biz, client=owl))
    async with connect(shop["sender"]) as c:
        await ok(
            c, "set_client_preference", {"client_id": str(biz.client), "opt_out": ["sms"], "reason": "STOP"}
        )
        claimed = await ok(c, "claim_due_reminders", {})
    assert claimed["reminders"] == []
    aside = {a["reminder_id"]: a for a in claimed["set_aside"]}
    assert aside[str(opted)]["rule"] == "opt_out" and aside[str(opted)]["deferred_to"] is None
    eight = datetime.now(ZoneInfo(zone_at(3))).replace(hour=8, minute=0, second=0, microsecond=0)
    assert aside[str(night)]["rule"] == "quiet_hours"
    assert datetime.fromisoformat(aside[str(night)]["deferred_to"]) == eight
    skipped, deferred = status_of(sql, opted), status_of(sql, night)
    assert (skipped["status"], skipped["skipped_rule"]) == ("skipped", "opt_out")
    assert (deferred["status"], deferred["send_at"]) == ("pending", eight)


async def test_two_agents_claiming_at_once_cannot_exceed_a_frequency_cap_between_them(shop, connect, sql):
    """Two of the three e-mails a week are sent; two reminders are due: only one may go."""
    biz = shop["biz"]
    dues = [reminder(sql, biz, appointment(sql, biz, days=d), channel="email") for d in (1, 2)]
    async with connect(shop["sender"]) as c:
        for _ in range(2):
            await ok(
                c,
                "log_interaction",
                {"client_id": str(biz.client), "channel": "email", "direction": "outbound", "summary": "Hi"},
            )
    answers: list = []

    async def claim(agent) -> None:
        async with connect(agent) as c:
            answers.append(await c.call_tool("claim_due_reminders", {"limit": 1, "channels": ["email"]}))

    async with anyio.create_task_group() as tg:
        tg.start_soon(claim, shop["sender"])
        tg.start_soon(claim, shop["other"])
    results = [a.structured_content for a in answers]
    assert all(not a.is_error for a in answers), [a.content[0].text for a in answers]
    handed = [r for res in results for r in res["reminders"]]
    aside = [r for res in results for r in res["set_aside"]]
    assert len(handed) == 1 and len(aside) == 1 and aside[0]["rule"] == "frequency_cap"
    assert {handed[0]["reminder_id"], aside[0]["reminder_id"]} == {str(d) for d in dues}
    assert aside[0]["deferred_to"] is not None


async def test_claiming_needs_client_read_and_an_address_it_may_see(shop, make_agent, connect, sql):
    biz = shop["biz"]
    reminder(sql, biz, appointment(sql, biz), channel="sms")
    email_due = reminder(sql, biz, appointment(sql, biz, days=2), channel="email")
    blind = await make_agent(
        caps=["contacts.write"], access={"contacts": {"write": True}}, tenant=shop["tenant"]["name"]
    )
    masked = await make_agent(
        caps=["contacts.write", "clients.read", "appointments.read"],
        access={
            "contacts": {"write": True},
            "clients": {"read": True, "redact": ["phone"]},
            "appointments": {"read": True},
        },
        tenant=shop["tenant"]["name"],
    )
    async with connect(blind) as c:
        listed = {t.name for t in (await c.list_tools()).tools}
        refused = await err(c, "claim_due_reminders", {})
    async with connect(masked) as c:
        sms_only = await err(c, "claim_due_reminders", {"channels": ["sms"]})
        claimed = await ok(c, "claim_due_reminders", {})
    assert "claim_due_reminders" not in listed and refused["code"] == "permission_denied"
    assert "clients" in refused["message"]
    assert sms_only["code"] == "permission_denied" and "redacted" in sms_only["message"]
    assert [r["reminder_id"] for r in claimed["reminders"]] == [str(email_due)]  # not the sms one
    assert [r["outcome"] for r in audit_rows(sql, blind)] == ["denied"]


async def test_bad_claims_and_completions_are_refused_and_lease_nothing(shop, connect, sql):
    biz = shop["biz"]
    due = reminder(sql, biz, appointment(sql, biz))
    async with connect(shop["sender"]) as c:
        too_many = await err(c, "claim_due_reminders", {"limit": 500})
        short = await err(c, "claim_due_reminders", {"lease_seconds": 1})
        fax = await err(c, "claim_due_reminders", {"channels": ["fax"]})
        maybe = await err(c, "complete_reminder", {"reminder_id": str(due), "outcome": "maybe"})
        unknown = await err(
            c, "complete_reminder", {"reminder_id": "00000000-0000-0000-0000-000000000000", "outcome": "sent"}
        )
        unclaimed = await err(c, "complete_reminder", {"reminder_id": str(due), "outcome": "sent"})
    for e, field in ((too_many, "limit"), (short, "lease_seconds"), (fax, "channels"), (maybe, "outcome")):
        assert e["code"] == "invalid_input" and field in e["message"], e
    assert unknown["code"] == "not_found" and unclaimed["code"] == "conflict"
    assert status_of(sql, due)["status"] == "pending" and status_of(sql, due)["attempts"] == 0


async def test_a_claim_retried_with_its_key_returns_the_same_reminders_and_leases_nothing_more(
    shop, connect, sql
):
    biz = shop["biz"]
    due = reminder(sql, biz, appointment(sql, biz))
    async with connect(shop["sender"]) as c:
        first = await ok(c, "claim_due_reminders", {"idempotency_key": "morning-run"})
        again = await ok(c, "claim_due_reminders", {"idempotency_key": "morning-run"})
        other_args = await err(c, "claim_due_reminders", {"limit": 2, "idempotency_key": "morning-run"})
    assert again == first and len(first["reminders"]) == 1
    assert status_of(sql, due)["attempts"] == 1
    assert other_args["code"] == "conflict"


# -- templates ----------------------------------------------------------------------------------


async def test_templates_are_listed_and_rendered_with_what_the_caller_may_read(
    shop, make_agent, connect, sql
):
    biz = shop["biz"]
    appt = appointment(sql, biz)
    blind = await make_agent(
        caps=["contacts.read"], access={"contacts": {"read": True}}, tenant=shop["tenant"]["name"]
    )
    args = {"template": "reminder_email", "client_id": str(biz.client), "appointment_id": str(appt)}
    async with connect(shop["sender"]) as c:
        listed = await ok(c, "list_templates", {})
        sms = await ok(c, "list_templates", {"channel": "sms"})
        full = await ok(c, "render_template", args)
        no_appointment = await err(c, "render_template", {**args, "appointment_id": None})
        unknown = await err(c, "render_template", {**args, "template": "nope"})
        not_theirs = await err(c, "render_template", {**args, "client_id": str(client_in(sql, biz, "UTC"))})
    async with connect(blind) as c:
        withheld = await ok(c, "render_template", args)
    names = [t["name"] for t in listed["templates"]]
    assert {"reminder_email", "reminder_sms", "payment_reminder_email", "final_notice_email"} <= set(names)
    assert names == sorted(names) and all(t["channel"] == "sms" for t in sms["templates"])
    assert set(listed["placeholders"]) == set(PLACEHOLDERS)
    assert full["subject"].startswith("Reminder: Deep clean on ") and "Ann" in full["body"]
    assert full["withheld"] == [] and "{" not in full["body"]
    assert no_appointment["code"] == "invalid_input" and "appointment_id" in no_appointment["message"]
    assert unknown["code"] == not_theirs["code"] == "not_found"
    # No clients or appointments read: the names and the service are withheld, never shown.
    assert set(withheld["withheld"]) == {
        "client_first_name",
        "service_name",
        "appointment_date",
        "appointment_time",
    }
    assert "Ann" not in json.dumps(withheld) and "Deep clean" not in json.dumps(withheld)
    assert "[withheld]" in withheld["body"] and shop["tenant"]["name"] in withheld["body"]
    assert [r["name"] for r in audit_rows(sql, blind)] == ["render_template"]


async def test_templates_hold_only_the_fixed_placeholders(shop, sql):
    tenant_id = shop["biz"].tenant_id
    for name in PLACEHOLDERS:
        assert sql.execute(
            "SELECT bizctx_template_placeholders_known(%s) AS ok", (f"x {{{name}}} y",)
        ).fetchone()["ok"]
    for bad in ("{client.email}", "{password}", "{client_name.__class__}"):
        with pytest.raises(psycopg.errors.CheckViolation):
            with sql.transaction():
                sql.execute(
                    "INSERT INTO message_templates (tenant_id, name, channel, category, body) "
                    "VALUES (%s, 'bad', 'sms', 'reminder', %s)",
                    (tenant_id, f"Hello {bad}"),
                )


async def test_contacts_tools_need_their_capabilities(shop, make_agent, connect, sql):
    reader = await make_agent(
        caps=["contacts.read"], access={"contacts": {"read": True}}, tenant=shop["tenant"]["name"]
    )
    closed = await make_agent(
        caps=["contacts.read", "contacts.write"], access={}, tenant=shop["tenant"]["name"]
    )
    async with connect(reader) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        refused = error_of(await c.call_tool("claim_due_reminders", {}))
    async with connect(closed) as c:
        nothing = {t.name for t in (await c.list_tools()).tools}
        closed_refusal = await err(c, "list_templates", {})
    assert {"list_templates", "render_template"} <= names and "claim_due_reminders" not in names
    assert refused["code"] == closed_refusal["code"] == "permission_denied"
    assert not nothing & {"list_templates", "render_template", "claim_due_reminders", "complete_reminder"}


# -- found by a hostile review (each was a failing probe first) --------------------------------


def sent_before(sql, biz, n: int, channel: str = "sms") -> None:
    """`n` outbound contacts on the channel in the past days (history, written directly)."""
    for day in range(1, n + 1):
        sql.execute(
            "INSERT INTO client_interactions (tenant_id, client_id, channel, direction, summary, occurred_at)"
            " VALUES (%s, %s, %s, 'outbound', 'Earlier', now() - make_interval(days => %s))",
            (biz.tenant_id, biz.client, channel, day),
        )


async def test_a_lease_that_ran_out_is_not_counted_as_a_contact(shop, connect, sql):
    """Two of the three sms a week are sent; the third, claimed and let run out, is handed out
    again: its own stale lease is not a contact."""
    biz = shop["biz"]
    sent_before(sql, biz, 2)
    due = reminder(sql, biz, appointment(sql, biz))
    async with connect(shop["sender"]) as c, connect(shop["other"]) as o:
        first = await ok(c, "claim_due_reminders", {"lease_seconds": 60})
        sql.execute(
            "UPDATE appointment_reminders SET lease_expires_at = now() - interval '1 s' WHERE id = %s", (due,)
        )
        second = await ok(o, "claim_due_reminders", {})
    assert [r["reminder_id"] for r in first["reminders"]] == [str(due)]
    assert [r["reminder_id"] for r in second["reminders"]] == [str(due)] and second["set_aside"] == []


async def test_a_rule_asking_approval_defers_a_reminder_never_skips_it(app, shop, connect, sql):
    from bizctx.ops import compliance

    cap = compliance.Rule(
        name="frequency_cap",
        kind="frequency_cap",
        channels=("email", "sms", "phone"),
        action="require_approval",
        max_contacts=3,
        window_days=7,
    )
    await compliance.set_rule(app.db, shop["tenant"]["name"], cap, "ops-test")
    biz = shop["biz"]
    sent_before(sql, biz, 3)
    due = reminder(sql, biz, appointment(sql, biz))
    async with connect(shop["sender"]) as c:
        out = await ok(c, "claim_due_reminders", {})
    [aside] = out["set_aside"]
    oldest = sql.execute(
        "SELECT min(occurred_at) AS at FROM client_interactions WHERE client_id = %s", (biz.client,)
    ).fetchone()["at"]
    assert out["reminders"] == [] and aside["rule"] == "frequency_cap"
    assert datetime.fromisoformat(aside["deferred_to"]) == oldest + timedelta(days=7)
    row = status_of(sql, due)
    assert (row["status"], row["send_at"]) == ("pending", oldest + timedelta(days=7))
