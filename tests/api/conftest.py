"""API tests drive create_app(settings) over HTTP with Litestar's test client."""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from coagent.application.accounts.create_user import NewAccount
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.main.app import create_app
from coagent.main.compose.infra import Overrides
from coagent.main.container import Container
from coagent.main.settings import Settings
from tests.conftest import make_settings

PASSWORD = "correct horse battery staple"
COURSES = "/api/v1/courses/"
_counter = itertools.count()


@pytest.fixture
def settings(tmp_path: Path, pg: str, redis_url: str) -> Settings:
    """The production shape: PostgreSQL and Redis."""
    return make_settings(
        tmp_path, DATABASE_URL=pg, REDIS_URL=redis_url, ALLOWED_ORIGINS="https://app.example"
    )


@pytest.fixture
def overrides() -> Overrides | None:
    """Fakes for the app's container; a test parametrizes `overrides` to put its own."""
    return None


@pytest.fixture
def client(settings: Settings, overrides: Overrides | None) -> Iterator[TestClient[Any]]:
    app = create_app(settings, overrides)
    with TestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client


def container_of(client: TestClient[Any]) -> Container:
    container: Container = client.app.state.container
    return container


def run(client: TestClient[Any], fn: Any, *args: Any) -> Any:
    """Run a coroutine function on the app's own event loop."""
    assert client.blocking_portal is not None
    return client.blocking_portal.call(fn, *args)


def seed_user(
    client: TestClient[Any],
    role: Role = Role.STUDENT,
    *,
    password: str = PASSWORD,
    email: str | None = None,
    username: str | None = None,
    active: bool = True,
) -> User:
    container = container_of(client)
    number = next(_counter)

    async def add() -> User:
        async with container.uow() as uow:
            user = await container.account_factory.add(
                uow,
                NewAccount(
                    email=email or f"{role.value}{number}@example.test",
                    username=username,
                    password=password,
                    role=role,
                    full_name=f"{role.value.title()} {number}",
                    is_active=active,
                ),
                actor_id=None,
                via="test",
            )
            await uow.commit()
            return user

    user: User = run(client, add)
    return user


@dataclass
class Session:
    user: User
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def login(client: TestClient[Any], user: User, password: str = PASSWORD) -> Session:
    response = client.post(
        "/api/v1/login/access-token", data={"username": user.email, "password": password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    client.cookies.clear()  # tests choose explicitly between bearer and cookie
    return Session(
        user=user, access_token=body["access_token"], refresh_token=body["refresh_token"]
    )


def signed_in(client: TestClient[Any], role: Role = Role.STUDENT, **kwargs: Any) -> Session:
    return login(client, seed_user(client, role, **kwargs))


# --- a course with one member of every kind, and a second course beside it ------------

# Every kind of caller the authorization matrices walk, in the order of their expected statuses.
CALLERS = (
    "anonymous",
    "guest",
    "student",
    "ta",
    "co_teacher",
    "owner",
    "other_teacher",
    "other_student",
    "admin",
    "super_admin",
)


def matrix_cases(expected_by_endpoint: dict[str, tuple[int, ...]]) -> list[Any]:
    """One pytest case per (endpoint, caller) with the status that caller must get."""
    return [
        pytest.param(name, caller, statuses[index], id=f"{name}-{caller}")
        for name, statuses in expected_by_endpoint.items()
        for index, caller in enumerate(CALLERS)
    ]


@dataclass
class World:
    course_id: str
    sessions: dict[str, Session]
    newcomer_id: str  # an account that is in no course


def create_course(client, session: Session, title: str) -> str:
    response = client.post(COURSES, json={"title": title}, headers=session.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def enroll(client, by: Session, course_id: str, user_id, role: str) -> None:
    response = client.post(
        f"{COURSES}{course_id}/enroll",
        json={"user_id": str(user_id), "role": role},
        headers=by.headers,
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def world(client) -> World:
    sessions = {
        "guest": signed_in(client, Role.GUEST),
        "student": signed_in(client, Role.STUDENT),
        "ta": signed_in(client, Role.STUDENT),
        "co_teacher": signed_in(client, Role.TEACHER),
        "owner": signed_in(client, Role.TEACHER),
        "other_teacher": signed_in(client, Role.TEACHER),
        "other_student": signed_in(client, Role.STUDENT),
        "admin": signed_in(client, Role.ADMIN),
        "super_admin": signed_in(client, Role.SUPER_ADMIN),
    }
    owner = sessions["owner"]
    course_id = create_course(client, owner, "Ethics 101")
    for name, role in (("student", "student"), ("ta", "ta"), ("co_teacher", "teacher")):
        enroll(client, owner, course_id, sessions[name].user.id, role)
    other = create_course(client, sessions["other_teacher"], "Other course")
    enroll(client, sessions["other_teacher"], other, sessions["other_student"].user.id, "student")
    newcomer = seed_user(client, Role.GUEST)
    return World(course_id=course_id, sessions=sessions, newcomer_id=str(newcomer.id))
