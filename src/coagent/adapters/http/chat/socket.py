"""WS /api/v1/chat/ws/{room_id}: the live room.

Dialects: without a subprotocol every text frame is one message (the original clients);
with `coagent.v1` frames are typed JSON (`message.send`, `typing`, `resume`, `ping`).
Outbound frames are always JSON events with a `type`; a socket without a subprotocol gets
only `message` events and `system` lines (an error it must read becomes a `system` line),
because the original client reads `sender` and `content` on every frame.

One task reads (here), one task per socket writes from a bounded queue
(`coagent.adapters.realtime.connection.Connection`), and the hub only ever queues: a slow
client fills its own queue and is closed with a resync code, nobody waits for it. No database
session lives with the socket: each inbound message is one unit of work.
"""

import asyncio
import contextlib
import logging
import time
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import WebSocket, websocket
from litestar.params import FromPath

from coagent.adapters.http.auth import ACCESS_COOKIE, bearer_token
from coagent.adapters.http.chat.services import Chat, ChatServices
from coagent.adapters.http.csrf import trusted_origin
from coagent.adapters.http.deps import Authenticator, services_of
from coagent.adapters.realtime.connection import Connection
from coagent.adapters.realtime.events import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHENTICATED,
    CLOSE_UNAVAILABLE,
    PongEvent,
    PresenceEvent,
    TypingEvent,
    UserRef,
    encode,
    error_frame,
    legacy_frame,
    message_frame,
    now,
    system_frame,
)
from coagent.adapters.realtime.hub import RoomHub
from coagent.adapters.realtime.token_bucket import TokenBucket
from coagent.application.accounts.authenticate import Authenticate
from coagent.application.chat.join_room import JoinRoomCommand, RoomPass
from coagent.application.chat.post_message import PostMessageCommand
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

V1 = "coagent.v1"
CLOSE_BAD_REQUEST = 4400
CLOSE_INTERNAL_ERROR = 1011


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


def _code_of(error: CoagentError) -> str:
    for kind in type(error).__mro__:
        if kind in ERROR_CODES:
            return ERROR_CODES[kind]
    return "error"


def _origin_allowed(socket: WebSocket[Any, Any, Any], allowed: tuple[str, ...]) -> bool:
    """The CSRF rule of cookie-authenticated HTTP writes (Fetch Metadata, then Origin)."""
    return trusted_origin(socket.scope, allowed)


