"""GetRoom: one room."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import authorize_room
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.courses.policy import Action
from coagent.domain.courses.room import Room


@dataclass(frozen=True, slots=True, kw_only=True)
class GetRoomCommand:
    actor_id: UUID
    room_id: UUID


class GetRoom(UnitOfWorkUseCase):
    """Whoever may read the room (see ListRooms)."""

    async def execute(self, command: GetRoomCommand) -> Room:
        async with self._uow() as uow:
            _, room = await authorize_room(uow, command.actor_id, command.room_id, Action.ROOM_READ)
            return room
