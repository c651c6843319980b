"""`bizctx export KIND`: a tenant's records in the very form `bizctx import` reads, so
export -> import -> export gives the same text back.

Each kind's query (`sql/queries/exports/export_<kind>.sql`) returns one JSON object per
record with the import columns as keys; this module only writes them out, as JSON Lines or
as CSV (lists as `a;b` cells, JSON values as JSON text).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, TextIO

from bizctx.server.database import Database
from bizctx.server.errors import ImportRefused
from bizctx.server.queries import QueryRef

from .importer import FORMATS, KINDS, Kind
from .operators import find_tenant


def export_format(output: Path | None, explicit: str | None) -> str:
    """--format wins; else the output file's extension; else CSV."""
    if explicit:
        return explicit
    if output is not None:
        fmt = FORMATS.get(output.suffix.lower())
        if fmt is None:
            raise ImportRefused(
                f"cannot tell the format from {output.name!r}; name it .csv or .jsonl, or pass --format"
            )
        return fmt
    return "csv"


async def fetch_records(db: Database, tenant_ref: str, kind_name: str) -> list[dict[str, Any]]:
    kind = _kind(kind_name)
    async with db.operator_tx() as tx:
        tenant = await find_tenant(tx, tenant_ref)
        rows = await tx.all(QueryRef("exports", f"export_{kind.name}"), tenant_id=tenant["id"])
    return [_ordered(kind, row["record"]) for row in rows]


def write_records(kind_name: str, records: list[dict[str, Any]], out: TextIO, fmt: str) -> None:
    kind = _kind(kind_name)
    if fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(kind.columns)
    for record in records:
        writer.writerow([_csv_cell(kind, column, record.get(column)) for column in kind.columns])


def _kind(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise ImportRefused(f"unknown kind {name!r}; kinds: {', '.join(KINDS)}")
    return kind


def _ordered(kind: Kind, record: dict[str, Any]) -> dict[str, Any]:
    return {column: record.get(column) for column in kind.columns}


def _csv_cell(kind: Kind, column: str, value: Any) -> str:
    if value is None:
        return ""
    if column in kind.lists and isinstance(value, list):
        items = [str(v) for v in value]
        # 'a;b' reads best in a spreadsheet; JSON when a value would not survive that.
        if all(v and v == v.strip() and ";" not in v for v in items) and not (items and items[0][:1] == "["):
            return ";".join(items)
        return json.dumps(value, ensure_ascii=False)
    if column in kind.json or isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
