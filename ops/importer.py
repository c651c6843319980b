"""`bizctx import KIND FILE`: load a business's own data from CSV or JSON Lines.

The file (or, from code, rows already in memory: `import_rows`) is read once, row by row,
and COPY'd as raw text into the kind's staging table (`bizctx_import.<kind>`, migration
0020). Everything after that is set-based SQL from `sql/ops/imports/`: resolve each row to
the record it updates (by external_ref, else the kind's natural key) and to the ids its
references name; fill the columns the file does not have from the existing records; list
every problem as (line, column, message); then write with INSERT ... ON CONFLICT ... DO
UPDATE, touching only rows that change. One transaction: a bad row means nothing is
written (unless skip_invalid), and a dry run rehearses the writes and rolls them back.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

import psycopg

from bizctx.server.database import Database, Tx
from bizctx.server.errors import ImportRefused
from bizctx.server.queries import QueryRef

from .operators import find_tenant


def _q(name: str) -> QueryRef:
    return QueryRef("imports", name)


@dataclass(frozen=True)
class Kind:
    """One importable kind: its columns (CSV header names = JSON keys, in COPY order), which
    of them hold lists or JSON, and its named statements. After COPY into
    `bizctx_import.<name>`: `prepare` (resolve targets and references, fill the columns the
    file lacks, expand nested rows), `validate_<name>`, then `writes` in order (the first
    returns the inserted/updated counts); `staging` names the staging tables to empty."""

    name: str
    columns: tuple[str, ...]
    lists: frozenset[str] = frozenset()
    json: frozenset[str] = frozenset()
    writes: tuple[str, ...] = ()
    prepare: tuple[str, ...] = ()
    staging: tuple[str, ...] = ()

    def query(self, step: str) -> QueryRef:
        return _q(f"{step}_{self.name}")

    @property
    def prepare_steps(self) -> tuple[str, ...]:
        return self.prepare or (f"resolve_{self.name}", f"fill_{self.name}")

    @property
    def staging_tables(self) -> tuple[str, ...]:
        return self.staging or (self.name,)


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "clients",
            columns=(
                "external_ref",
                "client_type",
                "first_name",
                "last_name",
                "company_name",
                "email",
                "phone",
                "mobile_phone",
                "date_of_birth",
                "time_zone",
                "status",
                "lifecycle_stage",
                "tags",
                "segments",
                "notes",
                "addresses",
                "preferences",
                "opt_outs",
            ),
            lists=frozenset({"tags", "segments"}),
            json=frozenset({"addresses", "preferences", "opt_outs"}),
            writes=(
                "write_clients",
                "delete_client_addresses",
                "insert_client_addresses",
                "delete_client_preferences",
                "upsert_client_preferences",
                "delete_opt_outs",
                "upsert_opt_outs",
                "insert_client_segments",
                "delete_client_segment_memberships",
                "insert_client_segment_memberships",
            ),
        ),
        Kind(
            "services",
            columns=(
                "external_ref",
                "code",
                "name",
                "description",
                "duration_minutes",
                "price",
                "currency",
                "tax_pct",
                "required_capabilities",
                "active",
            ),
            lists=frozenset({"required_capabilities"}),
            writes=("write_services",),
        ),
        Kind(
            "resources",
            columns=("external_ref", "kind", "name", "email", "time_zone", "capabilities", "active"),
            lists=frozenset({"capabilities"}),
            writes=("write_resources",),
        ),
        Kind(
            "availability",
            columns=(
                "external_ref",
                "resource_ref",
                "weekday",
                "start_time",
                "end_time",
                "starts_at",
                "ends_at",
                "reason",
            ),
            writes=("write_availability", "delete_weekly_hours"),
            prepare=("resolve_availability",),
        ),
        Kind(
            "series",
            columns=(
                "external_ref",
                "client_ref",
                "service_code",
                "resource_ref",
                "frequency",
                "monthly_by",
                "first_starts_at",
                "time_zone",
                "until_date",
                "occurrences",
                "status",
                "cancel_reason",
            ),
            writes=("write_series",),
            prepare=("resolve_series", "fill_series"),
        ),
        Kind(
            "appointments",
            columns=(
                "external_ref",
                "client_ref",
                "service_code",
                "resource_refs",
                "starts_at",
                "ends_at",
                "status",
                "location",
                "notes",
                "price",
                "currency",
                "cancellation_reason",
                "series_ref",
            ),
            lists=frozenset({"resource_refs"}),
            writes=("write_appointments", "delete_appointment_resources", "insert_appointment_resources"),
        ),
        Kind(
            "invoices",
            columns=(
                "external_ref",
                "invoice_number",
                "client_ref",
                "status",
                "issue_date",
                "due_date",
                "currency",
                "notes",
                "void_reason",
                "total",
                "items",
                "payments",
            ),
            json=frozenset({"items", "payments"}),
            writes=(
                "write_invoices",
                "delete_invoice_items",
                "insert_invoice_items",
                "insert_payments",
                "finish_invoices",
            ),
            prepare=(
                "resolve_invoices",
                "fill_invoices",
                "expand_invoice_items",
                "expand_invoice_payments",
                "settle_invoices",
            ),
            staging=("invoices", "invoice_items", "invoice_payments"),
        ),
        Kind(
            "subscriptions",
            columns=(
                "external_ref",
                "client_ref",
                "plan_name",
                "status",
                "billing_cycle",
                "billing_day",
                "currency",
                "starts_on",
                "ends_on",
                "auto_renew",
                "next_billing_on",
                "paused_until",
                "cancel_reason",
                "items",
            ),
            json=frozenset({"items"}),
            writes=("write_subscriptions", "delete_subscription_items", "insert_subscription_items"),
            prepare=("resolve_subscriptions", "fill_subscriptions", "expand_subscription_items"),
            staging=("subscriptions", "subscription_items"),
        ),
    )
}

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class RowError:
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class ImportResult:
    kind: str
    file: str
    format: str
    tenant: str
    dry_run: bool
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    # Written (or, for a dry run, would be written).
    imported: bool = False
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    seconds: float = 0.0
    # import_rows(with_ids=True): each written row's position -> the id of its record.
    ids: dict[int, UUID] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "format": self.format,
            "tenant": self.tenant,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "imported": self.imported,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "errors": [{"line": e.line, "column": e.column, "message": e.message} for e in self.errors],
        }


# -- progress ------------------------------------------------------------------------------


class Progress:
    """Where the importer says how far it is. The base class says nothing."""

    def read(self, done_bytes: int, total_bytes: int, rows: int) -> None:
        pass

    def phase(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class TerminalProgress(Progress):
    """A bar on a terminal; plain lines, one per phase, anywhere else (a log, a pipe)."""

    WIDTH = 30

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self._last = 0.0
        self._rows = 0
        self._open_line = False

    def read(self, done_bytes: int, total_bytes: int, rows: int) -> None:
        self._rows = rows
        if not self.tty:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and done_bytes < total_bytes:
            return
        self._last = now
        share = done_bytes / total_bytes if total_bytes else 1.0
        filled = int(share * self.WIDTH)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r{self.label}: reading [{bar}] {share:4.0%} {rows:,} rows")
        self.stream.flush()
        self._open_line = True

    def phase(self, text: str) -> None:
        if self.tty:
            self.stream.write(f"\r\x1b[K{self.label}: {text}")
            self._open_line = True
        else:
            self.stream.write(f"{self.label}: {text}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._open_line:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# -- reading files -------------------------------------------------------------------------


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImportRefused(
            f"{path.name}: unknown file type {path.suffix or '(none)'!r}; use .csv, .jsonl or .json "
            "(JSON Lines: one object per line)"
        )
    return fmt


class _Counted:
    """The file's lines as text, counting the bytes read so far (for the progress bar)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.bytes = 0

    def __iter__(self) -> Iterator[str]:
        first = True
        for raw in self.handle:
            self.bytes += len(raw)
            text = raw.decode("utf-8")
            if first:
                text = text.removeprefix("\ufeff")
                first = False
            yield text


