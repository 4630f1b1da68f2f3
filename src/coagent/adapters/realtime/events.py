"""Outbound chat events: the JSON every socket receives, and the bus envelope around it.

Every outbound event is a tagged msgspec Struct (`type` is the tag), published in the OpenAPI
document's components (`ChatEvent` is their union), so a generated client can decode them.

A `message` event carries the new fields (`id`, `seq`, `author`, `client_msg_id`, `turn_id`)
and the original system's (`sender` display name, `timestamp`, `metadata.is_ai`,
`metadata.sender_id`), so clients written for the original keep rendering it. `sender`
stays a string because those clients compare it with the user's name; the sender object is
`author`.

Audiences: every frame goes to everyone in the room (`message`), to `coagent.v1` sockets only
(everything else), to course staff's `coagent.v1` sockets only (`agent.*` traces) or to one
user's sockets (a notice such as a mention rate limit). The original web client (a socket
without a subprotocol) reads `sender` and `content` on every frame, so it receives only
`message` events and `system` lines; what it must read of an error becomes a `system` line
(`legacy_frame`).
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

from coagent.application.ports.agent_events import AgentToolTrace
from coagent.application.ports.events import CourseEvent
from coagent.domain.chat.message import Message

# Application close codes (4000-4999 are ours by RFC 6455).
CLOSE_RESYNC = 4000  # fell behind (queue overflow): reconnect with since_seq
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429
CLOSE_UNAVAILABLE = 4503  # the database is busy: reconnect shortly

SYSTEM_SENDER = "System"


class Author(msgspec.Struct, frozen=True):
    id: UUID | None
    name: str
    kind: Literal["user", "agent"]


class MessageMetadata(msgspec.Struct, frozen=True):
    is_ai: bool
    sender_id: UUID | None


class MessageEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="message"):
    """A chat message, live (`type` "message") or from history."""

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
    # The agent turn that wrote it (null for people's messages); closes its `message.delta`s.
    turn_id: UUID | None = None


class UserRef(msgspec.Struct, frozen=True):
    id: UUID
    name: str


class SystemEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="system"):
    """A line for people to read: someone joined or left (`coagent.v1` only), or a notice
    for one original-dialect socket (`event` "notice", e.g. a message that was not sent).
    """

    event: Literal["join", "leave", "notice"]
    room_id: UUID | None  # null only on a refused connection's notice
    user: UserRef | None
    sender: str
    content: str
    timestamp: datetime
    metadata: None = None


class PresenceEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="presence"):
    room_id: UUID
    user: UserRef
    status: Literal["online", "offline"]
    timestamp: datetime


class TypingEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="typing"):
    room_id: UUID
    user: UserRef


class PongEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="pong"):
    timestamp: datetime


class ErrorEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="error"):
    """Something this socket sent (or asked for) was refused; only this socket's user sees it."""

    code: str
    detail: str


class ResyncEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="resync"):
    """Live delivery was interrupted: read the history after your last seq."""

    room_id: UUID
    last_seq: int
    reason: str


class AnnouncementEvent(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="announcement"
):
    action: str
    course_id: UUID
    announcement: dict[str, Any]


class MessageDelta(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="message.delta"
):
    """A piece of an agent reply being streamed. Frames of one turn are numbered 0, 1, 2...;
    one frame covers `first_index`..`index` and its `text` follows the text of the frames
    before it. Live frames have `first_index` = `index`; the one catch-up frame a socket
    gets when it joins or resumes mid-stream has `first_index` 0 and the whole text so far
    (whichever process it is on: the text is also kept in Redis while the turn streams; only
    while Redis cannot be read may it start at the first frame this server relayed).
    The stored `message` with the same `turn_id` replaces the streamed text.
    """

    room_id: UUID
    turn_id: UUID
    message_id: UUID
    index: int
    first_index: int
    text: str


class MessageAborted(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="message.aborted"
):
    """A streamed reply is withdrawn: drop its text; it will never be stored."""

    room_id: UUID
    turn_id: UUID
    message_id: UUID
    reason: str


class AgentErrorEvent(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="agent.error"
):
    """Staff only: an agent turn failed (`code` is its typed error code)."""

    room_id: UUID
    turn_id: UUID
    agent_type: str
    code: str
    detail: str