def _log_refused(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    """One line per refused socket: its close code and reason, the path without the query
    string (which may carry a ticket or a token).
    """
    logger.info(
        "chat socket refused",
        extra={"path": socket.scope.get("path"), "close_code": code, "reason": reason},
    )


async def _reject(
    socket: WebSocket[Any, Any, Any], v1: bool, code: int, error: str, detail: str
) -> None:
    """Accept only to say why (browsers cannot read a refused handshake), then close."""
    _log_refused(socket, code, f"{error}: {detail[:120]}")
    await socket.accept(subprotocols=V1 if v1 else None)
    frame = error_frame(error, detail)
    with contextlib.suppress(Exception):
        await socket.send_text(frame if v1 else legacy_frame(frame, None) or frame)
        await socket.close(code=code, reason=detail[:120])


@websocket(
    "/api/v1/chat/ws/{room_id:str}",
    name="chat_ws",
    dependencies={"chat": services_of(ChatServices)},
)
async def chat_socket(
    socket: WebSocket[Any, Any, Any],
    room_id: FromPath[str],
    chat: Chat,
    authenticate: Authenticator,
) -> None:
    v1 = V1 in (socket.scope.get("subprotocols") or [])
    identity = await _authenticate(socket, chat, authenticate, v1)
    if identity is None:
        return
    user_id, session_id = identity
    try:
        since = _since(socket.query_params.get("since_seq"))
        room = await chat.join.execute(JoinRoomCommand(actor_id=user_id, room_id=UUID(room_id)))
    except NotAuthenticated as error:
        await _reject(socket, v1, CLOSE_UNAUTHENTICATED, "unauthenticated", error.detail)
        return
    except InvalidInput as error:
        await _reject(socket, v1, CLOSE_BAD_REQUEST, "invalid", error.detail)
        return
    except (NotFound, ValueError):
        await _reject(socket, v1, CLOSE_NOT_FOUND, "not_found", "Room not found")
        return
    except Unavailable as error:
        await _reject(socket, v1, CLOSE_UNAVAILABLE, "unavailable", error.detail)
        return
    limits = chat.limits
    if not chat.hub.reserve(user_id, limits.connections_per_user):
        await _reject(
            socket,
            v1,
            CLOSE_TOO_MANY,
            "too_many_connections",
            f"At most {limits.connections_per_user} open connections per user",
        )
        return
    connection = Connection(
        socket,
        user_id=user_id,
        session_id=session_id,
        queue_size=limits.queue_size,
        room_id=room.room_id,
        v1=v1,
        staff=room.is_staff,
    )
    try:
        # Join before accepting: once the client sees the socket open, nothing is missed.
        first = await chat.hub.join(room.room_id, room.course_id, connection, since)
        await socket.accept(subprotocols=V1 if v1 else None)
    except Unavailable as error:  # from the join's reads, so before accepting
        chat.hub.leave(room.room_id, connection)
        await _reject(socket, v1, CLOSE_UNAVAILABLE, "unavailable", error.detail)
        return
    except BaseException:
        chat.hub.leave(room.room_id, connection)
        raise
    connection.start(first)
    reader = asyncio.create_task(_read(socket, connection, room, chat, v1))
    dropped = asyncio.create_task(connection.closed.wait())
    try:
        await _announce(chat.hub, room, "join")
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
        chat.hub.leave(room.room_id, connection)
        await connection.finish()
        with contextlib.suppress(Exception):
            await _announce(chat.hub, room, "leave")


async def _authenticate(
    socket: WebSocket[Any, Any, Any], chat: ChatServices, authenticate: Authenticate, v1: bool
) -> tuple[UUID, UUID] | None:
    """(user id, session id) from a ticket, a bearer token or the cookie; None once refused."""
    ticket = socket.query_params.get("ticket")
    token = bearer_token(socket)
    cookie = socket.cookies.get(ACCESS_COOKIE)
    if not ticket and not token and cookie and not _origin_allowed(socket, chat.allowed_origins):
        _log_refused(socket, CLOSE_FORBIDDEN, "forbidden: cookie from an untrusted origin")
        await socket.close(code=CLOSE_FORBIDDEN)  # before accept: the handshake is refused
        return None
    try:
        if ticket:
            holder = await chat.redeem_ticket.execute(ticket)
            return holder.user_id, holder.session_id
        if token or cookie:
            principal = await authenticate.execute(token or cookie or "")
            return principal.user_id, principal.session_id
        raise NotAuthenticated("Not authenticated")
    except NotAuthenticated as error:
        await _reject(socket, v1, CLOSE_UNAUTHENTICATED, "unauthenticated", error.detail)
        return None
    except Unavailable as error:  # tickets need Redis; a revocation check, the database
        await _reject(socket, v1, CLOSE_UNAVAILABLE, "unavailable", error.detail)
        return None


def _since(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidInput("since_seq must be a non-negative integer")
    return int(raw)


async def _announce(hub: RoomHub, room: RoomPass, event: Literal["join", "leave"]) -> None:
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


async def _read(
    socket: WebSocket[Any, Any, Any],
    connection: Connection,
    room: RoomPass,
    chat: ChatServices,
    v1: bool,
) -> None:
    limits = chat.limits
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
        if not v1:
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
            if not await _send(connection, room, chat, inbound):
                return
        elif isinstance(inbound, Typing):
            moment = time.monotonic()
            if moment - last_typing >= 1.0:  # typing is a hint: at most one per second
                last_typing = moment
                user = UserRef(id=room.user_id, name=room.display_name)
                await chat.hub.publish_event(
                    room.room_id, encode(TypingEvent(room_id=room.room_id, user=user))
                )
        elif isinstance(inbound, Resume):
            try:
                frames = await chat.hub.replay(room.room_id, connection, inbound.since_seq)
            except Unavailable as error:  # the client may send the same resume again
                frames = [error_frame(_code_of(error), error.detail)]
            for frame in frames:
                connection.send_now(frame)
        else:
            connection.send_now(encode(PongEvent(timestamp=now())))


async def _send(
    connection: Connection, room: RoomPass, chat: ChatServices, inbound: MessageSend
) -> bool:
    """Store and publish one message; False when the socket must close."""
    try:
        posted = await chat.post.execute(
            PostMessageCommand(
                actor_id=room.user_id,
                room_id=room.room_id,
                content=inbound.content,
                client_msg_id=inbound.client_msg_id,
            )
        )
    except (NotAuthenticated, NotFound) as error:  # deactivated, or no longer a member
        connection.send_now(error_frame(_code_of(error), error.detail))
        connection.drop(
            CLOSE_UNAUTHENTICATED if isinstance(error, NotAuthenticated) else CLOSE_NOT_FOUND,
            error.detail[:120],
        )
        return False
    except CoagentError as error:
        # The socket stays open. Unavailable (the database was busy) stored nothing: the
        # client may resend with the same client_msg_id.
        connection.send_now(error_frame(_code_of(error), error.detail))
        return True
    if not posted.created:
        # A resend: the original went out long ago; acknowledge it to this socket again.
        connection.send_now(message_frame(posted.message))
    return True
