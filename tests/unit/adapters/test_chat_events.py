"""Outbound events: the frames' shapes stay what clients rely on, and what the original web
client is given of a frame meant for one socket.
"""

import json
from datetime import UTC, datetime
from uuid import uuid4

import msgspec
import pytest

from coagent.adapters.realtime.events import (
    CHAT_EVENTS,
    ChatEvent,
    MessageDelta,
    UserRef,
    encode,
    error_frame,
    legacy_frame,
    message_frame,
    system_frame,
)
from coagent.domain.chat.message import Message

ROOM = uuid4()


def test_a_message_frame_keeps_its_fields_in_order_with_turn_id_last() -> None:
    turn = uuid4()
    message = Message(
        id=uuid4(),
        room_id=ROOM,
        seq=7,
        content="Hi",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        sender_id=None,
        sender_name="Teacher AI",
        agent_type="teacher",
        turn_id=turn,
    )
    event = json.loads(message_frame(message))
    assert list(event) == [
        "type",
        "id",
        "room_id",
        "seq",
        "content",
        "created_at",
        "author",
        "client_msg_id",
        "agent_type",
        "sender",
        "sender_id",
        "timestamp",
        "metadata",
        "turn_id",
    ]
    assert event["type"] == "message"
    assert event["turn_id"] == str(turn)
    assert event["metadata"] == {"is_ai": True, "sender_id": None}
    assert event["author"]["kind"] == "agent"


def test_a_system_line_has_the_original_fields() -> None:
    user = UserRef(id=uuid4(), name="Ana")
    event = json.loads(system_frame(ROOM, "join", "Ana joined", user))
    assert list(event) == [
        "type",
        "event",
        "room_id",
        "user",
        "sender",
        "content",
        "timestamp",
        "metadata",
    ]
    assert (event["sender"], event["content"], event["metadata"]) == ("System", "Ana joined", None)
    assert event["timestamp"].endswith("Z")


def test_every_event_decodes_through_the_union_by_its_type() -> None:
    decoder = msgspec.json.Decoder(ChatEvent)
    delta = MessageDelta(
        room_id=ROOM, turn_id=uuid4(), message_id=uuid4(), index=2, first_index=0, text="ab"
    )
    assert decoder.decode(encode(delta)) == delta
    tags = {msgspec.inspect.type_info(kind).tag for kind in CHAT_EVENTS}
    assert len(tags) == len(CHAT_EVENTS)


@pytest.mark.parametrize(
    ("code", "detail", "line"),
    [
        (
            "invalid",
            "Message is longer than 8000 characters",
            "Message not sent: message is longer than 8000 characters",
        ),
        (
            "rate_limited",
            "Too many messages; retry in 1.5 s",
            "Message not sent: too many messages; retry in 1.5 s",
        ),
        ("unavailable", "URL service busy", "Message not sent: URL service busy"),
        ("not_found", "You no longer have access to this room", None),
        ("mention_limited", "Try again in a minute", None),
    ],
)
def test_an_error_reaches_the_original_client_as_a_system_line(
    code: str, detail: str, line: str | None
) -> None:
    event = json.loads(legacy_frame(error_frame(code, detail), ROOM) or "null")
    assert event["type"] == "system"
    assert event["event"] == "notice"
    assert event["sender"] == "System"
    assert event["content"] == (line or detail)
    assert event["room_id"] == str(ROOM)


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"pong","timestamp":"2026-01-01T00:00:00Z"}',
        '{"type":"resync","room_id":null,"last_seq":3,"reason":"x"}',
        '{"type":"typing","room_id":null}',
        '{"type":"message.delta","text":"x"}',
        '{"type":"agent.error","code":"x"}',
    ],
)
def test_frames_the_original_client_cannot_read_are_not_given_to_it(frame: str) -> None:
    assert legacy_frame(frame, ROOM) is None


def test_message_and_system_frames_reach_the_original_client_unchanged() -> None:
    line = system_frame(ROOM, "notice", "Hello")
    assert legacy_frame(line, ROOM) == line
    frame = '{"type":"message","sender":"Ana","content":"Hi"}'
    assert legacy_frame(frame, ROOM) == frame