@dataclass
class _Parsed:
    """What reading produced: rows for COPY, problems found on the way, the columns seen."""

    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    fatal: list[RowError] = field(default_factory=list)
    present: set[str] = field(default_factory=set)
    bad_lines: set[int] = field(default_factory=set)


def _blank(value: str) -> str | None:
    return None if value.strip() == "" else value


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _cell(kind: Kind, column: str, value: Any) -> str | None:
    """One JSON value as the staging table's text; ValueError says what is wrong."""
    if value is None:
        return None
    if isinstance(value, bool):
        if column in kind.lists or column in kind.json:
            raise ValueError("expected a list" if column in kind.lists else "expected JSON array or object")
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        if column in kind.json or (column in kind.lists and isinstance(value, list)):
            return json.dumps(value, default=_json_default, ensure_ascii=False)
        raise ValueError(
            "expected a single value, not a JSON " + ("array" if isinstance(value, list) else "object")
        )
    if isinstance(value, str):
        return _blank(value)
    if isinstance(value, (dt.date, dt.time)):
        # Rows given in memory: ISO 8601, so a naive datetime is refused like naive text.
        return value.isoformat()
    return str(value)  # int, Decimal


def _read_csv(kind: Kind, lines: Iterable[str], out: _Parsed) -> Iterator[tuple[Any, ...]]:
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    positions: dict[str, int] = {}
    for i, name in enumerate(header):
        if name not in kind.columns:
            out.fatal.append(
                RowError(1, name or f"(column {i + 1})", f"unknown column; known: {', '.join(kind.columns)}")
            )
        elif name in positions:
            out.fatal.append(RowError(1, name, "column appears twice in the header"))
        else:
            positions[name] = i
    out.present = set(positions)
    index = [positions.get(c) for c in kind.columns]
    last = reader.line_num
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            out.fatal.append(RowError(last + 1, None, f"unreadable CSV: {exc}"))
            return
        line, last = last + 1, reader.line_num
        if not record or all(not v.strip() for v in record):
            continue
        out.rows += 1
        if len(record) > len(header):
            out.errors.append(
                RowError(line, None, f"has {len(record)} values but the header has {len(header)} columns")
            )
            out.bad_lines.add(line)
        yield (line, *(None if i is None or i >= len(record) else _blank(record[i]) for i in index))


