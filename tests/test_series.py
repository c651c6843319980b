"""Recurring bookings through the official MCP client (issue 17): book_series across a DST
change, with a clashing occurrence reported and the rest booked, monthly rules, cancel_series,
and rescheduling one occurrence leaving the others."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest
import test_time_off
from test_appointments import TZ, WRITER, at, iso
from test_time_off import READER

from bizctx.tools.appointments.series import occurrence_dates
from conftest import audit_rows, count, err, ok

pytestmark = pytest.mark.anyio

shop = test_time_off.shop  # the fixture: an agent that books, and its small business


def series_args(biz, starts_at: str, **rule) -> dict:
    return {"client_id": str(biz.client), "service_id": str(biz.clean), "starts_at": starts_at, **rule}


async def test_a_weekly_series_keeps_its_wall_time_across_a_dst_change(shop, connect, sql):
    agent, biz = shop
    # New York leaves daylight saving time on Sunday 7 November 2027.
    first = iso(date(2027, 10, 27), "10:00")
    async with connect(agent) as c:
        made = await ok(c, "book_series", series_args(biz, first, frequency="weekly", count=3))
    starts = [o["starts_at"] for o in made["occurrences"]]
    assert starts == ["2027-10-27T10:00:00-04:00", "2027-11-03T10:00:00-04:00", "2027-11-10T10:00:00-05:00"]
    assert made["booked"] == 3 and {o["status"] for o in made["occurrences"]} == {"booked"}
    rows = sql.execute(
        "SELECT id, series_id FROM appointments WHERE tenant_id = %s ORDER BY starts_at", (agent.tenant_id,)
    ).fetchall()
    assert [str(r["id"]) for r in rows] == [o["appointment_id"] for o in made["occurrences"]]
    assert {str(r["series_id"]) for r in rows} == {made["series"]["id"]}
    (row,) = [r for r in audit_rows(sql, agent) if r["name"] == "book_series"]
    assert (row["outcome"], row["entity_type"], row["entity_id"]) == ("ok", "series", made["series"]["id"])


async def test_a_clashing_occurrence_is_reported_with_free_slots_and_the_rest_are_booked(shop, connect, sql):
    agent, biz = shop
    day = date(2027, 5, 5)
    async with connect(agent) as c:
        taken = await ok(
            c,
            "book_appointment",
            {
                "client_id": str(biz.client),
                "service_id": str(biz.clean),
                "starts_at": iso(date(2027, 5, 19), "10:00"),
                "resource_id": str(biz.ana),
            },
        )
        made = await ok(
            c,
            "book_series",
            series_args(biz, iso(day, "10:00"), frequency="weekly", count=4, resource_id=str(biz.ana)),
        )
    statuses = [(o["n"], o["status"]) for o in made["occurrences"]]
    assert statuses == [(1, "booked"), (2, "booked"), (3, "conflict"), (4, "booked")]
    third = made["occurrences"][2]
    assert third["starts_at"] == iso(date(2027, 5, 19), "10:00") and "already booked" in third["reason"]
    assert third["next_free_slots"] and third["appointment_id"] is None
    assert made["booked"] == 3
    in_series = sql.execute(
        "SELECT count(*) AS n FROM appointments WHERE tenant_id = %s AND series_id = %s",
        (agent.tenant_id, made["series"]["id"]),
    ).fetchone()["n"]
    assert in_series == 3 and taken["id"] not in {o["appointment_id"] for o in made["occurrences"]}


def test_monthly_rules_by_date_and_by_weekday_skip_months_without_the_day():
    by_date = occurrence_dates(date(2027, 1, 31), "monthly", "date", None, 3)
    assert by_date == [
        (date(2027, 1, 31), None),
        (None, "February 2027 has no day 31"),
        (date(2027, 3, 31), None),
        (None, "April 2027 has no day 31"),
        (date(2027, 5, 31), None),
    ]
    # 30 March 2027 is the 5th Tuesday of March; April has four.
    by_weekday = occurrence_dates(date(2027, 3, 9), "monthly", "weekday", date(2027, 6, 30), None)
    assert by_weekday == [
        (date(2027, 3, 9), None),
        (date(2027, 4, 13), None),
        (date(2027, 5, 11), None),
        (date(2027, 6, 8), None),
    ]
    fifth = occurrence_dates(date(2027, 3, 30), "monthly", "weekday", None, 2)
    assert fifth[1] == (None, "April 2027 has no 5th Tuesday") and fifth[-1] == (date(2027, 6, 29), None)
    biweekly = occurrence_dates(date(2027, 3, 1), "biweekly", None, date(2027, 3, 29), None)
    assert [d for d, _ in biweekly] == [date(2027, 3, 1), date(2027, 3, 15), date(2027, 3, 29)]


def test_a_rule_stops_at_until_inside_a_skipped_month_and_at_two_years_for_a_count():
    # February has no 31st, but the series ends on the 15th: February is not in the rule.
    assert occurrence_dates(date(2027, 1, 31), "monthly", "date", date(2027, 2, 15), None) == [
        (date(2027, 1, 31), None)
    ]
    assert occurrence_dates(date(2027, 1, 31), "monthly", "date", date(2027, 2, 28), None)[-1] == (
        None,
        "February 2027 has no day 31",
    )
    # The 31st comes seven times a year: 52 of them are not within two years.
    capped = occurrence_dates(date(2027, 1, 31), "monthly", "date", None, 52)
    booked = [d for d, _ in capped if d is not None]
    assert len(booked) == 15 and booked[-1] == date(2029, 1, 31)


async def test_a_monthly_series_books_the_same_weekday_of_each_month(shop, connect, sql):
    agent, biz = shop
    async with connect(agent) as c:
        made = await ok(
            c,
            "book_series",
            series_args(
                biz, iso(date(2027, 3, 9), "11:00"), frequency="monthly", monthly_by="weekday", count=3
            ),
        )
    assert [o["starts_at"][:10] for o in made["occurrences"]] == ["2027-03-09", "2027-04-13", "2027-05-11"]
    assert made["series"]["monthly_by"] == "weekday" and made["booked"] == 3


async def test_cancel_series_cancels_what_has_not_started_and_a_reschedule_moves_one(shop, connect, sql):
    agent, biz = shop
    async with connect(agent) as c:
        made = await ok(
            c, "book_series", series_args(biz, iso(date(2027, 6, 2), "09:00"), frequency="weekly", count=4)
        )
        ids = [o["appointment_id"] for o in made["occurrences"]]
        moved = await ok(
            c,
            "reschedule_appointment",
            {"appointment_id": ids[1], "starts_at": iso(date(2027, 6, 10), "14:00")},
        )
        await ok(c, "set_appointment_status", {"appointment_id": ids[0], "status": "confirmed"})
        others = sql.execute(
            "SELECT id, starts_at FROM appointments WHERE id = ANY(%s) ORDER BY starts_at",
            ([ids[2], ids[3]],),
        ).fetchall()
        cancelled = await ok(
            c, "cancel_series", {"series_id": made["series"]["id"], "reason": "Client moved away."}
        )
        again = await ok(
            c, "cancel_series", {"series_id": made["series"]["id"], "reason": "Client moved away."}
        )
        unknown = await err(c, "cancel_series", {"series_id": str(uuid.uuid4()), "reason": "x"})
    assert moved["starts_at"] == iso(date(2027, 6, 10), "14:00")
    assert [r["starts_at"] for r in others] == [
        at(date(2027, 6, 16), "09:00"),
        at(date(2027, 6, 23), "09:00"),
    ]
    assert (
        cancelled["cancelled"] == ids and again["cancelled"] == []
    )  # the rescheduled one is still of the series
    assert unknown["code"] == "not_found"
    rows = sql.execute(
        "SELECT a.status, a.cancellation_reason, (SELECT count(*) FROM appointment_reminders r"
        " WHERE r.appointment_id = a.id AND r.status = 'pending') AS pending"
        " FROM appointments a WHERE a.id = ANY(%s)",
        (ids,),
    ).fetchall()
    assert {(r["status"], r["cancellation_reason"], r["pending"]) for r in rows} == {
        ("cancelled", "Client moved away.", 0)
    }
    status = sql.execute(
        "SELECT status FROM appointment_series WHERE id = %s", (made["series"]["id"],)
    ).fetchone()
    assert status["status"] == "cancelled"


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"frequency": "weekly"}, "until or count"),
        ({"frequency": "weekly", "count": 2, "until": "2027-09-01"}, "until or count"),
        ({"frequency": "weekly", "count": 2, "monthly_by": "date"}, "monthly_by"),
        ({"frequency": "weekly", "count": 53}, "count"),
        ({"frequency": "daily", "count": 2}, "frequency"),
        ({"frequency": "weekly", "until": "2030-01-01"}, "two years"),
        ({"frequency": "weekly", "until": "2028-12-31"}, "more than 52"),
        ({"frequency": "monthly", "count": 20, "starts_at": iso(date(2027, 7, 31), "10:00")}, "only 15 of"),
        ({"frequency": "weekly", "count": 2, "starts_at": "2020-01-01T10:00:00-05:00"}, "past"),
        ({"frequency": "weekly", "count": 2, "starts_at": "2027-07-01T10:00:00"}, "timezone"),
    ],
)
async def test_bad_series_are_refused_and_nothing_is_written(shop, connect, sql, rule, words):
    agent, biz = shop
    args = {**series_args(biz, iso(date(2027, 7, 1), "10:00")), **rule}
    async with connect(agent) as c:
        error = await err(c, "book_series", args)
    assert error["code"] == "invalid_input" and words in error["message"]
    assert (
        count(sql, "appointment_series", agent.tenant_id) == 0
        and count(sql, "appointments", agent.tenant_id) == 0
    )


async def test_series_need_appointments_write_and_the_tenants_own_client(shop, make_agent, connect, sql):
    agent, biz = shop
    reader = await make_agent(**READER, tenant=agent.tenant_name)
    stranger = await make_agent(**WRITER)
    args = series_args(biz, iso(date(2027, 8, 4), "10:00"), frequency="weekly", count=2)
    async with connect(reader) as c:
        denied = await err(c, "book_series", args)
        denied_cancel = await err(c, "cancel_series", {"series_id": str(uuid.uuid4()), "reason": "x"})
    async with connect(stranger) as c:
        foreign = await err(c, "book_series", args)
    assert denied["code"] == denied_cancel["code"] == "permission_denied"
    assert foreign["code"] == "not_found" and "No service" in foreign["message"]
    assert count(sql, "appointment_series", agent.tenant_id) == 0
    assert [(r["name"], r["outcome"]) for r in audit_rows(sql, reader)] == [
        ("book_series", "denied"),
        ("cancel_series", "denied"),
    ]


async def test_an_unknown_resource_or_a_series_with_nothing_bookable_is_refused_whole(shop, connect, sql):
    agent, biz = shop
    async with connect(agent) as c:
        unknown = await err(
            c,
            "book_series",
            {
                **series_args(biz, iso(date(2027, 7, 7), "10:00"), frequency="weekly", count=2),
                "resource_id": str(uuid.uuid4()),
            },
        )
        no_client = await err(
            c,
            "book_series",
            {
                **series_args(biz, iso(date(2027, 7, 7), "10:00"), frequency="weekly", count=2),
                "client_id": str(uuid.uuid4()),
            },
        )
        # Nobody works at three in the morning: no occurrence can be booked.
        nothing = await err(
            c, "book_series", series_args(biz, iso(date(2027, 7, 7), "03:00"), frequency="weekly", count=3)
        )
    assert unknown["code"] == "not_found" and "No active resource" in unknown["message"]
    assert no_client["code"] == "not_found" and "No client" in no_client["message"]
    assert nothing["code"] == "conflict" and "None of the 3 occurrences" in nothing["message"]
    assert [o["status"] for o in nothing["occurrences"]] == ["conflict"] * 3
    assert all(o["next_free_slots"] for o in nothing["occurrences"])
    assert (
        count(sql, "appointment_series", agent.tenant_id) == 0
        and count(sql, "appointments", agent.tenant_id) == 0
    )


def test_the_dst_test_dates_are_what_it_says():
    assert at(date(2027, 11, 10), "10:00").utcoffset() != at(date(2027, 10, 27), "10:00").utcoffset()
    assert TZ == "America/New_York" and datetime(2027, 11, 7).weekday() == 6


# -- import and export ----------------------------------------------------------------------------


async def test_an_imported_series_is_live_and_a_booked_one_exports_and_reimports_unchanged(
    app, make_tenant, make_agent, connect, sql, tmp_path
):
    from test_import import export_text, load, load_examples, write

    tenant = (await make_tenant(time_zone="Europe/Berlin"))["name"]
    await load_examples(app, tenant, "jsonl")  # SER-1: A-5001 (confirmed) and A-5004 (cancelled)
    agent = await make_agent(**WRITER, tenant=tenant)
    series_id = sql.execute(
        "SELECT id FROM appointment_series WHERE tenant_id = %s AND external_ref = 'SER-1'",
        (agent.tenant_id,),
    ).fetchone()["id"]
    async with connect(agent) as c:
        cancelled = await ok(c, "cancel_series", {"series_id": str(series_id), "reason": "Moved away."})
    (a5001,) = sql.execute(
        "SELECT id, status FROM appointments WHERE external_ref = 'A-5001' AND series_id = %s", (series_id,)
    ).fetchall()
    assert cancelled["cancelled"] == [str(a5001["id"])] and a5001["status"] == "cancelled"
    # A file without some columns keeps what they hold: still cancelled, same resource and zone.
    partial = await load(
        app, tenant, "series", write(tmp_path, "p.csv", "external_ref,occurrences\nSER-1,3\n")
    )
    kept = sql.execute(
        "SELECT s.status, s.occurrences, s.time_zone, r.external_ref AS resource FROM appointment_series s"
        " JOIN resources r ON r.id = s.resource_id WHERE s.id = %s",
        (series_id,),
    ).fetchone()
    assert (partial.errors, partial.updated) == ([], 1)
    assert (kept["status"], kept["occurrences"], kept["time_zone"], kept["resource"]) == (
        "cancelled",
        3,
        "Europe/Berlin",
        "STAFF-ANA",
    )
    # The rule and its occurrences leave and come back as they are.
    for kind in ("series", "appointments"):
        exported = await export_text(app, tenant, kind, "csv")
        again = await load(app, tenant, kind, write(tmp_path, f"{kind}.csv", exported))
        assert (again.errors, again.inserted, again.updated) == ([], 0, 0), kind
        assert "SER-1" in exported and await export_text(app, tenant, kind, "csv") == exported


async def test_a_series_made_through_mcp_is_exported_by_its_id(shop, connect, sql, app, tmp_path):
    from test_import import export_text, load, write

    agent, biz = shop
    async with connect(agent) as c:
        made = await ok(
            c, "book_series", series_args(biz, iso(date(2027, 9, 1), "10:00"), frequency="weekly", count=2)
        )
    series = await export_text(app, agent.tenant_name, "series", "jsonl")
    appointments = await export_text(app, agent.tenant_name, "appointments", "jsonl")
    assert made["series"]["id"] in series and appointments.count(made["series"]["id"]) == 2
    again = await load(app, agent.tenant_name, "series", write(tmp_path, "s.jsonl", series))
    assert (again.errors, again.unchanged) == ([], 1)
    row = sql.execute("SELECT external_ref FROM appointment_series WHERE id = %s", (made["series"]["id"],))
    assert row.fetchone()["external_ref"] is None


async def test_bad_series_rows_and_series_refs_are_reported_and_nothing_is_written(
    app, make_tenant, sql, tmp_path
):
    from test_import import load, load_examples, write

    tenant = (await make_tenant(time_zone="Europe/Berlin"))["name"]
    await load_examples(app, tenant, "csv")
    header = (
        "external_ref,client_ref,service_code,frequency,monthly_by,first_starts_at,until_date,occurrences"
    )
    rows = [
        "S-1,C-1001,REG-CLEAN,daily,,2030-07-01T09:00:00+02:00,,3",
        "S-2,C-1001,REG-CLEAN,weekly,date,2030-07-01T09:00:00+02:00,,3",
        "S-3,C-1001,REG-CLEAN,weekly,,2030-07-01T09:00:00+02:00,2030-09-01,3",
        "S-4,C-1001,NOPE,monthly,,2030-07-01 09:00,,60",
    ]
    result = await load(app, tenant, "series", write(tmp_path, "s.csv", "\n".join([header, *rows])))
    assert {(e.line, e.column) for e in result.errors} == {
        (2, "frequency"),
        (3, "monthly_by"),
        (4, "until_date"),
        (5, "service_code"),
        (5, "first_starts_at"),
        (5, "occurrences"),
    }, result.errors
    appointments = (
        "external_ref,client_ref,service_code,starts_at,series_ref\n"
        "A-9,C-1002,WINDOWS,2030-07-01T09:00:00+02:00,SER-1\n"
        "A-10,C-1001,REG-CLEAN,2030-07-08T09:00:00+02:00,SER-404\n"
        "A-11,C-1001,WINDOWS,2030-07-09T09:00:00+02:00,SER-1\n"
    )
    refs = await load(app, tenant, "appointments", write(tmp_path, "a.csv", appointments))
    assert [(e.line, e.column, e.message) for e in refs.errors] == [
        (2, "series_ref", "is another client's series"),
        (3, "series_ref", "no series has external_ref SER-404 (import series first)"),
        (4, "series_ref", "is a series of another service"),
    ]
    assert not result.imported and not refs.imported
    tenant_id = sql.execute("SELECT id FROM tenants WHERE name = %s", (tenant,)).fetchone()["id"]
    assert count(sql, "appointment_series", tenant_id) == 1  # the example's SER-1 only
    assert count(sql, "appointments", tenant_id) == 4
