"""`bizctx import` / `bizctx export`: the sample files load, an export imports back to the
same database, bad rows are reported by line and column with nothing written, re-imports
update in place, and a double booking is reported before anything is written."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql as pgsql

from bizctx.ops import exporter, importer
from bizctx.ops.importer import KINDS, RowError
from bizctx.server.errors import ImportRefused

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Dependency order: series and appointments name clients, services and resources (and
# appointments their series); invoices and subscriptions name clients (and services).
ORDER = (
    "services",
    "resources",
    "availability",
    "clients",
    "series",
    "appointments",
    "invoices",
    "subscriptions",
)
TABLES = {
    "clients": "id",
    "client_addresses": "id",
    "client_preferences": "id",
    "opt_outs": "id",
    "client_segments": "id",
    "client_segment_memberships": "segment_id, client_id",
    "services": "id",
    "resources": "id",
    "resource_availability": "id",
    "resource_unavailability": "id",
    "appointments": "id",
    "appointment_resources": "appointment_id, resource_id",
    "invoices": "id",
    "invoice_items": "id",
    "payments": "id",
    "invoice_counters": "tenant_id",
    "subscriptions": "id",
    "appointment_series": "id",
    "subscription_items": "subscription_id, position",
}


@pytest.fixture
async def tenant(make_tenant) -> str:
    return (await make_tenant(time_zone="Europe/Berlin"))["name"]


async def load(app, tenant: str, kind: str, path: Path, **options: Any) -> importer.ImportResult:
    return await importer.import_file(app.db, tenant, kind, path, **options)


async def load_examples(app, tenant: str, fmt: str = "csv") -> None:
    for kind in ORDER:
        result = await load(app, tenant, kind, EXAMPLES / f"{kind}.{fmt}")
        assert result.imported and result.errors == [], (kind, result.errors)


async def export_text(app, tenant: str, kind: str, fmt: str) -> str:
    out = io.StringIO()
    exporter.write_records(kind, await exporter.fetch_records(app.db, tenant, kind), out, fmt)
    return out.getvalue()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(sql, tenant_id) -> dict[str, list[Any]]:
    """Every row of every table an import writes, for one tenant, as JSON (updated_at included)."""
    out = {}
    for table, key in TABLES.items():
        query = pgsql.SQL("SELECT to_jsonb(t) AS r FROM {} t WHERE tenant_id = %s ORDER BY {}").format(
            pgsql.Identifier(table), pgsql.SQL(key)
        )
        out[table] = [row["r"] for row in sql.execute(query, (tenant_id,))]
    return out


def tenant_id(sql, name: str):
    return sql.execute("SELECT id FROM tenants WHERE name = %s", (name,)).fetchone()["id"]


def count(sql, table: str, tenant: str) -> int:
    query = pgsql.SQL("SELECT count(*) AS n FROM {} WHERE tenant_id = %s").format(pgsql.Identifier(table))
    return sql.execute(query, (tenant_id(sql, tenant),)).fetchone()["n"]


# -- round trip ---------------------------------------------------------------------------


async def test_the_examples_export_back_as_they_are_and_reimport_changes_nothing(app, tenant, sql):
    await load_examples(app, tenant, "csv")
    for kind in ORDER:
        for fmt in ("csv", "jsonl"):
            assert await export_text(app, tenant, kind, fmt) == (EXAMPLES / f"{kind}.{fmt}").read_text(), kind
    before = snapshot(sql, tenant_id(sql, tenant))
    assert len(before["appointment_resources"]) == 5 and len(before["payments"]) == 2

    # The JSON Lines files are the same data: importing them finds every row and writes nothing.
    for kind in ORDER:
        result = await load(app, tenant, kind, EXAMPLES / f"{kind}.jsonl")
        assert (result.inserted, result.updated, result.errors) == (0, 0, []), kind
        assert result.unchanged == result.rows > 0
    assert snapshot(sql, tenant_id(sql, tenant)) == before


async def test_an_export_imported_into_another_tenant_exports_the_same_text(
    app, tenant, make_tenant, sql, tmp_path
):
    await load_examples(app, tenant, "jsonl")
    other = (await make_tenant(time_zone="Europe/Berlin"))["name"]
    for kind in ORDER:
        for fmt in ("jsonl", "csv"):
            exported = await export_text(app, tenant, kind, fmt)
            result = await load(app, other, kind, write(tmp_path, f"{kind}.{fmt}", exported))
            assert result.errors == [], (kind, fmt, result.errors)
            assert await export_text(app, other, kind, fmt) == exported, (kind, fmt)
    # Invoice numbers travel, and the counter moved past them: the next invoice will not clash.
    rows = sql.execute(
        "SELECT invoice_number, status, total, amount_paid FROM invoices WHERE tenant_id = %s "
        "ORDER BY invoice_number NULLS LAST",
        (tenant_id(sql, other),),
    ).fetchall()
    assert [(r["invoice_number"], r["status"], str(r["amount_paid"])) for r in rows] == [
        ("INV-000101", "paid", "107.1000"),
        ("INV-000102", "partial", "200.0000"),
        ("INV-000103", "open", "0.0000"),
        (None, "draft", "0.0000"),
    ]
    counter = sql.execute(
        "SELECT next_number FROM invoice_counters WHERE tenant_id = %s", (tenant_id(sql, other),)
    ).fetchone()
    assert counter["next_number"] == 104


async def test_rows_given_in_memory_import_like_the_file_and_say_which_record_each_became(app, tenant, sql):
    for kind in ORDER:
        lines = (EXAMPLES / f"{kind}.jsonl").read_text().splitlines()
        rows = [json.loads(line, parse_float=Decimal) for line in lines]
        result = await importer.import_rows(app.db, tenant, kind, rows, with_ids=kind == "clients")
        assert (result.inserted, result.errors) == (len(rows), []), kind
        assert await export_text(app, tenant, kind, "jsonl") == (EXAMPLES / f"{kind}.jsonl").read_text(), kind
        if kind == "clients":
            ids = {r["external_ref"]: r["id"] for r in sql.execute("SELECT external_ref, id FROM clients")}
            assert result.ids == {n: ids[row["external_ref"]] for n, row in enumerate(rows, start=1)}
    bad = [{"first_name": "Ann"}, {"first_name": "Bo", "email": "not an address"}, {"nickname": "C"}]
    result = await importer.import_rows(app.db, tenant, "clients", bad)
    assert not result.imported
    assert [(e.line, e.column) for e in result.errors] == [(2, "email"), (3, "first_name"), (3, "nickname")]


async def test_segments_are_created_when_named_and_a_row_with_segments_sets_the_clients(app, tenant, sql):
    await load(app, tenant, "clients", EXAMPLES / "clients.csv")
    rows = [
        {"external_ref": "C-1001", "segments": ["weekly CLEAN", "VIP", "vip"]},
        {"external_ref": "C-1002"},
        {"external_ref": "C-1003", "segments": []},
    ]
    result = await importer.import_rows(app.db, tenant, "clients", rows)
    assert result.errors == []
    members = sql.execute(
        "SELECT c.external_ref, array_agg(g.name ORDER BY g.name) AS names FROM client_segment_memberships m "
        "JOIN clients c ON c.tenant_id = m.tenant_id AND c.id = m.client_id "
        "JOIN client_segments g ON g.tenant_id = m.tenant_id AND g.id = m.segment_id "
        "WHERE m.tenant_id = %s GROUP BY 1 ORDER BY 1",
        (tenant_id(sql, tenant),),
    ).fetchall()
    # Names match the business's segments whatever their case; a row without the column
    # leaves its client's segments as they are, [] clears them.
    assert [(m["external_ref"], m["names"]) for m in members] == [("C-1001", ["VIP", "Weekly clean"])]
    assert count(sql, "client_segments", tenant) == 4  # Weekly clean, Commercial, Monthly clean, VIP

    long_name = "x" * 201
    result = await importer.import_rows(
        app.db, tenant, "clients", [{"external_ref": "C-1001", "segments": ["VIP", long_name]}]
    )
    (error,) = result.errors
    assert str(error) == "line 1, segments: a segment name takes at most 200 characters"


# -- bad rows ---------------------------------------------------------------------------------


async def test_one_bad_row_imports_nothing_and_names_its_line_and_reason(app, tenant, sql, tmp_path):
    path = write(
        tmp_path,
        "clients.csv",
        "external_ref,first_name,last_name,email\n"
        "C-1,Ann,Lee,ann@example.com\n"
        "C-2,Bob,Stone,bob@example\n"
        "C-3,Cy,Young,cy@example.com\n",
    )
    result = await load(app, tenant, "clients", path)
    assert not result.imported and result.rows == 3
    assert result.errors == [
        RowError(3, "email", "bob@example is not a valid e-mail address (like name@example.com)")
    ]
    assert count(sql, "clients", tenant) == 0


async def test_every_bad_row_is_reported_in_one_pass(app, tenant, sql, tmp_path):
    path = write(
        tmp_path,
        "clients.jsonl",
        '{"external_ref": "C-1", "first_name": "Ann", "status": "alive", "tags": "vip; weekly"}\n'
        "\n"
        '{"external_ref": "C-2", "company_name": "Acme", "date_of_birth": "31/12/1990"}\n'
        "not json\n"
        '{"external_ref": "C-1", "first_name": "Ann again", "colour": "red"}\n'
        '{"external_ref": "C-5", "addresses": [{"city": "Berlin", "country": "Germany"}]}\n'
        '{"external_ref": "C-6", "first_name": "Dee", "opt_outs": ["fax"], "phone": ["+1 555 0100"]}\n',
    )
    result = await load(app, tenant, "clients", path)
    found = [(e.line, e.column) for e in result.errors]
    assert found == [
        (1, "status"),
        (3, "date_of_birth"),
        (4, None),
        (5, "colour"),
        (5, "external_ref"),
        (6, "addresses"),
        (6, "first_name"),
        (7, "opt_outs"),
        (7, "phone"),
    ]
    messages = {(e.line, e.column): e.message for e in result.errors}
    assert "C-1 is also on line 1" in messages[(5, "external_ref")]
    assert messages[(6, "addresses")] == (
        "address 1: line1 is required; "
        "address 1: country must be a two-letter ISO code like DE or US, not GERMANY"
    )
    assert "not fax" in messages[(7, "opt_outs")]
    assert messages[(7, "phone")] == "expected a single value, not a JSON array"
    assert count(sql, "clients", tenant) == 0


async def test_skip_invalid_imports_the_good_rows_and_reports_the_bad(app, tenant, sql, tmp_path):
    path = write(
        tmp_path,
        "clients.csv",
        "external_ref,first_name,email\nC-1,Ann,ann@example.com\nC-2,,\nC-3,Cy,ann@example.com\nC-4,Dee,\n",
    )
    result = await load(app, tenant, "clients", path, skip_invalid=True)
    assert result.imported and (result.inserted, result.skipped) == (2, 2)
    assert [(e.line, e.column) for e in result.errors] == [(3, "first_name"), (4, "email")]
    assert "ann@example.com is also on line 2" in result.errors[1].message
    refs = sql.execute(
        "SELECT external_ref FROM clients WHERE tenant_id = %s ORDER BY 1", (tenant_id(sql, tenant),)
    ).fetchall()
    assert [r["external_ref"] for r in refs] == ["C-1", "C-4"]


async def test_a_dry_run_reports_what_it_would_do_and_writes_nothing(app, tenant, sql):
    result = await load(app, tenant, "clients", EXAMPLES / "clients.csv", dry_run=True)
    assert result.imported and result.dry_run and (result.inserted, result.errors) == (4, [])
    assert count(sql, "clients", tenant) == 0 and count(sql, "client_addresses", tenant) == 0
    # Staging rows never outlive their import.
    assert sql.execute("SELECT count(*) AS n FROM bizctx_import.clients").fetchone()["n"] == 0


async def test_an_unknown_csv_column_stops_the_file_even_with_skip_invalid(app, tenant, sql, tmp_path):
    path = write(tmp_path, "clients.csv", "external_ref,first_name,e_mail\nC-1,Ann,ann@example.com\n")
    result = await load(app, tenant, "clients", path, skip_invalid=True)
    assert not result.imported
    (error,) = result.errors
    assert (error.line, error.column) == (1, "e_mail") and error.message.startswith("unknown column; known:")
    assert count(sql, "clients", tenant) == 0


async def test_a_file_of_unknown_type_or_kind_is_refused(app, tenant, tmp_path):
    with pytest.raises(ImportRefused, match="unknown file type '.xlsx'"):
        await load(app, tenant, "clients", write(tmp_path, "clients.xlsx", ""))
    with pytest.raises(ImportRefused, match="unknown kind 'staff'"):
        await load(app, tenant, "staff", EXAMPLES / "resources.csv")


# -- updates in place -----------------------------------------------------------------------


async def test_reimport_updates_by_external_ref_in_place(app, tenant, sql, tmp_path):
    await load(app, tenant, "clients", EXAMPLES / "clients.csv")
    tid = tenant_id(sql, tenant)
    before = {r["external_ref"]: r for r in sql.execute("SELECT * FROM clients WHERE tenant_id = %s", (tid,))}
    address_ids = {
        r["id"] for r in sql.execute("SELECT id FROM client_addresses WHERE tenant_id = %s", (tid,))
    }

    changed = (EXAMPLES / "clients.csv").read_text().replace("+49 30 1234567", "+49 30 7654321")
    result = await load(app, tenant, "clients", write(tmp_path, "clients.csv", changed))
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 3)

    after = {r["external_ref"]: r for r in sql.execute("SELECT * FROM clients WHERE tenant_id = %s", (tid,))}
    assert after.keys() == before.keys()
    assert after["C-1001"]["id"] == before["C-1001"]["id"] and after["C-1001"]["phone"] == "+49 30 7654321"
    assert after["C-1001"]["updated_at"] > before["C-1001"]["updated_at"]
    assert after["C-1002"] == before["C-1002"]
    # Unchanged addresses keep their ids (appointments may point at them).
    assert {r["id"] for r in sql.execute("SELECT id FROM client_addresses WHERE tenant_id = %s", (tid,))} == (
        address_ids
    )


async def test_a_file_with_fewer_columns_changes_only_those(app, tenant, sql, tmp_path):
    await load(app, tenant, "clients", EXAMPLES / "clients.csv")
    path = write(tmp_path, "tags.csv", "external_ref,tags\nC-1001,vip\nC-1002,\n")
    result = await load(app, tenant, "clients", path)
    assert (result.updated, result.errors) == (2, [])
    rows = {
        r["external_ref"]: r
        for r in sql.execute("SELECT * FROM clients WHERE tenant_id = %s", (tenant_id(sql, tenant),))
    }
    assert rows["C-1001"]["tags"] == ["vip"] and rows["C-1001"]["email"] == "maria.schmidt@example.com"
    assert rows["C-1001"]["notes"] == "Two cats; do not let them out."
    assert rows["C-1002"]["tags"] == [] and rows["C-1002"]["mobile_phone"] == "+49 171 7654321"
    assert count(sql, "client_addresses", tenant) == 4 and count(sql, "opt_outs", tenant) == 3


async def test_a_client_without_external_ref_is_matched_by_email(app, tenant, sql, tmp_path):
    first = write(tmp_path, "a.csv", "first_name,email\nAnn,Ann@Example.com\n")
    await load(app, tenant, "clients", first)
    again = write(tmp_path, "b.csv", "external_ref,first_name,email\nCRM-7,Ann,ann@example.com\n")
    result = await load(app, tenant, "clients", again)
    assert (result.inserted, result.updated) == (0, 1)
    (row,) = sql.execute("SELECT * FROM clients WHERE tenant_id = %s", (tenant_id(sql, tenant),)).fetchall()
    assert row["external_ref"] == "CRM-7"


async def test_weekly_hours_in_a_file_replace_that_resources_week(app, tenant, sql, tmp_path):
    await load_examples(app, tenant)
    tid = tenant_id(sql, tenant)
    path = write(
        tmp_path,
        "hours.csv",
        "resource_ref,weekday,start_time,end_time,starts_at,ends_at,reason,external_ref\n"
        "STAFF-BEN,mon,10:00,18:00,,,,\n"
        "STAFF-BEN,Tuesday,09:00,13:00,,,,\n"
        "STAFF-BEN,,,,2030-07-01T00:00:00+02:00,,Parental leave,OFF-19\n",
    )
    result = await load(app, tenant, "availability", path)
    assert (result.inserted, result.unchanged, result.errors) == (2, 1, [])
    hours = sql.execute(
        "SELECT a.weekday, a.start_time::text, a.end_time::text FROM resource_availability a "
        "JOIN resources r ON r.tenant_id = a.tenant_id AND r.id = a.resource_id "
        "WHERE a.tenant_id = %s AND r.external_ref = 'STAFF-BEN' ORDER BY 1, 2",
        (tid,),
    ).fetchall()
    assert [tuple(h.values()) for h in hours] == [(1, "10:00:00", "18:00:00"), (2, "09:00:00", "13:00:00")]
    assert (
        count(sql, "resource_availability", tenant) == 2 + 5 + 6
    )  # Ben's new week; Ana and the van untouched
    leave = sql.execute(
        "SELECT upper_inf(during) AS open_ended FROM resource_unavailability WHERE tenant_id = %s "
        "AND external_ref = 'OFF-19'",
        (tid,),
    ).fetchone()
    assert leave == {"open_ended": True}


# -- appointments -----------------------------------------------------------------------------


APPOINTMENT_HEADER = "external_ref,client_ref,service_code,resource_refs,starts_at,ends_at,status\n"


async def test_a_booking_that_overlaps_an_existing_one_is_reported_not_dropped(app, tenant, sql, tmp_path):
    await load_examples(app, tenant)
    booked = count(sql, "appointments", tenant)
    path = write(
        tmp_path,
        "appointments.csv",
        APPOINTMENT_HEADER
        + "A-6001,C-1002,REG-CLEAN,STAFF-BEN,2030-06-03T09:00:00+02:00,,\n"  # fine: Ben is free
        + "A-6002,C-1002,REG-CLEAN,STAFF-ANA,2030-06-03T10:00:00+02:00,,\n",  # Ana has A-5001 09-11
    )
    result = await load(app, tenant, "appointments", path)
    assert not result.imported
    (error,) = result.errors
    assert (error.line, error.column) == (3, "resource_refs")
    assert error.message == (
        "Ana Petrova is already booked from 2030-06-03T09:00:00+02:00 to 2030-06-03T11:00:00+02:00 "
        "(appointment A-5001); pick another time or resource"
    )
    assert count(sql, "appointments", tenant) == booked

    # Skipping invalid rows still reports the clash; the good booking goes in.
    result = await load(app, tenant, "appointments", path, skip_invalid=True)
    assert (result.inserted, result.skipped, len(result.errors)) == (1, 1, 1)
    assert count(sql, "appointments", tenant) == booked + 1


async def test_bookings_that_overlap_each_other_in_one_file_are_reported(app, tenant, sql, tmp_path):
    await load_examples(app, tenant)

    def ben(ref: str, client: str, starts_at: str, **extra: str) -> str:
        row = {
            "external_ref": ref,
            "client_ref": client,
            "service_code": "WINDOWS",
            "resource_refs": ["STAFF-BEN"],
        }
        return json.dumps({**row, "starts_at": starts_at, **extra})

    rows = (
        ben("A-7001", "C-1002", "2030-07-02T09:00:00+02:00"),
        ben("A-7002", "C-1001", "2030-07-02T10:00:00+02:00"),
        # A cancelled booking holds nothing.
        ben("A-7003", "C-1001", "2030-07-02T10:00:00+02:00", status="cancelled"),
    )
    path = write(tmp_path, "appointments.jsonl", "\n".join(rows))
    result = await load(app, tenant, "appointments", path)
    assert [(e.line, e.column, e.message) for e in result.errors] == [
        (2, "resource_refs", "Ben Okoro is double-booked: this overlaps line 1")
    ]


async def test_unknown_references_and_impossible_changes_are_reported(app, tenant, sql, tmp_path):
    await load_examples(app, tenant)
    path = write(
        tmp_path,
        "appointments.csv",
        APPOINTMENT_HEADER
        + "A-8001,C-9999,NOPE,STAFF-ANA;X-1,2030-09-01T09:00:00+02:00,,\n"
        + "A-8002,C-1001,WINDOWS,STAFF-ANA,2030-09-01 09:00,,\n"
        + "A-5004,C-1001,REG-CLEAN,STAFF-ANA,2030-06-10T09:00:00+02:00,,scheduled\n",
    )
    result = await load(app, tenant, "appointments", path)
    messages = {(e.line, e.column): e.message for e in result.errors}
    assert messages == {
        (2, "client_ref"): "no client has external_ref C-9999 (import clients first)",
        (2, "service_code"): "unknown service code NOPE (import services first)",
        (2, "resource_refs"): "no resource has external_ref X-1 (import resources first)",
        (3, "resource_refs"): "together these resources lack what service WINDOWS requires (windows)",
        (
            3,
            "starts_at",
        ): "2030-09-01 09:00 is not a timestamp with an offset, like 2025-03-01T09:00:00+01:00",
        (4, "status"): "cannot change from cancelled to scheduled",
    }


# -- invoices ------------------------------------------------------------------------------------


INVOICE_HEADER = "external_ref,client_ref,status,issue_date,due_date,currency,total,items,payments\n"


def invoice_row(ref: str, status: str, total: str, items: list, payments: list) -> str:
    cells = [
        ref,
        "C-1001",
        status,
        "2030-05-02",
        "2030-05-16",
        "EUR",
        total,
        json.dumps(items),
        json.dumps(payments),
    ]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


ITEM = {"description": "Regular clean", "quantity": "2", "unit_price": "90.00", "tax_pct": "19"}


async def test_invoice_totals_and_statuses_that_do_not_add_up_are_reported(app, tenant, sql, tmp_path):
    await load_examples(app, tenant)
    invoices = count(sql, "invoices", tenant)
    pay = {"amount": "100.00", "method": "card", "paid_at": "2030-05-03T10:00:00+02:00"}
    path = write(
        tmp_path,
        "invoices.csv",
        INVOICE_HEADER
        + invoice_row("Q-1", "open", "200.00", [ITEM], [])
        + invoice_row("Q-2", "paid", "214.20", [ITEM], [pay])
        + invoice_row("Q-3", "", "214.20", [ITEM], [{**pay, "amount": "300.00", "method": "bitcoin"}])
        + invoice_row("Q-4", "", "214.20", [{**ITEM, "quantity": "0"}, {"unit_price": "x"}], []),
    )
    result = await load(app, tenant, "invoices", path)
    messages = {(e.line, e.column): e.message for e in result.errors}
    assert messages == {
        (2, "total"): "200.00 does not add up: the items come to 214.20",
        (3, "status"): "paid needs payments that come to the total of 214.20; they come to 100.00",
        (4, "payments"): "payment 1: method must be cash, card, bank_transfer, check or other, not bitcoin",
        (5, "items"): (
            "item 1: quantity must be more than 0; item 2: description is required; "
            "item 2: unit_price x is not an amount (digits, a point, at most 4 decimals)"
        ),
    }
    assert count(sql, "invoices", tenant) == invoices

    fixed = write(tmp_path, "fixed.csv", INVOICE_HEADER + invoice_row("Q-3", "", "214.20", [ITEM], [pay]))
    result = await load(app, tenant, "invoices", fixed)
    assert result.errors == []
    row = sql.execute(
        "SELECT status, total, amount_paid, invoice_number FROM invoices "
        "WHERE tenant_id = %s AND external_ref = 'Q-3'",
        (tenant_id(sql, tenant),),
    ).fetchone()
    assert (row["status"], str(row["total"]), str(row["amount_paid"])) == ("partial", "214.2000", "100.0000")
    assert row["invoice_number"] == "INV-000104"  # the next number after the imported INV-000103


async def test_a_services_tax_rate_is_imported_checked_and_kept_when_left_out(app, tenant, sql, tmp_path):
    header = "code,name,duration_minutes,price,currency,tax_pct\n"
    rows = "A,Ironing,60,30.00,EUR,7.5\nB,Oven,60,30.00,EUR,120\nC,Fridge,60,30.00,EUR,abc\n"
    result = await load(app, tenant, "services", write(tmp_path, "bad.csv", header + rows))
    found = {(e.line, e.column): e.message for e in result.errors}
    assert found == {(3, "tax_pct"): "must be between 0 and 100", (4, "tax_pct"): found[(4, "tax_pct")]}
    assert "abc is not a percentage" in found[(4, "tax_pct")] and count(sql, "services", tenant) == 0
    result = await load(
        app, tenant, "services", write(tmp_path, "good.csv", header + "A,Ironing,60,30.00,EUR,7.5\n")
    )
    assert result.errors == []
    # A file without the column keeps the rate the service has.
    renamed = write(
        tmp_path, "renamed.csv", "code,name,duration_minutes,currency\nA,Ironing and folding,60,EUR\n"
    )
    assert (await load(app, tenant, "services", renamed)).errors == []
    row = sql.execute(
        "SELECT name, tax_pct FROM services WHERE tenant_id = %s AND code = 'A'", (tenant_id(sql, tenant),)
    ).fetchone()
    assert (row["name"], str(row["tax_pct"])) == ("Ironing and folding", "7.5000")


async def test_refunds_are_exported_with_their_payment_and_not_imported_silently(
    app, tenant, make_tenant, sql, tmp_path
):
    await load_examples(app, tenant)
    payment = sql.execute(
        "SELECT id, invoice_id, currency FROM payments WHERE tenant_id = %s AND external_ref = 'PAY-9002'",
        (tenant_id(sql, tenant),),
    ).fetchone()
    sql.execute(
        "INSERT INTO refunds (tenant_id, payment_id, invoice_id, amount, currency, kind, reason, refunded_at)"
        " VALUES (%s, %s, %s, 25, %s, 'reopen', 'Chargeback.', '2030-06-02T08:00:00Z')",
        (tenant_id(sql, tenant), payment["id"], payment["invoice_id"], payment["currency"]),
    )
    exported = await export_text(app, tenant, "invoices", "jsonl")
    (refunded,) = [p for r in map(json.loads, exported.splitlines()) for p in r["payments"] if "refunds" in p]
    assert refunded["external_ref"] == "PAY-9002"
    assert [(r["amount"], r["kind"], r["reason"]) for r in refunded["refunds"]] == [
        ("25.00", "reopen", "Chargeback.")
    ]
    # The importer does not take refunds yet: it says so, rather than dropping them.
    other = (await make_tenant())["name"]
    for kind in ORDER[: ORDER.index("invoices")]:
        await load(
            app, other, kind, write(tmp_path, f"{kind}.jsonl", await export_text(app, tenant, kind, "jsonl"))
        )
    result = await load(app, other, "invoices", write(tmp_path, "invoices.jsonl", exported))
    assert any(e.column == "payments" and "unknown key refunds" in e.message for e in result.errors)
    assert count(sql, "refunds", other) == 0


async def test_the_lines_and_payments_of_a_paid_invoice_cannot_change(app, tenant, sql, tmp_path):
    await load_examples(app, tenant)
    exported = await export_text(app, tenant, "invoices", "jsonl")
    records = [json.loads(line) for line in exported.splitlines()]
    paid = next(r for r in records if r["status"] == "paid")
    paid["items"][0]["unit_price"] = "95.00"
    paid["total"] = None
    partial = next(r for r in records if r["status"] == "partial")
    recorded = partial["payments"]
    partial["payments"] = []
    path = write(tmp_path, "invoices.jsonl", "\n".join(json.dumps(r) for r in (paid, partial)) + "\n")
    result = await load(app, tenant, "invoices", path)
    found = {(e.line, e.column): e.message for e in result.errors}
    assert found[(1, "items")] == "the items of paid invoice INV-000101 cannot change"
    assert found[(2, "payments")] == "recorded payments cannot be removed by an import: PAY-9002"

    # A payment added to the partial invoice settles it.
    partial["payments"] = [
        *recorded,
        {
            "external_ref": "PAY-9003",
            "amount": "276.00",
            "method": "card",
            "paid_at": "2030-06-01T09:00:00+02:00",
        },
    ]
    partial["status"] = None
    result = await load(app, tenant, "invoices", write(tmp_path, "pay.jsonl", json.dumps(partial) + "\n"))
    assert (result.updated, result.errors) == (0, [])
    row = sql.execute(
        "SELECT status, amount_paid FROM invoices WHERE tenant_id = %s AND external_ref = 'QB-102'",
        (tenant_id(sql, tenant),),
    ).fetchone()
    assert (row["status"], str(row["amount_paid"])) == ("paid", "476.0000")


# -- the command line -----------------------------------------------------------------------------


def bizctx(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("bizctx")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bizctx.ops.cli"]
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_the_cli_imports_reports_and_exports(dsn, tenant, tmp_path, sql):
    env = {"DATABASE_URL": dsn, "BIZCTX_DATA_DIR": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    bad = write(tmp_path, "bad.csv", "external_ref,first_name,email\nC-1,Ann,ann@example.com\nC-2,Bob,bob@\n")
    done = bizctx(env, "import", "clients", str(bad), "--tenant", tenant)
    assert done.returncode == 1
    assert "line 3, email: bob@ is not a valid e-mail address" in done.stdout
    assert "nothing imported: 1 of 2 rows" in done.stdout
    # stderr is not a terminal here: plain progress lines, no bar.
    assert "\r" not in done.stderr and "import clients: validating 2 rows" in done.stderr

    done = bizctx(env, "import", "clients", str(EXAMPLES / "clients.csv"), "--tenant", tenant, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["inserted"], report["errors"], report["imported"]) == (4, [], True)

    out = tmp_path / "out.jsonl"
    done = bizctx(env, "export", "clients", "--tenant", tenant, "--output", str(out))
    assert done.returncode == 0 and out.read_text() == (EXAMPLES / "clients.jsonl").read_text()
    done = bizctx(env, "export", "clients", "--tenant", tenant)
    assert done.stdout == (EXAMPLES / "clients.csv").read_text()
    done = bizctx(env, "import", "clients", str(EXAMPLES / "clients.csv"), "--tenant", "nobody")
    assert done.returncode == 2 and "no tenant named 'nobody'" in done.stderr


def test_every_kind_has_sample_files_and_a_copy_statement_in_column_order():
    from bizctx.server.queries import QueryBook

    book = QueryBook.load()
    for kind in KINDS.values():
        for fmt in ("csv", "jsonl"):
            assert (EXAMPLES / f"{kind.name}.{fmt}").is_file()
        text = book[kind.query("copy")].text
        copy = text[text.index("COPY bizctx_import") :]
        listed = copy[copy.index("(") + 1 : copy.index(")")].replace("\n", " ")
        assert [c.strip() for c in listed.split(",")] == ["line", *kind.columns], kind.name
