"""Publishing domain events for live delivery (WebSocket fan-out subscribes to them)."""

from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class CourseEvent:
    """Something changed in a course that its connected members should see at once."""

    course_id: UUID
    type: str  # e.g. "announcement.created"
    data: dict[str, Any] = field(default_factory=dict)


class EventPublisher(Protocol):
    async def publish(self, event: CourseEvent) -> None:
        """Best effort, after commit: a lost event never loses data (clients re-read)."""
        ...
