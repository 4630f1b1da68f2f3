"""SQLAlchemy message repository: gapless per-room seq, keyset history pages."""

from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

from asyncpg.exceptions import IntegrityConstraintViolationError
from sqlalchemy import (
    ARRAY,
    Integer,
    Table,
    Text,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from coagent.adapters.persistence._chat_models import MessageModel
from coagent.adapters.persistence._models import RoomModel, UserModel
from coagent.adapters.persistence.names import display_name_sql
from coagent.adapters.persistence.rows import (
    DriverStatement,
    fetch_on_driver,
    fetch_rows,
    is_postgresql,
)
from coagent.application.ports.chat import NewMessage
from coagent.domain.accounts.names import UNKNOWN_PERSON
from coagent.domain.chat.message import Message, sender_display_name
from coagent.domain.errors import Conflict, NotFound

USED_CLIENT_MSG_ID = "client_msg_id was already used in this room"
ROOM_NOT_FOUND = "Room not found"

_COLUMNS = (
    MessageModel.id,
    MessageModel.room_id,
    MessageModel.seq,
    MessageModel.content,
    MessageModel.created_at,
    MessageModel.sender_id,
    MessageModel.agent_type,
    MessageModel.client_msg_id,
    MessageModel.turn_id,
    UserModel.full_name,
    UserModel.username,
    UserModel.email,
    MessageModel.sender_name,
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
        turn_id,
        full_name,
        username,
        email,
        stored_name,
    ) = row
    return Message(
        id=message_id,
        room_id=room_id,
        seq=seq,
        content=content,
        created_at=created_at,
        sender_id=sender_id,
        sender_name=sender_display_name(agent_type, full_name, username, email, stored_name),
        agent_type=agent_type,
        client_msg_id=client_msg_id,
        turn_id=turn_id,
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
    (before, after): DriverStatement(_page(before=before, after=after))
    for before in (False, True)
    for after in (False, True)
}


_ROOM = cast(Table, RoomModel.__table__)
_MESSAGE = cast(Table, MessageModel.__table__)
# The room's `updated_at` is kept as is (its column default would bump it): a message is
# not a change to the room.
_NEXT_SEQ = (
    update(_ROOM)
    .where(_ROOM.c.id == bindparam("room_id"))
    .values(last_seq=_ROOM.c.last_seq + literal_column("1"), updated_at=_ROOM.c.updated_at)
    .returning(_ROOM.c.last_seq)
)


def _param(name: str) -> str:
    return "room_id" if name == "room_id" else f"new_{name}"


def _append_params(values: dict[str, Any]) -> dict[str, Any]:
    """`values` of a new message, named as `_APPEND` takes them."""
    return {_param(name): value for name, value in values.items()}


def _append() -> Any:
    """PostgreSQL: take the room's next seq and insert the message in one statement (one
    round trip; a failed insert gives the seq back with the rest of the transaction).
    """
    message = _MESSAGE
    names = ("id", "room_id", "content", "sender_id", "agent_type", "client_msg_id")
    next_seq = _NEXT_SEQ.cte("next_seq")

    # Parameters named after no column: SQLAlchemy would take a parameter named like a
    # column of `room` as a value to SET in the UPDATE above.
    def value(name: str) -> Any:
        return bindparam(_param(name), type_=message.c[name].type)

    created_at = value("created_at")
    row = select(*(value(name) for name in names), next_seq.c.last_seq, created_at, created_at)
    targets = [*names, "seq", "created_at", "updated_at"]
    return (
        insert(message).from_select(targets, row, include_defaults=False).returning(message.c.seq)
    )


_APPEND = _append()
_APPEND_ON_DRIVER = DriverStatement(_APPEND)


def _sql_text(value: str) -> Any:
    """A string constant written into the statement (no bind parameter)."""
    return literal_column("'" + value.replace("'", "''") + "'", Text)


def _unplanned(name: str, type_: Any) -> Any:
    """The parameter :name as a one-row subquery (an InitPlan, run once per execution): the
    planner does not see its value even when it could, so a custom plan of the statement is
    costed like the generic one and PostgreSQL keeps the generic plan after its first five
    custom ones instead of planning every execution again (ADR 0017).
    """
    return select(sql_cast(bindparam(name, type_=type_), type_)).scalar_subquery()


def _encoded_page(*, before: bool, after: bool) -> Any:
    """PostgreSQL: the page `_PAGES[(before, after)]` reads, as the JSON array the HTTP API
    answers (`MessageEvent`s in ascending seq, byte for byte what msgspec encodes from
    `message_events`; tests/integration/test_history_json.py holds the two together), with
    its first seq and its length: one row. The per-message work runs in PostgreSQL instead
    of building a `Message`, a `MessageEvent` and encoding it in Python (about 10 us each).

    Each event is the row's `event_pieces` (generated when the row is written: migration
    0012, ADR 0019) around the author's name, the one part that follows the account. The
    name is kept in step with `_message`. The page is empty unless the room's last seq is
    newer than :seen (the reader's cache holds it).
    """
    message, user = _MESSAGE, cast(Table, UserModel.__table__)
    room = _ROOM.alias("seen_room")
    agent_type, sender_id = message.c.agent_type, message.c.sender_id
    is_agent = func.coalesce(agent_type, _sql_text("")) != _sql_text("")
    # `sender_display_name`: the agent's stored name, else its label; a person's display
    # name; "Unknown" once the account is gone.
    name = case(
        (
            is_agent,
            func.coalesce(
                func.nullif(message.c.sender_name, _sql_text("")),
                func.upper(func.left(agent_type, literal_column("1")), type_=Text)
                + func.lower(func.substr(agent_type, literal_column("2")))
                + _sql_text(" AI"),
            ),
        ),
        (
            sender_id.is_not(None) & user.c.email.is_not(None),
            display_name_sql(user.c.full_name, user.c.username, user.c.email),
        ),
        else_=_sql_text(UNKNOWN_PERSON),
    )
    query = (
        select(
            message.c.seq,
            literal_column(f"{message.name}.event_pieces", ARRAY(Text)).label("pieces"),
            sql_cast(func.to_json(name), Text).label("name"),
        )
        .select_from(message.outerjoin(user, user.c.id == sender_id))
        .where(
            message.c.room_id == _unplanned("room_id", message.c.room_id.type),
            select(room.c.last_seq).where(room.c.id == bindparam("room_id")).scalar_subquery()
            > bindparam("seen"),
        )
    )
    if before:
        query = query.where(message.c.seq < _unplanned("before", message.c.seq.type))
    if after:
        query = query.where(message.c.seq > _unplanned("after", message.c.seq.type))
        query = query.order_by(message.c.seq)
    else:
        query = query.order_by(message.c.seq.desc())
    rows = query.limit(_unplanned("limit", Integer())).subquery("p")
    event = "p.pieces[1] || p.name || p.pieces[2] || p.name || p.pieces[3]"
    body = literal_column(
        f"'[' || coalesce(string_agg({event}, ',' ORDER BY p.seq), '') || ']'", Text
    )
    return select(
        body.label("page_json"), func.min(rows.c.seq).label("first_seq"), func.count()
    ).select_from(rows)


# Cursor shape -> one row: the page's JSON array, its first seq, its length (see rooms.py).
ENCODED_PAGES = {
    (before, after): _encoded_page(before=before, after=after)
    for before in (False, True)
    for after in (False, True)
}


def with_turn_messages(page: Any, total: Any, turn_id: str) -> Any:
    """`page` (a newest-first page of rows with `created_at` and `id`) with, after its
    columns, the id of the message each row's turn became (its column `turn_id`) and `total`
    (a count of every matching row). The page is cut first, so only its own rows are read
    whole and looked up; the count reads the index alone. With a window count and the join
    inside the page, PostgreSQL read and joined every row the count saw (400 turns for a
    page of 50: 1.5-1.7 ms of its CPU against ~0.3 ms, docs/benchmarks.md).
    """
    cut = page.subquery("cut")
    return (
        select(*cut.c, _MESSAGE.c.id, total.scalar_subquery())
        .select_from(cut.outerjoin(_MESSAGE, _MESSAGE.c.turn_id == cut.c[turn_id]))
        .order_by(cut.c.created_at.desc(), cut.c.id.desc())
    )


_FIND_SENT = DriverStatement(
    _with_sender().where(
        MessageModel.room_id == bindparam("room_id"),
        MessageModel.sender_id == bindparam("sender_id"),
        MessageModel.client_msg_id == bindparam("client_msg_id"),
    )
)


def _values(message: NewMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "room_id": message.room_id,
        "content": message.content,
        "sender_id": message.sender_id,
        "agent_type": message.agent_type,
        "client_msg_id": message.client_msg_id,
        "created_at": message.created_at,
    }


class SqlAlchemyMessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def append(self, message: NewMessage) -> int:
        return await self._append(_values(message))

    async def _append(self, values: dict[str, Any]) -> int:
        # The room row lock taken by the UPDATE orders concurrent sends to one room: seq N+1
        # cannot commit before seq N, so commit order is seq order.
        room_id = values["room_id"]
        try:
            if is_postgresql(self._session):
                params = _append_params(values)
                seq = (await self._session.execute(_APPEND, params)).scalar_one_or_none()
                if seq is None:
                    raise NotFound(ROOM_NOT_FOUND)
                return int(seq)
            seq = (
                await self._session.execute(_NEXT_SEQ, {"room_id": room_id})
            ).scalar_one_or_none()
            if seq is None:
                raise NotFound(ROOM_NOT_FOUND)
            await self._session.execute(
                insert(_MESSAGE), values | {"seq": seq, "updated_at": values["created_at"]}
            )
            return int(seq)
        except IntegrityError as error:
            raise Conflict(USED_CLIENT_MSG_ID) from error

    async def append_committed(self, message: NewMessage) -> int:
        values = _values(message)
        if is_postgresql(self._session):
            connection = await self._session.connection()
            driver: Any = (await connection.get_raw_connection()).driver_connection
            if not driver.is_in_transaction():
                # Nothing of this unit of work is pending, so the statement alone can be the
                # transaction (PostgreSQL commits a statement run outside one): no BEGIN and
                # COMMIT round trips. The room row lock still orders the seqs.
                params = _append_params(values)
                try:
                    rows = await fetch_on_driver(
                        driver, connection.dialect, _APPEND_ON_DRIVER, params
                    )
                except IntegrityConstraintViolationError as error:
                    raise Conflict(USED_CLIENT_MSG_ID) from error
                if not rows:
                    raise NotFound(ROOM_NOT_FOUND)
                return int(rows[0][0])
        seq = await self._append(values)
        await self._session.commit()
        return seq

    async def find_sent(self, room_id: UUID, sender_id: UUID, client_msg_id: str) -> Message | None:
        params = {"room_id": room_id, "sender_id": sender_id, "client_msg_id": client_msg_id}
        rows = await fetch_rows(self._session, _FIND_SENT, params)
        return _message(rows[0]) if rows else None

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
