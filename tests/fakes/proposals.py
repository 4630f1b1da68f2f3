"""In-memory proposal store with the SQL one's guarantees: a proposal only under the turn's
live lease, one per turn; a decision only from `pending` (and not past `expires_at`); an
approved or edited proposal posted as one message linked to its turn.
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

import anyio.lowlevel

from coagent.application.ports.proposals import Decided, Decision, ProposalPage
from coagent.application.ports.turns import TurnUsage
from coagent.domain.agents.config import AgentType
from coagent.domain.agents.proposal import Proposal, ProposalStatus
from coagent.domain.agents.turn import TurnStatus
from coagent.domain.chat.message import Message, agent_display_name
from coagent.domain.courses.room import ApprovalMode


class InMemoryProposalRepository:
    def __init__(
        self,
        proposals: Any,  # _Overlay[UUID, Proposal]
        turns: Any,  # _Overlay[UUID, AgentTurn]
        message_rows: Any,  # _Overlay[UUID, Message]
        seqs: Any,  # _Overlay[UUID, int]
        *,
        rooms: Any = None,  # _Overlay[UUID, Room]
    ) -> None:
        self._proposals = proposals
        self._turns = turns
        self._message_rows = message_rows
        self._seqs = seqs
        self._rooms = rooms

    def _with_message(self, proposal: Proposal) -> Proposal:
        found = next(
            (m for m in self._message_rows.values() if m.turn_id == proposal.turn_id), None
        )
        return replace(proposal, message_id=found.id if found else None)

    async def propose(
        self, turn_id: UUID, lease_token: UUID, *, proposal: Proposal, usage: TurnUsage
    ) -> bool:
        await anyio.lowlevel.checkpoint()
        turn = self._turns.get(turn_id)
        if turn is None or turn.status is not TurnStatus.RUNNING or turn.lease_token != lease_token:
            return False
        if any(p.turn_id == turn_id for p in self._proposals.values()):
            raise RuntimeError("one proposal per turn (unique turn_id)")
        self._turns.put(
            turn_id,
            replace(
                turn,
                status=TurnStatus.SUCCEEDED,
                lease_expires_at=None,
                finished_at=proposal.created_at,
                provider=usage.provider,
                model=usage.model,
                tokens_in=usage.tokens_in,
                tokens_out=usage.tokens_out,
                latency_ms=usage.latency_ms,
                first_token_ms=usage.first_token_ms,
            ),
        )
        self._proposals.put(proposal.id, replace(proposal, turn_id=turn_id))
        return True

    async def get(self, proposal_id: UUID) -> Proposal | None:
        proposal = self._proposals.get(proposal_id)
        return self._with_message(proposal) if proposal else None

    async def page(
        self, room_id: UUID, *, status: ProposalStatus | None, offset: int, limit: int
    ) -> ProposalPage:
        found = sorted(
            (
                p
                for p in self._proposals.values()
                if p.room_id == room_id and (status is None or p.status is status)
            ),
            key=lambda p: (p.created_at, p.id),
            reverse=True,
        )
        return ProposalPage(
            items=[self._with_message(p) for p in found[offset : offset + limit]],
            total=len(found),
        )

    async def decide(self, proposal_id: UUID, decision: Decision) -> Decided | None:
        await anyio.lowlevel.checkpoint()
        proposal = self._proposals.get(proposal_id)
        if (
            proposal is None
            or proposal.status is not ProposalStatus.PENDING
            or proposal.expires_at <= decision.now
        ):
            return None
        decided = replace(
            proposal,
            status=decision.status,
            decided_at=decision.now,
            decided_by=decision.decided_by,
            decided_by_agent=decision.decided_by_agent,
            reason=decision.reason,
            content=decision.content if decision.content is not None else proposal.content,
        )
        self._proposals.put(proposal_id, decided)
        if (
            decision.status not in (ProposalStatus.APPROVED, ProposalStatus.EDITED)
            or decision.message_id is None
        ):
            return Decided(proposal=decided, seq=None)
        if any(m.turn_id == proposal.turn_id for m in self._message_rows.values()):
            raise RuntimeError("one message per turn (unique message.turn_id)")
        seq = (self._seqs.get(proposal.room_id) or 0) + 1
        self._seqs.put(proposal.room_id, seq)
        self._message_rows.put(
            decision.message_id,
            Message(
                id=decision.message_id,
                room_id=proposal.room_id,
                seq=seq,
                content=decided.content,
                created_at=decision.now,
                sender_id=None,
                sender_name=proposal.sender_name or agent_display_name(AgentType.STUDENT.value),
                agent_type=AgentType.STUDENT.value,
                turn_id=proposal.turn_id,
            ),
        )
        return Decided(proposal=replace(decided, message_id=decision.message_id), seq=seq)

    async def screen(self, proposal_id: UUID, *, reason: str, now: datetime) -> bool:
        proposal = self._proposals.get(proposal_id)
        if proposal is None or proposal.status is not ProposalStatus.PENDING:
            return False
        self._proposals.put(proposal_id, replace(proposal, screened_by_agent=True, reason=reason))
        return True

    async def undecided(self, *, before: datetime, now: datetime, limit: int) -> Sequence[UUID]:
        def asks_the_agent(room_id: UUID) -> bool:
            room = self._rooms.get(room_id)
            return room is not None and room.approval_mode is not ApprovalMode.HUMAN

        due = sorted(
            (
                p
                for p in self._proposals.values()
                if p.status is ProposalStatus.PENDING
                and not p.screened_by_agent
                and p.created_at < before
                and p.expires_at > now
                and asks_the_agent(p.room_id)
            ),
            key=lambda p: p.created_at,
        )
        return [p.id for p in due[:limit]]

    async def expire(self, now: datetime, *, limit: int) -> Sequence[Proposal]:
        due = sorted(
            (
                p
                for p in self._proposals.values()
                if p.status is ProposalStatus.PENDING and p.expires_at <= now
            ),
            key=lambda p: p.expires_at,
        )[:limit]
        moved = [replace(p, status=ProposalStatus.EXPIRED, decided_at=now) for p in due]
        for proposal in moved:
            self._proposals.put(proposal.id, proposal)
        return moved
