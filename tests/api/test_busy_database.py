"""No free database connection within DB_POOL_TIMEOUT: a 503 with Retry-After over HTTP, an
`unavailable` error event on a chat socket that stays open, and nothing half stored.

The app runs with a pool of one connection and a 0.2 s pool timeout; a test makes the
database busy by holding that one connection itself.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from coagent.adapters.realtime.hub import RoomHub
from coagent.domain.accounts.roles import Role
from coagent.main.compose.infra import Overrides
from coagent.main.settings import Settings
from tests.api.chat_helpers import close_code, connect, create_room, next_event, post, send
from tests.api.conftest import COURSES, Session, container_of, create_course, run, signed_in
from tests.conftest import make_settings

BUSY = "The database is busy; retry shortly"


@pytest.fixture
def settings(tmp_path: Path, pg: str, redis_url: str) -> Settings:
    return make_settings(
        tmp_path, DATABASE_URL=pg, REDIS_URL=redis_url, DB_POOL_SIZE=1, DB_POOL_TIMEOUT=0.2
    )


@contextmanager
def database_busy(client: TestClient[Any]) -> Iterator[None]:
    """Hold the app's only pooled connection (on the app's own loop) until the block ends."""
    engine = container_of(client).engine
    assert engine.pool.timeout() == 0.2  # type: ignore[attr-defined]  # from DB_POOL_TIMEOUT

    async def take() -> Any:
        return await engine.connect()

    connection = run(client, take)
    try:
        yield
    finally:
        run(client, connection.close)


@pytest.fixture
def owner(client: TestClient[Any]) -> Session:
    return signed_in(client, Role.TEACHER)


@pytest.fixture
def room_id(client: TestClient[Any], owner: Session) -> str:
    return create_room(client, owner, create_course(client, owner, "Busy"))


def test_a_request_that_gets_no_connection_is_503_with_retry_after(
    client: TestClient[Any], owner: Session
) -> None:
    with database_busy(client):
        response = client.post(COURSES, json={"title": "Ethics"}, headers=owner.headers)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "1"
    assert response.json() == {
        "title": "Service Unavailable",
        "status": 503,
        "detail": BUSY,
        "type": "about:blank",
    }
    # Nothing was stored, and the same request works once a connection is free.
    listed = client.get(COURSES, headers=owner.headers)
    assert listed.status_code == 200
    assert listed.json() == []
    again = client.post(COURSES, json={"title": "Ethics"}, headers=owner.headers)
    assert again.status_code == 201, again.text


def test_the_openapi_document_lists_the_503(client: TestClient[Any]) -> None:
    operations = client.get("/api/v1/openapi.json").json()["paths"]
    for path, method in (("/api/v1/courses", "post"), ("/api/v1/chat/messages/{room_id}", "get")):
        documented = operations[path][method]["responses"]["503"]
        assert "application/problem+json" in documented["content"], (path, method)


def test_a_message_that_gets_no_connection_is_an_error_event_and_can_be_resent(
    client: TestClient[Any], owner: Session, room_id: str
) -> None:
    history = f"/api/v1/chat/messages/{room_id}"
    with connect(client, room_id, owner) as ws:
        with database_busy(client):
            send(ws, "hello", client_msg_id="c-1")
            error = next_event(ws, "error")
        assert error == {"type": "error", "code": "unavailable", "detail": BUSY}
        assert client.get(history, headers=owner.headers).json() == []  # not half stored
        send(ws, "hello", client_msg_id="c-1")  # the same socket, still open
        message = next_event(ws)
    assert message["content"] == "hello"
    assert message["client_msg_id"] == "c-1"
    assert message["seq"] == 1
    stored = client.get(history, headers=owner.headers).json()
    assert [(m["seq"], m["content"]) for m in stored] == [(1, "hello")]


# No ring in memory: a resume has to read the database.
@pytest.mark.parametrize(
    "overrides", [Overrides(hub=lambda bus, source: RoomHub(bus=bus, source=source, ring_size=0))]
)
def test_a_resume_that_gets_no_connection_is_an_error_event(
    client: TestClient[Any], owner: Session, room_id: str
) -> None:
    for number in (1, 2):
        assert post(client, owner, room_id, f"m{number}").status_code == 201
    with connect(client, room_id, owner) as ws:
        with database_busy(client):
            ws.send_text('{"type": "resume", "since_seq": 0}')
            error = next_event(ws, "error")
        ws.send_text('{"type": "resume", "since_seq": 0}')
        replayed = [next_event(ws) for _ in range(2)]
    assert error == {"type": "error", "code": "unavailable", "detail": BUSY}
    assert [(e["seq"], e["content"]) for e in replayed] == [(1, "m1"), (2, "m2")]


def test_a_join_that_gets_no_connection_is_closed_with_4503(
    client: TestClient[Any], owner: Session, room_id: str
) -> None:
    with database_busy(client), connect(client, room_id, owner) as ws:
        code, events = close_code(ws)
    assert code == 4503
    assert events == [{"type": "error", "code": "unavailable", "detail": BUSY}]
    with connect(client, room_id, owner) as ws:  # free again: the join works
        send(ws, "in")
        assert next_event(ws)["content"] == "in"
