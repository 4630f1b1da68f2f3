"""The live room over WebSocket: both dialects, ordering, resume, idempotency, limits."""

import json

import pytest

from coagent.adapters.realtime.hub import RoomHub
from coagent.main.compose.infra import Overrides
from tests.api.chat_helpers import connect, create_room, next_event, post, send
from tests.api.conftest import World


@pytest.fixture
def room_id(client, world: World) -> str:
    return create_room(client, world.sessions["owner"], world.course_id)


def test_v1_message_event_carries_new_and_original_fields(client, world, room_id) -> None:
    student = world.sessions["student"]
    with connect(client, room_id, student) as ws:
        send(ws, "Hello, room", client_msg_id="c-1")
        event = next_event(ws)
    assert event["content"] == "Hello, room"
    assert event["seq"] == 1
    assert event["room_id"] == room_id
    assert event["client_msg_id"] == "c-1"
    assert event["author"] == {
        "id": str(student.user.id),
        "name": student.user.full_name,
        "kind": "user",
    }
    # The original clients' fields.
    assert event["sender"] == student.user.full_name
    assert event["metadata"] == {"is_ai": False, "sender_id": str(student.user.id)}
    assert event["timestamp"] == event["created_at"]
    assert event["agent_type"] is None


def test_plain_text_frames_are_messages_for_original_clients(client, world, room_id) -> None:
    with connect(client, room_id, world.sessions["student"], v1=False) as ws:
        ws.send_text('{"type": "not parsed in this dialect"}')
        event = next_event(ws)
    assert event["content"] == '{"type": "not parsed in this dialect"}'
    history = client.get(
        f"/api/v1/chat/messages/{room_id}", headers=world.sessions["ta"].headers
    ).json()
    assert [m["content"] for m in history] == [event["content"]]


def test_members_see_every_message_in_seq_order(client, world, room_id) -> None:
    with (
        connect(client, room_id, world.sessions["ta"]) as reader,
        connect(client, room_id, world.sessions["student"]) as writer,
    ):
        for number in range(10):
            send(writer, f"m{number}")
        received = [next_event(reader) for _ in range(10)]
    assert [e["seq"] for e in received] == list(range(1, 11))
    assert [e["content"] for e in received] == [f"m{n}" for n in range(10)]


def test_join_and_leave_are_announced_without_email(client, world, room_id) -> None:
    student = world.sessions["student"]
    with connect(client, room_id, world.sessions["ta"]) as watcher:
        with connect(client, room_id, student):
            joined = next_event(watcher, "system")
            while joined["user"]["id"] != str(student.user.id):
                joined = next_event(watcher, "system")
        left = next_event(watcher, "system")
    assert joined["event"] == "join"
    assert left["event"] == "leave"
    assert left["user"]["id"] == str(student.user.id)
    assert student.user.email not in json.dumps([joined, left])
    assert joined["content"] == f"{student.user.full_name} joined"


def test_typing_reaches_the_others(client, world, room_id) -> None:
    with (
        connect(client, room_id, world.sessions["ta"]) as watcher,
        connect(client, room_id, world.sessions["student"]) as typist,
    ):
        typist.send_text('{"type": "typing"}')
        event = next_event(watcher, "typing")
    assert event["user"]["id"] == str(world.sessions["student"].user.id)


def test_ping_gets_pong(client, world, room_id) -> None:
    with connect(client, room_id, world.sessions["student"]) as ws:
        ws.send_text('{"type": "ping"}')
        assert next_event(ws, "pong")["timestamp"]


def test_resend_with_same_client_msg_id_stores_once(client, world, room_id) -> None:
    with connect(client, room_id, world.sessions["student"]) as ws:
        send(ws, "once", client_msg_id="same")
        first = next_event(ws)
        send(ws, "once", client_msg_id="same")
        again = next_event(ws)
        send(ws, "different text", client_msg_id="same")
        error = next_event(ws, "error")
    assert again["id"] == first["id"]
    assert again["seq"] == first["seq"] == 1
    assert error["code"] == "conflict"
    history = client.get(
        f"/api/v1/chat/messages/{room_id}", headers=world.sessions["ta"].headers
    ).json()
    assert [m["content"] for m in history] == ["once"]


