"""Course event publishers: in-process listeners, and Redis failures that lose no data."""

import asyncio
import logging
import uuid

import msgspec
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from coagent.adapters.realtime.publishers import (
    InProcessEventPublisher,
    RedisEventPublisher,
    course_channel,
)
from coagent.adapters.redis_circuit import RedisCircuit
from coagent.application.ports.events import CourseEvent

pytestmark = pytest.mark.anyio
EVENT = CourseEvent(course_id=uuid.UUID(int=7), type="announcement.created", data={"title": "Hi"})


async def test_every_listener_gets_the_event_even_when_one_fails(caplog):
    publisher = InProcessEventPublisher()
    seen: list[CourseEvent] = []

    async def broken(event: CourseEvent) -> None:
        raise RuntimeError("boom")

    async def working(event: CourseEvent) -> None:
        seen.append(event)

    publisher.subscribe(broken)
    publisher.subscribe(working)
    await publisher.publish(EVENT)
    assert seen == [EVENT]
    assert any(r.getMessage() == "event listener failed" for r in caplog.records)


class _Redis:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, channel: str, payload: bytes) -> int:
        if self.fail:
            raise RedisConnectionError("down")
        self.published.append((channel, payload))
        return 1


async def test_redis_publisher_sends_the_event_as_json_on_the_course_channel():
    redis = _Redis(fail=False)
    await RedisEventPublisher(redis).publish(EVENT)  # type: ignore[arg-type]
    [(channel, payload)] = redis.published
    assert channel == course_channel(EVENT.course_id) == f"coagent:course:{EVENT.course_id}"
    assert msgspec.json.decode(payload) == {
        "type": "announcement.created",
        "course_id": str(EVENT.course_id),
        "title": "Hi",
    }


async def test_redis_outage_is_logged_not_raised(caplog):
    caplog.set_level(logging.WARNING)
    await RedisEventPublisher(_Redis(fail=True)).publish(EVENT)  # type: ignore[arg-type]
    assert [r.getMessage() for r in caplog.records if r.name == "coagent.realtime"] == [
        "event not published"
    ]


async def test_while_redis_is_known_down_a_publish_is_tried_briefly_not_skipped(caplog):
    caplog.set_level(logging.WARNING)
    circuit = RedisCircuit(cool_off=60)
    await RedisEventPublisher(_Redis(fail=True), circuit=circuit).publish(EVENT)  # type: ignore[arg-type]
    assert circuit.is_open

    class Hanging(_Redis):
        async def publish(self, channel: str, payload: bytes) -> int:
            await asyncio.Event().wait()  # what retrying against a dead Redis looks like
            return 0

    publisher = RedisEventPublisher(Hanging(fail=False), circuit=circuit, timeout_when_down=0.01)  # type: ignore[arg-type]
    await publisher.publish(EVENT)  # returns: bounded, logged
    assert "event not published" in [r.getMessage() for r in caplog.records]
    back = _Redis(fail=False)
    await RedisEventPublisher(back, circuit=circuit).publish(EVENT)  # type: ignore[arg-type]
    assert len(back.published) == 1  # tried although the circuit was open, which it closes
    assert not circuit.is_open
