"""StartAnalyticsJob: queue a report of a course's discussions, or find the one under way."""

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from coagent.application.analytics.access import authorized_course
from coagent.application.ports.analytics import AnalyticsStore, JobQueue
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.analytics.job import AnalyticsJob, JobStatus
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class StartAnalyticsJobCommand:
    actor_id: UUID
    course_id: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class StartedJob:
    job: AnalyticsJob
    created: bool  # False: the course's job already under way


class StartAnalyticsJob:
    """Who: course staff who may run analytics (students Forbidden, outsiders NotFound).

    One active job per course: a second request gets the first job. A job found queued for
    longer than the lease, or running with an expired lease (its worker died), is queued
    again here too (a check on the next request, besides the periodic reclaim).
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        store: AnalyticsStore,
        queue: JobQueue,
        clock: Clock,
        ids: IdGenerator,
        lease_seconds: float,
    ) -> None:
        self._uow = uow
        self._store = store
        self._queue = queue
        self._clock = clock
        self._ids = ids
        self._lease = timedelta(seconds=lease_seconds)

    async def execute(self, command: StartAnalyticsJobCommand) -> StartedJob:
        course = await authorized_course(
            self._uow, command.actor_id, command.course_id, Action.ANALYTICS_RUN
        )
        now = self._clock.now()
        job, created = await self._store.create_job(
            AnalyticsJob(
                id=self._ids.new_id(),
                course_id=course.id,
                status=JobStatus.QUEUED,
                rooms_done=0,
                rooms_total=0,
                requested_by=command.actor_id,
                created_at=now,
            )
        )
        if created or self._abandoned(job):
            await self._queue.enqueue(job.id)
        return StartedJob(job=job, created=created)

    def _abandoned(self, job: AnalyticsJob) -> bool:
        now = self._clock.now()
        if job.status is JobStatus.RUNNING:
            return job.lease_expires_at is not None and job.lease_expires_at < now
        return job.status is JobStatus.QUEUED and job.created_at + self._lease < now
