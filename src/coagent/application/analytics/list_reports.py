"""ListAnalyticsReports: a course's reports, newest first (staff only)."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.analytics.access import authorized_course
from coagent.application.ports.analytics import AnalyticsStore
from coagent.application.ports.repositories import Page, UnitOfWorkFactory
from coagent.domain.analytics.report import Report
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class ListAnalyticsReportsCommand:
    actor_id: UUID
    course_id: UUID
    offset: int = 0
    limit: int = 50


class ListAnalyticsReports:
    """Students of the course: Forbidden; outsiders: NotFound."""

    def __init__(self, *, uow: UnitOfWorkFactory, store: AnalyticsStore) -> None:
        self._uow = uow
        self._store = store

    async def execute(self, command: ListAnalyticsReportsCommand) -> Page[Report]:
        course = await authorized_course(
            self._uow, command.actor_id, command.course_id, Action.ANALYTICS_READ
        )
        return await self._store.list_reports(course.id, offset=command.offset, limit=command.limit)
