"""The agent-turn store's recovery part (migration 0011), mixed into
`SqlAlchemyAgentTurnRepository`: the per-room considered seq that finds messages whose
`consider_message` kick was lost, and the tool calls a turn already ran.

One statement each: the considered seq only rises (`INSERT ... ON CONFLICT DO UPDATE ...
WHERE lower`); a tool call is recorded by `INSERT ... ON CONFLICT DO NOTHING RETURNING`, so of
two runs of one turn at once the second finds it recorded and commits nothing.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table, and_, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from coagent.adapters.persistence._chat_models import MessageModel
from coagent.adapters.persistence._models import RoomModel
from coagent.adapters.persistence._turn_models import agent_room_considered, agent_tool_call
from coagent.adapters.persistence.rows import DriverStatement, fetch_in_transaction, is_postgresql
from coagent.application.ports.turns import Unconsidered
from coagent.domain.courses.room import AiMode

_ROOM = cast(Table, RoomModel.__table__)
_MESSAGE = cast(Table, MessageModel.__table__)
_CONSIDERED = agent_room_considered
_TOOL_CALL = agent_tool_call


def _mark_considered(dialect: Any) -> Any:
    statement = dialect.insert(_CONSIDERED).values(
        room_id=bindparam("p_room_id", type_=_CONSIDERED.c.room_id.type),
        seq=bindparam("p_seq", type_=_CONSIDERED.c.seq.type),
    )
    return statement.on_conflict_do_update(
        index_elements=["room_id"],
        set_={"seq": statement.excluded.seq},
        where=_CONSIDERED.c.seq < statement.excluded.seq,
    )


# Run by every consider (the agent turn path, P6): declared once, on the driver.
_MARK_CONSIDERED = {
    True: DriverStatement(_mark_considered(postgresql)),
    False: DriverStatement(_mark_considered(sqlite)),
}


class TurnRecoveryQueries:
    _session: AsyncSession

    def _dialect_insert(self, table: Table) -> Any:
        dialect = postgresql if is_postgresql(self._session) else sqlite
        return dialect.insert(table)

    async def mark_considered(self, room_id: UUID, seq: int) -> None:
        statement = _MARK_CONSIDERED[is_postgresql(self._session)]
        await fetch_in_transaction(self._session, statement, {"p_room_id": room_id, "p_seq": seq})

    async def unconsidered(self, *, before: datetime, limit: int) -> Sequence[Unconsidered]:
        considered = func.coalesce(_CONSIDERED.c.seq, 0)
        rows = await self._session.execute(
            select(_ROOM.c.id, considered, _ROOM.c.last_seq)
            .select_from(_ROOM)
            .outerjoin(_CONSIDERED, _CONSIDERED.c.room_id == _ROOM.c.id)
            .join(
                _MESSAGE,
                and_(_MESSAGE.c.room_id == _ROOM.c.id, _MESSAGE.c.seq == considered + 1),
            )
            .where(
                _ROOM.c.is_ai_active.is_(True),
                _ROOM.c.ai_mode != AiMode.OFF.value,
                _ROOM.c.last_seq > considered,
                _MESSAGE.c.created_at < before,
            )
            .limit(limit)
        )
        return [
            Unconsidered(room_id=room_id, considered_seq=int(seq), last_seq=int(last))
            for room_id, seq, last in rows
        ]

    async def human_seqs(
        self, room_id: UUID, *, after_seq: int, up_to_seq: int, since: datetime
    ) -> Sequence[int]:
        seqs = await self._session.scalars(
            select(_MESSAGE.c.seq)
            .where(
                _MESSAGE.c.room_id == room_id,
                _MESSAGE.c.seq > after_seq,
                _MESSAGE.c.seq <= up_to_seq,
                _MESSAGE.c.agent_type.is_(None),
                _MESSAGE.c.created_at >= since,
            )
            .order_by(_MESSAGE.c.seq)
        )
        return [int(seq) for seq in seqs]

    async def tool_result(self, turn_id: UUID, call_key: str) -> Mapping[str, Any] | None:
        result: Mapping[str, Any] | None = await self._session.scalar(
            select(_TOOL_CALL.c.result).where(
                _TOOL_CALL.c.turn_id == turn_id, _TOOL_CALL.c.call_key == call_key
            )
        )
        return result

    async def record_tool_call(
        self,
        turn_id: UUID,
        call_key: str,
        *,
        tool: str,
        result: Mapping[str, Any],
        now: datetime,
    ) -> bool:
        statement = (
            self._dialect_insert(_TOOL_CALL)
            .values(
                turn_id=turn_id, call_key=call_key, tool=tool, result=dict(result), created_at=now
            )
            .on_conflict_do_nothing(index_elements=["turn_id", "call_key"])
            .returning(_TOOL_CALL.c.turn_id)
        )
        return (await self._session.execute(statement)).first() is not None
