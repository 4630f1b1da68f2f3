"""/api/v1/chat over HTTP: history pages, sending, and WebSocket tickets."""

from typing import Annotated, Any, cast
from uuid import UUID

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from coagent.adapters.http.auth import SECURITY
from coagent.adapters.http.chat.services import Chat, ChatServices
from coagent.adapters.http.deps import Current, services_of
from coagent.adapters.http.paging import request_path
from coagent.adapters.http.problems import problems
from coagent.adapters.realtime.events import MessageEvent, message_event, message_events
from coagent.application.chat.post_message import PostMessageCommand
from coagent.application.chat.read_history import MAX_PAGE, ReadHistoryQuery
from coagent.application.ports.chat import EncodedPage
from coagent.domain.chat.message import MAX_CLIENT_MSG_ID

# Cursors are compared with a BIGINT column: anything beyond its range is a 422, not a
# database error (negative cursors stay valid: they come before the first message).
MIN_SEQ, MAX_SEQ = -(2**63), 2**63 - 1
# No control characters (the domain refuses them too).
NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"
ClientMsgId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_CLIENT_MSG_ID, pattern=NO_CONTROL)
]
# At least one non-space character and no NUL; the length limit is a setting
# (CHAT_MAX_MESSAGE_LENGTH, 8000 by default), checked by the domain.
Content = Annotated[str, msgspec.Meta(min_length=1, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$")]


class MessageCreate(msgspec.Struct, forbid_unknown_fields=True):
    content: Content
    client_msg_id: ClientMsgId | None = None


class TicketRead(msgspec.Struct):
    ticket: str
    expires_in: int


class ChatController(Controller):
    path = "/api/v1/chat"
    tags = ["chat"]
    security = SECURITY
    dependencies = {"chat": services_of(ChatServices)}

    @get(
        "/messages/{room_id:uuid}",
        operation_id="chat_list_messages",
        description=(
            "Members who may read the room. A JSON array in ascending `seq` order: the newest "
            "page by default, the page before `before_seq`, or the page after `after_seq` "
            "(with both, the page after `after_seq` that stops before `before_seq`). A "
            "`Link` header names the previous page."
        ),
        responses=problems(401, 404),
    )
    async def list_messages(
        self,
        request: Request[Any, Any, Any],
        room_id: FromPath[UUID],
        chat: Chat,
        current: Current,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
        before_seq: Annotated[int | None, QueryParameter(ge=MIN_SEQ, le=MAX_SEQ)] = None,
        after_seq: Annotated[int | None, QueryParameter(ge=MIN_SEQ, le=MAX_SEQ)] = None,
    ) -> Response[list[MessageEvent]]:
        page = await chat.history.page(
            ReadHistoryQuery(
                actor_id=current.user_id,
                room_id=room_id,
                limit=limit,
                before_seq=before_seq,
                after_seq=after_seq,
            )
        )
        if isinstance(page, EncodedPage):  # encoded by the store (PostgreSQL)
            first_seq, content = page.first_seq, cast(Any, page.json)
        else:
            first_seq = page[0].seq if page else None
            content = message_events(page)
        headers = {}
        if first_seq is not None and first_seq > 1:
            link = f"{request_path(request)}?limit={limit}&before_seq={first_seq}"
            headers["Link"] = f'<{link}>; rel="prev"'
        # Bytes go out as they are (Litestar encodes only other content).
        return Response(content, headers=headers, media_type=MediaType.JSON)

    @post(
        "/messages/{room_id:uuid}",
        operation_id="chat_send_message",
        description=(
            "Members who may write in the room. Stored with the room's next `seq`, then "
            "delivered live. Idempotent per sender and room by `Idempotency-Key` (or "
            "`client_msg_id`; the header wins when both are sent): a repeat answers 200 with "
            "the stored message and "
            "`Idempotent-Replayed: true`; a repeat with different content is a 409. New "
            "messages per sender and room are limited over HTTP and WebSocket together "
            "(`CHAT_MESSAGES_PER_WINDOW` per `CHAT_WINDOW_SECONDS`): more are a 429 with "
            "Retry-After and are not stored; a repeat is not counted."
        ),
        responses={
            200: ResponseSpec(
                data_container=MessageEvent,
                description="A repeat: the message stored before (`Idempotent-Replayed: true`)",
                generate_examples=False,
            ),
            **problems(401, 404, 409, 429),
        },
        status_code=201,
    )
    async def send_message(
        self,
        room_id: FromPath[UUID],
        data: JSONBody[MessageCreate],
        chat: Chat,
        current: Current,
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                min_length=1,
                max_length=MAX_CLIENT_MSG_ID,
                pattern=NO_CONTROL,
            ),
        ] = None,
    ) -> Response[MessageEvent]:
        posted = await chat.post.execute(
            PostMessageCommand(
                actor_id=current.user_id,
                room_id=room_id,
                content=data.content,
                client_msg_id=idempotency_key or data.client_msg_id,
            )
        )
        if posted.created:
            return Response(message_event(posted.message), status_code=201)
        return Response(
            message_event(posted.message),
            status_code=200,
            headers={"Idempotent-Replayed": "true"},
        )

    @post(
        "/ws-ticket",
        operation_id="chat_create_ws_ticket",
        description=(
            "A single-use ticket for `GET /api/v1/chat/ws/{room_id}?ticket=...`, valid for a "
            "few seconds and bound to the caller's session (for clients that cannot send a "
            "cookie or an Authorization header on the handshake). Tickets live in Redis: "
            "while it is unreachable this answers 503 with Retry-After."
        ),
        responses=problems(401),
        status_code=201,
    )
    async def create_ticket(self, chat: Chat, current: Current) -> TicketRead:
        ticket = await chat.issue_ticket.execute(current)
        return TicketRead(ticket=ticket.ticket, expires_in=ticket.expires_in)
