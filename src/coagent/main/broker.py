"""The task broker: in-process for the embedded default, Redis streams otherwise."""

import logging

from taskiq import AsyncBroker, InMemoryBroker, TaskiqEvents, TaskiqScheduler, TaskiqState
from taskiq.schedule_sources import LabelScheduleSource
from taskiq_redis import RedisStreamBroker

from coagent.adapters.worker.tasks import register_tasks
from coagent.main.settings import Settings, load_settings

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
        broker = InMemoryBroker(await_inplace=False)
    register_tasks(broker)
    return broker


def create_worker_broker() -> AsyncBroker:
    """Entry point for `taskiq worker`: the worker process builds its own container."""
    from coagent.main.container import build_container  # noqa: PLC0415
    from coagent.main.logging import configure_logging  # noqa: PLC0415

    settings = load_settings()
    configure_logging(settings.log_level, json_output=settings.log_json)
    broker = create_broker(settings)

    @broker.on_event(TaskiqEvents.WORKER_STARTUP)
    async def _startup(state: TaskiqState) -> None:
        state.container = build_container(settings)
        state.container.agents_runtime.bind(broker)
        state.services = state.container.worker
        logger.info("worker started", extra={"broker": type(broker).__name__})

    @broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
    async def _shutdown(state: TaskiqState) -> None:
        await state.container.aclose()

    return broker


def create_scheduler(settings: Settings | None = None) -> TaskiqScheduler:
    """The one process that kicks periodic tasks (their `schedule` labels) onto the broker."""
    broker = create_broker(settings)
    return TaskiqScheduler(broker, sources=[LabelScheduleSource(broker)])