def _read_jsonl(kind: Kind, lines: Iterable[str], out: _Parsed) -> Iterator[tuple[Any, ...]]:
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        out.rows += 1
        try:
            obj = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            hint = " (.json files hold one object per line, not an array)" if text.lstrip()[:1] == "[" else ""
            out.errors.append(RowError(line, None, f"is not valid JSON: {exc.msg}{hint}"))
            out.bad_lines.add(line)
            continue
        row = _record(kind, line, obj, out)
        if row is not None:
            yield row


def _read_records(
    kind: Kind, records: Iterable[Mapping[str, Any]], out: _Parsed
) -> Iterator[tuple[Any, ...]]:
    """Rows given in memory, numbered from 1 as lines are."""
    for line, obj in enumerate(records, start=1):
        out.rows += 1
        row = _record(kind, line, obj, out)
        if row is not None:
            yield row


def _record(kind: Kind, line: int, obj: Any, out: _Parsed) -> tuple[Any, ...] | None:
    """One object (a JSON Lines row, or a row given in memory) as staging text, in COPY
    order; None when it is not an object. Problems go to `out`."""
    if not isinstance(obj, Mapping):
        out.errors.append(RowError(line, None, "is not a JSON object"))
        out.bad_lines.add(line)
        return None
    known = set(kind.columns)
    bad = False
    for key in obj:
        if key not in known:
            out.errors.append(RowError(line, key, f"unknown key; known: {', '.join(kind.columns)}"))
            bad = True
    values: list[str | None] = []
    for column in kind.columns:
        try:
            values.append(_cell(kind, column, obj.get(column)))
        except ValueError as exc:
            out.errors.append(RowError(line, column, str(exc)))
            values.append(None)
            bad = True
    out.present.update(k for k in obj if k in known)
    if bad:
        out.bad_lines.add(line)
    return (line, *values)


# -- the import ---------------------------------------------------------------------------


def _open(path: Path) -> tuple[Any, int]:
    try:
        handle = path.open("rb")
        return handle, os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise ImportRefused(f"cannot read {path}: {exc.strerror}") from None


class _Abort(Exception):
    """Leave the transaction, rolling it back."""


@asynccontextmanager
async def _operator_connection(db: Database) -> AsyncIterator[tuple[psycopg.AsyncConnection[Any], Tx]]:
    """An operator transaction (the connecting role, as `Database.operator_tx`) that also
    hands out its connection, for COPY."""
    async with db.owner_pool.connection() as conn:
        async with conn.transaction():
            tx = Tx(conn, db.book)
            yield conn, tx
            hints = await tx.live_hints()
        if hints:  # committed: listeners of what the import changed are told
            await db.hints_committed(hints)


@dataclass
class _Source:
    """What an import reads: rows in COPY order as they are parsed, what parsing found, and
    (for a file) how many of its bytes are read, for the progress bar."""

    rows: Iterator[tuple[Any, ...]]
    parsed: _Parsed
    counted: _Counted | None = None
    total_bytes: int = 0

    def report(self, progress: Progress) -> None:
        progress.read(self.counted.bytes if self.counted else 0, self.total_bytes, self.parsed.rows)


