"""Hot reads as plain rows: on PostgreSQL, straight on the asyncpg connection.

Every chat request reads the caller's standing in the room, and a history request a page of
messages. Through SQLAlchemy's cursor and result layers each such statement costs ~0.2 ms of
CPU more than asyncpg alone (a 50-row page: 0.49 ms against 0.11 ms; bench/chat_cpu.py and
docs/benchmarks.md), more than the query costs PostgreSQL. So these statements are built
with SQLAlchemy Core, compiled once, and run on the session's own driver connection: the
same pool, the same transaction when one is open (and none is opened for a read alone).
Rows come back as tuples (asyncpg Records, or SQLAlchemy Rows on SQLite), read by position.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

# statement -> (SQL text with $n placeholders, parameter names in $n order)
_compiled: dict[int, tuple[str, tuple[str, ...]]] = {}


async def fetch_rows(
    session: AsyncSession, statement: Executable, params: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    """`statement`, a read, must live for the process (a module constant): it is compiled
    once. Never a write: outside a transaction it would commit at once, whatever the unit of
    work decides later.
    """
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return (await connection.execute(statement, dict(params))).all()
    raw = await connection.get_raw_connection()
    return await fetch_on_driver(raw.driver_connection, connection.dialect, statement, params)


async def fetch_on_driver(
    driver: Any, dialect: Dialect, statement: Executable, params: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    """Run `statement` (a module constant: compiled once) on an asyncpg connection."""
    found = _compiled.get(id(statement))
    if found is None:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        found = _compiled[id(statement)] = (compiled.string, tuple(compiled.positiontup or ()))
    sql, names = found
    rows: Sequence[Sequence[Any]] = await driver.fetch(sql, *(params[n] for n in names))
    return rows


def is_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"
