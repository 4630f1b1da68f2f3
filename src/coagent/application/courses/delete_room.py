"""DeleteRoom: a room and its assignments."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import authorize_room
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.courses.policy import Action
from coagent.domain.courses.room import Room


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRoomCommand:
    actor_id: UUID
    room_id: UUID


class DeleteRoom(UnitOfWorkUseCase):
    """Course staff (TA and above) and admins; the room's assignments go with it. Audited."""

    async def execute(self, command: DeleteRoomCommand) -> Room:
        async with self._uow() as uow:
            actor, room = await authorize_room(
                uow, command.actor_id, command.room_id, Action.ROOM_DELETE
            )
            await uow.rooms.delete(room.id)
            await uow.audit.record(
                actor_id=actor.id,
                action="room.deleted",
                target_type="room",
                target_id=str(room.id),
                details={"course_id": str(room.course_id), "name": room.name},
            )
            await uow.commit()
        return room
