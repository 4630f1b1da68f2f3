"""Outbound chat events: the JSON every socket receives, and the bus envelope around it.

A `message` event carries the new fields (`id`, `seq`, `author`, `client_msg_id`) and the
original system's (`sender` display name, `timestamp`, `metadata.is_ai`,
`metadata.sender_id`), so clients written for the original keep rendering it. `sender`
stays a string because those clients compare it with the user's name; the sender object is
`author`.
"""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

from coagent.application.ports.events import CourseEvent
from coagent.domain.chat.message import Message

# Application close codes (4000-4999 are ours by RFC 6455).
CLOSE_RESYNC = 4000  # fell behind (queue overflow): reconnect with since_seq
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429
CLOSE_UNAVAILABLE = 4503  # the database is busy: reconnect shortly


class Author(msgspec.Struct, frozen=True):
    id: UUID | None
    name: str
    kind: Literal["user", "agent"]


class MessageMetadata(msgspec.Struct, frozen=True):
    is_ai: bool
    sender_id: UUID | None


class MessageEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A chat message, live (`type` "message") or from history."""

    type: Literal["message"] = "message"
    id: UUID
    room_id: UUID
    seq: int
    content: str
    created_at: datetime
    author: Author
    client_msg_id: str | None
    agent_type: str | None
    # The original system's fields.
    sender: str
    sender_id: UUID | None
    timestamp: datetime
    metadata: MessageMetadata


def message_event(message: Message) -> MessageEvent:
    is_ai = message.agent_type is not None
    return MessageEvent(
        id=message.id,
        room_id=message.room_id,
        seq=message.seq,
        content=message.content,
        created_at=message.created_at,
        author=Author(id=message.sender_id, name=message.sender_name, kind=message.kind.value),
        client_msg_id=message.client_msg_id,
        agent_type=message.agent_type,
        sender=message.sender_name,
        sender_id=message.sender_id,
        timestamp=message.created_at,
        metadata=MessageMetadata(is_ai=is_ai, sender_id=message.sender_id),
    )


_encoder = msgspec.json.Encoder()


def encode(event: Any) -> str:
    return _encoder.encode(event).decode()


def message_frame(message: Message) -> str:
    return encode(message_event(message))


def error_frame(code: str, detail: str) -> str:
    return encode({"type": "error", "code": code, "detail": detail})


def course_frame(event: CourseEvent) -> str:
    """`announcement.created` and friends become one `announcement` event with an action."""
    kind, _, action = event.type.partition(".")
    return encode({"type": kind, "action": action, "course_id": event.course_id, kind: event.data})


# --- The bus envelope: "<seq>\n<frame>". seq 0 marks events outside the message order
# (typing, presence, join/leave), which are delivered as they come.


def envelope(seq: int, frame: str) -> bytes:
    return f"{seq}\n{frame}".encode()


def open_envelope(payload: bytes) -> tuple[int, str]:
    head, _, frame = payload.partition(b"\n")
    return int(head), frame.decode()


def course_event_from_json(payload: bytes) -> CourseEvent:
    data = msgspec.json.decode(payload, type=dict[str, Any])
    kind, course_id = data.pop("type"), data.pop("course_id")
    return CourseEvent(course_id=UUID(course_id), type=kind, data=data)
