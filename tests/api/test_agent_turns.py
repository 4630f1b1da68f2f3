"""Agent turns over HTTP and WebSocket: the staff endpoints by every caller, and the
embedded default (SQLite, in-process broker) answering a mention with the offline provider.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from coagent.domain.accounts.roles import Role
from coagent.main import migrations
from coagent.main.app import create_app
from tests.api.chat_helpers import ROOMS, connect, create_room, next_event, send
from tests.api.conftest import (
    World,
    container_of,
    create_course,
    enroll,
    matrix_cases,
    run,
    signed_in,
)
from tests.conftest import make_settings

# How long to wait for the next frame of an agent's turn: a bound on a hang, not a speed
# requirement (bench/agent_turns.py measures speed). The in-process broker runs turns on the
# test client's portal thread, where a slow host and this process's imports can delay a
# turn by seconds (5 s was exceeded on a 2-core host, 2026-12-05).
FRAME_WAIT = 30


AGENTS = "/api/v1/agents/"


def _teacher_config(client, world_or_session: Any, course_id: str, **fields: Any) -> dict:
    session = (
        world_or_session.sessions["owner"]
        if isinstance(world_or_session, World)
        else world_or_session
    )
    body = {
        "type": "teacher",
        "name": "Prof Bot",
        "system_prompt": "You teach.",
        "model_provider": "offline",
        "trigger_config": {"type": "mention"},
        **fields,
    }
    response = client.post(f"{AGENTS}{course_id}", json=body, headers=session.headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def room(client, world: World) -> str:
    _teacher_config(client, world, world.course_id)
    return create_room(client, world.sessions["owner"], world.course_id, ai_mode="teacher_only")


STAFF = (401, 404, 403, 202, 202, 202, 404, 404, 202, 202)
READERS = (401, 404, 403, 200, 200, 200, 404, 404, 200, 200)
MATRIX = {
    "request": ("POST", ROOMS + "{r}/agents/teacher/turns", STAFF),
    "list": ("GET", ROOMS + "{r}/agents/turns", READERS),
}


@pytest.mark.parametrize(
    ("endpoint", "caller", "status"), matrix_cases({k: v[2] for k, v in MATRIX.items()})
)
def test_every_turn_endpoint_by_every_caller(client, world, room, endpoint, caller, status):
    method, path, _ = MATRIX[endpoint]
    headers = {} if caller == "anonymous" else world.sessions[caller].headers
    response = client.request(method, path.replace("{r}", room), headers=headers)
    assert response.status_code == status, response.text
    if status == 202:
        body = response.json()
        assert (body["kind"], body["status"], body["agent_type"]) == (
            "request",
            "queued",
            "teacher",
        )
        assert body["reason"].startswith("requested by ")
    if status == 200:
        assert isinstance(response.json(), list)
        assert response.headers["X-Total-Count"] == "0"


def test_requested_turns_are_listed_newest_first_with_paging(client, world, room):
    owner = world.sessions["owner"].headers
    ids = [
        client.post(f"{ROOMS}{room}/agents/teacher/turns", headers=owner).json()["id"]
        for _ in range(3)
    ]
    page = client.get(f"{ROOMS}{room}/agents/turns?limit=2", headers=owner)
    assert page.status_code == 200
    assert [turn["id"] for turn in page.json()] == ids[::-1][:2]
    assert page.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in page.headers["Link"]
    first = page.json()[0]
    assert first["config_revision"] == 1
    assert first["config_id"] is not None
    assert first["message_id"] is None
    assert client.get(f"{ROOMS}{room}/agents/turns?limit=0", headers=owner).status_code == 422


def test_a_request_where_the_ai_is_off_is_409_and_adds_nothing(client, world, room):
    owner = world.sessions["owner"].headers
    assert client.put(f"{ROOMS}{room}", json={"ai_mode": "off"}, headers=owner).status_code == 200
    response = client.post(f"{ROOMS}{room}/agents/teacher/turns", headers=owner)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"{ROOMS}{room}/agents/turns", headers=owner).json() == []


def test_a_request_without_an_active_teacher_configuration_is_409(client, world):
    room_id = create_room(client, world.sessions["owner"], world.course_id)
    response = client.post(
        f"{ROOMS}{room_id}/agents/teacher/turns", headers=world.sessions["ta"].headers
    )
    assert response.status_code == 409


# --- the embedded default ---------------------------------------------------------------


@pytest.fixture
def embedded_client(tmp_path: Path):
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.database_url)
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        yield client


def _settle(client) -> None:
    """Wait until every kicked agent task ran (in-process broker)."""
    container = container_of(client)
    broker = client.app.state.broker

    async def settle() -> None:
        for _ in range(3):  # a task may kick the next one
            await container.agents_runtime.kicker.drain()
            await broker.wait_all()

    run(client, settle)


def _embedded_room(client, **room: Any) -> tuple[Any, Any, str]:
    owner = signed_in(client, Role.TEACHER)
    student = signed_in(client, Role.STUDENT)
    course_id = create_course(client, owner, "Embedded")
    enroll(client, owner, course_id, student.user.id, "student")
    _teacher_config(client, owner, course_id)
    room_id = create_room(client, owner, course_id, **room)
    return owner, student, room_id


def test_embedded_a_mention_is_answered_over_the_socket_labelled_offline(embedded_client):
    client = embedded_client
    owner, student, room_id = _embedded_room(client, ai_mode="teacher_only")
    with connect(client, room_id, student) as ws:
        send(ws, "@teacher what is a categorical imperative?")
        mine = next_event(ws)
        assert mine["author"]["kind"] == "user"
        deltas = []
        while True:
            event = json.loads(ws.receive_text(timeout=FRAME_WAIT))
            if event["type"] == "message.delta":
                deltas.append(event)
            if event["type"] == "message":
                reply = event
                break
    assert reply["author"]["kind"] == "agent"
    assert deltas, "the reply was streamed first"
    assert "".join(d["text"] for d in deltas) == reply["content"]
    assert {d["turn_id"] for d in deltas} == {reply["turn_id"]}
    assert reply["agent_type"] == "teacher"
    assert reply["metadata"]["is_ai"] is True
    assert reply["content"].startswith("[offline reply]")
    assert reply["seq"] == mine["seq"] + 1
    _settle(client)
    [turn] = client.get(f"{ROOMS}{room_id}/agents/turns", headers=owner.headers).json()
    assert (turn["status"], turn["kind"], turn["message_id"]) == (
        "succeeded",
        "mention",
        reply["id"],
    )
    assert turn["provider"] == "offline"
    assert turn["reason"] == f"mentioned by {student.user.full_name}"
    # History carries the link too.
    history = client.get(f"/api/v1/chat/messages/{room_id}", headers=owner.headers).json()
    assert history[-1]["id"] == reply["id"]


@pytest.mark.parametrize("room", [{"ai_mode": "off"}, {"is_ai_active": False}])
def test_embedded_no_turn_when_the_rooms_ai_is_off(embedded_client, room):
    client = embedded_client
    owner, student, room_id = _embedded_room(client, **room)
    with connect(client, room_id, student) as ws:
        send(ws, "@teacher hello?")
        next_event(ws)
    _settle(client)
    assert client.get(f"{ROOMS}{room_id}/agents/turns", headers=owner.headers).json() == []
    history = client.get(f"/api/v1/chat/messages/{room_id}", headers=owner.headers).json()
    assert [m["author"]["kind"] for m in history] == ["user"]


def _demo_login(client, data_dir: Path, email: str) -> dict[str, str]:
    line = next(
        line
        for line in (data_dir / "demo-credentials.txt").read_text().splitlines()
        if email in line
    )
    password = line.rsplit("password ", 1)[1].strip()
    response = client.post(
        "/api/v1/login/access-token", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _agent_reply(ws) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Frames up to the next agent message: that message and every message event before it."""
    before = []
    while True:
        event = json.loads(ws.receive_text(timeout=FRAME_WAIT))
        if event["type"] != "message":
            continue
        if event["author"]["kind"] == "agent":
            return event, before
        before.append(event)


