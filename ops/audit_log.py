"""Keeping the audit log (`bizctx audit export`, `bizctx audit prune`): rows older than the
retention go, a month partition at a time, and with an export file asked for, only once the
rows are in that file and on disk.

The file is JSON lines, one audit row each (to_jsonb of the row: every column, exact values);
`jsonb_populate_record(NULL::audit_logs, line)` reads a line back as the row it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bizctx.server.database import Database, Tx
from bizctx.server.errors import OperatorError
from bizctx.server.queries import QueryRef

from .operators import find_tenant


def _q(name: str) -> QueryRef:
    return QueryRef("operators", name)


@dataclass
class PruneResult:
    before: datetime
    partitions_dropped: list[str] = field(default_factory=list)
    rows_removed: int = 0
    rows_exported: int = 0
    export: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before.isoformat(),
            "partitions_dropped": self.partitions_dropped,
            "rows_removed": self.rows_removed,
            "rows_exported": self.rows_exported,
            "export": self.export,
        }


def _check_cutoff(before: datetime) -> None:
    if before > datetime.now(UTC):
        raise OperatorError("the cutoff is in the future: give a time in the past, e.g. 90d or 2025-01-01")


def open_export(path: Path) -> IO[str]:
    """A new export file (never one that exists: an earlier export is evidence too), its
    directory entry on disk before anything is removed."""
    try:
        out = path.open("x", encoding="utf-8", newline="\n")
    except FileExistsError:
        raise OperatorError(f"{path} exists: give a new file for the export") from None
    _fsync_dir(path.parent)
    return out


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory if str(directory) else ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable(out: IO[str]) -> None:
    """What was written to `out` is on disk."""
    out.flush()
    os.fsync(out.fileno())


async def _write(tx: Tx, out: IO[str], **params: Any) -> int:
    n = 0
    async for row in tx.stream(_q("export_audit_logs"), **params):
        out.write(row["line"])
        out.write("\n")
        n += 1
    return n


async def export(db: Database, before: datetime, out: IO[str], *, tenant_ref: str | None = None) -> int:
    """Write the audit rows older than `before` (of one tenant, or all) to `out`, one JSON
    line each; how many. Removes nothing."""
    async with db.operator_tx() as tx:
        tenant_id = (await find_tenant(tx, tenant_ref))["id"] if tenant_ref else None
        return await _write(tx, out, starts_at=None, before=before, tenant_id=tenant_id)


async def prune(
    db: Database,
    before: datetime,
    *,
    export_to: IO[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> PruneResult:
    """Remove the audit rows older than `before`: every month partition wholly older is
    dropped, one transaction each; the older rows of the partitions left (the month `before`
    falls in, the default partition) are deleted in one more. With `export_to`, each
    transaction first writes the rows it removes there and fsyncs the file, and removes them
    only after that: a failure leaves its rows in the database (a later prune exports them
    again), never gone without being written.
    """
    _check_cutoff(before)
    result = PruneResult(before, export=getattr(export_to, "name", None))
    async with db.operator_tx() as tx:
        partitions = await tx.all(_q("audit_partitions"))
    for part in partitions:
        if part["ends_at"] is None or part["ends_at"] > before:
            continue
        name = part["partition_name"]
        async with db.operator_tx() as tx:
            # No insert into the month can be running or start while it is read and dropped.
            await tx.value(_q("lock_audit_partition"), partition_name=name)
            if export_to is not None:
                result.rows_exported += await _write(
                    tx, export_to, starts_at=part["starts_at"], before=part["ends_at"], tenant_id=None
                )
                durable(export_to)
            result.rows_removed += int(await tx.value(_q("drop_audit_partition"), partition_name=name))
        result.partitions_dropped.append(name)
        if progress is not None:
            progress(f"dropped {name}")
    async with db.operator_tx() as tx:
        # One snapshot: the delete removes exactly the rows the export wrote.
        await tx.execute(_q("repeatable_read"))
        if export_to is not None:
            result.rows_exported += await _write(tx, export_to, starts_at=None, before=before, tenant_id=None)
            durable(export_to)
        result.rows_removed += await tx.execute(_q("delete_audit_logs_before"), before=before)
    return result
