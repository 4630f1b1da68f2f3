"""CreateCourse."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole, may_create_course
from coagent.domain.errors import Forbidden, InvalidInput


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateCourseCommand:
    actor_id: UUID
    title: str
    description: str | None = None


class CreateCourse:
    """Global teachers and above. The creator owns the course and is its member with course
    role `teacher`, in the same transaction.
    """

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def execute(self, command: CreateCourseCommand) -> Course:
        if not command.title.strip():
            raise InvalidInput("Title must not be blank")
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            if not may_create_course(actor.role):
                raise Forbidden("Only teachers and administrators create courses")
            now = self._clock.now()
            course = Course(
                id=self._ids.new_id(),
                title=command.title.strip(),
                description=command.description or None,
                owner_id=actor.id,
                created_at=now,
                updated_at=now,
                owner_name=actor.public_name,
            )
            await uow.courses.add(course)
            await uow.courses.add_member(course.id, actor.id, CourseRole.TEACHER)
            await uow.commit()
        return course
