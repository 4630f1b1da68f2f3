"""ListTurns: a room's agent turns for course staff, newest first."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import authorize_room
from coagent.application.ports.turns import TurnPage
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class ListTurnsCommand:
    actor_id: UUID
    room_id: UUID
    offset: int = 0
    limit: int = 50


class ListTurns(UnitOfWorkUseCase):
    """Staff of the course (TA and above, admins); students Forbidden, others NotFound."""

    async def execute(self, command: ListTurnsCommand) -> TurnPage:
        async with self._uow() as uow:
            await authorize_room(uow, command.actor_id, command.room_id, Action.AGENT_TURNS_READ)
            return await uow.turns.page(command.room_id, offset=command.offset, limit=command.limit)
