"""Input no operation can take (issue 14, items 5, 6 and 11): a problem, never a 500.

A NUL character (PostgreSQL's text and jsonb refuse it), raw invalid UTF-8, JSON nested a
thousand deep, integers beyond a BIGINT column: each was a 500 before. Each is now a 400 or
422 problem with a clear `detail`, refused where the body or query string is decoded, and
nothing is stored. Over the WebSocket, a NUL is an `error` event and the socket stays open.
"""

import json
import logging
from typing import Any

import pytest
from litestar import get

from coagent.main.logging import JsonFormatter
from tests.api.chat_helpers import close_code, connect, create_room, next_event, send
from tests.api.conftest import World, container_of, signed_in

COURSES = "/api/v1/courses/"
ROOMS = "/api/v1/rooms/"
ANNOUNCEMENTS = "/api/v1/announcements/"
MESSAGES = "/api/v1/chat/messages/"
LOGIN = "/api/v1/login/access-token"
PROBLEM = "application/problem+json"
NUL = b'"a\\u0000b"'
DEEP = b"[" * 1000 + b"]" * 1000
BEYOND_BIGINT = "9223372036854775808"


@pytest.fixture
def room_id(client, world: World) -> str:
    return create_room(client, world.sessions["owner"], world.course_id)


def _problem(response: Any, status: int, detail_part: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert detail_part in body["detail"]
    return body


def _raw(client, method: str, url: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.request(
        method, url, content=body, headers={**headers, "content-type": "application/json"}
    )


# --- a NUL wherever text goes to PostgreSQL ---------------------------------------------------


def _targets(client, world: World, room_id: str) -> dict[str, tuple[str, str, bytes]]:
    """(method, url, JSON body with a NUL in a text field) per place text is stored."""
    config = client.post(
        f"/api/v1/agents/{world.course_id}",
        json={"type": "teacher", "name": "Socratic", "system_prompt": "Ask questions."},
        headers=world.sessions["owner"].headers,
    ).json()
    course = world.course_id
    return {
        "course title": ("POST", COURSES, b'{"title": ' + NUL + b"}"),
        "course description": ("PUT", f"{COURSES}{course}", b'{"description": ' + NUL + b"}"),
        "room name": ("PUT", f"{ROOMS}{room_id}", b'{"name": ' + NUL + b"}"),
        "chat content": ("POST", f"{MESSAGES}{room_id}", b'{"content": ' + NUL + b"}"),
        "announcement": (
            "POST",
            ANNOUNCEMENTS,
            b'{"title": "t", "content": ' + NUL + f', "course_id": "{course}"}}'.encode(),
        ),
        "agent name": ("PUT", f"/api/v1/agents/{config['id']}", b'{"name": ' + NUL + b"}"),
        "user name": ("PUT", "/api/v1/users/me", b'{"full_name": ' + NUL + b"}"),
    }


TARGETS = [
    "course title",
    "course description",
    "room name",
    "chat content",
    "announcement",
    "agent name",
    "user name",
]


@pytest.mark.parametrize("target", TARGETS)
def test_a_nul_in_stored_text_is_a_422_and_stores_nothing(client, world, room_id, target):
    owner = world.sessions["owner"]
    method, url, body = _targets(client, world, room_id)[target]
    before = client.get(f"{MESSAGES}{room_id}", headers=owner.headers).json()
    courses_before = client.get(COURSES, headers=owner.headers).json()

    response = _raw(client, method, url, body, owner.headers)

    _problem(response, 422, "must not contain NUL characters")
    assert client.get(f"{MESSAGES}{room_id}", headers=owner.headers).json() == before
    assert client.get(COURSES, headers=owner.headers).json() == courses_before


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(client, world, room_id):
    # `"\\u0000"` is the six characters \u0000, which PostgreSQL stores like any text.
    owner = world.sessions["owner"]
    response = _raw(
        client, "POST", f"{MESSAGES}{room_id}", b'{"content": "a\\\\u0000b"}', owner.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["content"] == "a\\u0000b"


def test_a_nul_in_a_field_the_operation_ignores_is_harmless(client, world):
    # The schema allows extra properties there, so a schema-driven client may send any text.
    owner = world.sessions["owner"]
    body = b'{"title": "Kept", "ignored\\u0000": ["a\\u0000b"]}'
    response = _raw(client, "POST", COURSES, body, owner.headers)
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "Kept"
    login = _raw(client, "POST", LOGIN, b'{"username": "x", "password": "y", "z": "\\u0000"}', {})
    assert login.status_code == 400
    assert login.json()["error"] == "invalid_grant"


def test_other_control_characters_are_stored_as_sent(client, world):
    owner = world.sessions["owner"]
    response = _raw(client, "POST", COURSES, b'{"title": "a\\u0001\\u001fb"}', owner.headers)
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "a\x01\x1fb"


# --- bytes that are not UTF-8, JSON nested too deep --------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b'{"title": "a\xff\xfeb"}', 400, "not valid UTF-8"),
        (b'{"title": "caf\xc3"}', 400, "not valid UTF-8"),
        (b'{"title": "\xed\xa0\x80"}', 400, "not valid UTF-8"),  # a UTF-8 encoded surrogate
        (DEEP, 400, "nests deeper than"),
        (b'{"title": "x", "extra": ' + DEEP + b"}", 400, "nests deeper than"),
        (b'{"title": "a\\ud800b"}', 400, ""),  # an unpaired surrogate escape
    ],
    ids=["invalid-bytes", "truncated", "surrogate-bytes", "deep", "deep-inside", "lone-escape"],
)
def test_unreadable_json_bodies_are_400(client, world, body, status, detail):
    owner = world.sessions["owner"]
    response = _raw(client, "POST", COURSES, body, owner.headers)
    _problem(response, status, detail)
    assert client.get(COURSES, headers=owner.headers).json()[0]["title"] == "Ethics 101"


def test_deep_nesting_of_brackets_inside_strings_is_no_nesting(client, world):
    owner = world.sessions["owner"]
    title = "[" * 150
    response = client.post(COURSES, json={"title": title}, headers=owner.headers)
    assert response.status_code == 201, response.text
    assert response.json()["title"] == title


@pytest.mark.parametrize(
    "body",
    [b'{"username": "a\xff", "password": "x"}', b'{"username": ' + DEEP + b"}"],
    ids=["invalid-bytes", "deep"],
)
def test_login_refuses_unreadable_json_too(client, body):
    # The login endpoint reads its body itself (a form or JSON), without a token.
    response = client.post(LOGIN, content=body, headers={"content-type": "application/json"})
    _problem(response, 400, "")


# --- query strings and integers beyond the column ----------------------------------------------


@pytest.mark.parametrize(
    ("query", "status", "detail"),
    [
        (f"after_seq={BEYOND_BIGINT}", 422, "Request is not valid"),
        (f"before_seq={BEYOND_BIGINT}", 422, "Request is not valid"),
        ("after_seq=-9223372036854775809", 422, "Request is not valid"),
        ("after_seq=99999999999999999999999999999999", 422, "Request is not valid"),
        ("limit=5&x=a%00b", 422, "must not contain NUL characters"),
        ("limit=5&x=a%ffb", 400, "not valid UTF-8"),
        ("limit=5&x=%ed%a0%80", 400, "not valid UTF-8"),
    ],
)
def test_hostile_query_strings_are_problems(client, world, room_id, query, status, detail):
    response = client.get(f"{MESSAGES}{room_id}?{query}", headers=world.sessions["ta"].headers)
    _problem(response, status, detail)


def test_cursors_at_the_bigint_bounds_still_work(client, world, room_id):
    ta = world.sessions["ta"].headers
    top = client.get(f"{MESSAGES}{room_id}?before_seq=9223372036854775807", headers=ta)
    bottom = client.get(f"{MESSAGES}{room_id}?after_seq=-9223372036854775808", headers=ta)
    assert (top.status_code, bottom.status_code) == (200, 200)


def test_openapi_documents_the_integer_ranges(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    params = {p["name"]: p for p in paths["/api/v1/chat/messages/{room_id}"]["get"]["parameters"]}
    for name in ("after_seq", "before_seq"):
        schema = json.dumps(params[name]["schema"])
        assert '"maximum": 9223372036854775807' in schema, schema
        assert '"minimum": -9223372036854775808' in schema, schema
    for path in ("/api/v1/users", "/api/v1/courses"):
        offset = next(p for p in paths[path]["get"]["parameters"] if p["name"] == "offset")
        assert "1000000" in json.dumps(offset["schema"])


# --- the WebSocket, both dialects (item 6) -------------------------------------------------


@pytest.mark.parametrize("v1", [True, False], ids=["coagent.v1", "plain-text"])
def test_a_nul_over_the_socket_is_an_error_event_and_the_socket_stays_open(
    client, world, room_id, v1
):
    student = world.sessions["student"]
    with connect(client, room_id, student, v1=v1) as ws:
        if v1:
            send(ws, "a\x00b")
        else:
            ws.send_text("a\x00b")
        # The original client renders only messages and system lines: its error is one.
        error = next_event(ws, "error" if v1 else "system")
        if v1:
            send(ws, "still here")
        else:
            ws.send_text("still here")
        after = next_event(ws, "message")
    if v1:
        assert error["code"] == "invalid"
        assert "NUL" in error["detail"]
    else:
        assert error["content"].startswith("Message not sent:")
        assert "NUL" in error["content"]
    assert after["content"] == "still here"
    history = client.get(f"{MESSAGES}{room_id}", headers=world.sessions["ta"].headers).json()
    assert [m["content"] for m in history] == ["still here"]


@pytest.mark.parametrize(
    ("frame", "detail"),
    [
        (b"[" * 1000 + b"]" * 1000, "Expected `object`"),  # typed: refused at the first [
        (b'{"type": "message.send", "content": "a\xffb"}', "not valid UTF-8"),
    ],
    ids=["deep", "invalid-bytes"],
)
def test_unreadable_v1_frames_are_error_events(client, world, room_id, frame, detail):
    with connect(client, room_id, world.sessions["student"]) as ws:
        ws.send_bytes(frame)
        error = next_event(ws, "error")
        ws.send_text('{"type": "ping"}')
        assert next_event(ws, "pong")
    assert error["code"] == "malformed"
    assert detail in error["detail"]


# --- an unhandled error: traceback in the log, request id in both (item 11) -----------------

SECRET_IN_MESSAGE = "sk-live-0123456789abcdefghijkl"


@get("/api/v1/test-boom", operation_id="test_boom", sync_to_thread=False)
def boom() -> None:
    raise RuntimeError(f"the handler failed with key {SECRET_IN_MESSAGE}")


@pytest.fixture
def boom_client(client):
    client.app.register(boom)
    return client


def _unhandled_lines(caplog) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(record))
        for record in caplog.records
        if record.getMessage() == "unhandled error"
    ]


