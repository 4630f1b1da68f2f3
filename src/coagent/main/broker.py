"""The task broker: in-process for the embedded default, Redis streams otherwise."""

import asyncio
import logging
from typing import Any

from taskiq import (
    AsyncBroker,
    InMemoryBroker,
    TaskiqEvents,
    TaskiqMessage,
    TaskiqMiddleware,
    TaskiqScheduler,
    TaskiqState,
)
from taskiq.schedule_sources import LabelScheduleSource
from taskiq_redis import RedisStreamBroker

from coagent.adapters.observability.task_metrics import TaskMetrics
from coagent.adapters.worker.tasks import register_tasks
from coagent.main.liveness import WORKER_ALIVE, touch_every
from coagent.main.settings import Settings, load_settings
from coagent.main.stopping import HAND_BACK_SECONDS, worker_starting

logger = logging.getLogger("coagent.worker")

# Longer than any task may run (an LLM stream included), so a live task is never reclaimed.
IDLE_TIMEOUT_MS = 10 * 60 * 1000


def create_broker(settings: Settings | None = None) -> AsyncBroker:
    """Build the broker and register every task. Workers attach their container on start."""
    settings = settings or load_settings()
    broker: AsyncBroker
    if settings.redis_url:
        from redis.asyncio.retry import Retry  # noqa: PLC0415 - only the Redis broker needs it
        from redis.backoff import ExponentialWithJitterBackoff  # noqa: PLC0415

        broker = RedisStreamBroker(
            settings.redis_url,
            queue_name="coagent:tasks",
            consumer_group_name="coagent-workers",
            maxlen=100_000,
            idle_timeout=IDLE_TIMEOUT_MS,
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), 6),
        )
    else:
        # taskiq's default is 30 tasks at once; a turn holds its slot for its whole stream.
        broker = InMemoryBroker(await_inplace=False, max_async_tasks=settings.worker_max_tasks)
    register_tasks(broker)
    broker.add_middlewares(TaskMetrics())  # counted where tasks run (see README, Metrics)
    return broker


class RunningTasks(TaskiqMiddleware):
    """Knows the worker's task executions still running, to cancel them at shutdown."""

    def __init__(self) -> None:
        super().__init__()
        self._tasks: set[asyncio.Task[Any]] = set()

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        task = asyncio.current_task()  # the receiver runs each message in its own task
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return message

    async def hand_back(self, seconds: float = HAND_BACK_SECONDS) -> int:
        """Cancel the executions still running (after the receiver's grace) and give them
        `seconds` to run their clean-up; returns how many were cancelled.
        """
        running = [task for task in self._tasks if not task.done()]
        for task in running:
            task.cancel()
        if running:
            logger.warning("cancelled running tasks at shutdown", extra={"tasks": len(running)})
            await asyncio.wait(running, timeout=seconds)
        return len(running)


def create_worker_broker() -> AsyncBroker:
    """Entry point for `taskiq worker`: the worker process builds its own container."""
    ready = worker_starting()  # a stop signal before `ready()` ends the process at once
    from coagent.main.container import build_container  # noqa: PLC0415
    from coagent.main.logging import configure_logging  # noqa: PLC0415

    settings = load_settings()
    configure_logging(settings.log_level, json_output=settings.log_json)
    broker = create_broker(settings)
    running = RunningTasks()
    broker.add_middlewares(running)

    @broker.on_event(TaskiqEvents.WORKER_STARTUP)
    async def _startup(state: TaskiqState) -> None:
        state.container = build_container(settings, serves_sockets=False)
        state.container.agents_runtime.bind(broker)

        state.container.job_queue.bind(broker)
        state.services = state.container.worker
        state.alive = asyncio.create_task(touch_every(WORKER_ALIVE))  # compose's health check
        logger.info("worker started", extra={"broker": type(broker).__name__})
        ready()

    @broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
    async def _shutdown(state: TaskiqState) -> None:
        alive = getattr(state, "alive", None)
        if alive is not None:
            alive.cancel()
        await running.hand_back()  # the tasks still running after the grace
        container = getattr(state, "container", None)
        if container is not None:
            await container.aclose()

    return broker


def create_scheduler(settings: Settings | None = None) -> TaskiqScheduler:
    """The one process that kicks periodic tasks (their `schedule` labels) onto the broker."""
    broker = create_broker(settings)
    return TaskiqScheduler(broker, sources=[LabelScheduleSource(broker)])
