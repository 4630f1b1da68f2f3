"""ListRooms: the rooms of a course the actor may see."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import (
    course_access,
)
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.courses.policy import Action, Relation
from coagent.domain.courses.room import Room


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRoomsCommand:
    actor_id: UUID
    course_id: UUID


class ListRooms(UnitOfWorkUseCase):
    """Members and admins. Students see the rooms open to the whole course and the restricted
    ones they are assigned to; staff see all.
    """

    async def execute(self, command: ListRoomsCommand) -> Sequence[Room]:
        async with self._uow() as uow:
            access = await course_access(
                uow, command.actor_id, command.course_id, Action.COURSE_READ
            )
            sees_all = access.standing.relation >= Relation.TA
            return await uow.rooms.list_in(
                access.course.id, visible_to=None if sees_all else access.actor.id
            )
