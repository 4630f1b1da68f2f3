"""One admitted chat socket's life: its inbound frames, read here, and its goodbye.

The HTTP adapter authenticates the handshake and joins the room (adapters/http/chat); from
then on, one task reads (`serve`), one task per socket writes from a bounded queue
(`coagent.adapters.realtime.connection.Connection`), and the hub only ever queues. No
database session lives with the socket: each inbound message is one unit of work.

Dialects: without a subprotocol every text frame is one message (the original clients);
with `coagent.v1` frames are typed JSON (`message.send`, `typing`, `resume`, `ping`).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

import msgspec

from coagent.adapters.realtime.connection import Connection, FrameSocket
from coagent.adapters.realtime.events import (
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHENTICATED,
    PongEvent,
    PresenceEvent,
    TypingEvent,
    UserRef,
    encode,
    error_frame,
    message_frame,
    now,
    system_frame,
)
from coagent.adapters.realtime.hub import RoomHub
from coagent.adapters.realtime.token_bucket import TokenBucket
from coagent.application.chat.join_room import RoomPass
from coagent.application.chat.post_message import PostMessage, PostMessageCommand
from coagent.domain.errors import (
    CoagentError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
    Unavailable,
)

logger = logging.getLogger("coagent.chat")

CLOSE_INTERNAL_ERROR = 1011


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatLimits:
    max_frame_bytes: int = 64 * 1024
    messages_per_window: int = 20
    window_seconds: int = 10
    connections_per_user: int = 10
    queue_size: int = 256


class MessageSend(msgspec.Struct, tag="message.send", forbid_unknown_fields=True):
    content: str
    client_msg_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class Typing(msgspec.Struct, tag="typing", forbid_unknown_fields=True):
    pass


class Resume(msgspec.Struct, tag="resume", forbid_unknown_fields=True):
    since_seq: Annotated[int, msgspec.Meta(ge=0)]


class Ping(msgspec.Struct, tag="ping", forbid_unknown_fields=True):
    pass


Inbound = MessageSend | Typing | Resume | Ping
_decoder = msgspec.json.Decoder(Inbound)

ERROR_CODES: dict[type[CoagentError], str] = {
    InvalidInput: "invalid",
    Conflict: "conflict",
    Forbidden: "forbidden",
    NotFound: "not_found",
    NotAuthenticated: "unauthenticated",
    TooManyAttempts: "rate_limited",
    Unavailable: "unavailable",
}


def code_of(error: CoagentError) -> str:
    for kind in type(error).__mro__:
        if kind in ERROR_CODES:
            return ERROR_CODES[kind]
    return "error"


class ChatSocket(FrameSocket, Protocol):
    """What a session needs of its socket (Litestar's `WebSocket` is one): ASGI receive
    events, besides sending and closing.
    """

    @property
    def receive(self) -> Callable[[], Awaitable[Mapping[str, object]]]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """An admitted socket: joined to its room's hub (its place reserved), accepted."""

    socket: ChatSocket
    connection: Connection
    room: RoomPass
    hub: RoomHub
    post: PostMessage
    limits: ChatLimits
    v1: bool


async def serve(session: Session, first: list[str]) -> None:
    """Send `first`, then read until the client leaves or the hub drops the socket; the
    socket leaves the hub (exactly once) and is closed however that ends.
    """
    connection, room, hub = session.connection, session.room, session.hub
    connection.start(first)
    reader = asyncio.create_task(_read(session))
    dropped = asyncio.create_task(connection.closed.wait())
    try:
        await announce(hub, room, "join")
        await asyncio.wait({reader, dropped}, return_when=asyncio.FIRST_COMPLETED)
        failure = reader.exception() if reader.done() and not reader.cancelled() else None
        if failure is not None:
            # Never a silent drop: a traceback in the log, a close frame to the client.
            logger.error(
                "chat socket failed",
                extra={"room_id": str(room.room_id), "error": type(failure).__name__},
                exc_info=failure,
            )
            connection.drop(CLOSE_INTERNAL_ERROR, "Internal error")
    finally:
        for task in (reader, dropped):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        hub.leave(room.room_id, connection)
        await connection.finish()
        with contextlib.suppress(Exception):
            await announce(hub, room, "leave")


async def announce(hub: RoomHub, room: RoomPass, event: Literal["join", "leave"]) -> None:
    """`system` join/leave lines and `presence`, for `coagent.v1` sockets only: in a class
    of 30 the original client's transcript would be buried in them (docs/adr/0004).
    """
    user = UserRef(id=room.user_id, name=room.display_name)
    verb = "joined" if event == "join" else "left"
    await hub.publish_event(
        room.room_id, system_frame(room.room_id, event, f"{room.display_name} {verb}", user)
    )
    await hub.publish_event(
        room.room_id,
        encode(
            PresenceEvent(
                room_id=room.room_id,
                user=user,
                status="online" if event == "join" else "offline",
                timestamp=now(),
            )
        ),
    )


async def _read(session: Session) -> None:
    socket, connection, room, limits = (
        session.socket,
        session.connection,
        session.room,
        session.limits,
    )
    bucket = TokenBucket.full(2 * limits.messages_per_window, limits.window_seconds)
    last_typing = 0.0
    while True:
        event = await socket.receive()
        if event["type"] == "websocket.disconnect":
            return
        text = event.get("text")
        data = event.get("bytes")
        raw: bytes = (
            text.encode() if isinstance(text, str) else data if isinstance(data, bytes) else b""
        )
        if len(raw) > limits.max_frame_bytes:
            connection.send_now(
                error_frame(
                    "frame_too_large", f"Frames are limited to {limits.max_frame_bytes} bytes"
                )
            )
            continue
        if not session.v1:
            if not isinstance(text, str):
                connection.send_now(error_frame("malformed", "Send text frames"))
                continue
            inbound: Inbound = MessageSend(content=text)
        else:
            try:
                inbound = _decoder.decode(raw)
            except msgspec.DecodeError as error:
                connection.send_now(error_frame("malformed", str(error)))
                continue
            except UnicodeDecodeError:  # a binary frame that is not UTF-8
                connection.send_now(error_frame("malformed", "The frame is not valid UTF-8"))
                continue
        if isinstance(inbound, MessageSend | Resume) and (wait := bucket.take()):
            connection.send_now(
                error_frame("rate_limited", f"Too many frames; retry in {wait:.1f} s")
            )
        elif isinstance(inbound, MessageSend):
            if not await _send(session, inbound):
                return
        elif isinstance(inbound, Typing):
            moment = time.monotonic()
            if moment - last_typing >= 1.0:  # typing is a hint: at most one per second
                last_typing = moment
                user = UserRef(id=room.user_id, name=room.display_name)
                await session.hub.publish_event(
                    room.room_id, encode(TypingEvent(room_id=room.room_id, user=user))
                )
        elif isinstance(inbound, Resume):
            try:
                frames = await session.hub.replay(room.room_id, connection, inbound.since_seq)
            except Unavailable as error:  # the client may send the same resume again
                frames = [error_frame(code_of(error), error.detail)]
            for frame in frames:
                connection.send_now(frame)
        else:
            connection.send_now(encode(PongEvent(timestamp=now())))


async def _send(session: Session, inbound: MessageSend) -> bool:
    """Store and publish one message; False when the socket must close."""
    connection, room = session.connection, session.room
    try:
        posted = await session.post.execute(
            PostMessageCommand(
                actor_id=room.user_id,
                room_id=room.room_id,
                content=inbound.content,
                client_msg_id=inbound.client_msg_id,
            )
        )
    except (NotAuthenticated, NotFound) as error:  # deactivated, or no longer a member
        connection.send_now(error_frame(code_of(error), error.detail))
        connection.drop(
            CLOSE_UNAUTHENTICATED if isinstance(error, NotAuthenticated) else CLOSE_NOT_FOUND,
            error.detail[:120],
        )
        return False
    except CoagentError as error:
        # The socket stays open. Unavailable (the database was busy) stored nothing: the
        # client may resend with the same client_msg_id.
        connection.send_now(error_frame(code_of(error), error.detail))
        return True
    if not posted.created:
        # A resend: the original went out long ago; acknowledge it to this socket again.
        connection.send_now(message_frame(posted.message))
    return True
