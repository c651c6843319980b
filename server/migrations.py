"""The migration runner: `sql/migrations/NNNN_name.sql`, each applied once, in order, in
its own transaction, with its checksum recorded. An applied file that was edited
afterwards stops the run, naming the file. The only place Python sends SQL it did not
load by name: the migration files themselves, and the bookkeeping of applying them."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from .errors import StartupError

log = logging.getLogger("bizctx.migrate")

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

# A fixed number: two processes migrating one database at once take turns.
_ADVISORY_LOCK_ID = 0x62697A637478  # "bizctx"

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name       text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    name: str
    path: Path
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def migrations_dir() -> Path:
    return Path(str(resources.files("bizctx.sql"))) / "migrations"


def discover(root: Path | None = None) -> list[Migration]:
    root = root or migrations_dir()
    found = []
    for path in sorted(root.glob("*.sql")):
        if not _NAME.match(path.name):
            raise StartupError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(Migration(path.name, path, path.read_text(encoding="utf-8")))
    numbers = [m.name[:4] for m in found]
    if len(set(numbers)) != len(numbers):
        raise StartupError("two migration files share a number")
    return found


@dataclass(frozen=True)
class MigrateResult:
    applied: list[str]
    already: list[str]


def migrate(dsn: str, *, embedding_dim: int = 384, root: Path | None = None) -> MigrateResult:
    """Apply pending migrations. Idempotent: a second run applies nothing."""
    files = discover(root)
    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_ID,))
        try:
            conn.execute(_BOOKKEEPING)
            done = {
                r["name"]: r["checksum"] for r in conn.execute("SELECT name, checksum FROM schema_migrations")
            }
            _check_applied(files, done)
            for m in files:
                if m.name in done:
                    continue
                with conn.transaction():
                    # Read by migrations that fix a per-database setting on first apply.
                    conn.execute("SELECT set_config('bizctx.embedding_dim', %s, true)", (str(embedding_dim),))
                    conn.execute(m.sql.encode("utf-8"))
                    conn.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES (%s, %s)", (m.name, m.checksum)
                    )
                log.info("applied migration %s", m.name)
                applied.append(m.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK_ID,))
    return MigrateResult(applied=applied, already=[m.name for m in files if m.name not in applied])


def _check_applied(files: list[Migration], done: dict[str, str]) -> None:
    by_name = {m.name: m for m in files}
    for name, checksum in sorted(done.items()):
        m = by_name.get(name)
        if m is None:
            raise StartupError(
                f"migration {name} is applied in the database but its file is missing; "
                "this code is older than the database"
            )
        if m.checksum != checksum:
            raise StartupError(
                f"migration {name} was edited after it was applied (checksum differs); "
                "restore the file and add a new migration instead"
            )


def status(dsn: str, root: Path | None = None) -> dict[str, Any]:
    """Applied and pending migration names."""
    files = discover(root)
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS e").fetchone()
        done = (
            {r["name"] for r in conn.execute("SELECT name FROM schema_migrations")}
            if exists and exists["e"]
            else set()
        )
    return {"applied": sorted(done), "pending": [m.name for m in files if m.name not in done]}