class JobProgress(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="job.progress"):
    """Staff only: an analytics job of the course advanced (rooms done of rooms total)."""

    job_id: UUID
    course_id: UUID
    status: str
    rooms_done: int
    rooms_total: int


class JobCompleted(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="job.completed"
):
    """Staff only: an analytics job stored its report (`status` succeeded or partial)."""

    job_id: UUID
    course_id: UUID
    status: str
    rooms_done: int
    rooms_total: int
    report_id: UUID | None


class JobFailed(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="job.failed"):
    """Staff only: an analytics job ended without a report (`status` failed or cancelled;
    `error_code` typed, null for a cancellation).
    """

    job_id: UUID
    course_id: UUID
    status: str
    error_code: str | None


class AgentToolEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="agent.tool"):
    """Staff only: an agent called a tool. `arguments` as validated (null when they did not
    validate; `result` then says why); `result` is what the model was told.
    """

    room_id: UUID
    turn_id: UUID
    agent_type: str
    tool: str
    arguments: dict[str, Any] | None
    result: dict[str, Any]


def tool_event(trace: AgentToolTrace) -> AgentToolEvent:
    return AgentToolEvent(
        room_id=trace.room_id,
        turn_id=trace.turn_id,
        agent_type=trace.agent_type,
        tool=trace.tool,
        arguments=dict(trace.arguments) if trace.arguments is not None else None,
        result=dict(trace.result),
    )


class AgentTurnEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="agent.turn"):
    """Staff only: a turn `started`, was `skipped` (`detail`: why) or `failed` (`code`)."""

    room_id: UUID
    turn_id: UUID
    agent_type: str
    status: str
    detail: str
    code: str | None = None


class AgentProposalEvent(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="agent.proposal"
):
    """Staff only: the peer agent's draft, waiting for a decision until `expires_at`."""

    room_id: UUID
    turn_id: UUID
    proposal_id: UUID
    content: str
    approval_mode: str
    expires_at: datetime


class AgentDecisionEvent(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="agent.decision"
):
    """Staff only: a decision on a proposal. `decision`: approve, edit, reject, screen (the
    teacher agent let it through to staff, still pending) or expire; `decided_by` is the
    staff user (null for the teacher agent and the expiry); `message_id` the posted message.
    """

    room_id: UUID
    proposal_id: UUID
    decision: str
    decided_by: UUID | None
    decided_by_agent: bool
    reason: str | None
    message_id: UUID | None = None


ChatEvent = (
    MessageEvent
    | SystemEvent
    | PresenceEvent
    | TypingEvent
    | PongEvent
    | ErrorEvent
    | ResyncEvent
    | AnnouncementEvent
    | MessageDelta
    | MessageAborted
    | AgentErrorEvent
    | JobProgress
    | JobCompleted
    | JobFailed
    | AgentToolEvent
    | AgentTurnEvent
    | AgentProposalEvent
    | AgentDecisionEvent
)
CHAT_EVENTS: tuple[type[msgspec.Struct], ...] = ChatEvent.__args__


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
        turn_id=message.turn_id,
    )


def message_events(messages: Sequence[Message]) -> list[MessageEvent]:
    """`message_event` of each, sharing one `author` and one `metadata` per sender: a page
    of history has few senders, and the two structs per message were a third of the cost.
    """
    shared: dict[tuple[Any, ...], tuple[Author, MessageMetadata]] = {}
    events = []
    for message in messages:
        key = (message.sender_id, message.sender_name, message.agent_type)
        parts = shared.get(key)
        if parts is None:
            author = Author(id=message.sender_id, name=message.sender_name, kind=message.kind.value)
            metadata = MessageMetadata(
                is_ai=message.agent_type is not None, sender_id=message.sender_id
            )
            parts = shared[key] = (author, metadata)
        events.append(
            MessageEvent(
                id=message.id,
                room_id=message.room_id,
                seq=message.seq,
                content=message.content,
                created_at=message.created_at,
                author=parts[0],
                client_msg_id=message.client_msg_id,
                agent_type=message.agent_type,
                sender=message.sender_name,
                sender_id=message.sender_id,
                timestamp=message.created_at,
                metadata=parts[1],
                turn_id=message.turn_id,
            )
        )
    return events


