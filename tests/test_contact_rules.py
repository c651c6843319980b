"""Contact governance through the official MCP client: every outbound contact passes the
tenant's rules (opt-outs, quiet hours in the client's time zone, frequency caps) in the
transaction that records it; check_contact asks first; list_interactions reads the history.

An outbound contact is recorded as it happens (at most 15 minutes late), so the tests that
record one now put their client in a time zone where it is day (or night) right now."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import anyio
import pytest

from bizctx.ops import compliance
from bizctx.server.errors import OperatorError
from conftest import audit_rows, count, err, error_of, ok

pytestmark = pytest.mark.anyio

CONTACT = {
    "caps": ["clients.read", "clients.write"],
    "access": {"clients": {"read": True, "write": True}},
}
APPROVER = {
    "caps": ["tasks.read", "tasks.approve", "clients.read"],
    "access": {"tasks": {"read": True, "write": True, "scope": "all"}, "clients": {"read": True}},
}
NEW_YORK = "America/New_York"


def zone_at(hour: int) -> str:
    """A fixed-offset zone whose local time is `hour`:xx right now."""
    offset = (hour - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 12 else offset
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT signs are inverted


@pytest.fixture
async def desk(make_agent, make_tenant, connect):
    """A tenant (UTC) with its default rules, a front-desk agent, a client for whom it is
    midday now (`client`) and one in New York (`ny`, for checks at given times)."""
    tenant = await make_tenant(time_zone="UTC")
    agent = await make_agent(**CONTACT, tenant=tenant["name"], name="desk")
    async with connect(agent) as c:
        client = await ok(
            c,
            "upsert_client",
            {
                "first_name": "Ann",
                "time_zone": zone_at(12),
                "email": "ann@example.com",
                "phone": "+1 555 0100",
            },
        )
        ny = await ok(c, "upsert_client", {"first_name": "Nora", "time_zone": NEW_YORK})
    return {"tenant": tenant, "agent": agent, "client": client["id"], "ny": ny["id"]}


def outbound(desk, channel: str, when: str | None = None, *, client: str = "client", **extra) -> dict:
    args = {"client_id": desk[client], "channel": channel, "direction": "outbound", "summary": "Hello"}
    return {**args, **({"occurred_at": when} if when else {}), **extra}


async def check(c, desk, channel: str, when: str | None = None, *, client: str = "client") -> dict:
    return await ok(
        c,
        "check_contact",
        {"client_id": desk[client], "channel": channel, **({"at": when} if when else {})},
    )


async def night_client(c, hour: int = 3) -> str:
    """A client for whom it is `hour`:xx (night) right now."""
    return (await ok(c, "upsert_client", {"first_name": "Owl", "time_zone": zone_at(hour)}))["id"]


def interactions(sql, desk) -> int:
    return count(sql, "client_interactions", desk["tenant"]["id"])


async def set_rule(app, desk, **fields) -> dict:
    return await compliance.set_rule(app.db, desk["tenant"]["name"], compliance.Rule(**fields), "ops-test")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


# Noon in New York, for checks at a given time: inside the default quiet hours (08:00-21:00).
NOON = "2027-01-12T12:00:00-05:00"


# -- recording a contact -----------------------------------------------------------------------


async def test_an_outbound_contact_is_recorded_as_it_happens(desk, connect, sql):
    now = datetime.now(UTC)
    async with connect(desk["agent"]) as c:
        late = await err(
            c, "log_interaction", outbound(desk, "email", (now - timedelta(minutes=20)).isoformat())
        )
        ahead = await err(c, "log_interaction", outbound(desk, "sms", (now + timedelta(hours=2)).isoformat()))
        chat_late = await err(
            c, "log_interaction", outbound(desk, "chat", (now - timedelta(days=1)).isoformat())
        )
        recent = await ok(
            c, "log_interaction", outbound(desk, "email", (now - timedelta(minutes=10)).isoformat())
        )
        inbound_old = await ok(
            c,
            "log_interaction",
            {**outbound(desk, "phone", (now - timedelta(days=30)).isoformat()), "direction": "inbound"},
        )
        note_old = await ok(
            c, "log_interaction", {**outbound(desk, "note", (now - timedelta(days=30)).isoformat())}
        )
    for refused in (late, ahead, chat_late):
        assert refused["code"] == "invalid_input" and "occurred_at" in refused["message"]
        assert "15 minutes" in refused["message"]
    assert recent["warnings"] == [] and inbound_old["direction"] == "inbound"
    assert note_old["channel"] == "note"  # an internal note is not a contact, whenever it was
    assert interactions(sql, desk) == 3


# -- opt-outs ---------------------------------------------------------------------------------


async def test_an_opt_out_blocks_its_channel_only_and_never_inbound_or_internal(desk, connect, sql):
    async with connect(desk["agent"]) as c:
        await ok(
            c, "set_client_preference", {"client_id": desk["client"], "opt_out": ["sms"], "reason": "STOP"}
        )
        blocked = await err(c, "log_interaction", outbound(desk, "sms"))
        email = await ok(c, "log_interaction", outbound(desk, "email"))
        inbound = await ok(c, "log_interaction", {**outbound(desk, "sms"), "direction": "inbound"})
        note = await ok(c, "log_interaction", {**outbound(desk, "sms"), "direction": "internal"})
    assert blocked["code"] == "policy_blocked" and blocked["rule"] == "opt_out"
    assert "opted out of sms (STOP)" in blocked["reason"] and "next_allowed_at" not in blocked
    assert "Waiting will not help" in blocked["message"] and blocked["retryable"] is False
    assert email["warnings"] == [] and inbound["direction"] == "inbound" and note["direction"] == "internal"
    assert interactions(sql, desk) == 3
    logged = [r for r in audit_rows(sql, desk["agent"]) if r["name"] == "log_interaction"]
    assert [(r["outcome"], r["error_code"], r["rule"]) for r in logged] == [
        ("blocked", "policy_blocked", "opt_out"),  # the refused contact's evidence names its rule
        ("ok", None, None),
        ("ok", None, None),
        ("ok", None, None),
    ]
    assert logged[0]["arguments"]["channel"] == "sms" and logged[0]["arguments"]["direction"] == "outbound"


async def test_an_opt_out_of_all_blocks_every_outbound_channel(desk, connect, sql):
    async with connect(desk["agent"]) as c:
        await ok(c, "set_client_preference", {"client_id": desk["client"], "opt_out": ["all"]})
        refusals = [
            await err(c, "log_interaction", outbound(desk, ch))
            for ch in ("email", "sms", "phone", "chat", "in_person")
        ]
        checks = [
            await ok(c, "check_contact", {"client_id": desk["client"], "channel": ch, "at": NOON})
            for ch in ("email", "sms", "phone")
        ]
        note = await ok(c, "log_interaction", {**outbound(desk, "note"), "direction": "internal"})
    assert all(r["code"] == "policy_blocked" and r["rule"] == "opt_out" for r in refusals)
    assert all(not ch["allowed"] and ch["next_allowed_at"] is None for ch in checks)
    assert note["channel"] == "note" and interactions(sql, desk) == 1


async def test_a_temporary_opt_out_ends_when_it_says(desk, connect, sql):
    until = datetime.now(UTC) + timedelta(seconds=3)
    async with connect(desk["agent"]) as c:
        await ok(
            c,
            "set_client_preference",
            {"client_id": desk["client"], "opt_out": ["email"], "opt_out_until": until.isoformat()},
        )
        during = await check(c, desk, "email")
        refused = await err(c, "log_interaction", outbound(desk, "email"))
        after_check = await check(c, desk, "email", (until + timedelta(seconds=1)).isoformat())
        await anyio.sleep((until - datetime.now(UTC)).total_seconds() + 0.3)
        after = await ok(c, "log_interaction", outbound(desk, "email"))
        never_permanent = await err(
            c, "set_client_preference", {"client_id": desk["client"], "opt_out_until": until.isoformat()}
        )
    assert not during["allowed"] and during["rules"][0]["rule"] == "opt_out"
    assert instant(during["next_allowed_at"]) == until
    assert refused["code"] == "policy_blocked" and instant(refused["next_allowed_at"]) == until
    assert after_check["allowed"] and after["warnings"] == [] and interactions(sql, desk) == 1
    assert never_permanent["code"] == "invalid_input" and "opt_out" in never_permanent["message"]


async def test_an_opt_out_never_gets_shorter_and_never_ends_in_the_past(desk, connect, sql):
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=20)).isoformat()

    async def opt_out(c, channel: str, until: str | None) -> dict:
        args = {"client_id": desk["client"], "opt_out": [channel]}
        out = await ok(c, "set_client_preference", {**args, **({"opt_out_until": until} if until else {})})
        return {o["channel"]: o for o in out["opt_outs"]}[channel]

    async with connect(desk["agent"]) as c:
        past = await err(
            c,
            "set_client_preference",
            {
                "client_id": desk["client"],
                "opt_out": ["sms"],
                "opt_out_until": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            },
        )
        forever = await opt_out(c, "phone", None)
        still_forever = await opt_out(c, "phone", soon)
        first = await opt_out(c, "email", later)
        not_shortened = await opt_out(c, "email", soon)
    assert past["code"] == "invalid_input" and "future" in past["message"]
    assert count(sql, "opt_outs", desk["tenant"]["id"]) == 2  # phone and email: nothing for sms
    assert forever.get("until") is None and still_forever.get("until") is None
    assert instant(first["until"]) == instant(later) == instant(not_shortened["until"])


async def test_an_opt_out_is_kept_by_address_and_lifted_only_when_the_client_asks(desk, connect, sql):
    async with connect(desk["agent"]) as c:
        await ok(
            c, "set_client_preference", {"client_id": desk["client"], "opt_out": ["sms"], "reason": "STOP"}
        )
        # The same person again, as another record (the phone written another way).
        twin = await ok(
            c, "upsert_client", {"first_name": "Ann B.", "time_zone": zone_at(12), "phone": "15550100"}
        )
        twin_sms = await err(c, "log_interaction", {**outbound(desk, "sms"), "client_id": twin["id"]})
        twin_email_check = await ok(c, "check_contact", {"client_id": twin["id"], "channel": "email"})
        asked = await ok(
            c,
            "log_interaction",
            {**outbound(desk, "sms"), "direction": "inbound", "summary": "Texted START"},
        )
        await ok(
            c,
            "set_client_preference",
            {"client_id": desk["client"], "opt_in": ["sms"], "inbound_interaction_id": asked["id"]},
        )
        twin_after = await ok(c, "log_interaction", {**outbound(desk, "sms"), "client_id": twin["id"]})
    assert (
        twin_sms["code"] == "policy_blocked"
        and twin_sms["rule"] == "opt_out"
        and "STOP" in twin_sms["reason"]
    )
    assert twin_email_check["allowed"]  # an sms opt-out is not an e-mail one
    assert twin_after["warnings"] == []
    assert count(sql, "opt_out_addresses", desk["tenant"]["id"]) == 0


async def test_an_agent_that_may_not_read_clients_is_told_which_rule_but_not_the_clients_words(
    desk, make_agent, connect, sql
):
    writer = await make_agent(
        caps=["clients.write"], access={"clients": {"write": True}}, tenant=desk["tenant"]["name"]
    )
    async with connect(desk["agent"]) as c:
        await ok(
            c,
            "set_client_preference",
            {"client_id": desk["client"], "opt_out": ["sms"], "reason": "my ex works there"},
        )
    async with connect(writer) as c:
        refused = await err(c, "log_interaction", outbound(desk, "sms"))
    assert refused["code"] == "policy_blocked" and refused["rule"] == "opt_out"
    assert "my ex" not in json.dumps(refused) and "reason" not in refused and "rules" not in refused
    assert "withheld" in refused["message"]
    assert [r["rule"] for r in audit_rows(sql, writer)] == ["opt_out"]


# -- quiet hours --------------------------------------------------------------------------------


async def test_quiet_hours_are_the_clients_local_time_across_a_dst_change(desk, connect, sql):
    """New York springs forward at 02:00 on 2027-03-14: the next 08:00 is 12:00 UTC, not 13:00."""
    async with connect(desk["agent"]) as c:
        night_before = await check(c, desk, "phone", "2027-03-13T21:30:00-05:00", client="ny")
        midnight = await check(c, desk, "sms", "2027-03-14T00:30:00-05:00", client="ny")
        morning = await check(c, desk, "phone", "2027-03-14T08:05:00-04:00", client="ny")
        email_at_night = await check(c, desk, "email", "2027-03-14T03:30:00-04:00", client="ny")
    for night in (night_before, midnight):
        assert not night["allowed"] and night["rules"][0]["rule"] == "quiet_hours"
        assert night["time_zone"] == NEW_YORK
    assert instant(night_before["next_allowed_at"]) == datetime(2027, 3, 14, 12, tzinfo=UTC)
    assert instant(midnight["next_allowed_at"]) == datetime(2027, 3, 14, 12, tzinfo=UTC)
    assert morning["allowed"] and morning["rules"] == []
    assert email_at_night["allowed"]  # the default quiet hours are for phone and sms


async def test_a_call_at_three_in_the_clients_night_is_refused_until_eight(desk, connect, sql):
    async with connect(desk["agent"]) as c:
        owl = await night_client(c, hour=3)
        call_at_3 = await err(c, "log_interaction", {**outbound(desk, "phone"), "client_id": owl})
        email = await ok(c, "log_interaction", {**outbound(desk, "email"), "client_id": owl})
    zone = ZoneInfo(zone_at(3))
    eight = datetime.now(zone).replace(hour=8, minute=0, second=0, microsecond=0)
    assert call_at_3["code"] == "policy_blocked" and call_at_3["rule"] == "quiet_hours"
    assert instant(call_at_3["next_allowed_at"]) == eight
    assert email["warnings"] == [] and interactions(sql, desk) == 1


async def test_waiting_out_an_opt_out_that_ends_at_night_lands_in_the_morning(desk, connect):
    year = datetime.now(UTC).year + 2  # January in New York: EST, no DST change near it
    async with connect(desk["agent"]) as c:
        await ok(
            c,
            "set_client_preference",
            {"client_id": desk["ny"], "opt_out": ["sms"], "opt_out_until": f"{year}-01-12T23:00:00-05:00"},
        )
        refused = await check(c, desk, "sms", f"{year}-01-12T12:00:00-05:00", client="ny")
    # The opt-out ends at 23:00, inside quiet hours: the first allowed moment is 08:00 next day.
    assert not refused["allowed"]
    assert instant(refused["next_allowed_at"]) == instant(f"{year}-01-13T08:00:00-05:00")


# -- frequency caps ----------------------------------------------------------------------------


async def test_two_agents_racing_for_the_last_allowed_contact_get_it_once(desk, make_agent, connect, sql):
    other = await make_agent(**CONTACT, tenant=desk["tenant"]["name"], name="other")
    async with connect(desk["agent"]) as c:
        # two of the default three emails a week
        first = await ok(c, "log_interaction", outbound(desk, "email"))
        await ok(c, "log_interaction", outbound(desk, "email"))
    answers: list = []

    async def contact(agent) -> None:
        async with connect(agent) as c:
            answers.append(await c.call_tool("log_interaction", outbound(desk, "email", summary=agent.name)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(contact, desk["agent"])
        tg.start_soon(contact, other)
    errors = [a for a in answers if a.is_error]
    assert len(answers) == 2 and len(errors) == 1, [a.content[0].text for a in answers]
    refusal = error_of(errors[0])
    assert refusal["code"] == "policy_blocked" and refusal["rule"] == "frequency_cap"
    assert instant(refusal["next_allowed_at"]) == instant(first["occurred_at"]) + timedelta(days=7)
    assert interactions(sql, desk) == 3


async def test_a_warn_only_rule_lets_the_contact_through_and_says_so(app, desk, connect, sql):
    await set_rule(
        app,
        desk,
        name="sms_daily",
        kind="frequency_cap",
        channels=("sms",),
        action="warn",
        max_contacts=1,
        window_days=1,
        reason="One SMS a day is plenty.",
    )
    async with connect(desk["agent"]) as c:
        first = await ok(c, "log_interaction", outbound(desk, "sms"))
        second = await ok(c, "log_interaction", outbound(desk, "sms"))
        checked = await check(c, desk, "sms")
    assert first["warnings"] == []
    assert [w["rule"] for w in second["warnings"]] == ["sms_daily"]
    assert (
        second["warnings"][0]["reason"] == "One SMS a day is plenty."
        and second["warnings"][0]["action"] == "warn"
    )
    assert checked["allowed"] and [r["rule"] for r in checked["rules"]] == ["sms_daily"]
    assert interactions(sql, desk) == 2


async def approval_quiet_hours(app, desk, channels=("phone", "sms")) -> None:
    await set_rule(
        app,
        desk,
        name="quiet_hours",
        kind="quiet_hours",
        channels=channels,
        action="require_approval",
        allowed_from="08:00",
        allowed_until="21:00",
    )


async def test_a_rule_that_requires_approval_holds_the_contact_until_approved(
    app, desk, make_agent, connect, sql
):
    await approval_quiet_hours(app, desk)
    approver = await make_agent(**APPROVER, tenant=desk["tenant"]["name"], name="manager")
    async with connect(desk["agent"]) as c:
        late = {
            **outbound(desk, "phone", idempotency_key="late-call"),
            "client_id": await night_client(c, 23),
        }
        held = await err(c, "log_interaction", late)
        again = await err(c, "log_interaction", late)
    assert held["code"] == "approval_required" and again["task_id"] == held["task_id"]
    assert held["policy"]["contact_rules"][0]["rule"] == "quiet_hours"
    assert interactions(sql, desk) == 0
    async with connect(approver) as c:
        decided = await ok(c, "decide_approval", {"task_id": held["task_id"], "decision": "approve"})
    assert decided["task"]["status"] == "completed" and decided["task"]["result"]["outcome"] == "succeeded"
    assert interactions(sql, desk) == 1
    async with connect(desk["agent"]) as c:
        done = await ok(c, "log_interaction", late)  # the key now answers with what was recorded
    assert done["channel"] == "phone" and done["direction"] == "outbound"
    assert interactions(sql, desk) == 1
    logged = [r for r in audit_rows(sql, desk["agent"]) if r["name"] == "log_interaction"]
    assert [r["outcome"] for r in logged] == [
        "pending",
        "pending",
        "ok",
        "ok",
    ]  # held, retried, ran, replayed
    assert logged[0]["rule"]["contact_rules"][0]["rule"] == "quiet_hours"


async def test_an_approved_contact_still_obeys_an_opt_out_made_meanwhile(app, desk, make_agent, connect, sql):
    await approval_quiet_hours(app, desk, channels=("phone",))
    approver = await make_agent(**APPROVER, tenant=desk["tenant"]["name"], name="manager")
    async with connect(desk["agent"]) as c:
        owl = await night_client(c, 23)
        held = await err(c, "log_interaction", {**outbound(desk, "phone"), "client_id": owl})
        await ok(c, "set_client_preference", {"client_id": owl, "opt_out": ["phone"], "reason": "no calls"})
    async with connect(approver) as c:
        decided = await ok(c, "decide_approval", {"task_id": held["task_id"], "decision": "approve"})
    assert decided["task"]["result"]["outcome"] == "failed"
    failure = decided["task"]["result"]["error"]
    # The task's result says how the call ended, never the client's words (tasks readers see it).
    assert failure["code"] == "policy_blocked" and "no calls" not in failure["message"]
    assert interactions(sql, desk) == 0


# -- check_contact and list_interactions -------------------------------------------------------


async def test_check_contact_says_how_the_client_likes_to_be_contacted(desk, connect):
    async with connect(desk["agent"]) as c:
        for key, value in (("preferred_channel", "sms"), ("contact_hours", {"from": "10:00", "to": "16:00"})):
            await ok(c, "set_client_preference", {"client_id": desk["ny"], "key": key, "value": value})
        checked = await check(c, desk, "sms", NOON, client="ny")
        bad = await err(c, "check_contact", {"client_id": desk["ny"], "channel": "fax"})
        missing = await err(
            c, "check_contact", {"client_id": "00000000-0000-0000-0000-000000000000", "channel": "sms"}
        )
        now = await ok(c, "check_contact", {"client_id": desk["ny"], "channel": "email"})
    assert checked["allowed"] and not checked["needs_approval"] and checked["rules"] == []
    assert checked["preferred_channel"] == "sms" and checked["contact_hours"] == {
        "from": "10:00",
        "to": "16:00",
    }
    assert bad["code"] == "invalid_input" and "channel" in bad["message"]
    assert missing["code"] == "not_found"
    assert abs(datetime.fromisoformat(now["at"]) - datetime.now(UTC)) < timedelta(minutes=5)


async def test_contact_tools_need_clients_read(make_agent, desk, connect, sql):
    closed = await make_agent(
        caps=["clients.read"], access={"clients": {"read": False}}, tenant=desk["tenant"]["name"]
    )
    async with connect(closed) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        refused = await err(c, "check_contact", {"client_id": desk["client"], "channel": "sms"})
        listed = await err(c, "list_interactions", {"client_id": desk["client"]})
    assert not names & {"check_contact", "list_interactions"}
    assert refused["code"] == listed["code"] == "permission_denied"
    assert [r["outcome"] for r in audit_rows(sql, closed)] == ["denied", "denied"]


async def test_list_interactions_pages_the_whole_history_with_filters(desk, connect, sql):
    base = datetime.fromisoformat("2027-01-05T12:00:00-05:00")
    async with connect(desk["agent"]) as c:
        for i in range(7):
            direction = "inbound" if i % 2 else "internal"
            when = (base + timedelta(hours=i)).isoformat()
            await ok(
                c,
                "log_interaction",
                {
                    **outbound(desk, "note" if i % 2 == 0 else "email", when),
                    "direction": direction,
                    "summary": f"#{i}",
                },
            )
        first = await ok(c, "list_interactions", {"client_id": desk["client"], "limit": 3})
        second = await ok(
            c, "list_interactions", {"client_id": desk["client"], "limit": 3, "cursor": first["next_cursor"]}
        )
        third = await ok(
            c, "list_interactions", {"client_id": desk["client"], "limit": 3, "cursor": second["next_cursor"]}
        )
        inbound = await ok(c, "list_interactions", {"client_id": desk["client"], "direction": "inbound"})
        since = await ok(
            c,
            "list_interactions",
            {"client_id": desk["client"], "since": (base + timedelta(hours=5)).isoformat()},
        )
        forged = await err(
            c,
            "list_interactions",
            {"client_id": desk["client"], "direction": "inbound", "cursor": first["next_cursor"]},
        )
        resource = json.loads(
            (await c.read_resource(f"bizctx://clients/{desk['client']}/interactions")).contents[0].text
        )
    pages = [x["summary"] for page in (first, second, third) for x in page["interactions"]]
    assert pages == [f"#{i}" for i in range(6, -1, -1)] and third["next_cursor"] is None
    assert [x["summary"] for x in inbound["interactions"]] == ["#5", "#3", "#1"]
    assert [x["summary"] for x in since["interactions"]] == ["#6", "#5"]
    assert forged["code"] == "invalid_input"
    assert [x["summary"] for x in resource["interactions"]] == pages


# -- operators ---------------------------------------------------------------------------------


async def test_operators_set_list_and_remove_rules_checked_when_set(app, desk, sql):
    tenant = desk["tenant"]["name"]
    defaults = await compliance.list_rules(app.db, tenant)
    assert [(r["name"], r["action"]) for r in defaults] == [
        ("frequency_cap", "block"),
        ("quiet_hours", "block"),
    ]
    bad = [
        dict(name="Bad Name", kind="frequency_cap", channels=("sms",), max_contacts=1, window_days=1),
        dict(name="x", kind="frequency_cap", channels=("fax",), max_contacts=1, window_days=1),
        dict(name="x", kind="quiet_hours", channels=("sms",), allowed_from="21:00", allowed_until="08:00"),
        dict(name="x", kind="quiet_hours", channels=("sms",), allowed_from="8am", allowed_until="21:00"),
        dict(name="x", kind="frequency_cap", channels=("sms",), max_contacts=0, window_days=1),
        dict(
            name="x", kind="frequency_cap", channels=("sms",), action="shout", max_contacts=1, window_days=1
        ),
    ]
    for fields in bad:
        with pytest.raises(OperatorError):
            await set_rule(app, desk, **fields)
    changed = await set_rule(
        app,
        desk,
        name="frequency_cap",
        kind="frequency_cap",
        channels=("sms",),
        max_contacts=5,
        window_days=30,
        action="warn",
    )
    assert (changed["max_contacts"], changed["window_days"], changed["action"]) == (5, 30, "warn")
    removed = await compliance.remove_rule(app.db, tenant, "quiet_hours")
    assert removed["name"] == "quiet_hours"
    with pytest.raises(OperatorError):
        await compliance.remove_rule(app.db, tenant, "quiet_hours")
    # A removed default is not added back when the defaults are applied again.
    sql.execute("SELECT bizctx_apply_default_contact_rules(%s)", (desk["tenant"]["id"],))
    assert [r["name"] for r in await compliance.list_rules(app.db, tenant)] == ["frequency_cap"]


# -- found by a hostile review (each was a failing probe first) --------------------------------


def to(client: str, channel: str, direction: str = "outbound", **extra) -> dict:
    return {"client_id": client, "channel": channel, "direction": direction, "summary": "Hello", **extra}


async def test_an_opt_in_must_cite_a_request_made_after_the_opt_out(desk, connect, sql):
    client = desk["client"]
    a_year_ago = (datetime.now(UTC) - timedelta(days=365)).isoformat()
    async with connect(desk["agent"]) as c:
        stop = await ok(c, "log_interaction", to(client, "sms", "inbound", summary="STOP. Never text me."))
        await ok(c, "set_client_preference", {"client_id": client, "opt_out": ["sms"], "reason": "STOP"})
        citing_stop = await err(
            c,
            "set_client_preference",
            {"client_id": client, "opt_in": ["sms"], "inbound_interaction_id": stop["id"]},
        )
        backdated = await ok(c, "log_interaction", to(client, "sms", "inbound", occurred_at=a_year_ago))
        citing_old = await err(
            c,
            "set_client_preference",
            {"client_id": client, "opt_in": ["sms"], "inbound_interaction_id": backdated["id"]},
        )
        still = await err(c, "log_interaction", to(client, "sms"))
        start = await ok(c, "log_interaction", to(client, "sms", "inbound", summary="START"))
        await ok(
            c,
            "set_client_preference",
            {"client_id": client, "opt_in": ["sms"], "inbound_interaction_id": start["id"]},
        )
        sent = await ok(c, "log_interaction", to(client, "sms"))
    for refused in (citing_stop, citing_old):
        assert refused["code"] == "invalid_input" and "after that interaction" in refused["message"]
    assert still["code"] == "policy_blocked" and sent["warnings"] == []


async def test_an_address_opt_out_holds_however_the_number_is_written(desk, connect):
    async with connect(desk["agent"]) as c:
        pat = await ok(
            c, "upsert_client", {"first_name": "Pat", "phone": "+1 (555) 010-4242", "time_zone": zone_at(12)}
        )
        await ok(c, "set_client_preference", {"client_id": pat["id"], "opt_out": ["sms"]})
        twins = [
            await ok(
                c,
                "upsert_client",
                {"first_name": "Pat", "last_name": n, "phone": phone, "time_zone": zone_at(12)},
            )
            for n, phone in (("B", "+1 555 010 4242"), ("C", "(555) 010-4242"), ("D", "001 555 010 4242"))
        ]
        checks = [await ok(c, "check_contact", {"client_id": t["id"], "channel": "sms"}) for t in twins]
        texted = await err(c, "log_interaction", to(twins[1]["id"], "sms"))
    assert [ch["allowed"] for ch in checks] == [False, False, False]
    assert texted["code"] == "policy_blocked" and texted["rule"] == "opt_out"


async def test_an_address_given_after_the_opt_out_is_kept_too(desk, connect):
    async with connect(desk["agent"]) as c:
        lee = await ok(c, "upsert_client", {"first_name": "Lee", "time_zone": zone_at(12)})
        await ok(c, "set_client_preference", {"client_id": lee["id"], "opt_out": ["all"]})
        await ok(
            c,
            "upsert_client",
            {"client_id": lee["id"], "phone": "+44 20 7946 0999", "email": "lee@example.org"},
        )
        twin = await ok(
            c,
            "upsert_client",
            {
                "first_name": "Lee",
                "last_name": "Again",
                "phone": "+44 20 7946 0999",
                "time_zone": zone_at(12),
            },
        )
        checked = await ok(c, "check_contact", {"client_id": twin["id"], "channel": "sms"})
    assert not checked["allowed"] and checked["rules"][0]["rule"] == "opt_out"


async def test_another_clients_opt_in_does_not_lift_an_address_suppression(desk, connect):
    async with connect(desk["agent"]) as c:
        a = await ok(
            c, "upsert_client", {"first_name": "A", "phone": "+1 555 010 7777", "time_zone": zone_at(12)}
        )
        await ok(c, "set_client_preference", {"client_id": a["id"], "opt_out": ["sms"]})
        a_twin = await ok(
            c,
            "upsert_client",
            {"first_name": "A", "last_name": "Twin", "phone": "+1 555 010 7777", "time_zone": zone_at(12)},
        )
        b = await ok(c, "upsert_client", {"first_name": "B", "time_zone": zone_at(12)})
        await ok(c, "upsert_client", {"client_id": b["id"], "phone": "+1 555 010 7777"})
        hi = await ok(c, "log_interaction", to(b["id"], "phone", "inbound", summary="Yes, text me"))
        await ok(
            c,
            "set_client_preference",
            {"client_id": b["id"], "opt_in": ["sms"], "inbound_interaction_id": hi["id"]},
        )
        after = await ok(c, "check_contact", {"client_id": a_twin["id"], "channel": "sms"})
    assert not after["allowed"]  # A's own opt-out keeps the number suppressed


async def test_a_held_contact_tells_a_write_only_agent_no_contact_counts(app, desk, make_agent, connect):
    await set_rule(
        app,
        desk,
        name="frequency_cap",
        kind="frequency_cap",
        channels=("email",),
        action="require_approval",
        max_contacts=1,
        window_days=7,
    )
    writer = await make_agent(
        caps=["clients.write"], access={"clients": {"write": True}}, tenant=desk["tenant"]["name"]
    )
    async with connect(desk["agent"]) as c:
        await ok(c, "log_interaction", to(desk["client"], "email"))
        reader_view = await err(c, "log_interaction", to(desk["client"], "email"))
    async with connect(writer) as c:
        held = await err(c, "log_interaction", to(desk["client"], "email"))
    assert reader_view["code"] == held["code"] == "approval_required"
    assert "already" in json.dumps(reader_view) and "already" not in json.dumps(held)
    assert held["task_id"] and "withheld" in held["message"] and "policy" not in held


async def test_a_rule_naming_categories_governs_only_those_contacts(app, desk, connect, sql):
    await set_rule(
        app,
        desk,
        name="marketing_weekly",
        kind="frequency_cap",
        channels=("sms",),
        categories=("marketing",),
        max_contacts=1,
        window_days=7,
        reason="One marketing text a week.",
    )
    async with connect(desk["agent"]) as c:
        first = await ok(c, "log_interaction", outbound(desk, "sms", category="marketing"))
        second = await err(c, "log_interaction", outbound(desk, "sms", category="marketing"))
        other = await ok(c, "log_interaction", outbound(desk, "sms", category="other"))
        unstated = await check(c, desk, "sms")  # no category: every rule applies
        as_reminder = await ok(
            c, "check_contact", {"client_id": desk["client"], "channel": "sms", "category": "reminder"}
        )
        inbound = await err(
            c, "log_interaction", {**outbound(desk, "sms", category="marketing"), "direction": "inbound"}
        )
    assert first["category"] == "marketing" and other["category"] == "other"
    assert second["code"] == "policy_blocked" and second["rule"] == "marketing_weekly"
    assert datetime.fromisoformat(second["next_allowed_at"]) == datetime.fromisoformat(
        first["occurred_at"]
    ) + timedelta(days=7)
    assert not unstated["allowed"] and as_reminder["allowed"]
    assert inbound["code"] == "invalid_input" and "category" in inbound["message"]
    assert interactions(sql, desk) == 2
