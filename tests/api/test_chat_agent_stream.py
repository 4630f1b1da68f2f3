"""Agent output over the real WebSocket (PostgreSQL and Redis pub/sub, and the embedded
default): mid-stream joins, staff-only traces, one user's notices, and what the original web
client (no subprotocol) can receive.
"""

import json
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from litestar.testing.websocket_test_session import WebSocketTestSession

from coagent.adapters.realtime.agent_stream import HubAgentStream
from coagent.application.ports.agent_events import AgentError
from coagent.main import migrations
from coagent.main.app import socket_access
from coagent.main.container import build_container
from coagent.main.settings import Settings
from tests.api.chat_helpers import connect, create_room, next_event, post, send
from tests.api.conftest import World, container_of, run
from tests.conftest import make_settings


@pytest.fixture(params=["postgres_redis", "embedded"])
def settings(request, tmp_path: Path) -> Settings:
    """Both shapes: Redis pub/sub between hubs, and the embedded in-memory bus on SQLite."""
    if request.param == "embedded":
        settings = make_settings(tmp_path)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrations.upgrade(settings.database_url)
        return settings
    return make_settings(
        tmp_path,
        DATABASE_URL=request.getfixturevalue("pg"),
        REDIS_URL=request.getfixturevalue("redis_url"),
    )


@pytest.fixture
def room_id(client, world: World) -> str:
    return create_room(client, world.sessions["owner"], world.course_id)


@pytest.fixture
def stream(client) -> HubAgentStream:
    # No coalescing interval: one frame per piece, so the test knows what to wait for.
    return HubAgentStream(hub=container_of(client).hub, interval=0)


def _delta(client, stream: HubAgentStream, room_id: str, turn: UUID, text: str) -> None:
    async def go() -> None:
        await stream.delta(room_id=UUID(room_id), turn_id=turn, message_id=turn, text=text)

    run(client, go)


def _frames_until(ws: WebSocketTestSession, content: str) -> list[dict[str, Any]]:
    """Every event up to and including the `message` with `content` (a marker: whatever
    was published before it and meant for this socket has arrived by then).
    """
    seen: list[dict[str, Any]] = []
    while True:
        event = json.loads(ws.receive(timeout=5)["text"])
        seen.append(event)
        if event["type"] == "message" and event["content"] == content:
            return seen


def test_a_socket_joining_mid_stream_gets_the_text_so_far_then_the_rest(
    client, world, room_id, stream
) -> None:
    turn = uuid4()
    with connect(client, room_id, world.sessions["student"]) as early:
        _delta(client, stream, room_id, turn, "The ")
        _delta(client, stream, room_id, turn, "answer ")
        # Both went through Redis and this process's hub before the next socket joins.
        assert next_event(early, "message.delta")["text"] == "The "
        assert next_event(early, "message.delta")["text"] == "answer "
        with connect(client, room_id, world.sessions["ta"]) as late:
            catch_up = next_event(late, "message.delta")
            _delta(client, stream, room_id, turn, "is 42.")
            live = next_event(late, "message.delta")
            assert next_event(early, "message.delta")["text"] == "is 42."
    assert (catch_up["first_index"], catch_up["index"], catch_up["text"]) == (0, 1, "The answer ")
    assert (live["first_index"], live["index"], live["text"]) == (2, 2, "is 42.")
    assert catch_up["turn_id"] == live["turn_id"] == str(turn)


def test_a_withdrawn_stream_is_aborted_live_and_not_caught_up(
    client, world, room_id, stream
) -> None:
    turn = uuid4()
    with connect(client, room_id, world.sessions["student"]) as ws:
        _delta(client, stream, room_id, turn, "Half a rep")
        next_event(ws, "message.delta")

        async def abort() -> None:
            await stream.aborted(
                room_id=UUID(room_id), turn_id=turn, message_id=turn, reason="llm_timeout"
            )

        run(client, abort)
        aborted = next_event(ws, "message.aborted")
        with connect(client, room_id, world.sessions["ta"]) as late:
            assert post(client, world.sessions["ta"], room_id, "marker").status_code == 201
            seen = _frames_until(late, "marker")
    assert (aborted["turn_id"], aborted["reason"]) == (str(turn), "llm_timeout")
    assert "message.delta" not in [e["type"] for e in seen]


