"""The pool hands out live PostgreSQL connections without a ping per unit of work, and keeps
the same ones under load."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from coagent.adapters.persistence.engine import create_engine

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT pg_backend_pid()")))


async def _terminate(url: str, pid: int) -> None:
    """Kill one backend, as a PostgreSQL restart or an administrator would."""
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        for _ in range(500):  # gone within 10 s
            if not await admin.fetchval("SELECT 1 FROM pg_stat_activity WHERE pid = $1", pid):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"backend {pid} is still there")
    finally:
        await admin.close()


def _pings(engine: AsyncEngine) -> list[str]:
    """The statements sent as pings (";"), recorded from now on."""
    sent: list[str] = []

    def log(query: Any) -> None:
        if query.query.strip() == ";":
            sent.append(query.query)

    def attach(dbapi: Any, _record: Any, _proxy: Any) -> None:
        dbapi.driver_connection.add_query_logger(log)

    # First, so that it sees the ping the engine's own checkout listener sends.
    event.listen(engine.sync_engine, "checkout", attach, insert=True)
    return sent


@pytest.fixture
async def engine(pg: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(pg, pool_size=1)
    yield engine
    await engine.dispose()


async def test_a_connection_the_server_closed_is_replaced_not_handed_out(engine, pg):
    first = await _backend_pid(engine)
    await _terminate(pg, first)
    second = await _backend_pid(engine)  # would raise if the dead connection were used
    assert second != first
    assert await _backend_pid(engine) == second  # and the new one is pooled


async def test_a_busy_connection_is_not_pinged(engine):
    await _backend_pid(engine)
    pings = _pings(engine)
    for _ in range(5):
        await _backend_pid(engine)
    await asyncio.sleep(0)  # asyncpg calls its query loggers with call_soon
    assert pings == []


async def test_a_connection_idle_for_long_is_pinged_first(pg):
    engine = create_engine(pg, pool_size=1, idle_ping_seconds=0)
    try:
        first = await _backend_pid(engine)
        pings = _pings(engine)
        assert await _backend_pid(engine) == first
        await asyncio.sleep(0)
        assert len(pings) == 1
    finally:
        await engine.dispose()


async def test_more_units_of_work_than_the_pool_wait_and_open_no_new_connections(pg):
    engine = create_engine(pg, pool_size=2)

    async def unit_of_work() -> int:
        async with engine.connect() as connection:
            pid = int(await connection.scalar(text("SELECT pg_backend_pid()")))
            await asyncio.sleep(0.01)  # hold it, so the others queue
            return pid

    try:
        pids = set()
        for _ in range(3):
            pids.update(await asyncio.gather(*(unit_of_work() for _ in range(8))))
        # Never more than the pool at once, and the same ones each round: a connection
        # opened for a burst and closed after it costs PostgreSQL a backend per request.
        assert len(pids) == 2
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
