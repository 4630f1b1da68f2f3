"""Hot reads as plain rows: on PostgreSQL, straight on the asyncpg connection.

Every chat request reads the caller's standing in the room, and a history request a page of
messages. Through SQLAlchemy's cursor and result layers each such statement costs ~0.2 ms of
CPU more than asyncpg alone (a 50-row page: 0.49 ms against 0.11 ms; bench/chat_cpu.py and
docs/benchmarks.md), more than the query costs PostgreSQL. So these statements are built
with SQLAlchemy Core, declared once as module-level `DriverStatement`s (compiled on first
use), and run on the session's own driver connection when it has a transaction open (the same
transaction), else on a connection of the same pool taken for the one statement (none is
opened for a read alone).
Rows come back as tuples (asyncpg Records, or SQLAlchemy Rows on SQLite), read by position.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.util import await_only, greenlet_spawn


class DriverStatement:
    """A Core statement declared once at module level (`_STANDING = DriverStatement(...)`),
    with its SQL compiled on first use for the driver: the text with `$n` placeholders and the
    parameter names in `$n` order. The compiled form lives on this object, so nothing is keyed
    by a statement's identity and a statement built per call cannot fill a cache. Constants
    the statement binds itself (a `.limit(1)`, a literal compared with a column) are passed
    with their own values; every `bindparam` without one must be in the call's parameters.
    A write must set every column with a Python-side default itself (SQLAlchemy fills those
    in per execution, which the driver does not do): compiling one that does not fails.
    """

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {}

    def _compile(self, dialect: Dialect) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            defaulted = [*compiled.insert_prefetch, *compiled.update_prefetch]
            if defaulted:  # SQLAlchemy fills these per execution; the driver would send NULL
                names = ", ".join(column.name for column in defaulted)
                raise ValueError(f"a driver statement must set every column itself: {names}")
            constants = {
                name: bind.value
                for name, bind in compiled.binds.items()
                if not bind.required and bind.callable is None
            }
            found = (compiled.string, tuple(compiled.positiontup or ()), constants)
            self._compiled[dialect.name] = found
        return found

    def compiled(self, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
        sql, names, _ = self._compile(dialect)
        return sql, names

    def arguments(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL and its positional arguments for `params`."""
        sql, names, constants = self._compile(dialect)
        return sql, [params[n] if n in params else constants[n] for n in names]


async def fetch_rows(
    session: AsyncSession, statement: DriverStatement, params: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    """`statement` must be a read: outside a transaction it would commit at once, whatever
    the unit of work decides later.
    """
    engine = session.bind
    if (
        not session.in_transaction()
        and isinstance(engine, AsyncEngine)
        and engine.dialect.name == "postgresql"
    ):
        # A read alone needs no Session transaction: a pooled connection, given back at once,
        # costs ~24 us against ~78 us for the Session's connection and its close (measured,
        # docs/benchmarks.md, issue 20). Nothing changes for the read: without a transaction
        # each statement sees its own snapshot either way. The pool's checkout and return may
        # need the driver (a ping, a reset), so both run in SQLAlchemy's greenlet, as
        # AsyncEngine.raw_connection and AsyncConnection.close do; one greenlet for the
        # checkout, the read and the return costs ~20 us less than one for each end.
        sync_engine, dialect = engine.sync_engine, engine.dialect

        def read_alone() -> Sequence[Sequence[Any]]:
            pooled = sync_engine.raw_connection()
            try:
                rows: Sequence[Sequence[Any]] = await_only(
                    fetch_on_driver(pooled.driver_connection, dialect, statement, params)
                )
                return rows
            finally:
                pooled.close()

        return await greenlet_spawn(read_alone)
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return (await connection.execute(statement.statement, dict(params))).all()
    raw = await connection.get_raw_connection()
    return await fetch_on_driver(raw.driver_connection, connection.dialect, statement, params)


async def fetch_on_driver(
    driver: Any, dialect: Dialect, statement: DriverStatement, params: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    """Run `statement` on an asyncpg connection."""
    sql, arguments = statement.arguments(dialect, params)
    rows: Sequence[Sequence[Any]] = await driver.fetch(sql, *arguments)
    return rows


async def fetch_in_transaction(
    session: AsyncSession, statement: DriverStatement, params: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    """Run `statement` (a write too: with RETURNING for what the caller needs, row counts
    included) inside the unit of work's transaction, which it begins when none is open yet,
    as SQLAlchemy would before its own first statement: the session's commit or rollback
    ends it. On PostgreSQL straight on the driver (no per-call compile, cache key or result
    layer: the agent turn path, P6).

    SQLAlchemy's asyncpg adapter begins its transaction lazily, before the first statement
    it runs itself (`_start_transaction`, which the test suite exercises on PostgreSQL): a
    statement run on the driver before that would commit on its own.
    """
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        result = await connection.execute(statement.statement, dict(params))
        return result.all() if result.returns_rows else []
    raw = await connection.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    if not adapter._started:
        await adapter._start_transaction()
    return await fetch_on_driver(raw.driver_connection, connection.dialect, statement, params)


def is_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"
