"""Liveness files: touched at once, then again every period, until cancelled."""

import asyncio
from pathlib import Path

import pytest

from coagent.main import liveness

pytestmark = pytest.mark.anyio


async def test_the_file_is_touched_at_once(tmp_path: Path) -> None:
    alive = tmp_path / "alive"
    await liveness.touch(alive)
    assert alive.exists()


async def test_touch_every_touches_again_each_period_until_cancelled(
    tmp_path: Path,
) -> None:
    touched: list[Path] = []
    third = asyncio.Event()

    async def record(path: Path) -> None:
        touched.append(path)
        if len(touched) == 3:
            third.set()

    task = asyncio.create_task(liveness.touch_every(tmp_path / "alive", 0.001, record))
    await asyncio.wait_for(third.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert touched[:3] == [tmp_path / "alive"] * 3
