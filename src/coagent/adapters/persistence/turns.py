"""SQLAlchemy agent-turn repository: turn rows, the per-room lease, the activity read.

Every guarantee of `coagent.application.ports.turns` rests on one statement each, atomic on
PostgreSQL and SQLite alike: the turn's identity is a unique constraint (`INSERT ... ON
CONFLICT DO NOTHING`); the room lease is `INSERT ... ON CONFLICT (room_id) DO UPDATE ...
WHERE expired RETURNING`; a turn moves between states only by an UPDATE whose WHERE names the
state (and the lease token) it must still be in, and the caller reads the row count.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import (
    Table,
    Text,
    and_,
    bindparam,
    case,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from coagent.adapters.persistence._agent_models import AgentConfigModel, AgentKeyModel
from coagent.adapters.persistence._chat_models import MessageModel
from coagent.adapters.persistence._models import CourseModel, RoomModel, UserModel
from coagent.adapters.persistence._turn_models import AgentTurnModel, agent_room_lease
from coagent.adapters.persistence.agents import _CONFIG_FIELDS, _KEY_RANK, _config, _config_of
from coagent.adapters.persistence.mappers import room_from_row
from coagent.adapters.persistence.messages import _NEXT_SEQ, with_turn_messages
from coagent.adapters.persistence.messages import _message as _page_message
from coagent.adapters.persistence.rooms import _ROOM_FIELDS
from coagent.adapters.persistence.rows import (
    DriverStatement,
    fetch_in_transaction,
    fetch_rows,
    is_postgresql,
)
from coagent.adapters.persistence.turn_recovery import TurnRecoveryQueries
from coagent.application.ports.turns import (
    AgentReply,
    DecisionInputs,
    StartInputs,
    TimeCandidate,
    TurnPage,
    TurnUsage,
)
from coagent.domain.agents.config import AgentType
from coagent.domain.agents.decision import RoomActivity, TurnKind
from coagent.domain.agents.tools import InterruptPolicy
from coagent.domain.agents.trigger import TriggerType
from coagent.domain.agents.turn import AgentTurn, TurnStatus
from coagent.domain.chat.message import Message, sender_display_name
from coagent.domain.courses.room import AiMode, ApprovalMode, Room

_TURN = cast(Table, AgentTurnModel.__table__)
_MESSAGE = cast(Table, MessageModel.__table__)

# `AgentTurn` fields read from their columns of the same name, in `_TURN_PAGE`'s order.
_TURN_FIELDS = (
    "id",
    "room_id",
    "agent_type",
    "config_id",
    "config_revision",
    "kind",
    "trigger_key",
    "reason",
    "caused_by_seq",
    "requested_by",
    "status",
    "created_at",
    "attempts",
    "lease_token",
    "lease_expires_at",
    "provider",
    "model",
    "tokens_in",
    "tokens_out",
    "latency_ms",
    "first_token_ms",
    "error_code",
    "seen_up_to_seq",
    "merged_into",
    "started_at",
    "finished_at",
)
# A room's turns, newest first, with the message each wrote and the total: a Core statement
# run on the driver (rows.py); :room_id, :offset and :limit its only parameters.
_TURN_COUNT = DriverStatement(
    select(func.count()).where(
        _TURN.c.room_id == bindparam("room_id", type_=_MESSAGE.c.room_id.type)
    )
)
_TURN_PAGE = DriverStatement(
    with_turn_messages(
        select(*(_TURN.c[name] for name in _TURN_FIELDS))
        .where(_TURN.c.room_id == bindparam("room_id", type_=_MESSAGE.c.room_id.type))
        .order_by(_TURN.c.created_at.desc(), _TURN.c.id.desc())
        .offset(bindparam("offset"))
        .limit(bindparam("limit")),
        _TURN_COUNT.statement,
        turn_id="id",
    )
)
_TURNS = len(_TURN_FIELDS)


def _turn_of(row: Sequence[Any]) -> AgentTurn:
    """`_turn` of a `_TURN_PAGE` row, by position."""
    values = dict(zip(_TURN_FIELDS, row[:_TURNS], strict=True))
    return AgentTurn(
        **values | {"kind": TurnKind(values["kind"]), "status": TurnStatus(values["status"])},
        message_id=row[_TURNS],
    )


_LEASE = agent_room_lease
_TIME_TRIGGERS = (TriggerType.TIME_INTERVAL.value, TriggerType.SILENCE.value)


def _turn(row: AgentTurnModel, message_id: UUID | None = None) -> AgentTurn:
    return AgentTurn(
        id=row.id,
        room_id=row.room_id,
        agent_type=row.agent_type,
        config_id=row.config_id,
        config_revision=row.config_revision,
        kind=TurnKind(row.kind),
        trigger_key=row.trigger_key,
        reason=row.reason,
        caused_by_seq=row.caused_by_seq,
        requested_by=row.requested_by,
        status=TurnStatus(row.status),
        created_at=row.created_at,
        attempts=row.attempts,
        lease_token=row.lease_token,
        lease_expires_at=row.lease_expires_at,
        provider=row.provider,
        model=row.model,
        tokens_in=row.tokens_in,
        tokens_out=row.tokens_out,
        latency_ms=row.latency_ms,
        first_token_ms=row.first_token_ms,
        error_code=row.error_code,
        seen_up_to_seq=row.seen_up_to_seq,
        merged_into=row.merged_into,
        started_at=row.started_at,
        finished_at=row.finished_at,
        message_id=message_id,
    )


def _usage_values(usage: TurnUsage | None) -> dict[str, Any]:
    if usage is None:
        return {}
    return {
        "provider": usage.provider,
        "model": usage.model,
        "tokens_in": usage.tokens_in,
        "tokens_out": usage.tokens_out,
        "latency_ms": usage.latency_ms,
        "first_token_ms": usage.first_token_ms,
    }


_CLAIMING = (
    TurnStatus.QUEUED.value,
    TurnStatus.RUNNING.value,
    TurnStatus.SUCCEEDED.value,
    TurnStatus.MERGED.value,
)


def _activity_query(
    room_id: UUID, agent_type: str, up_to_seq: int | None, *, postgresql: bool
) -> Any:
    return select(*_activity_columns(room_id, agent_type, up_to_seq, postgresql=postgresql))


def _activity_columns(
    room_id: Any, agent_type: Any, up_to_seq: int | None, *, postgresql: bool
) -> list[Any]:
    """Scalar subqueries, each an index range scan on (room_id, seq) or (room_id,
    agent_type, seq) from the newest end; `room_id` and `agent_type` may be values or the
    enclosing statement's columns (each subquery keeps its own table in its FROM). With
    `up_to_seq`, the count is of the human messages up to it since the agent last spoke or
    took a turn for a message before it (a turn still running has claimed the messages it
    answers).
    """
    m, t = _MESSAGE.c, _TURN.c
    in_room = m.room_id == room_id
    human = m.agent_type.is_(None)
    upto = [m.seq <= up_to_seq] if up_to_seq is not None else []
    last_agent_seq = func.coalesce(
        select(m.seq)
        .where(in_room, m.agent_type == agent_type, *upto)
        .order_by(m.seq.desc())
        .limit(1)
        .correlate_except(_MESSAGE)
        .scalar_subquery(),
        0,
    )
    since: Any = last_agent_seq
    if up_to_seq is not None:
        claimed = func.coalesce(
            select(func.max(t.caused_by_seq))
            .where(
                t.room_id == room_id,
                t.agent_type == agent_type,
                t.caused_by_seq < up_to_seq,
                t.status.in_([_sql_text(status) for status in _CLAIMING]),
            )
            .correlate_except(_TURN)
            .scalar_subquery(),
            0,
        )
        since = (func.greatest if postgresql else func.max)(last_agent_seq, claimed)

    def newest(*conditions: Any) -> Any:
        return (
            select(m.created_at)
            .where(in_room, *conditions)
            .order_by(m.seq.desc())
            .limit(1)
            .correlate_except(_MESSAGE)
            .scalar_subquery()
        )

    return [
        select(func.count())
        .select_from(_MESSAGE)
        .where(in_room, human, m.seq > since, *upto)
        .correlate_except(_MESSAGE)
        .scalar_subquery(),
        newest(m.agent_type == agent_type),
        select(m.created_at)
        .where(in_room, human, m.seq > since)
        .order_by(m.seq)
        .limit(1)
        .correlate_except(_MESSAGE)
        .scalar_subquery(),
        newest(),
        newest(human),
        newest(m.agent_type.is_not(None)),
    ]


def _activity(row: Sequence[Any]) -> RoomActivity:
    count, last_agent, first_human, last_any, last_human, last_any_agent = row
    return RoomActivity(
        human_messages_since_agent=int(count or 0),
        last_agent_message_at=last_agent,
        first_human_since_agent_at=first_human,
        last_message_at=last_any,
        last_human_message_at=last_human,
        last_any_agent_message_at=last_any_agent,
    )


def _message(
    message: MessageModel, full_name: str | None, username: str | None, email: str | None
) -> Message:
    return Message(
        id=message.id,
        room_id=message.room_id,
        seq=message.seq,
        content=message.content,
        created_at=message.created_at,
        sender_id=message.sender_id,
        sender_name=sender_display_name(
            message.agent_type, full_name, username, email, message.sender_name
        ),
        agent_type=message.agent_type,
        client_msg_id=message.client_msg_id,
        turn_id=message.turn_id,
    )


def _sql_text(value: str) -> Any:
    """A string constant written into the statement (no parameter)."""
    return literal_column("'" + value.replace("'", "''") + "'", Text)


_ROOM_T = cast(Table, RoomModel.__table__)
_CONFIG_T = cast(Table, AgentConfigModel.__table__)
_USER_T = cast(Table, UserModel.__table__)
_COURSE_T = cast(Table, CourseModel.__table__)
_KEY_T = cast(Table, AgentKeyModel.__table__)
_MESSAGE_FIELDS = (
    "id",
    "room_id",
    "seq",
    "content",
    "created_at",
    "sender_id",
    "agent_type",
    "client_msg_id",
    "turn_id",
    "sender_name",
)


def _room_of(row: Sequence[Any]) -> Room:
    room = dict(zip(_ROOM_FIELDS, row, strict=True))
    return Room(
        **room
        | {"ai_mode": AiMode(room["ai_mode"]), "approval_mode": ApprovalMode(room["approval_mode"])}
    )


def _message_of(
    row: Sequence[Any], full_name: str | None, username: str | None, email: str | None
) -> Message:
    message = dict(zip(_MESSAGE_FIELDS, row, strict=True))
    return Message(
        **message
        | {
            "sender_name": sender_display_name(
                message["agent_type"], full_name, username, email, message["sender_name"]
            )
        }
    )


def _decision_inputs(*, postgresql: bool) -> Any:
    """The room, the agent's active configuration, message :seq with its sender's names, the
    room's turns since :turns_since (skipped ones not counted), the active peer
    configuration's interrupt policy and, only for the `message_count` trigger, the
    activity: one row, none when there is no such room. A Core statement run on the driver
    (rows.py; P6): every constant is written into the SQL.
    """
    room, config, message, user, turn = _ROOM_T, _CONFIG_T, _MESSAGE, _USER_T, _TURN
    room_id: Any = bindparam("room_id", type_=room.c.id.type)
    agent_type: Any = bindparam("agent_type", type_=config.c.type.type)
    seq: Any = bindparam("seq", type_=message.c.seq.type)
    recent = (
        select(func.count())
        .where(
            turn.c.room_id == room.c.id,
            turn.c.created_at >= bindparam("turns_since", type_=turn.c.created_at.type),
            turn.c.status != _sql_text(TurnStatus.SKIPPED.value),
        )
        .correlate(room)
        .scalar_subquery()
    )
    # Only `message_count` reads the activity: the CASE keeps the other triggers from
    # paying for its subqueries (both databases evaluate a CASE branch only when taken).
    counts = config.c.trigger_config["type"].as_string() == _sql_text(
        TriggerType.MESSAGE_COUNT.value
    )
    activity = [
        case((counts, column))
        for column in _activity_columns(room_id, agent_type, seq, postgresql=postgresql)
    ]
    peer = config.alias("peer")
    peer_policy = (
        select(peer.c.interrupt_policy)
        .where(
            peer.c.course_id == room.c.course_id,
            peer.c.type == _sql_text(AgentType.STUDENT.value),
            peer.c.is_active.is_(True),
        )
        .correlate(room)
        .scalar_subquery()
    )
    joined = (
        room.outerjoin(
            config,
            and_(
                config.c.course_id == room.c.course_id,
                config.c.type == agent_type,
                config.c.is_active.is_(True),
            ),
        )
        .outerjoin(message, and_(message.c.room_id == room.c.id, message.c.seq == seq))
        .outerjoin(user, user.c.id == message.c.sender_id)
    )
    return (
        select(
            *(room.c[name] for name in _ROOM_FIELDS),
            *(config.c[name] for name in _CONFIG_FIELDS),
            *(message.c[name] for name in _MESSAGE_FIELDS),
            user.c.full_name,
            user.c.username,
            user.c.email,
            recent,
            peer_policy,
            *activity,
        )
        .select_from(joined)
        .where(room.c.id == room_id)
        .limit(literal_column("1"))
    )


_DECISION_INPUTS = {
    dialect: DriverStatement(_decision_inputs(postgresql=dialect)) for dialect in (False, True)
}
_DECISION_CONFIG = len(_ROOM_FIELDS)
_DECISION_MESSAGE = _DECISION_CONFIG + len(_CONFIG_FIELDS)
_DECISION_COUNT = _DECISION_MESSAGE + len(_MESSAGE_FIELDS) + 3
_DECISION_PEER = _DECISION_COUNT + 1


def _start_history(room: Table, config: Table) -> Any:
    """PostgreSQL: the configuration's `context_window` newest messages of the room up to
    its last seq, with their senders' names (`messages._COLUMNS`, oldest first), as one
    array of records: what `messages.page` reads, correlated with the start's row.
    """
    message, user = _MESSAGE, _USER_T
    page = (
        select(
            *(message.c[name] for name in _MESSAGE_FIELDS[:-1]),
            user.c.full_name,
            user.c.username,
            user.c.email,
            message.c.sender_name,
        )
        .select_from(message.outerjoin(user, user.c.id == message.c.sender_id))
        .where(message.c.room_id == room.c.id, message.c.seq <= room.c.last_seq)
        .order_by(message.c.seq.desc())
        .limit(func.coalesce(config.c.context_window, literal_column("0")))
        .correlate(room, config)
        .subquery("history")
    )
    return (
        select(func.array_agg(aggregate_order_by(tuple_(*page.c), page.c.seq)))
        .correlate(room, config)
        .scalar_subquery()
    )


def _start_keys(config: Table) -> Any:
    """PostgreSQL: the configuration's key ciphertexts, in `keys_of`'s order, as one array."""
    key = _KEY_T
    return (
        select(func.array_agg(aggregate_order_by(key.c.ciphertext, _KEY_RANK)))
        .where(key.c.config_id == config.c.id)
        .correlate(config)
        .scalar_subquery()
    )


def _next_to_start(*, postgresql: bool) -> Any:
    """The room's oldest queued turn, its room, the room's last seq, the course's title and
    the turn's configuration when still active; on PostgreSQL also that configuration's
    history page and keys (what the turn's prompt needs): one row, on the driver (rows.py;
    P6).
    """
    turn, room, course, config = _TURN, _ROOM_T, _COURSE_T, _CONFIG_T
    joined = (
        turn.outerjoin(room, room.c.id == turn.c.room_id)
        .outerjoin(course, course.c.id == room.c.course_id)
        .outerjoin(config, and_(config.c.id == turn.c.config_id, config.c.is_active.is_(True)))
    )
    setup = [_start_history(room, config), _start_keys(config)] if postgresql else []
    return (
        select(
            *(turn.c[name] for name in _TURN_FIELDS),
            *(room.c[name] for name in _ROOM_FIELDS),
            room.c.last_seq,
            course.c.title,
            *(config.c[name] for name in _CONFIG_FIELDS),
            *setup,
        )
        .select_from(joined)
        .where(
            turn.c.room_id == bindparam("room_id", type_=room.c.id.type),
            turn.c.status == _sql_text(TurnStatus.QUEUED.value),
        )
        .order_by(turn.c.created_at, turn.c.id)
        .limit(literal_column("1"))
    )


_NEXT_TO_START = {
    dialect: DriverStatement(_next_to_start(postgresql=dialect)) for dialect in (False, True)
}


def _param(name: str, column: Any) -> Any:
    """A parameter named after no column (an UPDATE would take a parameter named like one of
    its columns as a value to SET), typed as `column`.
    """
    return bindparam(f"p_{name}", type_=column.type)


def _take_room(dialect: Any) -> Any:
    lease = _LEASE
    statement = dialect.insert(lease).values(
        room_id=_param("room_id", lease.c.room_id),
        holder=_param("holder", lease.c.holder),
        expires_at=_param("expires_at", lease.c.expires_at),
    )
    return statement.on_conflict_do_update(
        index_elements=["room_id"],
        set_={"holder": statement.excluded.holder, "expires_at": statement.excluded.expires_at},
        where=or_(
            lease.c.expires_at < _param("now", lease.c.expires_at),
            lease.c.holder == _param("holder", lease.c.holder),
        ),
    ).returning(lease.c.holder)


def _add_turn(dialect: Any) -> Any:
    return (
        dialect.insert(_TURN)
        .values(
            {name: _param(name, _TURN.c[name]) for name in _ADDED_FIELDS}
            | {"cancel_requested": false()}
        )
        .on_conflict_do_nothing(index_elements=["room_id", "agent_type", "trigger_key"])
        .returning(_TURN.c.id)
    )


_ADDED_FIELDS = (
    "id",
    "room_id",
    "agent_type",
    "config_id",
    "config_revision",
    "kind",
    "trigger_key",
    "reason",
    "caused_by_seq",
    "requested_by",
    "status",
    "attempts",
    "error_code",
    "finished_at",
    "created_at",
    "updated_at",
)
# The turn path's writes (P6): Core statements declared once, run on the driver inside the
# unit of work's transaction (rows.fetch_in_transaction); a row count is the RETURNING rows.
_TAKE_ROOM = {
    True: DriverStatement(_take_room(postgresql)),
    False: DriverStatement(_take_room(sqlite)),
}
_ADD_TURN = {
    True: DriverStatement(_add_turn(postgresql)),
    False: DriverStatement(_add_turn(sqlite)),
}
# The room's lease, as long as :holder holds it.
_HELD = (
    _LEASE.c.room_id == _param("room_id", _LEASE.c.room_id),
    _LEASE.c.holder == _param("holder", _LEASE.c.holder),
)
_RELEASE_ROOM = DriverStatement(_LEASE.delete().where(*_HELD).returning(_LEASE.c.room_id))
# The room's last turn done: the lease row is locked first (renewed), and only then is the
# queue looked at, by a statement of its own: under READ COMMITTED it reads after the lock
# was granted, so a runner refused the room earlier (its take holds the row until it ends)
# was kicked for a turn this look sees, and one refused later waits for this transaction.
# In one statement the look could read before the lock and miss that turn.
_LOCK_ROOM = DriverStatement(
    update(_LEASE)
    .where(*_HELD)
    .values(expires_at=_param("expires_at", _LEASE.c.expires_at))
    .returning(_LEASE.c.room_id)
)
_RELEASE_UNLESS_QUEUED = DriverStatement(
    _LEASE.delete()
    .where(
        *_HELD,
        ~select(_TURN.c.id)
        .where(
            _TURN.c.room_id == _param("room_id", _LEASE.c.room_id),
            _TURN.c.status == _sql_text(TurnStatus.QUEUED.value),
        )
        .exists(),
    )
    .returning(_LEASE.c.room_id)
)
_START = DriverStatement(
    update(_TURN)
    .where(
        _TURN.c.id == _param("turn_id", _TURN.c.id),
        _TURN.c.status == _sql_text(TurnStatus.QUEUED.value),
    )
    .values(
        status=_sql_text(TurnStatus.RUNNING.value),
        attempts=_TURN.c.attempts + literal_column("1"),
        lease_token=_param("lease_token", _TURN.c.lease_token),
        lease_expires_at=_param("lease_expires_at", _TURN.c.lease_expires_at),
        seen_up_to_seq=_param("seen_up_to_seq", _TURN.c.seen_up_to_seq),
        started_at=_param("now", _TURN.c.started_at),
        updated_at=_param("now", _TURN.c.updated_at),
    )
    .returning(_TURN.c.id)
)
_MERGE_SEEN = DriverStatement(
    update(_TURN)
    .where(
        _TURN.c.room_id == _param("room_id", _TURN.c.room_id),
        _TURN.c.agent_type == _param("agent_type", _TURN.c.agent_type),
        _TURN.c.status == _sql_text(TurnStatus.QUEUED.value),
        _TURN.c.id != _param("into", _TURN.c.id),
        _TURN.c.caused_by_seq.is_not(None),
        _TURN.c.caused_by_seq <= _param("up_to_seq", _TURN.c.caused_by_seq),
    )
    .values(
        status=_sql_text(TurnStatus.MERGED.value),
        merged_into=_param("into", _TURN.c.merged_into),
        finished_at=_param("now", _TURN.c.finished_at),
        updated_at=_param("now", _TURN.c.updated_at),
    )
    .returning(_TURN.c.id)
)
_RUNNING_UNDER = and_(
    _TURN.c.id == _param("turn_id", _TURN.c.id),
    _TURN.c.lease_token == _param("lease_token", _TURN.c.lease_token),
    _TURN.c.status == _sql_text(TurnStatus.RUNNING.value),
)
_USAGE_FIELDS = ("provider", "model", "tokens_in", "tokens_out", "latency_ms", "first_token_ms")
_COMPLETE = DriverStatement(
    update(_TURN)
    .where(_RUNNING_UNDER)
    .values(
        status=_sql_text(TurnStatus.SUCCEEDED.value),
        lease_expires_at=None,
        finished_at=_param("now", _TURN.c.finished_at),
        updated_at=_param("now", _TURN.c.updated_at),
        **{name: _param(name, _TURN.c[name]) for name in _USAGE_FIELDS},
    )
    .returning(_TURN.c.id)
)
_REPLY_FIELDS = (
    "id",
    "room_id",
    "seq",
    "content",
    "agent_type",
    "turn_id",
    "sender_name",
    "created_at",
    "updated_at",
)
_NEXT_SEQ_ON_DRIVER = DriverStatement(_NEXT_SEQ)
_INSERT_REPLY = DriverStatement(
    insert(_MESSAGE).values({name: _param(name, _MESSAGE.c[name]) for name in _REPLY_FIELDS})
)
_NEXT_QUEUED = DriverStatement(
    select(*(_TURN.c[name] for name in _TURN_FIELDS))
    .where(
        _TURN.c.room_id == bindparam("room_id", type_=_TURN.c.room_id.type),
        _TURN.c.status == _sql_text(TurnStatus.QUEUED.value),
    )
    .order_by(_TURN.c.created_at, _TURN.c.id)
    .limit(literal_column("1"))
)


class SqlAlchemyAgentTurnRepository(TurnRecoveryQueries):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def _insert(self, table: Table) -> Any:
        dialect = postgresql if is_postgresql(self._session) else sqlite
        return dialect.insert(table)

    async def add(self, turn: AgentTurn) -> bool:
        values = {
            "id": turn.id,
            "room_id": turn.room_id,
            "agent_type": turn.agent_type,
            "config_id": turn.config_id,
            "config_revision": turn.config_revision,
            "kind": turn.kind.value,
            "trigger_key": turn.trigger_key,
            "reason": turn.reason,
            "caused_by_seq": turn.caused_by_seq,
            "requested_by": turn.requested_by,
            "status": turn.status.value,
            "attempts": turn.attempts,
            "error_code": turn.error_code,
            "finished_at": turn.finished_at,
            "created_at": turn.created_at,
            "updated_at": turn.created_at,
        }
        statement = _ADD_TURN[is_postgresql(self._session)]
        params = {f"p_{name}": value for name, value in values.items()}
        return bool(await fetch_in_transaction(self._session, statement, params))

    async def get(self, turn_id: UUID) -> AgentTurn | None:
        row = (
            await self._session.execute(
                select(AgentTurnModel, MessageModel.id)
                .outerjoin(MessageModel, MessageModel.turn_id == AgentTurnModel.id)
                .where(AgentTurnModel.id == turn_id)
            )
        ).first()
        return _turn(row[0], row[1]) if row else None

    async def count_since(self, room_id: UUID, since: datetime) -> int:
        count = await self._session.scalar(
            select(func.count()).where(
                _TURN.c.room_id == room_id,
                _TURN.c.created_at >= since,
                _TURN.c.status != TurnStatus.SKIPPED.value,
            )
        )
        return int(count or 0)

    async def activity(
        self, room_id: UUID, agent_type: str, *, up_to_seq: int | None = None
    ) -> RoomActivity:
        query = _activity_query(
            room_id, agent_type, up_to_seq, postgresql=is_postgresql(self._session)
        )
        return _activity((await self._session.execute(query)).one())

    async def message_at(self, room_id: UUID, seq: int) -> Message | None:
        row = (
            await self._session.execute(
                select(MessageModel, UserModel.full_name, UserModel.username, UserModel.email)
                .outerjoin(UserModel, UserModel.id == MessageModel.sender_id)
                .where(MessageModel.room_id == room_id, MessageModel.seq == seq)
            )
        ).first()
        if row is None:
            return None
        return _message(*row)

    async def decision_inputs(
        self,
        room_id: UUID,
        agent_type: str,
        seq: int,
        *,
        turns_since: datetime,
    ) -> DecisionInputs:
        params = {
            "room_id": room_id,
            "agent_type": agent_type,
            "seq": seq,
            "turns_since": turns_since,
        }
        statement = _DECISION_INPUTS[is_postgresql(self._session)]
        rows = await fetch_rows(self._session, statement, params)
        if not rows:
            return DecisionInputs(
                room=None, config=None, message=None, recent_turns=0, activity=None
            )
        row = rows[0]
        config = row[_DECISION_CONFIG] if row[_DECISION_CONFIG] is not None else None
        found = (
            _config_of((*row[_DECISION_CONFIG:_DECISION_MESSAGE], None))
            if config is not None
            else None
        )
        message = row[_DECISION_MESSAGE : _DECISION_COUNT - 3]
        return DecisionInputs(
            room=_room_of(row[:_DECISION_CONFIG]),
            config=found,
            message=(
                _message_of(message, *row[_DECISION_COUNT - 3 : _DECISION_COUNT])
                if message[0] is not None
                else None
            ),
            recent_turns=int(row[_DECISION_COUNT] or 0),
            activity=(
                _activity(row[_DECISION_PEER + 1 :])
                if found is not None and found.trigger.type is TriggerType.MESSAGE_COUNT
                else None
            ),
            peer_policy=(
                InterruptPolicy(row[_DECISION_PEER]) if row[_DECISION_PEER] is not None else None
            ),
        )

    # --- the room lease

    async def take_room(
        self, room_id: UUID, holder: UUID, *, now: datetime, expires_at: datetime
    ) -> bool:
        params = {
            "p_room_id": room_id,
            "p_holder": holder,
            "p_expires_at": expires_at,
            "p_now": now,
        }
        statement = _TAKE_ROOM[is_postgresql(self._session)]
        return bool(await fetch_in_transaction(self._session, statement, params))

    async def renew_room(self, room_id: UUID, holder: UUID, *, expires_at: datetime) -> bool:
        result = await self._session.execute(
            update(_LEASE)
            .where(_LEASE.c.room_id == room_id, _LEASE.c.holder == holder)
            .values(expires_at=expires_at)
        )
        return _count(result) == 1

    async def release_room(self, room_id: UUID, holder: UUID) -> None:
        params = {"p_room_id": room_id, "p_holder": holder}
        await fetch_in_transaction(self._session, _RELEASE_ROOM, params)

    async def release_room_unless_queued(
        self, room_id: UUID, holder: UUID, *, expires_at: datetime
    ) -> bool:
        params = {"p_room_id": room_id, "p_holder": holder, "p_expires_at": expires_at}
        if not await fetch_in_transaction(self._session, _LOCK_ROOM, params):
            return False
        del params["p_expires_at"]
        return bool(await fetch_in_transaction(self._session, _RELEASE_UNLESS_QUEUED, params))

    # --- the queue

    async def next_queued(self, room_id: UUID) -> AgentTurn | None:
        rows = await fetch_rows(self._session, _NEXT_QUEUED, {"room_id": room_id})
        return _turn_of((*rows[0], None)) if rows else None

    async def next_to_start(self, room_id: UUID) -> StartInputs | None:
        postgresql = is_postgresql(self._session)
        statement = _NEXT_TO_START[postgresql]
        rows = await fetch_rows(self._session, statement, {"room_id": room_id})
        if not rows:
            return None
        row = rows[0]
        room_at, config_at = _TURNS, _TURNS + len(_ROOM_FIELDS) + 2
        setup_at = config_at + len(_CONFIG_FIELDS)
        room = _room_of(row[room_at : config_at - 2]) if row[room_at] is not None else None
        last_seq, title = row[config_at - 2], row[config_at - 1]
        config = (
            _config_of((*row[config_at:setup_at], None)) if row[config_at] is not None else None
        )
        # Read with it on PostgreSQL when there is a configuration (None: not read).
        read = postgresql and config is not None and room is not None
        return StartInputs(
            turn=_turn_of((*row[:_TURNS], None)),
            room=room,
            last_seq=int(last_seq or 0),
            course_title=title or "",
            config=config,
            history=tuple(map(_page_message, row[setup_at] or ())) if read else None,
            keys=tuple(row[setup_at + 1] or ()) if read else None,
        )

    async def start(
        self,
        turn_id: UUID,
        *,
        lease_token: UUID,
        now: datetime,
        lease_expires_at: datetime,
        seen_up_to_seq: int,
    ) -> bool:
        params = {
            "p_turn_id": turn_id,
            "p_lease_token": lease_token,
            "p_lease_expires_at": lease_expires_at,
            "p_seen_up_to_seq": seen_up_to_seq,
            "p_now": now,
        }
        return len(await fetch_in_transaction(self._session, _START, params)) == 1

    async def merge_seen(
        self, *, room_id: UUID, agent_type: str, into: UUID, up_to_seq: int, now: datetime
    ) -> int:
        params = {
            "p_room_id": room_id,
            "p_agent_type": agent_type,
            "p_into": into,
            "p_up_to_seq": up_to_seq,
            "p_now": now,
        }
        return len(await fetch_in_transaction(self._session, _MERGE_SEEN, params))

    async def renew(self, turn_id: UUID, lease_token: UUID, *, expires_at: datetime) -> bool:
        result = await self._session.execute(
            update(_TURN).where(_running(turn_id, lease_token)).values(lease_expires_at=expires_at)
        )
        return _count(result) == 1

    async def complete(
        self, turn_id: UUID, lease_token: UUID, *, reply: AgentReply, usage: TurnUsage
    ) -> int | None:
        # The turn row first: its lock orders two would-be completers, and the loser writes
        # nothing (not even a seq, which a rollback would give back anyway).
        session = self._session
        params = {"p_turn_id": turn_id, "p_lease_token": lease_token, "p_now": reply.created_at}
        params |= {f"p_{name}": value for name, value in _usage_values(usage).items()}
        if len(await fetch_in_transaction(session, _COMPLETE, params)) != 1:
            return None
        rows = await fetch_in_transaction(session, _NEXT_SEQ_ON_DRIVER, {"room_id": reply.room_id})
        if not rows:  # the room is gone: the turn went with it (cascade)
            return None
        seq = int(rows[0][0])
        values = {
            "id": reply.id,
            "room_id": reply.room_id,
            "seq": seq,
            "content": reply.content,
            "agent_type": reply.agent_type,
            "turn_id": turn_id,
            "sender_name": reply.sender_name,
            "created_at": reply.created_at,
            "updated_at": reply.created_at,
        }
        params = {f"p_{name}": value for name, value in values.items()}
        await fetch_in_transaction(session, _INSERT_REPLY, params)
        return seq

    async def fail(
        self,
        turn_id: UUID,
        lease_token: UUID | None,
        *,
        error_code: str,
        usage: TurnUsage | None,
        now: datetime,
    ) -> bool:
        condition = (
            _running(turn_id, lease_token)
            if lease_token is not None
            else and_(_TURN.c.id == turn_id, _TURN.c.status == TurnStatus.QUEUED.value)
        )
        result = await self._session.execute(
            update(_TURN)
            .where(condition)
            .values(
                status=TurnStatus.FAILED.value,
                error_code=error_code,
                lease_expires_at=None,
                finished_at=now,
                updated_at=now,
                **_usage_values(usage),
            )
        )
        return _count(result) == 1

    async def skip(self, turn_id: UUID, *, reason: str, now: datetime) -> bool:
        result = await self._session.execute(
            update(_TURN)
            .where(_TURN.c.id == turn_id, _TURN.c.status == TurnStatus.QUEUED.value)
            .values(status=TurnStatus.SKIPPED.value, reason=reason, finished_at=now, updated_at=now)
        )
        return _count(result) == 1

    # --- recovery

    async def expired(self, now: datetime, *, limit: int) -> Sequence[AgentTurn]:
        rows = await self._session.scalars(
            select(AgentTurnModel)
            .where(
                AgentTurnModel.status == TurnStatus.RUNNING.value,
                AgentTurnModel.lease_expires_at < now,
            )
            .order_by(AgentTurnModel.lease_expires_at)
            .limit(limit)
        )
        return [_turn(row) for row in rows]

    async def requeue(self, turn_id: UUID, lease_token: UUID) -> bool:
        result = await self._session.execute(
            update(_TURN)
            .where(_running(turn_id, lease_token))
            .values(
                status=TurnStatus.QUEUED.value,
                lease_token=None,
                lease_expires_at=None,
                cancel_requested=False,
            )
        )
        return _count(result) == 1

    async def request_cancel(self, room_id: UUID, *, agent_type: str, before_seq: int) -> int:
        result = await self._session.execute(
            update(_TURN)
            .where(
                _TURN.c.room_id == room_id,
                _TURN.c.agent_type == agent_type,
                _TURN.c.status == TurnStatus.RUNNING.value,
                _TURN.c.seen_up_to_seq < before_seq,
                _TURN.c.cancel_requested.is_(False),
            )
            .values(cancel_requested=True)
        )
        return _count(result)

    async def cancel_requested(self, turn_id: UUID, lease_token: UUID) -> bool:
        found = await self._session.scalar(
            select(_TURN.c.cancel_requested).where(_running(turn_id, lease_token))
        )
        return bool(found)

    async def rooms_to_run(self, now: datetime, *, limit: int) -> Sequence[UUID]:
        rows = await self._session.execute(
            select(_TURN.c.room_id)
            .outerjoin(_LEASE, _LEASE.c.room_id == _TURN.c.room_id)
            .where(
                _TURN.c.status == TurnStatus.QUEUED.value,
                or_(_LEASE.c.room_id.is_(None), _LEASE.c.expires_at < now),
            )
            .group_by(_TURN.c.room_id)
            .limit(limit)
        )
        return [room_id for (room_id,) in rows]

    # --- reads

    async def page(self, room_id: UUID, *, offset: int, limit: int) -> TurnPage:
        params = {"room_id": room_id, "offset": offset, "limit": limit}
        rows = await fetch_rows(self._session, _TURN_PAGE, params)
        if not rows:
            total = await fetch_rows(self._session, _TURN_COUNT, {"room_id": room_id})
            return TurnPage(items=[], total=int(total[0][0]))
        return TurnPage(items=[_turn_of(row) for row in rows], total=int(rows[0][_TURNS + 1]))

    async def time_candidates(self, *, limit: int) -> Sequence[TimeCandidate]:
        trigger_type = AgentConfigModel.trigger_config["type"].as_string()
        # Each candidate's activity in the same statement (subqueries correlated with the
        # row's room and agent type), not one read per candidate per tick.
        activity = _activity_columns(
            RoomModel.id, AgentConfigModel.type, None, postgresql=is_postgresql(self._session)
        )
        rows = await self._session.execute(
            select(RoomModel, AgentConfigModel, *activity)
            .join(AgentConfigModel, AgentConfigModel.course_id == RoomModel.course_id)
            .where(
                RoomModel.is_ai_active.is_(True),
                RoomModel.ai_mode != AiMode.OFF.value,
                or_(
                    AgentConfigModel.type == AgentType.TEACHER.value,
                    # The peer agent speaks only where both agents may.
                    and_(
                        AgentConfigModel.type == AgentType.STUDENT.value,
                        RoomModel.ai_mode == AiMode.BOTH.value,
                    ),
                ),
                AgentConfigModel.is_active.is_(True),
                trigger_type.in_(_TIME_TRIGGERS),
            )
            .order_by(RoomModel.id, AgentConfigModel.type)
            .limit(limit)
        )
        return [
            TimeCandidate(
                room=room_from_row(row[0]),
                config=_config(row[1], None),
                activity=_activity(row[2:]),
            )
            for row in rows
        ]


def _running(turn_id: UUID, lease_token: UUID) -> Any:
    return and_(
        _TURN.c.id == turn_id,
        _TURN.c.lease_token == lease_token,
        _TURN.c.status == TurnStatus.RUNNING.value,
    )


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
