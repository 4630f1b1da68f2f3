"""ListProposals: a room's peer-agent proposals for course staff, newest first."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import authorize_room
from coagent.application.ports.proposals import ProposalPage
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.agents.proposal import ProposalStatus
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class ListProposalsCommand:
    actor_id: UUID
    room_id: UUID
    status: ProposalStatus | None = None
    offset: int = 0
    limit: int = 50


class ListProposals(UnitOfWorkUseCase):
    """Staff of the course (TA and above, admins); students Forbidden, others NotFound."""

    async def execute(self, command: ListProposalsCommand) -> ProposalPage:
        async with self._uow() as uow:
            await authorize_room(uow, command.actor_id, command.room_id, Action.PROPOSALS_READ)
            return await uow.proposals.page(
                command.room_id, status=command.status, offset=command.offset, limit=command.limit
            )
