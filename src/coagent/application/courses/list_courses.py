"""ListCourses: the courses the actor belongs to."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import active
from coagent.application.ports.repositories import Page
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.courses.course import Course
from coagent.domain.errors import InvalidInput

MAX_PAGE = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class ListCoursesCommand:
    actor_id: UUID
    offset: int = 0
    limit: int = 100


class ListCourses(UnitOfWorkUseCase):
    """Anyone signed in: the courses they belong to; admins see every course. Newest first."""

    async def execute(self, command: ListCoursesCommand) -> Page[Course]:
        if command.offset < 0 or not 1 <= command.limit <= MAX_PAGE:
            raise InvalidInput(f"offset must be >= 0 and limit between 1 and {MAX_PAGE}")
        async with self._uow() as uow:
            # The account and its page in one read: a deactivated or deleted account is
            # refused as load_actor refuses it.
            found = await uow.courses.visible_to(
                command.actor_id, offset=command.offset, limit=command.limit
            )
            active(found.actor)
            return found.page
