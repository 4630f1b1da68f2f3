"""Redis outages and restarts (issue 14 items 2 and 3, docs/adr/0007), against a private
redis-server that the tests kill and start again, and the real PostgreSQL.

With Redis down nothing answers 500: authentication and revocation checks fall back to the
database, logins are throttled per process, sends commit, tickets answer 503 with
Retry-After, /ready says Redis is down. After a restart (an empty Redis) a logged-out token
stays refused.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import redis
from litestar.testing import TestClient

from coagent.adapters.security.redis_stores import COMPLETE
from coagent.domain.accounts.roles import Role
from coagent.main import migrations
from coagent.main.app import create_app
from coagent.main.settings import Settings, load_settings
from tests.api.chat_helpers import close_code, connect, create_room, post
from tests.api.conftest import PASSWORD, Session, create_course, enroll, login, seed_user
from tests.conftest import make_settings
from tests.integration.private_redis import PrivateRedis, private_redis

__all__ = ["private_redis"]  # the fixture

LOGIN = "/api/v1/login/access-token"
ME = "/api/v1/users/me"
SESSION = "/api/v1/login/session"
TICKET = "/api/v1/chat/ws-ticket"
CLOSE_UNAVAILABLE = 4503


@pytest.fixture
def settings(tmp_path: Path, pg: str, private_redis: PrivateRedis) -> Settings:
    return make_settings(tmp_path, DATABASE_URL=pg, REDIS_URL=private_redis.url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as test_client:
        yield test_client


@pytest.fixture
def owner(client: TestClient[Any]) -> Session:
    return login(client, seed_user(client, Role.TEACHER))


@pytest.fixture
def student(client: TestClient[Any]) -> Session:
    return login(client, seed_user(client, Role.STUDENT))


@pytest.fixture
def course_id(client: TestClient[Any], owner: Session, student: Session) -> str:
    course_id = create_course(client, owner, "Outages")
    enroll(client, owner, course_id, student.user.id, "student")
    return course_id


@pytest.fixture
def room_id(client: TestClient[Any], owner: Session, course_id: str) -> str:
    return create_room(client, owner, course_id)


def status(client: TestClient[Any], path: str, headers: dict[str, str]) -> int:
    """The status of a GET; the headers (tokens) stay out of assertion messages."""
    return int(client.get(path, headers=headers).status_code)


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 503
    assert body["detail"]


def in_redis(server: PrivateRedis, *keys: str) -> int:
    with redis.Redis.from_url(server.url) as direct:
        return int(direct.exists(*keys))


def test_with_redis_down_requests_degrade_or_answer_503_never_500(
    client: TestClient[Any],
    private_redis: PrivateRedis,
    owner: Session,
    student: Session,
    course_id: str,
    room_id: str,
) -> None:
    early = client.post(TICKET, headers=student.headers).json()["ticket"]
    private_redis.stop()

    # Authenticated requests: the database answers for the revocation list.
    assert status(client, ME, student.headers) == 200
    assert status(client, SESSION, student.headers) == 200
    # A send commits, and is in the history (clients that missed the event resync).
    sent = post(client, student, room_id, "while Redis is down")
    assert sent.status_code == 201, sent.text
    history = client.get(f"/api/v1/chat/messages/{room_id}", headers=owner.headers)
    assert [m["content"] for m in history.json()] == ["while Redis is down"]
    announced = client.post(
        "/api/v1/announcements/",
        json={"title": "Outage", "content": "still here", "course_id": course_id},
        headers=owner.headers,
    )
    assert announced.status_code == 201, announced.text
    # A login works (throttled by this process meanwhile).
    fresh = client.post(LOGIN, data={"username": owner.user.email, "password": PASSWORD})
    assert fresh.status_code == 200, fresh.text
    bearer = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert status(client, ME, bearer) == 200
    # Tickets live in Redis: none can be issued or redeemed.
    assert_unavailable(client.post(TICKET, headers=student.headers))
    with connect(client, room_id, query=f"?ticket={early}") as ws:
        code, events = close_code(ws)
    assert code == CLOSE_UNAVAILABLE
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "unavailable"
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "redis": "unavailable"}


def test_logout_while_redis_is_down_takes_effect_at_once_and_after_it_returns(
    client: TestClient[Any], private_redis: PrivateRedis, student: Session
) -> None:
    assert status(client, ME, student.headers) == 200
    private_redis.stop()

    response = client.post("/api/v1/login/logout", headers=student.headers)

    assert response.status_code == 200, response.text
    assert status(client, ME, student.headers) == 401
    private_redis.start()  # empty: the revocation is rebuilt from the database
    assert status(client, ME, student.headers) == 401
    assert status(client, SESSION, student.headers) == 401


def test_a_logged_out_token_stays_refused_after_redis_restarts(
    client: TestClient[Any], private_redis: PrivateRedis, owner: Session, student: Session
) -> None:
    logout = client.post("/api/v1/login/logout", headers=student.headers)
    assert logout.status_code == 200
    assert status(client, ME, student.headers) == 401

    private_redis.restart()  # not persistent: the revocation list is gone
    assert in_redis(private_redis, COMPLETE) == 0

    assert status(client, ME, student.headers) == 401
    assert status(client, SESSION, student.headers) == 401
    # The list was rebuilt once (marker and key back), and live sessions still work.
    assert in_redis(private_redis, COMPLETE, f"coagent:revoked:{_sid(client, student)}") == 2
    assert status(client, ME, owner.headers) == 200


def test_wrong_passwords_are_still_throttled_while_redis_is_down(
    client: TestClient[Any], private_redis: PrivateRedis
) -> None:
    user = seed_user(client)
    private_redis.stop()
    wrong = {"username": user.email, "password": "not the password"}

    statuses = [client.post(LOGIN, data=wrong).status_code for _ in range(6)]

    assert statuses == [400] * 5 + [429]
    refused = client.post(LOGIN, data={"username": user.email, "password": PASSWORD})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0


def _sid(client: TestClient[Any], session: Session) -> str:
    claims = jwt.decode(session.access_token, options={"verify_signature": False})
    return str(claims["sid"])


def test_the_embedded_mode_remembers_revocations_across_a_restart(tmp_path: Path) -> None:
    """Without Redis the list lives in the process: a new process loads it from SQLite."""
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "PASSWORD_HASH_MEMORY_KIB": "64",
        "PASSWORD_HASH_TIME_COST": "1",
        "SEED_DEMO": "false",
        "SUPER_ADMIN": "root@example.test",
        "SUPER_ADMIN_PASSWORD": "first start only!",
    }
    settings = load_settings(env)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.database_url)
    credentials = {"username": "root@example.test", "password": "first start only!"}
    with TestClient(app=create_app(settings)) as first:
        out, kept = (first.post(LOGIN, data=credentials).json() for _ in range(2))
        first.cookies.clear()
        logout = first.post("/api/v1/login/logout", headers=_bearer(out))
        assert logout.status_code == 200
        assert status(first, ME, _bearer(out)) == 401

    with TestClient(app=create_app(load_settings(env))) as restarted:
        assert status(restarted, ME, _bearer(out)) == 401
        assert status(restarted, ME, _bearer(kept)) == 200


def _bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
