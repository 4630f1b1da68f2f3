"""Integration fixtures: the real PostgreSQL and SQLite behind the same repositories."""

import asyncio
import itertools
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from polyfactory import Use
from polyfactory.factories import DataclassFactory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from coagent.adapters.persistence.engine import create_engine, create_session_factory
from coagent.adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from coagent.adapters.system import Uuid7Generator
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.session import AuthSession
from coagent.domain.accounts.user import User
from coagent.main import migrations
from tests.conftest import PG_ADMIN_DSN, TEST_FERNET, TEST_SECRET

_ids = Uuid7Generator()
_numbers = itertools.count()

# Variables the `coagent` processes read; stripped from the inherited environment so a
# developer's shell never leaks into a subprocess test.
COAGENT_ENV = (
    "DATA_DIR",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "ENCRYPTION_KEYS",
    "SUPER_ADMIN",
    "SUPER_ADMIN_PASSWORD",
    "COAGENT_ADMIN_PASSWORD",
    "ALLOWED_ORIGINS",
    "LOG_LEVEL",
    "LOG_JSON",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return _ids.new_id()


class UserFactory(DataclassFactory[User]):
    """Valid, already-normalised accounts with unique emails and usernames."""

    id = Use(new_id)
    email = Use(lambda: f"user{next(_numbers)}@example.test")
    username = None
    full_name = Use(lambda: f"Person {next(_numbers)}")
    role = Role.STUDENT
    is_active = True
    password_hash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
    avatar_url = None
    created_at = Use(utcnow)
    updated_at = Use(utcnow)


def new_session(user_id: uuid.UUID, **changes: Any) -> AuthSession:
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id(),
        "user_id": user_id,
        "refresh_jti": uuid.uuid4().hex,
        "created_at": now,
        "expires_at": now + timedelta(days=1),
    }
    values.update(changes)
    return AuthSession(**values)


@dataclass
class Database:
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    uow: SqlAlchemyUnitOfWorkFactory

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.engine.connect() as connection:
            return list((await connection.execute(text(sql), params)).all())


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run; tests get copies."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrations.upgrade(sqlite_url(path))
    return path


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database: the shared PostgreSQL test database or a SQLite file."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg")
        return url
    path = tmp_path / "coagent.db"
    shutil.copyfile(sqlite_template, path)
    return sqlite_url(path)


@pytest.fixture
async def database(db_url: str, anyio_backend: str) -> AsyncIterator[Database]:
    engine = create_engine(db_url, pool_size=12)
    sessions = create_session_factory(engine)
    try:
        yield Database(
            url=db_url,
            engine=engine,
            sessions=sessions,
            uow=SqlAlchemyUnitOfWorkFactory(sessions),
        )
    finally:
        await engine.dispose()


async def _pg_admin(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def fresh_pg_url(pg_url: str) -> Iterator[str]:
    """A brand-new, unmigrated PostgreSQL database (pg_url only proves the server is up)."""
    name = f"coagent_it_{uuid.uuid4().hex[:16]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["postgresql", "sqlite"])
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A brand-new, unmigrated database of either dialect."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("fresh_pg_url")
        return url
    return sqlite_url(tmp_path / "fresh.db")


def process_env(**values: str) -> dict[str, str]:
    """The environment for a `coagent` subprocess: the inherited one minus our variables,
    cheap password hashing, plain test secrets, plus `values`."""
    env = {key: value for key, value in os.environ.items() if key not in COAGENT_ENV}
    env.update(
        SECRET_KEY=TEST_SECRET,
        ENCRYPTION_KEYS=TEST_FERNET,
        PASSWORD_HASH_MEMORY_KIB="64",
        PASSWORD_HASH_TIME_COST="1",
        PYTHONWARNINGS="error",
        # The scripted LLM servers listen on 127.0.0.1 (as `make_settings` allows them).
        LLM_ALLOWED_HOSTS="localhost,127.0.0.0/8,::1",
    )
    env.update(values)
    return env
