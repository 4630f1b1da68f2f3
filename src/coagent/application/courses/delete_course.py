"""DeleteCourse: a course and everything in it."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.courses.access import authorize
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteCourseCommand:
    actor_id: UUID
    course_id: UUID


class DeleteCourse(UnitOfWorkUseCase):
    """The owner and admins. Everything in the course goes with it (memberships, and later
    rooms, messages, announcements, agent configurations, reports); audit-logged.
    """

    async def execute(self, command: DeleteCourseCommand) -> Course:
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            course = await authorize(uow, actor, command.course_id, Action.COURSE_DELETE)
            await uow.courses.delete(course.id)
            await uow.audit.record(
                actor_id=actor.id,
                action="course.deleted",
                target_type="course",
                target_id=str(course.id),
                details={"title": course.title},
            )
            await uow.commit()
        return course
