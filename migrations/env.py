"""Alembic environment: async engine, our models' metadata, batch mode for SQLite."""

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.types import TypeDecorator

from coagent.adapters.persistence.models import MIGRATION_ONLY_COLUMNS, metadata

config = context.config
target_metadata = metadata


def _compare_type(
    ctx: Any, inspected: Any, metadata_column: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    """SQLite reflects advanced-alchemy's portable types (UUID as 16 bytes, UTC datetimes)
    as loose affinities; compare those on PostgreSQL only, where the check is exact."""
    if ctx.dialect.name == "sqlite" and isinstance(metadata_type, TypeDecorator):
        return False
    return None  # Alembic's default comparison


def _include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave out of the comparison the columns a migration owns without a model."""
    if type_ == "column" and reflected and compare_to is None:
        return (obj.table.name, name) not in MIGRATION_ONLY_COLUMNS
    return True


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        compare_type=_compare_type,
        compare_server_default=True,
        include_object=_include_object,
        render_as_batch=True,  # SQLite alters tables by copying them
        user_module_prefix="sa_types.",
    )


def run_offline() -> None:
    _configure(
        url=config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
