"""CancelAnalyticsJob: stop a queued or running job; no report is stored for it."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.analytics.access import JOB_NOT_FOUND, check_job_visible
from coagent.application.ports.analytics import AnalyticsStore, JobEvents
from coagent.application.ports.clock import Clock
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.analytics.job import AnalyticsJob, JobStatus
from coagent.domain.errors import NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelAnalyticsJobCommand:
    actor_id: UUID
    job_id: UUID


class CancelAnalyticsJob:
    """Who: as `GetAnalyticsJob`. A job that has ended already is returned unchanged
    (idempotent). The runner notices at its next step (lease renewal or a room done) and
    stops; its report, if it was about to be stored, is not. Staff sockets get `job.failed`
    with status `cancelled`.
    """

    def __init__(
        self, *, uow: UnitOfWorkFactory, store: AnalyticsStore, events: JobEvents, clock: Clock
    ) -> None:
        self._uow = uow
        self._store = store
        self._events = events
        self._clock = clock

    async def execute(self, command: CancelAnalyticsJobCommand) -> AnalyticsJob:
        job = await self._store.get_job(command.job_id)
        if job is None:
            raise NotFound(JOB_NOT_FOUND)
        await check_job_visible(self._uow, command.actor_id, job.course_id)
        if not job.status.active:
            return job
        cancelled = await self._store.cancel(job.id, now=self._clock.now())
        if cancelled is None:
            raise NotFound(JOB_NOT_FOUND)
        if cancelled.status is JobStatus.CANCELLED:
            rooms = await self._store.room_ids(job.course_id)
            await self._events.publish("job.failed", cancelled, rooms)
        return cancelled
