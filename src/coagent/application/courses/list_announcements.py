"""ListAnnouncements: a course's announcements, newest first."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import course_access
from coagent.application.ports.repositories import Page
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.courses.announcement import Announcement
from coagent.domain.courses.policy import Action
from coagent.domain.errors import InvalidInput

MAX_PAGE = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class ListAnnouncementsCommand:
    actor_id: UUID
    course_id: UUID
    offset: int = 0
    limit: int = 100


class ListAnnouncements(UnitOfWorkUseCase):
    """Members and admins; newest first."""

    async def execute(self, command: ListAnnouncementsCommand) -> Page[Announcement]:
        if command.offset < 0 or not 1 <= command.limit <= MAX_PAGE:
            raise InvalidInput(f"offset must be >= 0 and limit between 1 and {MAX_PAGE}")
        async with self._uow() as uow:
            access = await course_access(
                uow, command.actor_id, command.course_id, Action.ANNOUNCEMENT_READ
            )
            return await uow.announcements.list_in(
                access.course.id, offset=command.offset, limit=command.limit
            )
