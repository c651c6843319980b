"""Background jobs of a long-running server (HTTP serve; never stdio serve, which lives as long
as one agent's session): each runs at start-up and then every `every_seconds`, one at a time;
a failure is logged and the job runs again at its next turn."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from .database import Database

log = logging.getLogger("bizctx.jobs")


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float  # 0: never
    run: Callable[[Database], Awaitable[object]]


@asynccontextmanager
async def running(db: Database, jobs: Sequence[Job]) -> AsyncIterator[None]:
    tasks = [
        asyncio.create_task(_loop(db, job), name=f"bizctx-job-{job.name}")
        for job in jobs
        if job.every_seconds > 0
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task


async def _loop(db: Database, job: Job) -> None:
    while True:
        try:
            await job.run(db)
        except Exception:
            log.exception("background job %s failed; it runs again in %s s", job.name, job.every_seconds)
        await asyncio.sleep(job.every_seconds)
