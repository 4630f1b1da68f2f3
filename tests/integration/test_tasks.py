"""One real task end to end on both brokers: in-process, and a `coagent worker` over Redis."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from taskiq import InMemoryBroker
from taskiq_redis import RedisStreamBroker

from coagent.adapters.worker.tasks import PURGE_EXPIRED_SESSIONS
from coagent.main.app import start_broker
from coagent.main.broker import create_broker
from coagent.main.container import Container, build_container
from tests.conftest import make_settings
from tests.integration.conftest import UserFactory, new_session, process_env, utcnow

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

COAGENT = str(Path(sys.executable).with_name("coagent"))


async def seed_sessions(container: Container) -> tuple[set[UUID], set[UUID]]:
    """Sessions the purge must delete (ended over a day ago) and the ones it must keep."""
    now = utcnow()
    user = UserFactory.build()
    gone = [
        new_session(user.id, expires_at=now - timedelta(days=2)),
        new_session(user.id, revoked_at=now - timedelta(days=3)),
    ]
    kept = [
        new_session(user.id),
        new_session(user.id, expires_at=now - timedelta(hours=1)),
        new_session(user.id, revoked_at=now - timedelta(hours=1)),
    ]
    async with container.uow() as uow:
        await uow.users.add(user)
        for session in gone + kept:
            await uow.sessions.add(session)
        await uow.commit()
    return {s.id for s in gone}, {s.id for s in kept}


async def session_ids(container: Container, candidates: set[UUID]) -> set[UUID]:
    async with container.uow() as uow:
        return {sid for sid in candidates if await uow.sessions.get(sid) is not None}


async def test_purge_task_on_the_in_memory_broker(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=db_url)
    broker = create_broker(settings)
    assert isinstance(broker, InMemoryBroker)
    container = build_container(settings)
    await start_broker(broker, container)
    try:
        gone, kept = await seed_sessions(container)

        task = await broker.find_task(PURGE_EXPIRED_SESSIONS).kiq()
        result = await task.wait_result(timeout=30)
        again = await (await broker.find_task(PURGE_EXPIRED_SESSIONS).kiq()).wait_result(timeout=30)

        assert not result.is_err, result.error
        assert result.return_value == len(gone)
        assert again.return_value == 0  # idempotent
        assert await session_ids(container, gone | kept) == kept
    finally:
        await broker.shutdown()
        await container.aclose()


@pytest.fixture
def worker_process(
    pg: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen, Path]]:
    """`coagent worker` in its own process group, stopped with SIGTERM afterwards."""
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own entry point
            [COAGENT, "worker"],
            env=process_env(DATABASE_URL=pg, REDIS_URL=redis_url, LOG_JSON="false"),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own group: the worker's children
                process.wait(timeout=10)


@pytest.mark.slow
async def test_purge_task_on_a_real_worker_over_redis(
    worker_process: tuple[subprocess.Popen, Path], pg: str, redis_url: str, tmp_path: Path
) -> None:
    process, log = worker_process
    settings = make_settings(tmp_path, DATABASE_URL=pg, REDIS_URL=redis_url)
    container = build_container(settings)
    broker = create_broker(settings)
    assert isinstance(broker, RedisStreamBroker)
    await broker.startup()  # declares the consumer group, so the message waits for the worker
    try:
        gone, kept = await seed_sessions(container)

        await broker.find_task(PURGE_EXPIRED_SESSIONS).kiq()

        deadline = time.monotonic() + 30
        remaining = await session_ids(container, gone | kept)
        while remaining != kept and time.monotonic() < deadline and process.poll() is None:
            await asyncio.sleep(0.1)
            remaining = await session_ids(container, gone | kept)
        assert remaining == kept, log.read_text()
    finally:
        await broker.shutdown()
        await container.aclose()

    process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.wait, 30) == 0, log.read_text()
    assert "worker started" in log.read_text()
