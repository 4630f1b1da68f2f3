"""Shared fixtures: the real PostgreSQL and Redis, a migrated database, fast test settings."""

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis

from coagent.main import migrations
from coagent.main.settings import Settings, load_settings

PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_TEST_DB = os.environ.get("TEST_PG_DB", f"coagent_test_{os.getpid()}")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
TEST_SECRET = "test-secret-key-with-at-least-32-characters!"
TEST_FERNET = "yYk3VRSN9JcNS8Wd0yZmQb1WwzjbO5HhUlUixC1qC3I="


def _pg_url(database: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{database}"


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({type(error).__name__}: {error})"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI requires it", pytrace=False)
    pytest.skip(message)


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, migrated to head, dropped afterwards."""
    try:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)'))
        asyncio.run(_admin(f'CREATE DATABASE "{PG_TEST_DB}"'))
    except (OSError, asyncpg.PostgresError) as error:
        _unavailable("PostgreSQL", error)
    url = _pg_url(PG_TEST_DB)
    migrations.upgrade(url)
    yield url
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)'))


async def _truncate(url: str) -> None:
    connection = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=5)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        # DELETE with foreign-key triggers off: the tables hold a few rows, and TRUNCATE's
        # per-table file work costs about 3x more, which adds up over thousands of tests.
        # Table names come from pg_tables of our own test database.
        deletes = " ".join(f'DELETE FROM "{row["tablename"]}";' for row in tables)  # noqa: S608
        if deletes:
            await connection.execute(
                f"BEGIN; SET LOCAL session_replication_role = replica; {deletes} COMMIT;"
            )
    finally:
        await connection.close()


@pytest.fixture
def pg(pg_url: str) -> Iterator[str]:
    """The test database, emptied after each test."""
    yield pg_url
    asyncio.run(_truncate(pg_url))


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database reserved for tests, flushed before and after each test."""
    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as error:
        _unavailable("Redis", error)
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()


def make_settings(tmp_path: Path, **env: Any) -> Settings:
    """Test settings: real defaults, cheap password hashing, a known secret."""
    values = {
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": TEST_SECRET,
        "ENCRYPTION_KEYS": TEST_FERNET,
        "PASSWORD_HASH_MEMORY_KIB": "64",
        "PASSWORD_HASH_TIME_COST": "1",
        "ACCESS_LOG": "false",
        "DB_POOL_SIZE": "5",
        # Tests fill rooms and call the design agent faster than people do; the tests of
        # these limits set them themselves.
        "CHAT_MESSAGES_PER_WINDOW": "10000",
        "LLM_CALLS_PER_USER_PER_MINUTE": "10000",
        "LLM_CALLS_PER_COURSE_PER_MINUTE": "10000",
        # Local fake LLM servers listen on 127.0.0.1: allowed as in the embedded default,
        # also when a test sets DATABASE_URL (pass LLM_ALLOWED_HOSTS to test the refusals).
        "LLM_ALLOWED_HOSTS": "localhost,127.0.0.0/8,::1",
    }
    values.update({key: str(value) for key, value in env.items() if value is not None})
    return load_settings(values)