_encoder = msgspec.json.Encoder()


def encode(event: Any) -> str:
    return _encoder.encode(event).decode()


def message_frame(message: Message) -> str:
    return encode(message_event(message))


def error_frame(code: str, detail: str) -> str:
    return encode(ErrorEvent(code=code, detail=detail))


def now() -> datetime:
    return datetime.now(UTC)


def course_frame(event: CourseEvent) -> str | None:
    """`announcement.created` and friends become one `announcement` event with an action;
    None for a kind no socket event exists for (none is published).
    """
    kind, _, action = event.type.partition(".")
    if kind != "announcement":
        return None
    return encode(
        AnnouncementEvent(action=action, course_id=event.course_id, announcement=event.data)
    )


# --- The original web client's dialect.

# Error codes about a message the socket sent: the line says it was not sent.
_NOT_SENT = frozenset(
    {"rate_limited", "invalid", "frame_too_large", "malformed", "conflict", "unavailable"}
)


class _Peek(msgspec.Struct):
    type: str
    code: str = ""
    detail: str = ""


_peek = msgspec.json.Decoder(_Peek)


def system_frame(
    room_id: UUID | None,
    event: Literal["join", "leave", "notice"],
    content: str,
    user: UserRef | None = None,
) -> str:
    return encode(
        SystemEvent(
            event=event,
            room_id=room_id,
            user=user,
            sender=SYSTEM_SENDER,
            content=content,
            timestamp=now(),
        )
    )


def legacy_frame(frame: str, room_id: UUID | None) -> str | None:
    """What a socket without a subprotocol receives of a frame meant for it alone: the
    frame itself (`message`, `system`), an `error` as a readable `system` line, or nothing
    (None: pong, resync... which that client cannot read). Parses the frame: it is for a
    socket's own replies and notices, never for the room's fan-out.
    """
    peek = _peek.decode(frame)
    if peek.type in ("message", "system"):
        return frame
    if peek.type != "error":
        return None
    if peek.code in _NOT_SENT:
        return system_frame(room_id, "notice", f"Message not sent: {_lower_first(peek.detail)}")
    return system_frame(room_id, "notice", peek.detail)


def _lower_first(text: str) -> str:
    """Lower the first letter of a sentence ("Message is..."), not of an acronym ("URL...")."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


# --- The bus envelope: "<seq>[ <audience>[ <stream>]]\n<frame>".
# seq 0 marks events outside the message order (typing, presence, deltas...), which are
# delivered as they come. The audience (default everyone) is read without parsing the frame;
# <stream> marks the frames a hub remembers for mid-stream joins ("d" a delta, "x" an
# abort). An envelope without an audience is the one earlier versions wrote.

EVERYONE = "*"
V1 = "v1"
STAFF = "staff"
STREAM_DELTA = "d"
STREAM_ABORTED = "x"


def user_audience(user_id: UUID) -> str:
    return f"u:{user_id}"


def envelope(seq: int, frame: str, audience: str = EVERYONE, stream: str = "") -> bytes:
    if audience == EVERYONE and not stream:
        return f"{seq}\n{frame}".encode()
    tail = f" {stream}" if stream else ""
    return f"{seq} {audience}{tail}\n{frame}".encode()


def open_envelope(payload: bytes) -> tuple[int, str]:
    seq, _, _, frame = open_addressed(payload)
    return seq, frame


def open_addressed(payload: bytes) -> tuple[int, str, str, str]:
    """(seq, audience, stream marker, frame)."""
    head, _, frame = payload.partition(b"\n")
    parts = head.decode().split(" ")
    audience = parts[1] if len(parts) > 1 else EVERYONE
    stream = parts[2] if len(parts) > 2 else ""
    return int(parts[0]), audience, stream, frame.decode()


def course_event_from_json(payload: bytes) -> CourseEvent:
    data = msgspec.json.decode(payload, type=dict[str, Any])
    kind, course_id = data.pop("type"), data.pop("course_id")
    return CourseEvent(course_id=UUID(course_id), type=kind, data=data)