def _kind(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise ImportRefused(f"unknown kind {name!r}; kinds: {', '.join(KINDS)}")
    return kind


async def import_file(
    db: Database,
    tenant_ref: str,
    kind_name: str,
    path: Path,
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Import one file of one kind into one tenant; see the module docstring."""
    kind = _kind(kind_name)
    fmt = detect_format(path)
    handle, total = _open(path)
    progress = progress or Progress()
    result = ImportResult(kind=kind.name, file=str(path), format=fmt, tenant=tenant_ref, dry_run=dry_run)
    parsed = _Parsed()
    lines = _Counted(handle)
    rows = (_read_csv if fmt == "csv" else _read_jsonl)(kind, lines, parsed)
    try:
        with handle:
            source = _Source(rows, parsed, lines, total)
            await _run(db, tenant_ref, kind, source, result, dry_run, skip_invalid, progress=progress)
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    finally:
        progress.close()
    return result


async def import_rows(
    db: Database,
    tenant_ref: str,
    kind_name: str,
    records: Iterable[Mapping[str, Any]],
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    with_ids: bool = False,
) -> ImportResult:
    """Import rows that code already holds (the demo business), with the same checks and
    writes as a file: each row is an object with the kind's columns as keys, as in JSON
    Lines (dates, times and Decimals may also be Python values). Problems name rows by
    their position from 1, as "line N". With `with_ids`, result.ids maps each written row's
    position to the id of the record it became."""
    kind = _kind(kind_name)
    result = ImportResult(kind=kind.name, file="(rows)", format="rows", tenant=tenant_ref, dry_run=dry_run)
    parsed = _Parsed()
    source = _Source(_read_records(kind, records, parsed), parsed)
    await _run(db, tenant_ref, kind, source, result, dry_run, skip_invalid, with_ids=with_ids)
    return result


async def _run(
    db: Database,
    tenant_ref: str,
    kind: Kind,
    source: _Source,
    result: ImportResult,
    dry_run: bool,
    skip_invalid: bool,
    *,
    with_ids: bool = False,
    progress: Progress | None = None,
) -> None:
    progress = progress or Progress()
    parsed = source.parsed
    started = time.monotonic()
    try:
        async with _operator_connection(db) as (conn, tx):
            tenant = await find_tenant(tx, tenant_ref)
            result.tenant = tenant["name"]
            tenant_id = tenant["id"]

            async with conn.cursor().copy(db.book[kind.query("copy")].text) as copy:
                for row in source.rows:
                    await copy.write_row(row)
                    if parsed.rows % 1000 == 0:
                        source.report(progress)
            progress.read(source.total_bytes, source.total_bytes, parsed.rows)
            result.rows = parsed.rows
            if parsed.fatal:
                result.errors = parsed.fatal
                raise _Abort

            progress.phase(f"validating {parsed.rows:,} rows")
            await tx.execute(kind.query("analyze"))
            # Each statement takes the parameters it names, of these.
            given = {"tenant_id": tenant_id, "columns": sorted(parsed.present)}

            def params(ref: QueryRef) -> dict[str, Any]:
                return {name: given[name] for name in db.book[ref].params}

            for step in kind.prepare_steps:
                await tx.execute(_q(step), **params(_q(step)))
            validate = kind.query("validate")
            found = [RowError(**r) for r in await tx.all(validate, **params(validate))]
            errors = sorted([*parsed.errors, *found], key=lambda e: (e.line, e.column or ""))
            result.errors = errors
            bad = {e.line for e in errors}
            if bad and (not skip_invalid or len(bad) >= parsed.rows):
                raise _Abort
            if bad:
                result.skipped = len(bad)
                for table in kind.staging_tables:
                    await tx.execute(_q(f"drop_lines_{table}"), lines=sorted(bad))

            progress.phase(f"writing {parsed.rows - len(bad):,} rows")
            counts = await tx.row(_q(kind.writes[0]), tenant_id=tenant_id)
            for step in kind.writes[1:]:
                await tx.execute(_q(step), tenant_id=tenant_id)
            if with_ids:
                result.ids = {r["line"]: r["id"] for r in await tx.all(kind.query("ids"))}
            for table in kind.staging_tables:
                await tx.execute(_q(f"clear_{table}"))
            await tx.execute(kind.query("analyze_written"))
            result.inserted = counts["inserted"] if counts else 0
            result.updated = counts["updated"] if counts else 0
            result.unchanged = parsed.rows - len(bad) - result.inserted - result.updated
            result.imported = True
            if dry_run:
                raise _Abort
    except _Abort:
        pass
    except (psycopg.OperationalError, psycopg.ProgrammingError, psycopg.InternalError):
        raise  # the connection, or a bug in bizctx: not the file's fault
    except psycopg.DatabaseError as exc:
        # Constraint, data and trigger (BZ001/BZ002) errors the checks did not foresee.
        raise _refused(exc) from None
    finally:
        result.seconds = time.monotonic() - started


def _refused(exc: psycopg.Error) -> ImportRefused:
    """A write the checks did not foresee (e.g. a concurrent change): the database's own
    words, for the operator; nothing was written."""
    diag = exc.diag
    detail = f" ({diag.message_detail})" if diag.message_detail else ""
    return ImportRefused(
        f"the database refused the import, nothing was written: {diag.message_primary or exc}{detail}"
    )