def test_the_demo_room_answers_a_mention_at_once_and_every_third_message(embedded_client, tmp_path):
    # "At once": the mention's own turn answers it (no time trigger, nothing said between);
    # how fast is measured in bench/agent_turns.py, not timed here.
    client = embedded_client
    alice = _demo_login(client, tmp_path / "data", "alice@demo.coagent")
    [course] = client.get("/api/v1/courses/", headers=alice).json()
    [room] = client.get(f"{ROOMS}?course_id={course['id']}", headers=alice).json()
    with connect(client, room["id"], headers=alice) as ws:
        send(ws, "@teacher should AI grade essays?")
        reply, before = _agent_reply(ws)
        assert [m["content"] for m in before] == ["@teacher should AI grade essays?"]
        assert reply["content"].startswith("[offline reply]")
        for n in range(1, 4):
            send(ws, f"point {n}")
        reply, before = _agent_reply(ws)
    assert [m["content"] for m in before] == ["point 1", "point 2", "point 3"]
    assert reply["content"].startswith("[offline reply]")
    _settle(client)
    teacher = _demo_login(client, tmp_path / "data", "teacher@demo.coagent")
    turns = client.get(f"{ROOMS}{room['id']}/agents/turns", headers=teacher).json()
    assert [(t["kind"], t["status"]) for t in turns] == [
        ("message_count", "succeeded"),
        ("mention", "succeeded"),
    ]
    assert turns[0]["reason"] == "every 3 messages"


@pytest.fixture
def limited_client(tmp_path: Path):
    settings = make_settings(
        tmp_path, AGENT_MENTIONS_PER_USER="1", AGENT_TURNS_PER_MINUTE="2", SEED_DEMO="false"
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.database_url)
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        yield client


def test_embedded_limits_a_users_mentions_and_the_rooms_turns(limited_client):
    client = limited_client
    owner, student, room_id = _embedded_room(client, ai_mode="teacher_only")
    other = signed_in(client, Role.STUDENT)
    [course_id] = [c["id"] for c in client.get("/api/v1/courses/", headers=owner.headers).json()]
    enroll(client, owner, course_id, other.user.id, "student")
    with connect(client, room_id, student) as ws, connect(client, room_id, owner) as staff_ws:
        send(ws, "@teacher first")
        _agent_reply(ws)
        send(ws, "@teacher again")  # past this student's limit of 1 mention per minute
        notice = next_event(ws, "error")
        assert notice["code"] == "agent_rate_limited"
        _settle(client)
        assert len(client.get(f"{ROOMS}{room_id}/agents/turns", headers=owner.headers).json()) == 1
        with connect(client, room_id, other) as other_ws:
            send(other_ws, "@teacher from me")  # the room's 2nd turn this minute
            _agent_reply(other_ws)
            _settle(client)
            response = client.post(f"{ROOMS}{room_id}/agents/teacher/turns", headers=owner.headers)
            assert response.status_code == 202
            assert response.json()["status"] == "skipped"  # the 3rd: over the room's 2
        trace = next_event(staff_ws, "agent.error")
    assert trace["code"] == "turn_limit"
    assert trace["turn_id"] == response.json()["id"]
    turns = client.get(f"{ROOMS}{room_id}/agents/turns", headers=owner.headers).json()
    assert [t["status"] for t in turns] == ["skipped", "succeeded", "succeeded"]
    assert "limit of 2 turns per minute" in turns[0]["reason"]
