"""The embedded database (SQLite): a writer that waits for the write lock past the busy
timeout fails as Unavailable (a 503 with Retry-After), never a 500; and a connection closed
while one of its statements is still referenced gives its write lock back at once."""

import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from coagent.adapters.persistence.engine import (
    DATABASE_BUSY,
    busy_database_is_unavailable,
    create_engine,
    create_session_factory,
)
from coagent.adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from coagent.domain.errors import Unavailable
from coagent.main import migrations

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "coagent.db"
    migrations.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def engine(database: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{database}", sqlite_busy_seconds=0.2)
    yield engine
    await engine.dispose()


@contextmanager
def write_lock_held(database: Path) -> Iterator[None]:
    """Another process's writer, in the middle of its transaction."""
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def write_lock_free(database: Path) -> bool:
    probe = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()
    return True


async def test_a_unit_of_work_that_waits_past_the_busy_timeout_is_unavailable(
    engine: AsyncEngine, database: Path, caplog: pytest.LogCaptureFixture
) -> None:
    factory = create_session_factory(engine)
    with (
        write_lock_held(database),
        caplog.at_level(logging.WARNING, "coagent.persistence"),
        pytest.raises(Unavailable) as raised,
    ):
        async with SqlAlchemyUnitOfWork(factory) as uow:
            await uow.users.get(uuid4())
    assert raised.value.detail == DATABASE_BUSY
    assert raised.value.retry_after == 1
    assert "database locked" in caplog.text
    # The lock is back: the same work succeeds, and the connection that failed was reusable.
    async with SqlAlchemyUnitOfWork(factory) as uow:
        assert await uow.users.get(uuid4()) is None


async def test_work_outside_a_unit_of_work_that_waits_past_the_busy_timeout_is_unavailable(
    engine: AsyncEngine, database: Path
) -> None:
    factory = create_session_factory(engine)
    with write_lock_held(database), pytest.raises(Unavailable):
        async with busy_database_is_unavailable(), factory() as session, session.begin():
            await session.execute(text("SELECT 1"))


async def test_other_database_errors_are_not_taken_for_a_busy_database(
    engine: AsyncEngine,
) -> None:
    factory = create_session_factory(engine)
    with pytest.raises(Exception, match="no such table") as raised:
        async with busy_database_is_unavailable(), factory() as session, session.begin():
            await session.execute(text("SELECT * FROM no_such_table"))
    assert not isinstance(raised.value, Unavailable)


async def test_a_connection_closed_with_a_statement_still_referenced_frees_the_write_lock(
    engine: AsyncEngine, database: Path
) -> None:
    # What a unit of work cancelled mid-statement leaves behind: its transaction open, and a
    # cursor with an unfinished statement kept alive by the cancellation's traceback. The
    # pool then closes the connection; sqlite3 alone would keep it open (a "zombie") with
    # its write lock until the garbage collector reached the cursor.
    connection = await engine.connect()
    await connection.begin()  # BEGIN IMMEDIATE: the write lock
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    cursor = await driver.execute("SELECT 1 UNION ALL SELECT 2")
    assert await cursor.fetchone() == (1,)  # the statement is unfinished
    assert not write_lock_free(database)
    await driver.close()
    assert write_lock_free(database)
    assert cursor is not None  # still referenced up to here
    await connection.invalidate()
    await connection.close()
