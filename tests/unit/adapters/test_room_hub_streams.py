"""RoomHub audiences and agent streams over the in-memory bus: who receives which frame, what
the original clients' sockets can receive at all, and mid-stream joins and resumes (one
catch-up delta, then the live ones: nothing missing, nothing twice).
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from coagent.adapters.realtime import agent_stream
from coagent.adapters.realtime.agent_stream import HubAgentStream
from coagent.adapters.realtime.bus import BusUnavailable, InMemoryRoomBus
from coagent.adapters.realtime.events import (
    CLOSE_NOT_FOUND,
    EVERYONE,
    STAFF,
    V1,
    encode,
    envelope,
    error_frame,
    message_frame,
    open_addressed,
    open_envelope,
    user_audience,
)
from coagent.adapters.realtime.hub import RoomHub, room_channel
from coagent.application.ports.agent_events import AgentError
from coagent.application.ports.events import CourseEvent
from coagent.domain.chat.message import Message

pytestmark = pytest.mark.anyio

ROOM, COURSE = uuid4(), uuid4()


def _message(seq: int, turn_id: UUID | None = None) -> Message:
    return Message(
        id=uuid4(),
        room_id=ROOM,
        seq=seq,
        content=f"m{seq}",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        sender_id=None,
        sender_name="Teacher AI" if turn_id else "Someone",
        agent_type="teacher" if turn_id else None,
        turn_id=turn_id,
    )


class Store:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def after(self, room_id: UUID, seq: int, limit: int) -> Sequence[Message]:
        return [m for m in self.messages if m.seq > seq][:limit]

    async def last_seq(self, room_id: UUID) -> int:
        return len(self.messages)


class Socket:
    def __init__(
        self, *, v1: bool = True, staff: bool = False, user_id: UUID | None = None
    ) -> None:
        self.user_id, self.session_id, self.seen = user_id or uuid4(), uuid4(), 0
        self.v1, self.staff = v1, staff
        self.frames: list[str] = []
        self.dropped: int | None = None

    def offer(self, frame: str) -> bool:
        self.frames.append(frame)
        return True

    def drop(self, code: int, reason: str) -> None:
        self.dropped = code

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(f) for f in self.frames]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events()]


async def _hub(**kw: Any) -> tuple[RoomHub, HubAgentStream, Store]:
    store = Store()
    hub = RoomHub(bus=InMemoryRoomBus(), source=store, gap_wait=0.01, **kw)
    hub.start()
    # A long interval and `end` before each check: every delta is one frame, no timer runs.
    return hub, HubAgentStream(hub=hub, interval=0), store


async def _join(hub: RoomHub, socket: Socket, since: int | None = None) -> list[str]:
    first = await hub.join(ROOM, COURSE, socket, since)
    socket.frames[:0] = first
    return first


async def _post(hub: RoomHub, store: Store, turn_id: UUID | None = None) -> Message:
    message = _message(len(store.messages) + 1, turn_id)
    store.messages.append(message)
    await hub.publish_message(message)
    return message


# --- the envelope


def test_the_envelope_carries_the_audience_without_touching_the_frame() -> None:
    frame = '{"type":"typing"}'
    assert envelope(3, frame) == b'3\n{"type":"typing"}'  # what earlier versions wrote
    assert open_envelope(envelope(3, frame)) == (3, frame)
    assert open_addressed(envelope(0, frame, V1)) == (0, V1, "", frame)
    assert open_addressed(envelope(0, frame, STAFF, "d")) == (0, STAFF, "d", frame)
    user = uuid4()
    assert open_addressed(envelope(0, frame, user_audience(user))) == (0, f"u:{user}", "", frame)
    assert open_addressed(b'0\n{"type":"typing"}') == (0, EVERYONE, "", frame)


# --- audiences


async def test_each_audience_reaches_exactly_its_sockets() -> None:
    hub, _, store = await _hub()
    student, ta = uuid4(), uuid4()
    legacy = Socket(v1=False, user_id=student)
    v1 = Socket(user_id=student)
    staff = Socket(staff=True, user_id=ta)
    legacy_staff = Socket(v1=False, staff=True, user_id=ta)
    for socket in (legacy, v1, staff, legacy_staff):
        await _join(hub, socket)
    await _post(hub, store)
    await hub.publish_event(ROOM, encode({"type": "typing", "room_id": ROOM}))
    await hub.publish_event(ROOM, encode({"type": "agent.error", "code": "x"}), STAFF)
    await hub.publish_event(ROOM, error_frame("limited", "Too many mentions"), user_audience(ta))
    await hub.publish_event(ROOM, encode({"type": "future"}), "someone-new")
    assert legacy.types() == ["message"]
    assert v1.types() == ["message", "typing"]
    assert staff.types() == ["message", "typing", "agent.error", "error"]
    assert legacy_staff.types() == ["message", "system"]
    notice = legacy_staff.events()[-1]
    assert (notice["sender"], notice["content"]) == ("System", "Too many mentions")
    await hub.close()


async def test_the_original_clients_receive_only_message_and_system_frames() -> None:
    """Every kind of frame the hub relays, to a legacy socket: each one it gets is a
    `message` or `system` with string `sender` and `content`.
    """
    hub, stream, store = await _hub()
    legacy = Socket(v1=False, staff=True)
    await _join(hub, legacy)
    v1 = Socket(staff=True, user_id=legacy.user_id)
    await _join(hub, v1)
    turn, message_id = uuid4(), uuid4()
    await _post(hub, store)
    await hub.publish_event(ROOM, encode({"type": "typing", "room_id": ROOM}))
    await hub.publish_event(ROOM, encode({"type": "presence", "room_id": ROOM}))
    await stream.delta(room_id=ROOM, turn_id=turn, message_id=message_id, text="Hi")
    await stream.end(turn)
    await _post(hub, store, turn)
    await stream.aborted(room_id=ROOM, turn_id=uuid4(), message_id=uuid4(), reason="failed")
    await stream.trace(
        AgentError(room_id=ROOM, turn_id=turn, agent_type="teacher", code="boom", detail="x")
    )
    await stream.notify_user(room_id=ROOM, user_id=legacy.user_id, code="limited", detail="Wait")
    hub.deliver_course_event(
        CourseEvent(course_id=COURSE, type="announcement.created", data={"title": "Quiz"})
    )
    await hub._on_reconnect()  # a bus reconnect: resync
    legacy.frames += await hub.replay(ROOM, legacy, 0)
    await hub.drop_unauthorized(lambda user_id, room_id: _none())
    events = legacy.events()
    assert {e["type"] for e in events} == {"message", "system"}
    assert all(isinstance(e["sender"], str) and isinstance(e["content"], str) for e in events)
    assert [e["content"] for e in events if e["type"] == "system"] == [
        "Wait",
        "You no longer have access to this room",
    ]
    # The same walk reached the v1 socket with every type.
    assert set(v1.types()) >= {
        "message",
        "typing",
        "presence",
        "message.delta",
        "message.aborted",
        "agent.error",
        "error",
        "announcement",
        "resync",
    }
    assert legacy.dropped == v1.dropped == CLOSE_NOT_FOUND
    await hub.close()


async def _none() -> None:
    return None


async def test_a_join_or_resume_the_original_clients_cannot_follow_sends_them_no_resync() -> None:
    hub, _, store = await _hub()
    await _post(hub, store)
    legacy, v1 = Socket(v1=False), Socket()
    assert await hub.join(ROOM, COURSE, legacy, 99) == []
    assert json.loads((await hub.join(ROOM, COURSE, v1, 99))[0])["type"] == "resync"
    await hub.close()


async def test_the_access_check_brings_staff_standing_up_to_date() -> None:
    hub, stream, _ = await _hub()
    demoted, promoted = Socket(staff=True), Socket()
    await _join(hub, demoted)
    await _join(hub, promoted)
    standing = {demoted.user_id: False, promoted.user_id: True}

    async def access(user_id: UUID, room_id: UUID) -> bool | None:
        return standing[user_id]

    assert await hub.drop_unauthorized(access) == 0
    await stream.trace(
        AgentError(room_id=ROOM, turn_id=uuid4(), agent_type="teacher", code="c", detail="d")
    )
    assert demoted.types() == []
    assert promoted.types() == ["agent.error"]
    assert demoted.dropped is None
    await hub.close()


# --- mid-stream joins and resumes


async def _stream_text(stream: HubAgentStream, turn: UUID, message_id: UUID, text: str) -> None:
    await stream.delta(room_id=ROOM, turn_id=turn, message_id=message_id, text=text)


def _deltas(socket: Socket) -> list[tuple[int, int, str]]:
    return [
        (e["first_index"], e["index"], e["text"])
        for e in socket.events()
        if e["type"] == "message.delta"
    ]


def _shown(socket: Socket) -> str:
    """What a client following the rule shows: append a frame that follows what it has,
    replace on `first_index` 0, ignore anything else.
    """
    text, last = "", -1
    for first, index, piece in _deltas(socket):
        if first == 0:
            text, last = piece, index
        elif first == last + 1:
            text, last = text + piece, index
    return text


async def test_a_socket_joining_mid_stream_gets_the_text_so_far_then_the_rest() -> None:
    hub, stream, _ = await _hub()
    early = Socket()
    await _join(hub, early)
    turn, message_id = uuid4(), uuid4()
    for piece in ("The ", "answer ", "is "):
        await _stream_text(stream, turn, message_id, piece)
    late = Socket()
    first = await _join(hub, late)
    assert [json.loads(f)["type"] for f in first] == ["message.delta"]
    for piece in ("forty", "-two."):
        await _stream_text(stream, turn, message_id, piece)
    assert _deltas(late) == [(0, 2, "The answer is "), (3, 3, "forty"), (4, 4, "-two.")]
    assert _shown(late) == _shown(early) == "The answer is forty-two."
    assert {e["message_id"] for e in late.events()} == {str(message_id)}
    await hub.close()


async def test_a_delta_is_encoded_once_for_all_sockets_of_the_room(monkeypatch) -> None:
    # P6/P7: the frame is built once per delta, and every `coagent.v1` socket is offered
    # that same string; the original clients' sockets get none.
    encoded: list[str] = []

    def counting(event: Any) -> str:
        encoded.append(encode(event))
        return encoded[-1]

    monkeypatch.setattr(agent_stream, "encode", counting)
    hub, stream, _ = await _hub()
    sockets = [Socket() for _ in range(30)]
    legacy = [Socket(v1=False) for _ in range(5)]
    for socket in (*sockets, *legacy):
        await _join(hub, socket)
    await _stream_text(stream, uuid4(), uuid4(), "Hello")
    [frame] = encoded
    # The bus hands each process the frame once (decoded from its envelope): one string.
    received = sockets[0].frames
    assert received == [frame]
    assert all(len(s.frames) == 1 and s.frames[0] is received[0] for s in sockets)
    assert all(s.frames == [] for s in legacy)
    await hub.close()


async def test_the_stored_message_ends_the_stream_for_later_joins() -> None:
    hub, stream, store = await _hub()
    turn = uuid4()
    await _join(hub, Socket())
    await _stream_text(stream, turn, uuid4(), "Hello")
    await stream.end(turn)
    stored = await _post(hub, store, turn)
    late = Socket()
    first = await _join(hub, late)
    assert first == []
    assert json.loads(message_frame(stored))["turn_id"] == str(turn)
    # A late copy of a delta (another process, slower) does not bring it back.
    await _stream_text(stream, turn, uuid4(), "again")
    assert await _join(hub, Socket()) == []
    await hub.close()


async def test_an_aborted_stream_is_not_caught_up() -> None:
    hub, stream, _ = await _hub()
    turn, message_id = uuid4(), uuid4()
    await _join(hub, Socket())
    await _stream_text(stream, turn, message_id, "Half a rep")
    await stream.aborted(room_id=ROOM, turn_id=turn, message_id=message_id, reason="failed")
    assert await _join(hub, Socket()) == []
    await hub.close()


async def test_a_stream_whose_end_never_came_is_forgotten() -> None:
    hub, stream, _ = await _hub(stream_ttl=0)
    turn = uuid4()
    await _join(hub, Socket())
    await _stream_text(stream, turn, uuid4(), "a worker died here")
    assert await _join(hub, Socket()) == []
    await hub.close()


async def test_a_resume_mid_stream_replays_messages_then_one_catch_up() -> None:
    hub, stream, store = await _hub()
    socket = Socket()
    await _join(hub, socket)
    await _post(hub, store)
    await _post(hub, store)
    turn, message_id = uuid4(), uuid4()
    await _stream_text(stream, turn, message_id, "ab")
    await _stream_text(stream, turn, message_id, "cd")
    frames = await hub.replay(ROOM, socket, 0)
    assert [json.loads(f)["type"] for f in frames] == ["message", "message", "message.delta"]
    catch_up = json.loads(frames[-1])
    assert (catch_up["first_index"], catch_up["index"], catch_up["text"]) == (0, 1, "abcd")
    # A resume with nothing to replay still catches the stream up.
    assert [json.loads(f)["text"] for f in await hub.replay(ROOM, socket, 2)] == ["abcd"]
    await hub.close()


async def test_a_hub_that_saw_the_stream_from_a_later_frame_says_so() -> None:
    hub, _, _ = await _hub()
    await _join(hub, Socket())
    turn, message_id = uuid4(), uuid4()
    for index, text in ((3, "later "), (4, "text")):
        frame = encode(
            {
                "type": "message.delta",
                "room_id": ROOM,
                "turn_id": turn,
                "message_id": message_id,
                "index": index,
                "first_index": index,
                "text": text,
            }
        )
        await hub.publish_event(ROOM, frame, V1, "d")
        await hub.publish_event(ROOM, frame, V1, "d")  # a duplicate is not appended twice
    late = Socket()
    await _join(hub, late)
    assert _deltas(late) == [(3, 4, "later text")]
    await hub.close()


async def test_two_turns_in_two_rooms_are_kept_apart() -> None:
    hub, stream, _ = await _hub()
    other_room = uuid4()
    here, there = Socket(), Socket()
    await _join(hub, here)
    await hub.join(other_room, COURSE, there, None)
    turn_here, turn_there = uuid4(), uuid4()
    await _stream_text(stream, turn_here, uuid4(), "here")
    await stream.delta(room_id=other_room, turn_id=turn_there, message_id=uuid4(), text="there")
    late_here, late_there = Socket(), Socket()
    await _join(hub, late_here)
    late_there.frames = await hub.join(other_room, COURSE, late_there, None)
    assert [e["text"] for e in late_here.events()] == ["here"]
    assert [e["text"] for e in late_there.events()] == ["there"]
    await hub.close()


async def test_deltas_published_while_the_bus_is_down_reach_local_sockets(monkeypatch) -> None:
    hub, stream, _ = await _hub()
    socket = Socket()
    await _join(hub, socket)
    bus = cast(InMemoryRoomBus, hub._bus)

    async def down(channel: str, payload: bytes) -> None:
        raise BusUnavailable("down")

    monkeypatch.setattr(bus, "publish", down)
    turn = uuid4()
    await _stream_text(stream, turn, uuid4(), "still ")
    await _stream_text(stream, turn, uuid4(), "here")
    assert _shown(socket) == "still here"
    late = Socket()
    await _join(hub, late)
    assert _deltas(late) == [(0, 1, "still here")]
    await hub.close()


async def test_a_malformed_stream_frame_never_stops_the_listener() -> None:
    hub, _, store = await _hub()
    socket = Socket()
    await _join(hub, socket)
    await InMemoryRoomBus.publish(
        cast(InMemoryRoomBus, hub._bus), room_channel(ROOM), b'0 v1 d\n{"type":"message.delta"}'
    )
    await _post(hub, store)
    assert socket.types() == ["message"]
    await hub.close()


async def test_no_catch_up_for_a_turn_whose_message_the_replay_carries() -> None:
    """The stored message was read from the database before this hub relayed it: the
    resuming socket gets the message, not the stream it replaces.
    """
    hub, stream, store = await _hub(ring_size=1)
    await _join(hub, Socket())
    await _post(hub, store)
    await _post(hub, store)  # the ring holds seq 2 only: a resume from 0 reads the store
    turn, other = uuid4(), uuid4()
    await _stream_text(stream, turn, uuid4(), "answered")
    await _stream_text(stream, other, uuid4(), "still going")
    store.messages.append(_message(3, turn))  # committed; its publish has not come yet
    late = Socket()
    await _join(hub, late, since=0)
    assert [(e["type"], e.get("text")) for e in late.events()] == [
        ("message", None),
        ("message", None),
        ("message", None),
        ("message.delta", "still going"),
    ]
    await hub.publish_message(store.messages[-1])  # now it comes: not sent twice
    assert [e["type"] for e in late.events()].count("message") == 3
    await hub.close()
