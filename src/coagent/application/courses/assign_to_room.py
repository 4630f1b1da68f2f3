"""AssignToRoom: a course member assigned to a room."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import (
    authorize_room,
    check_user_reference,
    find_active_user,
)
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.accounts.user import User
from coagent.domain.courses.policy import Action
from coagent.domain.errors import NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignToRoomCommand:
    actor_id: UUID
    room_id: UUID
    user_id: UUID | None = None
    user_email: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    user: User
    created: bool


class AssignToRoom(UnitOfWorkUseCase):
    """Course staff (TA and above) and admins. Only members of the course can be assigned.
    A room with assigned members becomes visible, among students, to them only.
    """

    async def execute(self, command: AssignToRoomCommand) -> Assignment:
        check_user_reference(command.user_id, command.user_email)
        async with self._uow() as uow:
            _, room = await authorize_room(
                uow, command.actor_id, command.room_id, Action.ROOM_ASSIGN
            )
            user = await find_active_user(uow, command.user_id, command.user_email)
            if user is None or await uow.courses.role_of(room.course_id, user.id) is None:
                raise NotFound("User is not a member of this course")
            created = await uow.rooms.assign(room.id, user.id)
            await uow.commit()
        return Assignment(user=user, created=created)
