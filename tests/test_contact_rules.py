"""Contact governance through the official MCP client: every outbound contact passes the
tenant's rules (opt-outs, quiet hours in the client's time zone, frequency caps) in the
transaction that records it; check_contact asks first; list_interactions reads the history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

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


@pytest.fixture
async def desk(make_agent, make_tenant, connect):
    """A tenant (UTC) with its default rules, a front-desk agent and a client in New York."""
    tenant = await make_tenant(time_zone="UTC")
    agent = await make_agent(**CONTACT, tenant=tenant["name"], name="desk")
    async with connect(agent) as c:
        client = await ok(c, "upsert_client", {"first_name": "Ann", "time_zone": NEW_YORK})
    return {"tenant": tenant, "agent": agent, "client": client["id"]}


def at(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


def outbound(desk, channel: str, when: str | None = None, **extra) -> dict:
    args = {"client_id": desk["client"], "channel": channel, "direction": "outbound", "summary": "Hello"}
    return {**args, **({"occurred_at": when} if when else {}), **extra}


async def check(c, desk, channel: str, when: str | None = None) -> dict:
    return await ok(
        c,
        "check_contact",
        {"client_id": desk["client"], "channel": channel, **({"at": when} if when else {})},
    )


def interactions(sql, desk) -> int:
    return count(sql, "client_interactions", desk["tenant"]["id"])


async def set_rule(app, desk, **fields) -> dict:
    return await compliance.set_rule(app.db, desk["tenant"]["name"], compliance.Rule(**fields), "ops-test")


# Noon in New York: inside the default quiet hours (08:00-21:00) for phone and sms.
NOON = "2027-01-12T12:00:00-05:00"


# -- opt-outs ---------------------------------------------------------------------------------


async def test_an_opt_out_blocks_its_channel_only_and_never_inbound_or_internal(desk, connect, sql):
    async with connect(desk["agent"]) as c:
        await ok(
            c, "set_client_preference", {"client_id": desk["client"], "opt_out": ["sms"], "reason": "STOP"}
        )
        blocked = await err(c, "log_interaction", outbound(desk, "sms", NOON))
        email = await ok(c, "log_interaction", outbound(desk, "email", NOON))
        inbound = await ok(c, "log_interaction", {**outbound(desk, "sms", NOON), "direction": "inbound"})
        note = await ok(c, "log_interaction", {**outbound(desk, "sms", NOON), "direction": "internal"})
    assert blocked["code"] == "policy_blocked" and blocked["rule"] == "opt_out"
    assert "opted out of sms (STOP)" in blocked["reason"] and "next_allowed_at" not in blocked
    assert "Waiting will not help" in blocked["message"] and blocked["retryable"] is False
    assert email["warnings"] == [] and inbound["direction"] == "inbound" and note["direction"] == "internal"
    assert interactions(sql, desk) == 3
    logged = [r for r in audit_rows(sql, desk["agent"]) if r["name"] == "log_interaction"]
    assert [(r["outcome"], r["error_code"]) for r in logged] == [
        ("blocked", "policy_blocked"),
        ("ok", None),
        ("ok", None),
        ("ok", None),
    ]


async def test_an_opt_out_of_all_blocks_every_channel(desk, connect, sql):
    async with connect(desk["agent"]) as c:
        await ok(c, "set_client_preference", {"client_id": desk["client"], "opt_out": ["all"]})
        refusals = [
            await err(c, "log_interaction", outbound(desk, ch, NOON)) for ch in ("email", "sms", "phone")
        ]
        checks = [
            await ok(c, "check_contact", {"client_id": desk["client"], "channel": ch, "at": NOON})
            for ch in ("email", "sms", "phone")
        ]
    assert all(r["code"] == "policy_blocked" and r["rule"] == "opt_out" for r in refusals)
    assert all(not ch["allowed"] and ch["next_allowed_at"] is None for ch in checks)
    assert interactions(sql, desk) == 0


async def test_a_temporary_opt_out_ends_when_it_says(desk, connect, sql):
    until = "2027-01-20T09:00:00-05:00"
    async with connect(desk["agent"]) as c:
        await ok(
            c,
            "set_client_preference",
            {"client_id": desk["client"], "opt_out": ["email"], "opt_out_until": until},
        )
        during = await check(c, desk, "email", NOON)
        refused = await err(c, "log_interaction", outbound(desk, "email", NOON))
        after = await ok(c, "log_interaction", outbound(desk, "email", "2027-01-20T09:01:00-05:00"))
        never_permanent = await err(
            c, "set_client_preference", {"client_id": desk["client"], "opt_out_until": until}
        )
    assert not during["allowed"] and during["rules"][0]["rule"] == "opt_out"
    assert datetime.fromisoformat(during["next_allowed_at"]) == datetime.fromisoformat(until)
    assert refused["code"] == "policy_blocked" and datetime.fromisoformat(
        refused["next_allowed_at"]
    ) == datetime.fromisoformat(until)
    assert after["warnings"] == [] and interactions(sql, desk) == 1
    assert never_permanent["code"] == "invalid_input" and "opt_out" in never_permanent["message"]


# -- quiet hours --------------------------------------------------------------------------------


async def test_quiet_hours_are_the_clients_local_time_across_a_dst_change(desk, connect, sql):
    """New York springs forward at 02:00 on 2027-03-14: the next 08:00 is 12:00 UTC, not 13:00."""
    async with connect(desk["agent"]) as c:
        night_before = await check(c, desk, "phone", "2027-03-13T21:30:00-05:00")
        midnight = await check(c, desk, "sms", "2027-03-14T00:30:00-05:00")
        morning = await check(c, desk, "phone", "2027-03-14T08:05:00-04:00")
        email_at_night = await check(c, desk, "email", "2027-03-14T03:30:00-04:00")
        call_at_3 = await err(c, "log_interaction", outbound(desk, "phone", "2027-03-14T03:00:00-04:00"))
    for night in (night_before, midnight):
        assert not night["allowed"] and night["rules"][0]["rule"] == "quiet_hours"
        assert night["time_zone"] == NEW_YORK
    assert datetime.fromisoformat(night_before["next_allowed_at"]) == datetime(2027, 3, 14, 12, tzinfo=UTC)
    assert datetime.fromisoformat(midnight["next_allowed_at"]) == datetime(2027, 3, 14, 12, tzinfo=UTC)
    assert morning["allowed"] and morning["rules"] == []
    assert email_at_night["allowed"]  # the default quiet hours are for phone and sms
    assert call_at_3["code"] == "policy_blocked" and call_at_3["rule"] == "quiet_hours"
    assert datetime.fromisoformat(call_at_3["next_allowed_at"]) == datetime(2027, 3, 14, 12, tzinfo=UTC)
    assert interactions(sql, desk) == 0


async def test_waiting_out_an_opt_out_that_ends_at_night_lands_in_the_morning(desk, connect):
    async with connect(desk["agent"]) as c:
        await ok(
            c,
            "set_client_preference",
            {"client_id": desk["client"], "opt_out": ["sms"], "opt_out_until": "2027-01-12T23:00:00-05:00"},
        )
        refused = await err(c, "log_interaction", outbound(desk, "sms", NOON))
    # The opt-out ends at 23:00, inside quiet hours: the first allowed moment is 08:00 next day.
    assert datetime.fromisoformat(refused["next_allowed_at"]) == datetime.fromisoformat(
        "2027-01-13T08:00:00-05:00"
    )


# -- frequency caps ----------------------------------------------------------------------------


async def test_two_agents_racing_for_the_last_allowed_contact_get_it_once(desk, make_agent, connect, sql):
    other = await make_agent(**CONTACT, tenant=desk["tenant"]["name"], name="other")
    first = datetime.fromisoformat(NOON)
    async with connect(desk["agent"]) as c:
        for hours in (0, 1):  # two of the default three emails a week
            await ok(
                c, "log_interaction", outbound(desk, "email", (first + timedelta(hours=hours)).isoformat())
            )
    last = (first + timedelta(hours=2)).isoformat()
    answers: list = []

    async def contact(agent) -> None:
        async with connect(agent) as c:
            answers.append(
                await c.call_tool("log_interaction", outbound(desk, "email", last, summary=agent.name))
            )

    async with anyio.create_task_group() as tg:
        tg.start_soon(contact, desk["agent"])
        tg.start_soon(contact, other)
    errors = [a for a in answers if a.is_error]
    assert len(answers) == 2 and len(errors) == 1, [a.content[0].text for a in answers]
    refusal = error_of(errors[0])
    assert refusal["code"] == "policy_blocked" and refusal["rule"] == "frequency_cap"
    assert datetime.fromisoformat(refusal["next_allowed_at"]) == first + timedelta(days=7)
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
        first = await ok(c, "log_interaction", outbound(desk, "sms", NOON))
        second = await ok(c, "log_interaction", outbound(desk, "sms", "2027-01-12T13:00:00-05:00"))
        checked = await check(c, desk, "sms", "2027-01-12T14:00:00-05:00")
    assert first["warnings"] == []
    assert [w["rule"] for w in second["warnings"]] == ["sms_daily"]
    assert (
        second["warnings"][0]["reason"] == "One SMS a day is plenty."
        and second["warnings"][0]["action"] == "warn"
    )
    assert checked["allowed"] and [r["rule"] for r in checked["rules"]] == ["sms_daily"]
    assert interactions(sql, desk) == 2


async def test_a_rule_that_requires_approval_holds_the_contact_until_approved(
    app, desk, make_agent, connect, sql
):
    await set_rule(
        app,
        desk,
        name="quiet_hours",
        kind="quiet_hours",
        channels=("phone", "sms"),
        action="require_approval",
        allowed_from="08:00",
        allowed_until="21:00",
    )
    approver = await make_agent(**APPROVER, tenant=desk["tenant"]["name"], name="manager")
    late = outbound(desk, "phone", "2027-01-12T22:30:00-05:00", idempotency_key="late-call")
    async with connect(desk["agent"]) as c:
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
    logged = [r["outcome"] for r in audit_rows(sql, desk["agent"]) if r["name"] == "log_interaction"]
    assert logged == ["pending", "pending", "ok", "ok"]  # held, retried, ran on approval, replayed


async def test_an_approved_contact_still_obeys_an_opt_out_made_meanwhile(app, desk, make_agent, connect, sql):
    await set_rule(
        app,
        desk,
        name="quiet_hours",
        kind="quiet_hours",
        channels=("phone",),
        action="require_approval",
        allowed_from="08:00",
        allowed_until="21:00",
    )
    approver = await make_agent(**APPROVER, tenant=desk["tenant"]["name"], name="manager")
    async with connect(desk["agent"]) as c:
        held = await err(c, "log_interaction", outbound(desk, "phone", "2027-01-12T22:30:00-05:00"))
        await ok(c, "set_client_preference", {"client_id": desk["client"], "opt_out": ["phone"]})
    async with connect(approver) as c:
        decided = await ok(c, "decide_approval", {"task_id": held["task_id"], "decision": "approve"})
    assert decided["task"]["result"]["outcome"] == "failed"
    assert decided["task"]["result"]["error"]["code"] == "policy_blocked"
    assert interactions(sql, desk) == 0


# -- check_contact and list_interactions -------------------------------------------------------


async def test_check_contact_says_how_the_client_likes_to_be_contacted(desk, connect):
    async with connect(desk["agent"]) as c:
        for key, value in (("preferred_channel", "sms"), ("contact_hours", {"from": "10:00", "to": "16:00"})):
            await ok(c, "set_client_preference", {"client_id": desk["client"], "key": key, "value": value})
        checked = await check(c, desk, "sms", NOON)
        bad = await err(c, "check_contact", {"client_id": desk["client"], "channel": "fax"})
        missing = await err(
            c, "check_contact", {"client_id": "00000000-0000-0000-0000-000000000000", "channel": "sms"}
        )
        now = await ok(c, "check_contact", {"client_id": desk["client"], "channel": "email"})
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
