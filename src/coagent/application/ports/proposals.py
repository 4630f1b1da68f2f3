"""The proposal store (part of the unit of work as `proposals`).

Guarantees every implementation keeps (the SQL one through the database itself):
- one proposal per turn (`turn_id` is unique), stored only while the caller still holds the
  turn's lease, in the transaction that marks the turn succeeded;
- a proposal leaves `pending` by one conditional update (`WHERE status = 'pending'`): of two
  deciders at once, one wins and the other finds it decided;
- an approved or edited proposal is posted as one message linked to its turn
  (`message.turn_id` is unique), in the transaction of the status change.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from coagent.application.ports.turns import TurnUsage
from coagent.domain.agents.proposal import Proposal, ProposalStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalPage:
    items: Sequence[Proposal]
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """A move out of `pending`. `content` (edited only) replaces the proposal's text;
    `message_id` is the id of the message an approved or edited proposal becomes.
    """

    status: ProposalStatus
    decided_by: UUID | None
    decided_by_agent: bool
    reason: str | None
    now: datetime
    content: str | None = None
    message_id: UUID | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Decided:
    """The proposal as decided, and the seq of its message when one was posted."""

    proposal: Proposal
    seq: int | None


class ProposalRepository(Protocol):
    async def propose(
        self, turn_id: UUID, lease_token: UUID, *, proposal: Proposal, usage: TurnUsage
    ) -> bool:
        """In the caller's transaction: mark the turn succeeded and store `proposal`. False
        when the lease was lost (the turn is not running under `lease_token`): then nothing
        was written.
        """
        ...

    async def get(self, proposal_id: UUID) -> Proposal | None: ...

    async def page(
        self, room_id: UUID, *, status: ProposalStatus | None, offset: int, limit: int
    ) -> ProposalPage:
        """The room's proposals, newest first."""
        ...

    async def decide(self, proposal_id: UUID, decision: Decision) -> Decided | None:
        """`pending` (and not expired at `decision.now`) → `decision.status`; approved or
        edited also posts the message (the room's next seq, linked to the proposal's turn).
        None when the proposal was not pending any more: nothing was written.
        """
        ...

    async def screen(self, proposal_id: UUID, *, reason: str, now: datetime) -> bool:
        """The teacher agent's pre-screening approval (`agent_then_human`): still pending,
        marked screened with the agent's reason. False when not pending.
        """
        ...

    async def undecided(self, *, before: datetime, now: datetime, limit: int) -> Sequence[UUID]:
        """Pending proposals created before `before`, not expired at `now` and not screened,
        in rooms whose `approval_mode` asks the teacher agent (`agent`, `agent_then_human`):
        the ones whose decision kick may have been lost.
        """
        ...

    async def expire(self, now: datetime, *, limit: int) -> Sequence[Proposal]:
        """Pending proposals whose `expires_at` passed → `expired`; the ones moved."""
        ...
