"""The live room's refusals and limits: credentials, origins, tickets, revocation, rate,
connections per user and slow consumers.
"""

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from litestar.testing.websocket_test_session import WebSocketTestSession

from coagent.adapters.realtime.events import encode
from coagent.domain.accounts.roles import Role
from coagent.main.app import create_app
from coagent.main.settings import Settings
from tests.api.chat_helpers import close_code, connect, create_room, next_event, post, send
from tests.api.conftest import (
    World,
    container_of,
    create_course,
    enroll,
    run,
    signed_in,
)
from tests.conftest import make_settings

TICKET = "/api/v1/chat/ws-ticket"


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, pg: str, redis_url: str) -> Settings:
    """The production shape, plus the chat settings a test passes (indirect parametrize)."""
    extra: dict[str, Any] = getattr(request, "param", {})
    return make_settings(
        tmp_path,
        DATABASE_URL=pg,
        REDIS_URL=redis_url,
        ALLOWED_ORIGINS="https://app.example",
        **extra,
    )


def with_settings(**env: Any) -> Any:
    return pytest.mark.parametrize("settings", [env], indirect=True, ids=[str(env)])


@pytest.fixture
def room_id(client, world: World) -> str:
    return create_room(client, world.sessions["owner"], world.course_id)


def closed(ws: WebSocketTestSession, timeout: float = 5) -> tuple[int, list[Any]]:
    """Read until the server closes; its close code and the events before it."""
    seen = []
    while True:
        try:
            frame = ws.receive(timeout=timeout)
        except WebSocketDisconnect as error:
            return int(error.code), seen
        seen.append(json.loads(frame["text"]))


def refused(ws: WebSocketTestSession, timeout: float = 5) -> tuple[int, str]:
    """An accepted-then-closed socket: its close code and the code of its error event."""
    code, seen = closed(ws, timeout)
    errors = [event for event in seen if event["type"] == "error"]
    assert len(errors) == 1, seen
    assert [event["type"] for event in seen] == ["error"], seen
    return code, errors[0]["code"]


def works(ws: WebSocketTestSession, content: str = "hello") -> None:
    """The socket is live: a message sent on it comes back as a stored message event."""
    send(ws, content)
    seen = [next_event(ws)["content"]]
    while seen[-1] != content and len(seen) < 10:  # others' messages may come first
        seen.append(next_event(ws)["content"])
    assert seen[-1] == content, seen


# --- credentials


def test_no_credentials_is_unauthenticated(client, world, room_id):
    with connect(client, room_id) as ws:
        assert refused(ws) == (4401, "unauthenticated")


def test_no_credentials_in_the_original_dialect_is_refused_too(client, world, room_id):
    with connect(client, room_id, v1=False) as ws:
        code, seen = closed(ws)
    # The original client reads `sender` and `content` of every frame: a system line.
    assert code == 4401
    assert [(e["type"], e["sender"], e["content"]) for e in seen] == [
        ("system", "System", "Not authenticated")
    ]


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 2000])
def test_garbage_bearer_is_unauthenticated(client, world, room_id, token):
    with connect(client, room_id, headers={"Authorization": f"Bearer {token}"}) as ws:
        assert refused(ws) == (4401, "unauthenticated")


@pytest.mark.parametrize("caller", ["other_student", "other_teacher", "guest"])
def test_outsiders_are_told_not_found(client, world, room_id, caller):
    with connect(client, room_id, world.sessions[caller]) as ws:
        assert refused(ws) == (4404, "not_found")


@pytest.mark.parametrize("room", ["not-a-uuid", "123", str(uuid.uuid4())])
def test_malformed_or_unknown_room_ids_are_not_found(client, world, room):
    with connect(client, room, world.sessions["student"]) as ws:
        assert refused(ws) == (4404, "not_found")


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", "9" * 19])
def test_bad_since_seq_is_a_bad_request(client, world, room_id, since):
    with connect(client, room_id, world.sessions["student"], query=f"?since_seq={since}") as ws:
        assert refused(ws) == (4400, "invalid")


# --- cookies and origins


def use_cookie(client, world: World, caller: str = "student") -> None:
    client.cookies["access_token"] = world.sessions[caller].access_token


