"""Liveness files for the processes that serve no HTTP (compose's health checks read their
age): the scheduler touches its file after every tick, a worker every few seconds while its
event loop runs.
"""

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

SCHEDULER_ALIVE = Path(tempfile.gettempdir()) / "coagent-scheduler.alive"
WORKER_ALIVE = Path(tempfile.gettempdir()) / "coagent-worker.alive"
WORKER_EVERY_SECONDS = 5.0


async def touch(path: Path) -> None:
    await asyncio.to_thread(path.touch)


async def touch_every(
    path: Path,
    seconds: float = WORKER_EVERY_SECONDS,
    toucher: Callable[[Path], Awaitable[None]] = touch,
) -> None:
    """Touch `path` (with `toucher`) now and then every `seconds` until cancelled."""
    while True:
        await toucher(path)
        await asyncio.sleep(seconds)
