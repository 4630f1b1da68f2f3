"""UpdateCourse: a course's title and description."""

from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.courses.access import authorize
from coagent.application.ports.clock import Clock
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import Action
from coagent.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateCourseCommand:
    """None leaves a field as it is; `description=""` clears it."""

    actor_id: UUID
    course_id: UUID
    title: str | None = None
    description: str | None = None


class UpdateCourse:
    """The owner, co-teachers and admins."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self, command: UpdateCourseCommand) -> Course:
        if command.title is not None and not command.title.strip():
            raise InvalidInput("Title must not be blank")
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            course = await authorize(uow, actor, command.course_id, Action.COURSE_UPDATE)
            updated = replace(
                course,
                title=command.title.strip() if command.title is not None else course.title,
                description=(
                    (command.description or None)
                    if command.description is not None
                    else course.description
                ),
                updated_at=self._clock.now(),
            )
            await uow.courses.update(updated)
            await uow.commit()
        return updated
