"""The contract suite's one fixture: `backend`, a unit-of-work factory over the in-memory
fakes (tests/fakes), SQLite or PostgreSQL, so each behaviour test runs against all three and
the fakes the use-case tests rely on cannot drift from the SQL repositories.

The databases are migrated once per run (the session-scoped `pg_url` and `sqlite_template`
of the other storage tests); each test gets an empty state: a new in-memory store, a copy of
the SQLite template, or the PostgreSQL test database emptied after it. With CI set, an
unreachable PostgreSQL fails the run (`tests.conftest._unavailable`) instead of skipping.
"""

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from coagent.adapters.persistence.analytics import SqlAnalyticsStore
from coagent.adapters.persistence.engine import create_engine, create_session_factory
from coagent.adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from coagent.application.ports.analytics import AnalyticsStore
from coagent.application.ports.repositories import UnitOfWorkFactory
from tests.fakes.analytics import InMemoryAnalyticsStore
from tests.fakes.repositories import InMemoryUnitOfWorkFactory
from tests.integration.conftest import sqlite_template, sqlite_url

__all__ = ["sqlite_template"]

BACKENDS = ["fake", "sqlite", "postgresql"]


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    uow: UnitOfWorkFactory
    # A port of its own, outside the unit of work (each call its own transaction).
    analytics: AnalyticsStore

    @property
    def is_fake(self) -> bool:
        return self.name == "fake"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None for the fakes, else a migrated, empty database (resolved outside the event loop:
    the PostgreSQL fixtures run their own)."""
    if request.param == "fake":
        return None
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg")  # emptied after the test
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "contract.db"
    shutil.copyfile(template, path)
    return sqlite_url(path)


@pytest.fixture
async def backend(backend_url: str | None, anyio_backend: str) -> AsyncIterator[Backend]:
    if backend_url is None:
        yield Backend("fake", InMemoryUnitOfWorkFactory(), InMemoryAnalyticsStore())
        return
    engine = create_engine(backend_url, pool_size=4)
    try:
        sessions = create_session_factory(engine)
        yield Backend(
            engine.dialect.name,
            SqlAlchemyUnitOfWorkFactory(sessions),
            SqlAnalyticsStore(engine, sessions),
        )
    finally:
        await engine.dispose()
