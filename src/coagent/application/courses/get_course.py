"""GetCourse: one course."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import course_access
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class GetCourseCommand:
    actor_id: UUID
    course_id: UUID


class GetCourse(UnitOfWorkUseCase):
    """Members and admins; to anyone else the course does not exist (404)."""

    async def execute(self, command: GetCourseCommand) -> Course:
        async with self._uow() as uow:
            access = await course_access(
                uow, command.actor_id, command.course_id, Action.COURSE_READ
            )
            return access.course
