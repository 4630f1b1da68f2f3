"""Fake for the event publishing port: records what was published, in order."""

from collections.abc import Callable
from typing import Any

import anyio.lowlevel

from coagent.application.ports.events import CourseEvent


class RecordingPublisher:
    """Records every published event. With `observe`, also records what it returns at each
    publish (e.g. the committed state), so a test can tell an event came after the commit.
    """

    def __init__(self, observe: Callable[[], Any] | None = None) -> None:
        self.events: list[CourseEvent] = []
        self.observed: list[Any] = []
        self._observe = observe

    async def publish(self, event: CourseEvent) -> None:
        await anyio.lowlevel.checkpoint()
        self.events.append(event)
        if self._observe is not None:
            self.observed.append(self._observe())

    def types(self) -> list[str]:
        return [event.type for event in self.events]
