"""CPU accounting for the benchmarks: user + system CPU seconds of processes read from /proc,
so a run can say what each side of a call (server, PostgreSQL, client) spent per call."""

from __future__ import annotations

import os

from _pg import ThrowawayPostgres

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def _parents() -> dict[int, int]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                    found[int(entry)] = int(f.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return found


def postgres_pids(pg: ThrowawayPostgres) -> list[int]:
    """The postmaster and every backend of this throwaway server (not other servers')."""
    master = int((pg.pgdata / "postmaster.pid").read_text().split()[0])
    return [master, *(pid for pid, parent in _parents().items() if parent == master)]


def descendants(pid: int | None = None) -> set[int]:
    """Every process below `pid` (default: this one), children of children included."""
    root = os.getpid() if pid is None else pid
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class CpuMeter:
    """CPU seconds of a group of processes; PostgreSQL's backends are looked up at each reading,
    and one that ended between readings is read as 0 (pools keep theirs, so that is rare)."""

    def __init__(self, pids: list[int] | None = None, pg: ThrowawayPostgres | None = None) -> None:
        self.pids = pids or []
        self.pg = pg

    def read(self) -> dict[int, float]:
        pids = postgres_pids(self.pg) if self.pg is not None else self.pids
        return {p: cpu_seconds(p) for p in pids}

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(max(0.0, v - before.get(p, 0.0)) for p, v in after.items())