def test_an_unhandled_error_logs_its_traceback_under_the_request_id(boom_client, caplog):
    caplog.set_level(logging.ERROR, logger="coagent.http")

    response = boom_client.get("/api/v1/test-boom")

    body = _problem(response, 500, "Internal server error")
    request_id = body["request_id"]
    assert response.headers["x-request-id"] == request_id
    assert request_id in body["detail"]
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert SECRET_IN_MESSAGE not in response.text
    [entry] = _unhandled_lines(caplog)
    assert entry["request_id"] == request_id
    assert entry["path"] == "/api/v1/test-boom"
    assert entry["traceback"].startswith("Traceback (most recent call last)")
    assert "in boom" in entry["traceback"]
    assert "RuntimeError: the handler failed with key" in entry["traceback"]
    assert SECRET_IN_MESSAGE not in json.dumps(entry)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("req-42.a:b_C", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("two words", False),
        ('a"b', False),
        ("", False),
    ],
)
def test_a_sane_x_request_id_is_kept_else_replaced(boom_client, caplog, sent, kept):
    caplog.set_level(logging.ERROR, logger="coagent.http")

    response = boom_client.get("/api/v1/test-boom", headers={"X-Request-ID": sent})

    request_id = response.json()["request_id"]
    assert response.headers["x-request-id"] == request_id
    assert (request_id == sent) is kept
    if not kept:
        assert len(request_id) == 32
    [entry] = _unhandled_lines(caplog)
    assert entry["request_id"] == request_id


def test_every_response_carries_a_request_id(client):
    first = client.get("/health")
    second = client.get("/health")
    echoed = client.get("/health", headers={"X-Request-ID": "mine-1"})
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert echoed.headers["x-request-id"] == "mine-1"


def test_problem_bodies_of_ordinary_errors_are_unchanged(client):
    signed_in(client)
    response = client.get(f"{COURSES}not-a-uuid")
    assert "request_id" not in response.json()


def test_a_socket_that_fails_is_closed_with_1011_and_logged(client, world, room_id, caplog):
    caplog.set_level(logging.ERROR, logger="coagent.chat")

    async def broken(_command: Any) -> None:
        raise RuntimeError("the store broke")

    post = container_of(client).chat.post
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(post, "execute", broken)
        with connect(client, room_id, world.sessions["student"]) as ws:
            send(ws, "hello")
            code, _ = close_code(ws)
    assert code == 1011
    [failed] = [r for r in caplog.records if r.getMessage() == "chat socket failed"]
    entry = json.loads(JsonFormatter().format(failed))
    assert "RuntimeError: the store broke" in entry["traceback"]
