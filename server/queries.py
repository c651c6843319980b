"""Named SQL, loaded once from `sql/queries/<domain>/<name>.sql` (the request path) and
`sql/ops/<group>/<name>.sql` (operator commands), and validated at start-up.

Python never builds SQL: a handler names a query (a `QueryRef`, declared where the
handler is defined) and passes parameters. At start-up every file is prepared on the
server, so a typo in a column name or a reference to a missing query stops start-up
instead of failing a call at 3 a.m.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import psycopg

from .errors import StartupError

# psycopg's named placeholders, and its escaped percent sign.
_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s")
_LIVE_HINTS_COLUMN = re.compile(r"\bAS\s+bizctx_live\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class QueryRef:
    """A handler's reference to a named query, checked against the loaded files at start-up."""

    domain: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.domain}.{self.name}"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class Query:
    key: str
    path: Path
    text: str
    params: frozenset[str]
    # Whether the statement returns the transaction's live-update hints (a `bizctx_live`
    # column, as live_hints.sql does): one that is a transaction's last before COMMIT spares
    # the database layer its own live_hints statement. Read once, here: every call asks.
    reads_live_hints: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reads_live_hints", _LIVE_HINTS_COLUMN.search(self.text) is not None)

    def positional_text(self) -> str:
        """The query with `$n` placeholders, as the server parses it (for validation only)."""
        order: dict[str, int] = {}

        def repl(m: re.Match[str]) -> str:
            if m.group(0) == "%%":
                return "%"
            return f"${order.setdefault(m.group(1), len(order) + 1)}"

        return _PLACEHOLDER.sub(repl, self.text)


def query_dirs() -> tuple[Path, ...]:
    sql = Path(str(resources.files("bizctx.sql")))
    return (sql / "queries", sql / "ops")


class QueryBook:
    """Every named query, by `domain.name`."""

    def __init__(self, queries: dict[str, Query]) -> None:
        self._queries = queries

    @classmethod
    def load(cls, roots: tuple[Path, ...] | None = None) -> QueryBook:
        found: dict[str, Query] = {}
        for root in roots or query_dirs():
            for path in sorted(root.glob("*/*.sql")):
                text = path.read_text(encoding="utf-8").strip().rstrip(";").strip()
                if not _strip_comments(text):
                    raise StartupError(f"query file {path} is empty")
                key = f"{path.parent.name}.{path.stem}"
                if key in found:
                    raise StartupError(f"two query files are named {key}: {found[key].path} and {path}")
                params = frozenset(m.group(1) for m in _PLACEHOLDER.finditer(text) if m.group(1))
                found[key] = Query(key=key, path=path, text=text, params=params)
        return cls(found)

    def __getitem__(self, ref: QueryRef | str) -> Query:
        return self._queries[str(ref)]

    def __contains__(self, ref: QueryRef | str) -> bool:
        return str(ref) in self._queries

    def __len__(self) -> int:
        return len(self._queries)

    def require(self, refs: list[QueryRef]) -> None:
        missing = sorted({r.key for r in refs if r.key not in self._queries})
        if missing:
            raise StartupError(
                f"handlers name queries that do not exist in sql/queries: {', '.join(missing)}"
            )

    async def validate(self, conn: psycopg.AsyncConnection) -> None:
        """Parse and plan-check every query on the server (prepare, never execute)."""
        for query in self._queries.values():
            result = await _prepare_unnamed(conn, query.positional_text())
            if result is not None:
                raise StartupError(f"query {query.key} ({query.path.name}) does not parse: {result}")


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip()


async def _prepare_unnamed(conn: psycopg.AsyncConnection, text: str) -> str | None:
    """Prepare `text` as the unnamed statement through libpq; the error text, or None.

    A blocking libpq call on an idle connection, once per query at start-up: it parses
    and analyses the statement without running it, and builds no SQL around it.
    """
    res = conn.pgconn.prepare(b"", text.encode("utf-8"))
    if res.status == psycopg.pq.ExecStatus.FATAL_ERROR:
        return (res.error_message or b"").decode("utf-8", "replace").strip()
    return None