def test_agent_errors_reach_staff_sockets_only(client, world, room_id, stream) -> None:
    with (
        connect(client, room_id, world.sessions["ta"]) as ta,
        connect(client, room_id, world.sessions["owner"]) as owner,
        connect(client, room_id, world.sessions["student"]) as student,
        connect(client, room_id, world.sessions["ta"], v1=False) as ta_legacy,
    ):
        turn = uuid4()

        async def fail() -> None:
            await stream.trace(
                AgentError(
                    room_id=UUID(room_id),
                    turn_id=turn,
                    agent_type="teacher",
                    code="llm_unavailable",
                    detail="The provider answered 500",
                )
            )

        run(client, fail)
        assert post(client, world.sessions["ta"], room_id, "marker").status_code == 201
        seen = {
            name: [e["type"] for e in _frames_until(ws, "marker")]
            for name, ws in (
                ("ta", ta),
                ("owner", owner),
                ("student", student),
                ("ta_legacy", ta_legacy),
            )
        }
    assert "agent.error" in seen["ta"]
    assert "agent.error" in seen["owner"]
    assert "agent.error" not in seen["student"]
    assert "agent.error" not in seen["ta_legacy"]


def test_a_notice_reaches_one_user_and_the_original_client_reads_it(
    client, world, room_id, stream
) -> None:
    student = world.sessions["student"]
    with (
        connect(client, room_id, student) as v1,
        connect(client, room_id, student, v1=False) as legacy,
        connect(client, room_id, world.sessions["ta"]) as other,
    ):

        async def notify() -> None:
            await stream.notify_user(
                room_id=UUID(room_id),
                user_id=student.user.id,
                code="mention_limited",
                detail="The teacher agent answers 3 mentions a minute; try again soon",
            )

        run(client, notify)
        assert post(client, world.sessions["ta"], room_id, "marker").status_code == 201
        mine = [e for e in _frames_until(v1, "marker") if e["type"] == "error"]
        read = [e for e in _frames_until(legacy, "marker") if e["type"] == "system"]
        others = [e["type"] for e in _frames_until(other, "marker")]
    assert [e["code"] for e in mine] == ["mention_limited"]
    assert [(e["sender"], e["content"]) for e in read] == [
        ("System", "The teacher agent answers 3 mentions a minute; try again soon")
    ]
    assert "error" not in others


def test_the_original_client_receives_only_frames_it_renders(
    client, world, room_id, stream
) -> None:
    """Walk every kind of event a room produces with an original-dialect socket in it:
    each frame it receives is a `message` or a `system` line with string `sender` and
    `content`; errors it must read are `system` lines.
    """
    student, ta = world.sessions["student"], world.sessions["ta"]
    with (
        connect(client, room_id, student, v1=False) as legacy,
        connect(client, room_id, ta) as v1,
    ):
        with connect(client, room_id, world.sessions["owner"]) as passing:  # join, leave
            passing.send_text('{"type": "typing"}')
            passing.send_text('{"type": "ping"}')
            next_event(passing, "pong")
        v1.send_text('{"type": "typing"}')
        send(v1, "hello from v1")
        received = _frames_until(legacy, "hello from v1")
        legacy.send_text("y" * 8001)  # too long
        legacy.send_text("   ")  # blank
        legacy.send_text("x" * (64 * 1024 + 1))  # a frame too large
        legacy.send_bytes(b"\x00")  # not a text frame
        legacy.send_text("hello from the original client")
        received += _frames_until(legacy, "hello from the original client")
        turn = uuid4()
        _delta(client, stream, room_id, turn, "Streaming")

        async def agent_events() -> None:
            await stream.end(turn)
            await stream.aborted(
                room_id=UUID(room_id), turn_id=turn, message_id=turn, reason="failed"
            )
            await stream.trace(
                AgentError(
                    room_id=UUID(room_id), turn_id=turn, agent_type="teacher", code="c", detail="d"
                )
            )
            await stream.notify_user(
                room_id=UUID(room_id), user_id=student.user.id, code="limited", detail="Wait"
            )

        run(client, agent_events)
        response = client.post(
            "/api/v1/announcements/",
            json={"course_id": world.course_id, "title": "Quiz", "content": "Friday"},
            headers=ta.headers,
        )
        assert response.status_code == 201
        assert post(client, ta, room_id, "marker").status_code == 201
        received += _frames_until(legacy, "marker")
        v1_types = {e["type"] for e in _frames_until(v1, "marker")}
    assert {e["type"] for e in received} == {"message", "system"}
    for event in received:
        assert isinstance(event["sender"], str), event
        assert isinstance(event["content"], str), event
    assert [e["content"] for e in received if e["type"] == "message"] == [
        "hello from v1",
        "hello from the original client",
        "marker",
    ]
    assert [e["content"] for e in received if e["type"] == "system"] == [
        "Message not sent: message is longer than 8000 characters",
        "Message not sent: message must not be blank",
        "Message not sent: frames are limited to 65536 bytes",
        "Message not sent: send text frames",
        "Wait",
    ]
    # The v1 socket beside it saw the rest.
    assert v1_types >= {
        "system",
        "presence",
        "typing",
        "message.delta",
        "message.aborted",
        "agent.error",
        "announcement",
    }


