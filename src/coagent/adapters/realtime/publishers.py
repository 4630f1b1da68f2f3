"""Course events out of the process: Redis pub/sub, or in-process listeners when embedded."""

import logging
from collections.abc import Awaitable, Callable

import msgspec
from redis.asyncio import Redis

from coagent.adapters.redis_circuit import RedisCircuit, RedisDown
from coagent.application.ports.events import CourseEvent

logger = logging.getLogger("coagent.realtime")

Listener = Callable[[CourseEvent], Awaitable[None]]


def course_channel(course_id: object) -> str:
    return f"coagent:course:{course_id}"


def encode(event: CourseEvent) -> bytes:
    return msgspec.json.encode({"type": event.type, "course_id": event.course_id, **event.data})


class RedisEventPublisher:
    """PUBLISH to the course's channel; every web process subscribed to it delivers. While
    Redis is known to be down, tried briefly instead of with every retry (ADR 0007).
    """

    def __init__(
        self,
        redis: Redis,
        *,
        circuit: RedisCircuit | None = None,
        timeout_when_down: float = 0.25,
    ) -> None:
        self._redis = redis
        self._circuit = circuit or RedisCircuit()
        self._timeout_when_down = timeout_when_down

    async def publish(self, event: CourseEvent) -> None:
        channel, payload = course_channel(event.course_id), encode(event)
        try:
            await self._circuit.attempt(
                lambda: self._redis.publish(channel, payload),
                timeout_when_open=self._timeout_when_down,
            )
        except RedisDown as error:
            # The change is committed; clients that miss the event see it when they re-read.
            logger.warning("event not published", extra={"type": event.type, "error": str(error)})


class InProcessEventPublisher:
    """The embedded mode's bus: hands each event to the listeners of this process."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def publish(self, event: CourseEvent) -> None:
        for listener in list(self._listeners):
            try:
                await listener(event)
            except Exception as error:  # noqa: BLE001 - one listener never stops the others
                logger.warning(
                    "event listener failed",
                    extra={"type": event.type, "error": type(error).__name__},
                )
