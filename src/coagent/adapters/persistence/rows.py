"""Hot reads as plain rows: on PostgreSQL, straight on the asyncpg connection.

Every chat request reads the caller's standing in the room, and a history request a page of
messages. Through SQLAlchemy's cursor and result layers each such statement costs ~0.2 ms of
CPU more than asyncpg alone (a 50-row page: 0.49 ms against 0.11 ms; bench/chat_cpu.py and
docs/benchmarks.md), more than the query costs PostgreSQL. So these statements are built
with SQLAlchemy Core, declared once as module-level `DriverStatement`s (compiled on first
use), and run on the session's own driver connection: the
same pool, the same transaction when one is open (and none is opened for a read alone).
Rows come back as tuples (asyncpg Records, or SQLAlchemy Rows on SQLite), read by position.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession


class DriverStatement:
    """A Core statement declared once at module level (`_STANDING = DriverStatement(...)`),
    with its SQL compiled on first use for the driver: the text with `$n` placeholders and the
    parameter names in `$n` order. The compiled form lives on this object, so nothing is keyed
    by a statement's identity and a statement built per call cannot fill a cache.
    """

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...]]] = {}

    def compiled(self, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            found = (compiled.string, tuple(compiled.positiontup or ()))
            self._compiled[dialect.name] = found
        return found


async def fetch_rows(
    session: AsyncSession, statement: DriverStatement, params: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    """`statement` must be a read: outside a transaction it would commit at once, whatever
    the unit of work decides later.
    """
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return (await connection.execute(statement.statement, dict(params))).all()
    raw = await connection.get_raw_connection()
    return await fetch_on_driver(raw.driver_connection, connection.dialect, statement, params)


async def fetch_on_driver(
    driver: Any, dialect: Dialect, statement: DriverStatement, params: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    """Run `statement` on an asyncpg connection."""
    sql, names = statement.compiled(dialect)
    rows: Sequence[Sequence[Any]] = await driver.fetch(sql, *(params[n] for n in names))
    return rows


def is_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"
