"""GetAnalyticsReport: one report with its per-room figures (staff only)."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.analytics.access import REPORT_NOT_FOUND, authorized_course
from coagent.application.ports.analytics import AnalyticsStore
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.analytics.report import Report
from coagent.domain.courses.policy import Action
from coagent.domain.errors import NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class GetAnalyticsReportCommand:
    actor_id: UUID
    report_id: UUID


class GetAnalyticsReport:
    """Students of the course: Forbidden; outsiders and unknown ids: NotFound. Rooms deleted
    since are marked (`room_deleted`).
    """

    def __init__(self, *, uow: UnitOfWorkFactory, store: AnalyticsStore) -> None:
        self._uow = uow
        self._store = store

    async def execute(self, command: GetAnalyticsReportCommand) -> Report:
        report = await self._store.get_report(command.report_id)
        if report is None:
            raise NotFound(REPORT_NOT_FOUND)
        try:
            await authorized_course(
                self._uow, command.actor_id, report.course_id, Action.ANALYTICS_READ
            )
        except NotFound as error:
            raise NotFound(REPORT_NOT_FOUND) from error
        return report
