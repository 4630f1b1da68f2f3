"""Course events out of the process: Redis pub/sub, or in-process listeners when embedded."""

import logging
from collections.abc import Awaitable, Callable

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from coagent.application.ports.events import CourseEvent

logger = logging.getLogger("coagent.realtime")

Listener = Callable[[CourseEvent], Awaitable[None]]


def course_channel(course_id: object) -> str:
    return f"coagent:course:{course_id}"


def encode(event: CourseEvent) -> bytes:
    return msgspec.json.encode({"type": event.type, "course_id": event.course_id, **event.data})


class RedisEventPublisher:
    """PUBLISH to the course's channel; every web process subscribed to it delivers."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def publish(self, event: CourseEvent) -> None:
        try:
            await self._redis.publish(course_channel(event.course_id), encode(event))
        except RedisError as error:
            # The change is committed; clients that miss the event see it when they re-read.
            logger.warning(
                "event not published", extra={"type": event.type, "error": type(error).__name__}
            )


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
