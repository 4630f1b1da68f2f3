"""ReclaimAnalyticsJobs: queue again the jobs whose worker died (periodic)."""

from dataclasses import dataclass
from datetime import timedelta

from coagent.application.ports.analytics import AnalyticsStore, JobQueue
from coagent.application.ports.clock import Clock


@dataclass(frozen=True, slots=True, kw_only=True)
class ReclaimAnalyticsJobsCommand:
    pass


class ReclaimAnalyticsJobs:
    """Running jobs whose lease expired and jobs queued for longer than a lease are queued
    again; the runner that gets one restarts it (a claim takes it over). Returns how many.
    """

    def __init__(
        self, *, store: AnalyticsStore, queue: JobQueue, clock: Clock, lease_seconds: float
    ) -> None:
        self._store = store
        self._queue = queue
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)

    async def execute(self, command: ReclaimAnalyticsJobsCommand) -> int:
        now = self._clock.now()
        stale = await self._store.stale_jobs(now=now, queued_before=now - self._lease)
        for job_id in stale:
            await self._queue.enqueue(job_id)
        return len(stale)
