"""The `JobQueue` port on the taskiq broker (bound once the broker exists)."""

from uuid import UUID

from taskiq import AsyncBroker

from coagent.adapters.worker.tasks import RUN_ANALYTICS_JOB


class TaskiqJobQueue:
    """Kicks `analytics.run_job`. The composition root builds it before the broker and binds
    it to the broker of its process (the web process's, a worker's).
    """

    def __init__(self) -> None:
        self._broker: AsyncBroker | None = None

    def bind(self, broker: AsyncBroker) -> None:
        self._broker = broker

    async def enqueue(self, job_id: UUID) -> None:
        if self._broker is None:
            raise RuntimeError("the job queue has no broker yet")
        task = self._broker.find_task(RUN_ANALYTICS_JOB)
        if task is None:
            raise RuntimeError("analytics.run_job is not registered")
        await task.kiq(str(job_id))