def test_cookie_handshake_from_a_foreign_origin_is_refused(client, world, room_id):
    use_cookie(client, world)
    with (
        pytest.raises(WebSocketDisconnect) as refusal,
        connect(client, room_id, headers={"Origin": "https://evil.example"}),
    ):
        pytest.fail("the handshake was accepted")
    assert refusal.value.code == 4403
    assert (
        client.get(f"/api/v1/chat/messages/{room_id}", headers=world.sessions["ta"].headers).json()
        == []
    )


@pytest.mark.parametrize(
    "origin", ["https://app.example", "http://testserver.local", None], ids=str
)
def test_cookie_handshake_from_an_allowed_or_no_origin_works(client, world, room_id, origin):
    use_cookie(client, world)
    headers = {"Origin": origin} if origin else {}
    with connect(client, room_id, headers=headers) as ws:
        works(ws)


def test_bearer_handshake_from_a_foreign_origin_works(client, world, room_id):
    # Not authenticated by an ambient cookie, so not a cross-site vector.
    headers = {"Origin": "https://evil.example"}
    with connect(client, room_id, world.sessions["student"], headers=headers) as ws:
        works(ws)


# --- inactive users and revoked sessions


def deactivate(client, world: World, caller: str) -> None:
    user_id = world.sessions[caller].user.id
    response = client.put(
        f"/api/v1/users/{user_id}",
        json={"is_active": False},
        headers=world.sessions["admin"].headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False


def test_a_deactivated_user_is_refused(client, world, room_id):
    deactivate(client, world, "student")
    with connect(client, room_id, world.sessions["student"]) as ws:
        assert refused(ws) == (4401, "unauthenticated")


def test_an_open_socket_of_a_deactivated_user_is_closed(client, world, room_id):
    with connect(client, room_id, world.sessions["student"]) as ws:
        works(ws)
        deactivate(client, world, "student")
        code, _ = closed(ws, timeout=10)
    assert code == 4401


def log_out(client, world: World, caller: str) -> None:
    response = client.post("/api/v1/login/logout", headers=world.sessions[caller].headers)
    assert response.status_code == 200, response.text
    client.cookies.clear()


def test_a_revoked_session_is_refused(client, world, room_id):
    log_out(client, world, "student")
    with connect(client, room_id, world.sessions["student"]) as ws:
        assert refused(ws) == (4401, "unauthenticated")


def test_an_open_socket_of_a_revoked_session_is_closed(client, world, room_id):
    with (
        connect(client, room_id, world.sessions["student"]) as revoked,
        connect(client, room_id, world.sessions["ta"]) as bystander,
    ):
        works(revoked)
        started = time.monotonic()
        log_out(client, world, "student")
        code, _ = closed(revoked, timeout=10)
        assert code == 4401
        assert time.monotonic() - started < 8
        # Other sessions stay open.
        works(bystander, "still here")


def test_a_member_removed_from_the_course_cannot_send_on_an_open_socket(client, world, room_id):
    student, owner = world.sessions["student"], world.sessions["owner"]
    with connect(client, room_id, student) as ws:
        works(ws)
        removal = client.delete(
            f"/api/v1/courses/{world.course_id}/members/{student.user.id}", headers=owner.headers
        )
        assert removal.status_code == 200, removal.text
        send(ws, "still a member?")
        code, seen = closed(ws)
    assert code == 4404
    assert [e["code"] for e in seen if e["type"] == "error"] == ["not_found"]
    stored = client.get(f"/api/v1/chat/messages/{room_id}", headers=owner.headers).json()
    assert [m["content"] for m in stored] == ["hello"]


# --- tickets


def ticket_for(client, world: World, caller: str = "student") -> str:
    response = client.post(TICKET, headers=world.sessions[caller].headers)
    assert response.status_code == 201, response.text
    return str(response.json()["ticket"])


def test_a_ticket_works_once(client, world, room_id):
    ticket = ticket_for(client, world)
    with connect(client, room_id, query=f"?ticket={ticket}") as ws:
        works(ws)
    stored = client.get(
        f"/api/v1/chat/messages/{room_id}", headers=world.sessions["ta"].headers
    ).json()
    assert stored[0]["sender_id"] == str(world.sessions["student"].user.id)
    with connect(client, room_id, query=f"?ticket={ticket}") as ws:
        assert refused(ws) == (4401, "unauthenticated")


@pytest.mark.parametrize("ticket", ["unknown", "x" * 500])
def test_an_unknown_ticket_is_refused(client, world, room_id, ticket):
    with connect(client, room_id, query=f"?ticket={ticket}") as ws:
        assert refused(ws) == (4401, "unauthenticated")


def test_a_ticket_of_a_revoked_session_is_refused(client, world, room_id):
    ticket = ticket_for(client, world)
    log_out(client, world, "student")
    with connect(client, room_id, query=f"?ticket={ticket}") as ws:
        assert refused(ws) == (4401, "unauthenticated")


def test_a_ticket_does_not_open_rooms_its_holder_may_not_see(client, world, room_id):
    ticket = ticket_for(client, world, "other_student")
    with connect(client, room_id, query=f"?ticket={ticket}") as ws:
        assert refused(ws) == (4404, "not_found")


def test_the_ticket_store_holds_no_raw_ticket(client, world, redis_url):
    import redis  # noqa: PLC0415

    ticket = ticket_for(client, world)
    keys = redis.Redis.from_url(redis_url).keys("*")
    assert keys, "the ticket was not stored in Redis"
    assert not any(ticket in key.decode() for key in keys)


# --- limits


@with_settings(CHAT_MESSAGES_PER_WINDOW=3)
def test_messages_over_the_rate_are_refused_and_not_stored(client, world, room_id):
    with connect(client, room_id, world.sessions["student"]) as ws:
        for number in range(1, 5):
            send(ws, f"m{number}")
        messages, errors = [], []
        while len(messages) < 3 or not errors:
            event = json.loads(ws.receive(timeout=5)["text"])
            if event["type"] == "message":
                messages.append(event)
            elif event["type"] == "error":
                errors.append(event)
    assert [e["content"] for e in messages] == ["m1", "m2", "m3"]
    assert [e["code"] for e in errors] == ["rate_limited"]
    stored = client.get(
        f"/api/v1/chat/messages/{room_id}", headers=world.sessions["ta"].headers
    ).json()
    assert [m["content"] for m in stored] == ["m1", "m2", "m3"]


def next_error(ws: WebSocketTestSession) -> Any:
    return next_event(ws, "error")


@with_settings(CHAT_MESSAGES_PER_WINDOW=4, CHAT_WINDOW_SECONDS=60)
def test_one_send_limit_per_user_and_room_across_http_and_both_socket_dialects(
    client, world, room_id
):
    student = world.sessions["student"]
    assert post(client, student, room_id, "h1").status_code == 201
    with connect(client, room_id, student, v1=False) as legacy:
        legacy.send_text("l2")
        assert next_event(legacy)["content"] == "l2"
        with connect(client, room_id, student) as ws:
            send(ws, "w3", "c-3")
            assert next_event(ws)["content"] == "w3"
            assert post(client, student, room_id, "h4").status_code == 201
            # The limit is spent: every path refuses, and the sockets stay open.
            refused_http = post(client, student, room_id, "h5")
            send(ws, "w5")
            legacy.send_text("l5")
            ws_error = next_error(ws)
            # The original client renders only messages and system lines: its error is one.
            legacy_notice = next_event(legacy, "system")
            # A resend of a stored message is answered, not counted, not refused.
            send(ws, "w3", "c-3")
            assert next_event(ws)["seq"] == 3
            ws.send_text(json.dumps({"type": "ping"}))
            assert next_event(ws, "pong")
    assert refused_http.status_code == 429
    assert refused_http.headers["content-type"].startswith("application/problem+json")
    assert 55 <= int(refused_http.headers["retry-after"]) <= 60
    assert refused_http.json()["status"] == 429
    assert "Too many messages" in refused_http.json()["detail"]
    assert ws_error["code"] == "rate_limited"
    assert "retry in" in ws_error["detail"]
    assert legacy_notice["content"].startswith("Message not sent: too many messages")
    assert isinstance(legacy_notice["sender"], str)
    # Another member of the room is not held back by this student's sends.
    assert post(client, world.sessions["ta"], room_id, "ta").status_code == 201
    stored = client.get(f"/api/v1/chat/messages/{room_id}", headers=world.sessions["ta"].headers)
    assert [m["content"] for m in stored.json()] == ["h1", "l2", "w3", "h4", "ta"]


@with_settings(CHAT_MESSAGES_PER_WINDOW=2, CHAT_WINDOW_SECONDS=60)
def test_an_http_resend_is_answered_at_the_limit(client, world, room_id):
    student = world.sessions["student"]
    key = {"headers": {"Idempotency-Key": "k-1"}}
    assert post(client, student, room_id, "once", **key).status_code == 201
    assert post(client, student, room_id, "twice").status_code == 201
    for _ in range(3):
        again = post(client, student, room_id, "once", headers={"Idempotency-Key": "k-1"})
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
    assert post(client, student, room_id, "thrice").status_code == 429


@with_settings(CHAT_MESSAGES_PER_WINDOW=3, CHAT_WINDOW_SECONDS=60)
def test_a_socket_flooding_resumes_is_refused_before_any_work_and_kept_open(client, world, room_id):
    with connect(client, room_id, world.sessions["student"]) as ws:
        assert post(client, world.sessions["ta"], room_id, "one").status_code == 201
        assert next_event(ws)["seq"] == 1
        # Typing hints and pings reach no database: they are not counted.
        for _ in range(20):
            ws.send_text(json.dumps({"type": "typing"}))
            ws.send_text(json.dumps({"type": "ping"}))
        # Resumes are, with sends: twice the send rate of them per connection.
        for _ in range(7):
            ws.send_text(json.dumps({"type": "resume", "since_seq": 0}))
        ws.send_text(json.dumps({"type": "ping"}))
        seen: list[Any] = []
        pongs = 0
        while pongs < 21:
            event = json.loads(ws.receive(timeout=5)["text"])
            pongs += event["type"] == "pong"
            seen.append(event)
    errors = [e for e in seen if e["type"] == "error"]
    assert [e["code"] for e in errors] == ["rate_limited"]
    assert "Too many frames" in errors[0]["detail"]
    assert [e["seq"] for e in seen if e["type"] == "message"] == [1] * 6


@with_settings(CHAT_MAX_CONNECTIONS_PER_USER=1)
def test_connections_per_user_are_limited(client, world, room_id):
    student = world.sessions["student"]
    hub = container_of(client).hub
    with connect(client, room_id, student) as first:
        with connect(client, room_id, student) as second:
            assert refused(second) == (4429, "too_many_connections")
        works(first)
        # Another user is not limited by the student's sockets.
        with connect(client, room_id, world.sessions["ta"]) as other:
            works(other, "ta here")
    deadline = time.monotonic() + 5
    while hub.connections_of(student.user.id) and time.monotonic() < deadline:
        time.sleep(0.05)
    with connect(client, room_id, student) as again:
        works(again, "back")


@with_settings(CHAT_SOCKET_QUEUE=16)
def test_a_slow_consumer_is_closed_and_the_others_get_everything(client, world, room_id):
    hub = container_of(client).hub
    student = world.sessions["student"]
    room = uuid.UUID(room_id)
    with (
        connect(client, room_id, student) as slow,
        connect(client, room_id, world.sessions["ta"]) as fast,
    ):
        works(fast, "ready")

        async def stall() -> None:
            # The student's socket stops taking frames, as a client that stops reading.
            (connection,) = [s for s in hub._rooms[room].sockets if s.user_id == student.user.id]
            connection._writer.cancel()

        run(client, stall)
        for number in range(100):
            frame = encode({"type": "burst", "room_id": room, "n": number})
            run(client, hub.publish_event, room, frame)
        received = [next_event(fast, "burst")["n"] for _ in range(100)]
        code, _ = closed(slow, timeout=10)
        assert code == 4000
        assert received == list(range(100))
        works(fast, "after the burst")
    assert post(client, student, room_id, "over http").status_code == 201


def test_an_open_socket_closes_once_its_user_leaves_the_course(tmp_path, pg, redis_url) -> None:
    settings = make_settings(
        tmp_path, DATABASE_URL=pg, REDIS_URL=redis_url, CHAT_ACCESS_RECHECK_SECONDS="2"
    )
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        owner = signed_in(client, Role.TEACHER)
        student = signed_in(client, Role.STUDENT)
        course_id = create_course(client, owner, "Recheck")
        enroll(client, owner, course_id, student.user.id, "student")
        room_id = create_room(client, owner, course_id)
        with connect(client, room_id, student) as ws:
            removed = client.delete(
                f"/api/v1/courses/{course_id}/members/{student.user.id}", headers=owner.headers
            )
            assert removed.status_code == 200, removed.text
            code, events = close_code(ws, timeout=15)
    assert code == 4404
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "not_found"
