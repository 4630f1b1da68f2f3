"""The administrators' read-only database viewer over our own table definitions.

Safety rules:

- Only tables of our metadata can be browsed (never `alembic_version`); a client's table name
  is looked up in that dictionary and never reaches SQL text. Every statement is built with
  SQLAlchemy Core, so values (search, dates) are bound parameters.
- Secret columns are never selected, searched or returned: `password_hash`, `refresh_jti`,
  avatar bytes (`data`), the provider keys' ciphertexts (`agent_key.ciphertext`: the viewer
  shows their `mask`, as every other response does), and every column whose name contains
  "secret", "token", "key", "hash", "cipher", "crypt", "password", "jti", "salt" or
  "credential". That rule is deliberately blunt: it also hides harmless columns such as
  `system_state.key` (a marker name), so that a future column like `encrypted_api_key` or
  `reset_token` is hidden without anyone remembering to list it.
- On PostgreSQL the transaction is READ ONLY and has a statement timeout.
"""

from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    ColumnElement,
    Select,
    String,
    Table,
    cast,
    false,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import FromClause

from coagent.adapters.persistence._models import metadata
from coagent.adapters.persistence.engine import busy_database_is_unavailable
from coagent.adapters.persistence.repositories import contains_pattern
from coagent.domain.errors import NotFound

HIDDEN_TABLES = frozenset({"alembic_version"})
SECRET_COLUMNS = frozenset({"password_hash", "refresh_jti", "data", "ciphertext"})
SECRET_FRAGMENTS = (
    "secret",
    "token",
    "key",
    "hash",
    "cipher",
    "crypt",
    "password",
    "jti",
    "salt",
    "credential",
)
STATEMENT_TIMEOUT_MS = 10_000

# For foreign keys into these tables, resolve_relations adds "<prefix>_<suffix>" with the
# referenced row's column (prefix: the foreign-key column's name without "_id").
LABELS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "user_account": (("email", "email"), ("full_name", "name")),
    "course": (("title", "title"),),
    "room": (("name", "name"),),
}


def is_secret(column_name: str) -> bool:
    name = column_name.lower()
    return name in SECRET_COLUMNS or any(fragment in name for fragment in SECRET_FRAGMENTS)


def _is_uuid(column: Column[Any]) -> bool:
    try:
        return column.type.python_type is UUID
    except NotImplementedError:
        return False


def _search_condition(columns: list[Column[Any]], search: str, dialect: str) -> ColumnElement[bool]:
    """Any text or id column contains `search` (any case, wildcards literal)."""
    pattern = contains_pattern(search)
    # On SQLite a UUID is stored as 16 bytes (searched as 32 hex digits, without dashes).
    compact = search.replace("-", "")
    id_pattern = pattern if dialect == "postgresql" else contains_pattern(compact)
    matches: list[ColumnElement[bool]] = []
    for column in columns:
        if isinstance(column.type, String):
            matches.append(func.lower(cast(column, String)).like(pattern, escape="\\"))
        elif _is_uuid(column) and compact:
            text_form = func.hex(column) if dialect == "sqlite" else cast(column, String)
            matches.append(func.lower(text_form).like(id_pattern, escape="\\"))
    return or_(*matches) if matches else false()


def _json_safe(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Enum):
        return _json_safe(value.value)
    if isinstance(value, bytes | bytearray | memoryview):
        # Not expected (binary columns are secret), but never dump raw bytes.
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(item) for item in value]
    return str(value)


def _relation_columns(table: Table, visible: list[Column[Any]]) -> tuple[FromClause, list[Any]]:
    """Outer joins to the labelled tables, and the labelled columns to add."""
    source: FromClause = table
    extra: list[Any] = []
    taken = {column.name for column in visible}
    for column in visible:
        for foreign_key in column.foreign_keys:
            target = foreign_key.column.table
            labels = LABELS.get(target.name)
            if not labels or not isinstance(target, Table):
                continue
            prefix = column.name.removesuffix("_id")
            wanted = [
                (target_column, f"{prefix}_{suffix}")
                for target_column, suffix in labels
                if f"{prefix}_{suffix}" not in taken and not is_secret(target_column)
            ]
            if not wanted:
                continue
            alias = target.alias(f"rel_{column.name}")
            source = source.outerjoin(alias, column == alias.c[foreign_key.column.name])
            for target_column, label in wanted:
                extra.append(alias.c[target_column].label(label))
                taken.add(label)
    return source, extra


class SqlAlchemyDatabaseBrowser:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = session_factory

    async def tables(self) -> list[str]:
        return sorted(name for name in metadata.tables if name not in HIDDEN_TABLES)

    def _statement(
        self,
        table: Table,
        *,
        limit: int,
        offset: int,
        search: str | None,
        start: datetime | None,
        end: datetime | None,
        resolve_relations: bool,
        dialect: str,
    ) -> Select[Any]:
        visible = [column for column in table.columns if not is_secret(column.name)]
        source: FromClause = table
        extra: list[Any] = []
        if resolve_relations:
            source, extra = _relation_columns(table, visible)
        statement = select(*visible, *extra).select_from(source)
        conditions: list[ColumnElement[bool]] = []
        if search:
            conditions.append(_search_condition(visible, search, dialect))
        created_at = table.c.get("created_at")
        if created_at is not None:
            if start is not None:
                conditions.append(created_at >= start)
            if end is not None:
                conditions.append(created_at <= end)
        if conditions:
            statement = statement.where(*conditions)
        order = [c.desc() for c in (created_at, table.c.get("id")) if c is not None]
        return statement.order_by(*order).offset(offset).limit(limit)

    async def rows(
        self,
        table: str,
        *,
        limit: int,
        offset: int,
        search: str | None,
        start: datetime | None,
        end: datetime | None,
        resolve_relations: bool,
    ) -> list[dict[str, object]]:
        if table in HIDDEN_TABLES or table not in metadata.tables:
            raise NotFound("Table not found")
        # Not a unit of work, so it translates a pool timeout itself.
        async with busy_database_is_unavailable(), self._factory() as session:
            dialect = session.get_bind().dialect.name
            statement = self._statement(
                metadata.tables[table],
                limit=limit,
                offset=offset,
                search=search,
                start=start,
                end=end,
                resolve_relations=resolve_relations,
                dialect=dialect,
            )
            if dialect == "postgresql":
                await session.execute(text("SET TRANSACTION READ ONLY"))
                await session.execute(
                    text(f"SET LOCAL statement_timeout = {int(STATEMENT_TIMEOUT_MS)}")
                )
            result = await session.execute(statement)
            rows = [
                {key: _json_safe(value) for key, value in row.items() if not is_secret(key)}
                for row in result.mappings()
            ]
            await session.rollback()
        return rows


__all__ = ["SqlAlchemyDatabaseBrowser", "is_secret"]
