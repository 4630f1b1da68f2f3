"""DecideProposal: course staff approve (as written or edited) or reject a pending proposal."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import authorize_room
from coagent.application.ports.agent_events import AgentStream
from coagent.application.ports.chat import ChatPublisher
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.proposals import Decision
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.proposals.common import announce, audit_action
from coagent.domain.agents.proposal import Proposal, ProposalStatus, check_reason
from coagent.domain.chat.message import check_content
from coagent.domain.courses.policy import Action
from coagent.domain.errors import Conflict, NotFound

PROPOSAL_NOT_FOUND = "Proposal not found"


@dataclass(frozen=True, slots=True, kw_only=True)
class DecideProposalCommand:
    """`approve` False rejects (with `reason`); `content` (approve only) edits the text first."""

    actor_id: UUID
    proposal_id: UUID
    approve: bool
    content: str | None = None
    reason: str | None = None


class DecideProposal:
    """Staff of the proposal's course (TA and above, admins), in every approval mode (staff
    outrank the teacher agent while the proposal is pending); students Forbidden, others
    NotFound. Only a pending, unexpired proposal can be decided: otherwise Conflict, and
    nothing changes. One conditional update decides, so of two staff at once one wins and
    the other gets Conflict; an approval posts exactly one message. Audited.
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        publisher: ChatPublisher,
        stream: AgentStream,
        max_length: int,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._publisher = publisher
        self._stream = stream
        self._max_length = max_length

    async def execute(self, command: DecideProposalCommand) -> Proposal:
        content = (
            check_content(command.content, max_length=self._max_length)
            if command.approve and command.content is not None
            else None
        )
        reason = check_reason(command.reason)
        async with self._uow() as uow:
            found = await uow.proposals.get(command.proposal_id)
            if found is None:
                raise NotFound(PROPOSAL_NOT_FOUND)
            actor, _ = await authorize_room(
                uow, command.actor_id, found.room_id, Action.PROPOSAL_DECIDE
            )
            if found.status is not ProposalStatus.PENDING:
                raise Conflict(f"The proposal is already {found.status.value}")
            if not command.approve:
                status = ProposalStatus.REJECTED
            elif content is not None and content != found.content:
                status = ProposalStatus.EDITED
            else:
                status = ProposalStatus.APPROVED
            decided = await uow.proposals.decide(
                found.id,
                Decision(
                    status=status,
                    decided_by=actor.id,
                    decided_by_agent=False,
                    reason=reason,
                    now=self._clock.now(),
                    content=content if status is ProposalStatus.EDITED else None,
                    message_id=self._ids.new_id() if command.approve else None,
                ),
            )
            if decided is None:
                raise Conflict("The proposal was decided or expired meanwhile")
            await uow.audit.record(
                actor_id=actor.id,
                action=audit_action(status),
                target_type="agent_proposal",
                target_id=str(found.id),
                details={
                    "room_id": str(found.room_id),
                    "turn_id": str(found.turn_id),
                    "reason": reason,
                    "message_id": str(decided.proposal.message_id)
                    if decided.proposal.message_id
                    else None,
                },
            )
            await uow.commit()
        await announce(decided, publisher=self._publisher, stream=self._stream)
        return decided.proposal
