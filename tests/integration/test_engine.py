"""The pool hands out live PostgreSQL connections without a ping per unit of work, keeps the
same ones under load, and a unit of work that finds none free in time fails as Unavailable."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
import sqlalchemy.exc
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from coagent.adapters.persistence.browser import SqlAlchemyDatabaseBrowser
from coagent.adapters.persistence.engine import create_engine, create_session_factory
from coagent.adapters.persistence.unit_of_work import (
    SqlAlchemyUnitOfWork,
    SqlAlchemyUnitOfWorkFactory,
)
from coagent.domain.errors import Unavailable
from tests.integration.conftest import UserFactory

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


BUSY = "The database is busy; retry shortly"


async def _orm_read(uow: SqlAlchemyUnitOfWork) -> None:
    await uow.users.get(uuid4())


async def _hot_read(uow: SqlAlchemyUnitOfWork) -> None:
    # On the session's asyncpg connection directly (rows.py), not through SQLAlchemy's
    # execution layer.
    await uow.messages.find_sent(uuid4(), uuid4(), "c-1")


@pytest.mark.parametrize("first_statement", [_orm_read, _hot_read], ids=["orm", "driver"])
async def test_a_unit_of_work_that_finds_no_free_connection_is_unavailable(
    pg: str, first_statement: Callable[[SqlAlchemyUnitOfWork], Awaitable[None]]
) -> None:
    engine = create_engine(pg, pool_size=1, pool_timeout=0.2)
    assert engine.pool.timeout() == 0.2  # type: ignore[attr-defined]
    uow = SqlAlchemyUnitOfWorkFactory(create_session_factory(engine))
    user = UserFactory.build()
    try:
        async with uow() as holder:
            await holder.users.get(user.id)  # holds the only connection until it closes
            assert engine.pool.checkedout() == 1  # type: ignore[attr-defined]
            with pytest.raises(Unavailable) as caught:
                async with uow() as waiting:
                    await first_statement(waiting)
        error = caught.value
        assert error.detail == BUSY
        assert str(error) == BUSY  # the pool's own text ("QueuePool limit ...") stays out
        assert error.retry_after == 1
        assert not isinstance(error, sqlalchemy.exc.SQLAlchemyError)
        assert isinstance(error.__cause__, sqlalchemy.exc.TimeoutError)  # kept for the logs
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        # Released: the next unit of work gets the connection and works.
        async with uow() as after:
            await after.users.add(user)
            await after.commit()
        async with uow() as check:
            assert await check.users.get(user.id) == user
    finally:
        await engine.dispose()


async def test_other_errors_leave_a_unit_of_work_unchanged(pg: str) -> None:
    engine = create_engine(pg, pool_size=1, pool_timeout=0.2)
    uow = SqlAlchemyUnitOfWorkFactory(create_session_factory(engine))
    other = sqlalchemy.exc.InvalidRequestError("not a pool timeout")

    async def fail() -> None:
        async with uow() as work:
            await work.users.get(uuid4())
            raise other

    try:
        with pytest.raises(sqlalchemy.exc.InvalidRequestError) as caught:
            await fail()
        assert caught.value is other
    finally:
        await engine.dispose()


async def test_the_database_browser_is_unavailable_too_when_no_connection_is_free(pg: str) -> None:
    engine = create_engine(pg, pool_size=1, pool_timeout=0.2)
    sessions = create_session_factory(engine)
    browser = SqlAlchemyDatabaseBrowser(sessions)
    options: dict[str, Any] = {
        "limit": 10,
        "offset": 0,
        "search": None,
        "start": None,
        "end": None,
        "resolve_relations": False,
    }
    try:
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            with pytest.raises(Unavailable) as caught:
                await browser.rows("user_account", **options)
        assert caught.value.detail == BUSY
        assert await browser.rows("user_account", **options) == []
    finally:
        await engine.dispose()