@pytest.mark.parametrize("via", ["query", "resume_frame"])
def test_resume_replays_everything_after_since_seq_then_live(client, world, room_id, via) -> None:
    student = world.sessions["student"]
    for number in range(1, 6):
        assert post(client, student, room_id, f"m{number}").status_code == 201
    query = "?since_seq=2" if via == "query" else ""
    with connect(client, room_id, world.sessions["ta"], query=query) as ws:
        if via == "resume_frame":
            ws.send_text('{"type": "resume", "since_seq": 2}')
        replayed = [next_event(ws) for _ in range(3)]
        assert post(client, student, room_id, "m6").status_code == 201
        live = next_event(ws)
    assert [e["seq"] for e in replayed] == [3, 4, 5]
    assert [e["content"] for e in replayed] == ["m3", "m4", "m5"]
    assert live["seq"] == 6


def test_resume_from_a_seq_the_room_never_reached_gets_resync(client, world, room_id) -> None:
    with connect(client, room_id, world.sessions["ta"], query="?since_seq=99") as ws:
        event = next_event(ws, "resync")
    assert event["last_seq"] == 0


@pytest.mark.parametrize(
    "overrides",
    [
        Overrides(
            hub=lambda bus, source: RoomHub(bus=bus, source=source, ring_size=0, replay_limit=3)
        )
    ],
)
def test_resume_too_far_back_gets_resync(client, world, room_id) -> None:
    for number in range(6):
        post(client, world.sessions["student"], room_id, f"m{number}")
    with connect(client, room_id, world.sessions["ta"], query="?since_seq=0") as ws:
        event = next_event(ws, "resync")
        assert post(client, world.sessions["student"], room_id, "live").status_code == 201
        assert next_event(ws)["seq"] == 7
    assert event["last_seq"] == 6


def test_announcements_are_pushed_to_course_rooms(client, world, room_id) -> None:
    with connect(client, room_id, world.sessions["student"]) as ws:
        response = client.post(
            "/api/v1/announcements/",
            json={"course_id": world.course_id, "title": "Quiz", "content": "Friday"},
            headers=world.sessions["ta"].headers,
        )
        assert response.status_code == 201
        event = next_event(ws, "announcement")
    assert event["action"] == "created"
    assert event["announcement"]["title"] == "Quiz"
    assert event["course_id"] == world.course_id


# --- limits and malformed input: an error event, and the socket stays usable


def test_malformed_frames_get_errors_and_the_socket_survives(client, world, room_id) -> None:
    with connect(client, room_id, world.sessions["student"]) as ws:
        for bad in ("not json", '{"type": "dance"}', '{"type": "message.send"}', "[1]"):
            ws.send_text(bad)
            assert next_event(ws, "error")["code"] == "malformed"
        ws.send_bytes(b"\x00\x01")
        assert next_event(ws, "error")["code"] == "malformed"
        send(ws, "still here")
        assert next_event(ws)["content"] == "still here"


def test_frames_over_64_kib_are_refused_with_an_error(client, world, room_id) -> None:
    with connect(client, room_id, world.sessions["student"]) as ws:
        ws.send_text("x" * (64 * 1024 + 1))
        error = next_event(ws, "error")
        send(ws, "small")
        assert next_event(ws)["content"] == "small"
    assert error["code"] == "frame_too_large"


@pytest.mark.parametrize("content", ["", "   ", "y" * 8001])
def test_blank_or_long_messages_are_refused(client, world, room_id, content) -> None:
    with connect(client, room_id, world.sessions["student"]) as ws:
        send(ws, content)
        error = next_event(ws, "error")
    assert error["code"] == "invalid"
    history = client.get(
        f"/api/v1/chat/messages/{room_id}", headers=world.sessions["ta"].headers
    ).json()
    assert history == []
