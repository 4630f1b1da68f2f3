"""WS /api/v1/chat/ws/{room_id}: the live room.

Dialects: without a subprotocol every text frame is one message (the original clients);
with `coagent.v1` frames are typed JSON (`message.send`, `typing`, `resume`, `ping`).
Outbound frames are always JSON events with a `type`; a socket without a subprotocol gets
only `message` events and `system` lines (an error it must read becomes a `system` line),
because the original client reads `sender` and `content` on every frame.

The handshake (authentication, the room, a place in the hub) is in `handshake`; the admitted
socket's reading and writing in `coagent.adapters.realtime.chat_session` and `.connection`:
a slow client fills its own queue and is closed with a resync code, nobody waits for it.
"""

from typing import Any

from litestar import WebSocket, websocket
from litestar.params import FromPath

from coagent.adapters.http.chat.handshake import V1, admit
from coagent.adapters.http.chat.services import Chat, ChatServices
from coagent.adapters.http.deps import Authenticator, services_of
from coagent.adapters.realtime.chat_session import serve


@websocket(
    "/api/v1/chat/ws/{room_id:str}",
    name="chat_ws",
    dependencies={"chat": services_of(ChatServices, signed_in=False)},
)
async def chat_socket(
    socket: WebSocket[Any, Any, Any],
    room_id: FromPath[str],
    chat: Chat,
    authenticate: Authenticator,
) -> None:
    v1 = V1 in (socket.scope.get("subprotocols") or [])
    admitted = await admit(socket, room_id, chat, authenticate, v1)
    if admitted is not None:
        await serve(*admitted)
