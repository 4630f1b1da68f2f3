"""SQLAlchemy message repository: gapless per-room seq, keyset history pages."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from coagent.adapters.persistence._chat_models import MessageModel
from coagent.adapters.persistence._models import RoomModel, UserModel
from coagent.adapters.persistence.rows import fetch_rows
from coagent.domain.chat.message import Message, agent_display_name
from coagent.domain.errors import Conflict, NotFound

UNKNOWN_SENDER = "Unknown"

_COLUMNS = (
    MessageModel.id,
    MessageModel.room_id,
    MessageModel.seq,
    MessageModel.content,
    MessageModel.created_at,
    MessageModel.sender_id,
    MessageModel.agent_type,
    MessageModel.client_msg_id,
    UserModel.full_name,
    UserModel.username,
    UserModel.email,
)


def _message(row: Any) -> Message:
    # By position: rows are asyncpg Records or SQLAlchemy Rows (see rows.py), and a Row's
    # attribute lookup costs microseconds where a page maps up to 200 rows.
    (
        message_id,
        room_id,
        seq,
        content,
        created_at,
        sender_id,
        agent_type,
        client_msg_id,
        full_name,
        username,
        email,
    ) = row
    if agent_type:
        name = agent_display_name(agent_type)
    elif sender_id is not None and email is not None:
        name = full_name or username or email.split("@", 1)[0]
    else:
        name = UNKNOWN_SENDER
    return Message(
        id=message_id,
        room_id=room_id,
        seq=seq,
        content=content,
        created_at=created_at,
        sender_id=sender_id,
        sender_name=name,
        agent_type=agent_type,
        client_msg_id=client_msg_id,
    )


def _with_sender() -> Any:
    return select(*_COLUMNS).outerjoin(UserModel, UserModel.id == MessageModel.sender_id)


def _page(*, before: bool, after: bool) -> Any:
    """One statement per cursor shape, built once (history pages are a hot path). Without
    `after` the page is read newest first, the one index range scan either way.
    """
    query = _with_sender().where(MessageModel.room_id == bindparam("room_id"))
    if before:
        query = query.where(MessageModel.seq < bindparam("before"))
    if after:
        query = query.where(MessageModel.seq > bindparam("after")).order_by(MessageModel.seq)
    else:
        query = query.order_by(MessageModel.seq.desc())
    return query.limit(bindparam("limit"))


_PAGES = {
    (before, after): _page(before=before, after=after)
    for before in (False, True)
    for after in (False, True)
}


class SqlAlchemyMessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def append(
        self,
        *,
        message_id: UUID,
        room_id: UUID,
        content: str,
        created_at: datetime,
        sender_id: UUID | None,
        agent_type: str | None,
        client_msg_id: str | None,
    ) -> int:
        # The row lock taken here orders concurrent sends to one room: seq N+1 cannot
        # commit before seq N, so commit order is seq order.
        seq = (
            await self._session.execute(
                update(RoomModel)
                .where(RoomModel.id == room_id)
                .values(last_seq=RoomModel.last_seq + 1)
                .returning(RoomModel.last_seq)
            )
        ).scalar_one_or_none()
        if seq is None:
            raise NotFound("Room not found")
        try:
            await self._session.execute(
                insert(MessageModel).values(
                    id=message_id,
                    room_id=room_id,
                    seq=seq,
                    content=content,
                    sender_id=sender_id,
                    agent_type=agent_type,
                    client_msg_id=client_msg_id,
                    created_at=created_at,
                    updated_at=created_at,
                )
            )
        except IntegrityError as error:
            raise Conflict("client_msg_id was already used in this room") from error
        return int(seq)

    async def find_sent(self, room_id: UUID, sender_id: UUID, client_msg_id: str) -> Message | None:
        row = (
            await self._session.execute(
                _with_sender().where(
                    MessageModel.room_id == room_id,
                    MessageModel.sender_id == sender_id,
                    MessageModel.client_msg_id == client_msg_id,
                )
            )
        ).first()
        return _message(row) if row else None

    async def page(
        self,
        room_id: UUID,
        *,
        limit: int,
        before_seq: int | None = None,
        after_seq: int | None = None,
    ) -> Sequence[Message]:
        statement = _PAGES[(before_seq is not None, after_seq is not None)]
        params = {"room_id": room_id, "limit": limit, "before": before_seq, "after": after_seq}
        rows = list(await fetch_rows(self._session, statement, params))
        if after_seq is None:  # read newest first
            rows.reverse()
        return [_message(row) for row in rows]

    async def last_seq(self, room_id: UUID) -> int:
        value = (
            await self._session.execute(select(RoomModel.last_seq).where(RoomModel.id == room_id))
        ).scalar_one_or_none()
        return int(value or 0)