def test_message_events_carry_a_turn_id_null_for_people(client, world, room_id) -> None:
    with connect(client, room_id, world.sessions["student"]) as ws:
        send(ws, "hi")
        live = next_event(ws)
    history = client.get(
        f"/api/v1/chat/messages/{room_id}", headers=world.sessions["ta"].headers
    ).json()
    assert live["turn_id"] is None
    assert [m["turn_id"] for m in history] == [None]


def test_the_openapi_document_describes_every_outbound_event(client) -> None:
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    union = schemas["ChatEvent"]
    mapping = union["discriminator"]["mapping"]
    assert union["discriminator"]["propertyName"] == "type"
    assert set(mapping) == {
        "message",
        "system",
        "presence",
        "typing",
        "pong",
        "error",
        "resync",
        "announcement",
        "message.delta",
        "message.aborted",
        "agent.error",
        "agent.tool",
        "job.progress",
        "job.completed",
        "job.failed",
        "agent.turn",
        "agent.proposal",
        "agent.decision",
    }
    for ref in mapping.values():
        assert ref.removeprefix("#/components/schemas/") in schemas
    delta = schemas["MessageDelta"]
    assert set(delta["required"]) == {
        "type",
        "room_id",
        "turn_id",
        "message_id",
        "index",
        "first_index",
        "text",
    }
    assert "turn_id" in schemas["MessageEvent"]["properties"]
    assert set(schemas["AgentToolEvent"]["required"]) == {
        "type",
        "room_id",
        "turn_id",
        "agent_type",
        "tool",
        "arguments",
        "result",
    }
    assert set(schemas["AgentErrorEvent"]["required"]) >= {"agent_type", "code", "detail"}


def test_a_demoted_ta_stops_receiving_traces_at_the_access_check(
    client, world, room_id, stream
) -> None:
    ta, owner = world.sessions["ta"], world.sessions["owner"]
    container = container_of(client)
    turn = uuid4()

    async def fail() -> None:
        await stream.trace(
            AgentError(
                room_id=UUID(room_id), turn_id=turn, agent_type="teacher", code="c", detail="d"
            )
        )

    with connect(client, room_id, ta) as ws:
        run(client, fail)
        assert next_event(ws, "agent.error")["turn_id"] == str(turn)
        demoted = client.put(
            f"/api/v1/courses/{world.course_id}/members/{ta.user.id}",
            json={"role": "student"},
            headers=owner.headers,
        )
        assert demoted.status_code == 200, demoted.text
        check = socket_access(container.chat.join)
        assert run(client, container.hub.drop_unauthorized, check) == 0  # still a member
        run(client, fail)
        assert post(client, owner, room_id, "marker").status_code == 201
        seen = [e["type"] for e in _frames_until(ws, "marker")]
    assert "agent.error" not in seen


def test_a_process_without_sockets_streams_to_the_web_process(
    client, world, room_id, settings
) -> None:
    """A worker builds its own container and never starts the hub's listener: its
    `agent_stream` still reaches the sockets of the web process (through Redis, or the
    embedded process's own bus).
    """
    turn, student = uuid4(), world.sessions["student"]
    with connect(client, room_id, student) as ws:

        async def from_a_worker() -> None:
            # Embedded, turns run in the web process: its own container streams.
            embedded = settings.redis_url is None
            worker = container_of(client) if embedded else build_container(settings)
            try:
                await worker.agent_stream.delta(
                    room_id=UUID(room_id), turn_id=turn, message_id=turn, text="from afar"
                )
                await worker.agent_stream.end(turn)
                await worker.agent_stream.notify_user(
                    room_id=UUID(room_id), user_id=student.user.id, code="c", detail="for you"
                )
            finally:
                if not embedded:
                    await worker.aclose()

        run(client, from_a_worker)
        delta = next_event(ws, "message.delta")
        notice = next_event(ws, "error")
    assert (delta["turn_id"], delta["index"], delta["text"]) == (str(turn), 0, "from afar")
    assert notice["detail"] == "for you"
