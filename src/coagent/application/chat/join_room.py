"""JoinRoom: may this user hold a live socket on this room?"""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import room_access
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinRoomCommand:
    actor_id: UUID
    room_id: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomPass:
    """What a socket needs to know about its room and its user, read once."""

    room_id: UUID
    course_id: UUID
    user_id: UUID
    display_name: str
    # Course staff (TA and above): their `coagent.v1` sockets receive agent traces.
    is_staff: bool = False


class JoinRoom(UnitOfWorkUseCase):
    """Active members who may read the room; NotFound for everyone else (as over HTTP)."""

    async def execute(self, command: JoinRoomCommand) -> RoomPass:
        async with self._uow() as uow:
            access = await room_access(uow, command.actor_id, command.room_id, Action.CHAT_READ)
        return RoomPass(
            room_id=access.room.id,
            course_id=access.room.course_id,
            user_id=access.actor.id,
            display_name=access.actor.display_name,
            is_staff=access.staff,
        )
