"""AwaitAnalyticsJob: wait a bounded time for a job to end."""

import time
from dataclasses import dataclass
from uuid import UUID

from coagent.application.ports.analytics import AnalyticsStore, JobSignals
from coagent.domain.analytics.job import AnalyticsJob
from coagent.domain.errors import NotFound

FIRST_POLL = 0.05
MAX_POLL = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AwaitAnalyticsJobCommand:
    job_id: UUID
    timeout: float  # seconds


class AwaitAnalyticsJob:
    """The job once it has ended, or as it is when `timeout` has passed.

    Holds no database session while waiting: a runner in this process wakes it at once
    (`JobSignals`); otherwise it re-reads the job after 50 ms, then twice as long each time,
    at most 2 s apart. Access was checked by whoever started the job.
    """

    def __init__(self, *, store: AnalyticsStore, signals: JobSignals) -> None:
        self._store = store
        self._signals = signals

    async def execute(self, command: AwaitAnalyticsJobCommand) -> AnalyticsJob:
        deadline = time.monotonic() + command.timeout
        pause = FIRST_POLL
        while True:
            job = await self._store.get_job(command.job_id)
            if job is None:
                raise NotFound("Job not found")
            remaining = deadline - time.monotonic()
            if not job.status.active or remaining <= 0:
                return job
            await self._signals.wait(job.id, min(pause, remaining))
            pause = min(pause * 2, MAX_POLL)
