"""The chat socket's handshake: who is asking (a ticket, a bearer token or the cookie, with
the origin rule of cookie-authenticated writes), which room, and a place in its hub.

A refused handshake is accepted only to say why (browsers cannot read a refused one) and
closed with its code; one log line tells each refusal.
"""

import contextlib
import logging
from typing import Any
from uuid import UUID

from litestar import WebSocket

from coagent.adapters.http.auth import ACCESS_COOKIE, bearer_token
from coagent.adapters.http.chat.services import ChatServices
from coagent.adapters.http.csrf import trusted_origin
from coagent.adapters.realtime.chat_session import Session
from coagent.adapters.realtime.connection import Connection
from coagent.adapters.realtime.events import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHENTICATED,
    CLOSE_UNAVAILABLE,
    error_frame,
    legacy_frame,
)
from coagent.application.accounts.authenticate import Authenticate
from coagent.application.chat.join_room import JoinRoomCommand
from coagent.domain.errors import InvalidInput, NotAuthenticated, NotFound, Unavailable

logger = logging.getLogger("coagent.chat")

V1 = "coagent.v1"
CLOSE_BAD_REQUEST = 4400


async def admit(
    socket: WebSocket[Any, Any, Any],
    room_id: str,
    chat: ChatServices,
    authenticate: Authenticate,
    v1: bool,
) -> tuple[Session, list[str]] | None:
    """The socket joined to its room and accepted, with the frames to send it first; None
    once refused (and closed).
    """
    identity = await _authenticate(socket, chat, authenticate, v1)
    if identity is None:
        return None
    user_id, session_id = identity
    try:
        since = _since(socket.query_params.get("since_seq"))
        room = await chat.join.execute(JoinRoomCommand(actor_id=user_id, room_id=UUID(room_id)))
    except NotAuthenticated as error:
        await _reject(socket, v1, CLOSE_UNAUTHENTICATED, "unauthenticated", error.detail)
        return None
    except InvalidInput as error:
        await _reject(socket, v1, CLOSE_BAD_REQUEST, "invalid", error.detail)
        return None
    except (NotFound, ValueError):
        await _reject(socket, v1, CLOSE_NOT_FOUND, "not_found", "Room not found")
        return None
    except Unavailable as error:
        await _reject(socket, v1, CLOSE_UNAVAILABLE, "unavailable", error.detail)
        return None
    limits = chat.limits
    if not chat.hub.reserve(user_id, limits.connections_per_user):
        await _reject(
            socket,
            v1,
            CLOSE_TOO_MANY,
            "too_many_connections",
            f"At most {limits.connections_per_user} open connections per user",
        )
        return None
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
        return None
    except BaseException:
        chat.hub.leave(room.room_id, connection)
        raise
    session = Session(
        socket=socket,
        connection=connection,
        room=room,
        hub=chat.hub,
        post=chat.post,
        limits=limits,
        v1=v1,
    )
    return session, first


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


async def _authenticate(
    socket: WebSocket[Any, Any, Any], chat: ChatServices, authenticate: Authenticate, v1: bool
) -> tuple[UUID, UUID] | None:
    """(user id, session id) from a ticket, a bearer token or the cookie; None once refused."""
    ticket = socket.query_params.get("ticket")
    token = bearer_token(socket)
    cookie = socket.cookies.get(ACCESS_COOKIE)
    # The CSRF rule of cookie-authenticated HTTP writes (Fetch Metadata, then Origin).
    if (
        not ticket
        and not token
        and cookie
        and not trusted_origin(socket.scope, chat.allowed_origins)
    ):
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
