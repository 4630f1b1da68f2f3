"""UpdateCourse: a course's title and description."""

from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.courses.access import authorize
from coagent.application.partial import KEEP, Keep
from coagent.application.ports.clock import Clock
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import Action
from coagent.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateCourseCommand:
    """`KEEP` leaves a field as it is; `description` None or "" clears it."""

    actor_id: UUID
    course_id: UUID
    title: str | Keep = KEEP
    description: str | Keep | None = KEEP


class UpdateCourse:
    """The owner, co-teachers and admins."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self, command: UpdateCourseCommand) -> Course:
        if not isinstance(command.title, Keep) and not command.title.strip():
            raise InvalidInput("Title must not be blank")
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            course = await authorize(uow, actor, command.course_id, Action.COURSE_UPDATE)
            updated = replace(
                course,
                title=course.title if isinstance(command.title, Keep) else command.title.strip(),
                description=(
                    course.description
                    if isinstance(command.description, Keep)
                    else (command.description or None)
                ),
                updated_at=self._clock.now(),
            )
            await uow.courses.update(updated)
            await uow.commit()
        return updated
