"""GetAnalyticsJob: a job, for those who may run analytics in its course."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.analytics.access import JOB_NOT_FOUND, check_job_visible
from coagent.application.ports.analytics import AnalyticsStore
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.analytics.job import AnalyticsJob
from coagent.domain.errors import NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class GetAnalyticsJobCommand:
    actor_id: UUID
    job_id: UUID


class GetAnalyticsJob:
    """NotFound for anyone but course staff who may run analytics (students included)."""

    def __init__(self, *, uow: UnitOfWorkFactory, store: AnalyticsStore) -> None:
        self._uow = uow
        self._store = store

    async def execute(self, command: GetAnalyticsJobCommand) -> AnalyticsJob:
        job = await self._store.get_job(command.job_id)
        if job is None:
            raise NotFound(JOB_NOT_FOUND)
        await check_job_visible(self._uow, command.actor_id, job.course_id)
        return job
