"""The taskiq TurnKicker: a kick never makes the sender wait, and never fails the send."""

import asyncio
import logging
from typing import Any
from uuid import uuid4

import pytest

from coagent.adapters.worker.kicker import TaskiqTurnKicker
from coagent.adapters.worker.tasks import CONSIDER_MESSAGE, RUN_TURNS

pytestmark = pytest.mark.anyio


class Task:
    def __init__(self, broker: "Broker", name: str) -> None:
        self.broker, self.name = broker, name

    async def kiq(self, *args: Any) -> None:
        await self.broker.gate.wait()
        if self.broker.fail:
            raise ConnectionError("redis is down")
        self.broker.kicked.append((self.name, args))


class Broker:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.fail = False
        self.kicked: list[tuple[str, tuple[Any, ...]]] = []

    def find_task(self, name: str) -> Task:
        return Task(self, name)


async def test_a_kick_returns_at_once_and_reaches_the_queue_in_the_background() -> None:
    kicker, broker = TaskiqTurnKicker(), Broker()
    kicker.bind(broker)  # type: ignore[arg-type]
    room = uuid4()
    await asyncio.wait_for(kicker.consider_message(room, 7), 0.5)  # the queue is stuck
    await asyncio.wait_for(kicker.run_turns(room), 0.5)
    assert broker.kicked == []
    broker.gate.set()
    await kicker.drain()
    assert broker.kicked == [(CONSIDER_MESSAGE, (str(room), 7)), (RUN_TURNS, (str(room),))]


async def test_a_failed_or_unbound_kick_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kicker, broker = TaskiqTurnKicker(), Broker()
    with caplog.at_level(logging.WARNING, logger="coagent.agents"):
        await kicker.run_turns(uuid4())  # no broker yet
        await kicker.drain()
        kicker.bind(broker)  # type: ignore[arg-type]
        broker.fail = True
        broker.gate.set()
        await kicker.consider_message(uuid4(), 1)
        await kicker.drain()
    assert [r.getMessage() for r in caplog.records] == [
        "agent task not kicked: no broker",
        "agent task not kicked",
    ]
    assert caplog.records[1].error == "ConnectionError"  # type: ignore[attr-defined]
