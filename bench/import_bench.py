"""Time `bizctx import clients` on a generated 50k-row CSV (not a test).

    python bench/import_bench.py [--rows 50000] [--tenant bench-...]

Uses DATABASE_URL when set, else the embedded PostgreSQL in the data directory. Runs the
real CLI as a subprocess, twice: the first run inserts every client, the second re-imports
the same file (every row matched by external_ref and left unchanged).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

FIRST = ["Ann", "Bob", "Carla", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kemal", "Lena"]
LAST = ["Lee", "Smith", "Okafor", "Novak", "Garcia", "Kim", "Rossi", "Schmidt", "Haddad", "Silva"]
CITIES = ["Springfield", "Shelbyville", "Ogdenville", "North Haverbrook", "Capital City"]


def bizctx() -> list[str]:
    script = Path(sys.executable).with_name("bizctx")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bizctx.server.cli"]


def write_clients(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(
            ["external_ref", "first_name", "last_name", "email", "phone", "tags", "notes", "addresses"]
        )
        for i in range(rows):
            first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
            city = CITIES[i % len(CITIES)]
            address = [{"line1": f"{i % 900 + 1} Elm Street", "city": city, "country": "US"}]
            out.writerow(
                [
                    f"CRM-{i:06d}",
                    first,
                    last,
                    f"{first}.{last}.{i}@example.com".lower(),
                    f"+1 555 {i % 10_000:04d}",
                    "weekly;vip" if i % 7 == 0 else "weekly",
                    "Gate code 1234" if i % 5 == 0 else "",
                    json.dumps(address),
                ]
            )


def run(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([*bizctx(), *args], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"bizctx {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--tenant", default=f"bench-{uuid.uuid4().hex[:8]}")
    args = parser.parse_args()
    print(f"database: {'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'embedded'}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clients.csv"
        write_clients(path, args.rows)
        print(f"generated {args.rows:,} clients ({path.stat().st_size / 1e6:.1f} MB)")
        run("migrate")
        run("tenant", "create", args.tenant)
        for label in ("first import (all new)", "re-import (all unchanged)"):
            elapsed, out = run("import", "clients", str(path), "--tenant", args.tenant, "--json")
            report = json.loads(out)
            print(
                f"{label}: {elapsed:.2f} s wall (in-process {report['seconds']:.2f} s), "
                f"{report['inserted']} new, {report['updated']} updated, {report['unchanged']} unchanged, "
                f"{len(report['errors'])} errors"
            )


if __name__ == "__main__":
    main()
