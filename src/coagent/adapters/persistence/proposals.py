"""SQLAlchemy proposal store: the peer agent's drafts and their one-way decisions.

Each guarantee of `coagent.application.ports.proposals` rests on one statement: a proposal
is inserted only after the UPDATE that completes its turn under the caller's lease token
matched a row; it leaves `pending` only by `UPDATE ... WHERE status = 'pending' RETURNING`
(the row lock orders two deciders on PostgreSQL, the database lock on SQLite: the second
finds no row); its message carries the turn's id, which the database keeps unique.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from coagent.adapters.persistence._chat_models import MessageModel
from coagent.adapters.persistence._models import RoomModel
from coagent.adapters.persistence._turn_models import AgentProposalModel, AgentTurnModel
from coagent.adapters.persistence.messages import _NEXT_SEQ, with_turn_messages
from coagent.adapters.persistence.rows import DriverStatement, fetch_rows
from coagent.application.ports.proposals import Decided, Decision, ProposalPage
from coagent.application.ports.turns import TurnUsage
from coagent.domain.agents.config import AgentType
from coagent.domain.agents.proposal import Proposal, ProposalStatus
from coagent.domain.agents.turn import TurnStatus
from coagent.domain.courses.room import ApprovalMode

_PROPOSAL = cast(Table, AgentProposalModel.__table__)
_TURN = cast(Table, AgentTurnModel.__table__)
_MESSAGE = cast(Table, MessageModel.__table__)
_ROOM = cast(Table, RoomModel.__table__)
_POSTED = (ProposalStatus.APPROVED, ProposalStatus.EDITED)


def _proposal(row: Any, message_id: UUID | None = None) -> Proposal:
    return Proposal(
        id=row.id,
        room_id=row.room_id,
        turn_id=row.turn_id,
        content=row.content,
        status=ProposalStatus(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        decided_by_agent=row.decided_by_agent,
        reason=row.reason,
        screened_by_agent=row.screened_by_agent,
        message_id=message_id,
        sender_name=row.sender_name,
    )


_PROPOSAL_FIELDS = (
    "id",
    "room_id",
    "turn_id",
    "content",
    "status",
    "created_at",
    "expires_at",
    "decided_at",
    "decided_by",
    "decided_by_agent",
    "reason",
    "screened_by_agent",
)
_FIELDS = len(_PROPOSAL_FIELDS)


def _page_query(*, of_status: bool) -> tuple[Any, Any]:
    """A room's proposals (of :status when `of_status`), newest first, with the message each
    became and the total; and the count alone (a page past the end). Core statements run on
    the driver (rows.py): the request's values are the only parameters.
    """
    room_id = bindparam("room_id", type_=MessageModel.__table__.c.room_id.type)
    conditions = [_PROPOSAL.c.room_id == room_id]
    if of_status:
        conditions.append(_PROPOSAL.c.status == bindparam("status"))
    count = select(func.count()).select_from(_PROPOSAL).where(*conditions)
    page = with_turn_messages(
        select(*(_PROPOSAL.c[name] for name in _PROPOSAL_FIELDS))
        .where(*conditions)
        .order_by(_PROPOSAL.c.created_at.desc(), _PROPOSAL.c.id.desc())
        .offset(bindparam("offset"))
        .limit(bindparam("limit")),
        count,
        turn_id="turn_id",
    )
    return page, count


_PAGES = {
    of_status: tuple(DriverStatement(query) for query in _page_query(of_status=of_status))
    for of_status in (False, True)
}


def _proposal_of(row: Sequence[Any]) -> Proposal:
    """`_proposal` of a `_PAGES` row, by position."""
    values = dict(zip(_PROPOSAL_FIELDS, row[:_FIELDS], strict=True))
    return Proposal(
        **values | {"status": ProposalStatus(values["status"])}, message_id=row[_FIELDS]
    )


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class SqlAlchemyProposalRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def propose(
        self, turn_id: UUID, lease_token: UUID, *, proposal: Proposal, usage: TurnUsage
    ) -> bool:
        result = await self._session.execute(
            update(_TURN)
            .where(
                _TURN.c.id == turn_id,
                _TURN.c.lease_token == lease_token,
                _TURN.c.status == TurnStatus.RUNNING.value,
            )
            .values(
                status=TurnStatus.SUCCEEDED.value,
                lease_expires_at=None,
                finished_at=proposal.created_at,
                updated_at=proposal.created_at,
                provider=usage.provider,
                model=usage.model,
                tokens_in=usage.tokens_in,
                tokens_out=usage.tokens_out,
                latency_ms=usage.latency_ms,
                first_token_ms=usage.first_token_ms,
            )
        )
        if _count(result) != 1:
            return False
        await self._session.execute(
            insert(_PROPOSAL).values(
                id=proposal.id,
                room_id=proposal.room_id,
                turn_id=turn_id,
                content=proposal.content,
                status=proposal.status.value,
                expires_at=proposal.expires_at,
                decided_by_agent=False,
                screened_by_agent=False,
                created_at=proposal.created_at,
                updated_at=proposal.created_at,
                sender_name=proposal.sender_name,
            )
        )
        return True

    async def get(self, proposal_id: UUID) -> Proposal | None:
        row = (
            await self._session.execute(
                select(_PROPOSAL, MessageModel.id.label("message_id"))
                .outerjoin(MessageModel, MessageModel.turn_id == _PROPOSAL.c.turn_id)
                .where(_PROPOSAL.c.id == proposal_id)
            )
        ).first()
        return _proposal(row, row.message_id) if row is not None else None

    async def page(
        self, room_id: UUID, *, status: ProposalStatus | None, offset: int, limit: int
    ) -> ProposalPage:
        page, count = _PAGES[status is not None]
        params: dict[str, Any] = {"room_id": room_id, "offset": offset, "limit": limit}
        if status is not None:
            params["status"] = status.value
        rows = await fetch_rows(self._session, page, params)
        if not rows:
            total = await fetch_rows(self._session, count, params)
            return ProposalPage(items=[], total=int(total[0][0]))
        return ProposalPage(
            items=[_proposal_of(row) for row in rows], total=int(rows[0][_FIELDS + 1])
        )

    async def decide(self, proposal_id: UUID, decision: Decision) -> Decided | None:
        values: dict[str, Any] = {
            "status": decision.status.value,
            "decided_at": decision.now,
            "decided_by": decision.decided_by,
            "decided_by_agent": decision.decided_by_agent,
            "reason": decision.reason,
            "updated_at": decision.now,
        }
        if decision.content is not None:
            values["content"] = decision.content
        row = (
            await self._session.execute(
                update(_PROPOSAL)
                .where(
                    _PROPOSAL.c.id == proposal_id,
                    _PROPOSAL.c.status == ProposalStatus.PENDING.value,
                    _PROPOSAL.c.expires_at > decision.now,
                )
                .values(values)
                .returning(*_PROPOSAL.c)
            )
        ).first()
        if row is None:
            return None
        if decision.status not in _POSTED or decision.message_id is None:
            return Decided(proposal=_proposal(row), seq=None)
        seq = (
            await self._session.execute(_NEXT_SEQ, {"room_id": row.room_id})
        ).scalar_one_or_none()
        if seq is None:  # pragma: no cover - the room is gone, and its proposals with it
            return None
        await self._session.execute(
            insert(_MESSAGE).values(
                id=decision.message_id,
                room_id=row.room_id,
                seq=seq,
                content=row.content,
                sender_id=None,
                agent_type=AgentType.STUDENT.value,
                client_msg_id=None,
                turn_id=row.turn_id,
                created_at=decision.now,
                updated_at=decision.now,
                sender_name=row.sender_name,
            )
        )
        return Decided(proposal=_proposal(row, decision.message_id), seq=int(seq))

    async def screen(self, proposal_id: UUID, *, reason: str, now: datetime) -> bool:
        result = await self._session.execute(
            update(_PROPOSAL)
            .where(
                _PROPOSAL.c.id == proposal_id,
                _PROPOSAL.c.status == ProposalStatus.PENDING.value,
            )
            .values(screened_by_agent=True, reason=reason, updated_at=now)
        )
        return _count(result) == 1

    async def undecided(self, *, before: datetime, now: datetime, limit: int) -> Sequence[UUID]:
        asks_the_agent = (ApprovalMode.AGENT.value, ApprovalMode.AGENT_THEN_HUMAN.value)
        ids = await self._session.scalars(
            select(_PROPOSAL.c.id)
            .join(_ROOM, _ROOM.c.id == _PROPOSAL.c.room_id)
            .where(
                _PROPOSAL.c.status == ProposalStatus.PENDING.value,
                _PROPOSAL.c.screened_by_agent.is_(False),
                _PROPOSAL.c.created_at < before,
                _PROPOSAL.c.expires_at > now,
                _ROOM.c.approval_mode.in_(asks_the_agent),
            )
            .order_by(_PROPOSAL.c.created_at)
            .limit(limit)
        )
        return list(ids)

    async def expire(self, now: datetime, *, limit: int) -> Sequence[Proposal]:
        due = (
            select(_PROPOSAL.c.id)
            .where(
                _PROPOSAL.c.status == ProposalStatus.PENDING.value,
                _PROPOSAL.c.expires_at <= now,
            )
            .order_by(_PROPOSAL.c.expires_at)
            .limit(limit)
            .scalar_subquery()
        )
        rows = await self._session.execute(
            update(_PROPOSAL)
            .where(
                _PROPOSAL.c.id.in_(due),
                _PROPOSAL.c.status == ProposalStatus.PENDING.value,
            )
            .values(status=ProposalStatus.EXPIRED.value, decided_at=now, updated_at=now)
            .returning(*_PROPOSAL.c)
        )
        return [_proposal(row) for row in rows]
