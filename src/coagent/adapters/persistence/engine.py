"""Engine creation for PostgreSQL (asyncpg) and the embedded SQLite default."""

import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from coagent.domain.errors import Unavailable

logger = logging.getLogger("coagent.persistence")

# A pooled connection idle for longer than this is pinged before use (a firewall or a
# PostgreSQL restart may have dropped it); busier ones are checked without a round trip.
IDLE_PING_SECONDS = 10.0
# What a caller is told when no pooled connection came free within the pool timeout.
DATABASE_BUSY = "The database is busy; retry shortly"
BUSY_RETRY_AFTER_SECONDS = 1
# How long an embedded (SQLite) writer waits for the write lock before its work fails as
# Unavailable ("database is locked").
SQLITE_BUSY_SECONDS = 30.0


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


class _RollbackOnClose(sqlite3.Connection):
    """sqlite3's close() leaves a connection whose statement is still referenced (a cursor
    held by the traceback of a cancelled unit of work) open as a zombie, holding its
    transaction's write lock until the garbage collector finalizes the cursor: every other
    writer waits, then fails. Rolling back first releases the lock whatever holds the cursor.
    """

    def close(self) -> None:
        if self.in_transaction:
            self.rollback()
        super().close()


def create_engine(
    url: str,
    *,
    pool_size: int = 20,
    pool_timeout: float = 10.0,
    idle_ping_seconds: float = IDLE_PING_SECONDS,
    sqlite_busy_seconds: float = SQLITE_BUSY_SECONDS,
) -> AsyncEngine:
    if is_sqlite(url):
        # aiosqlite hands these to sqlite3.connect: its busy timeout and connection class.
        engine = create_async_engine(
            url, connect_args={"timeout": sqlite_busy_seconds, "factory": _RollbackOnClose}
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            dbapi.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi.cursor()
            # WAL lets readers work beside the writer; foreign keys are off by default.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(sqlite_busy_seconds * 1000)}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock at BEGIN, so concurrent writers queue instead of failing
            # on lock upgrade; this also makes SELECT ... FOR UPDATE meaningful here.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # A fixed pool, no overflow: SQLAlchemy closes an overflow connection as soon as it is
    # returned to a full pool, so any load above `pool_size` concurrent units of work opened
    # and closed a PostgreSQL connection (a backend fork, auth, asyncpg's setup) per request.
    # Past `pool_size`, a unit of work waits for a connection instead, for at most
    # `pool_timeout` seconds; then SQLAlchemy raises its TimeoutError (see `unavailable`).
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout
    )
    _check_on_checkout(engine, idle_ping_seconds)
    return engine


def _check_on_checkout(engine: AsyncEngine, idle_ping_seconds: float) -> None:
    """Hand out only live connections without `pool_pre_ping`'s three round trips per unit of
    work: a connection whose socket the server closed (a restart, pg_terminate_backend) is
    known to asyncpg without asking; one idle for long is pinged. DisconnectionError makes
    the pool discard it and connect afresh. A connection that dies in use still fails that
    unit of work (and is discarded).
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _stamp(_dbapi: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _check(dbapi: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        if dbapi.driver_connection.is_closed():
            raise DisconnectionError("connection closed by the server")
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is not None and time.monotonic() - checked_in_at >= idle_ping_seconds:
            try:
                dbapi.ping()
            except Exception as error:
                raise DisconnectionError("idle connection failed its ping") from error


def busy(error: BaseException | None) -> Unavailable | None:
    """The application error for a database too busy to take this work, else None:
    SQLAlchemy's TimeoutError, which only a pool checkout that waited `pool_timeout` raises,
    and SQLite's "database is locked" once its busy timeout ran out. Neither began a
    transaction: nothing was written, and the caller may retry. The driver's text (pool
    size, timeout) stays out of the detail.
    """
    if isinstance(error, PoolTimeout):
        logger.warning("database pool exhausted: no connection came free within the pool timeout")
    elif isinstance(error, OperationalError) and _sqlite_busy(error.orig):
        logger.warning("database locked: the write lock did not come free within the busy timeout")
    else:
        return None
    return Unavailable(DATABASE_BUSY, retry_after=BUSY_RETRY_AFTER_SECONDS)


def _sqlite_busy(error: BaseException | None) -> bool:
    return isinstance(error, sqlite3.OperationalError) and error.sqlite_errorname.startswith(
        "SQLITE_BUSY"
    )


@asynccontextmanager
async def busy_database_is_unavailable() -> AsyncIterator[None]:
    """For database work outside a unit of work (which translates on its own exit)."""
    try:
        yield
    except (PoolTimeout, OperationalError) as error:
        if (unavailable := busy(error)) is None:
            raise
        raise unavailable from error


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
