"""PostAnnouncement: a new announcement, published live to the course."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.courses.access import authorize
from coagent.application.courses.announcement_events import announcement_event
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.events import EventPublisher
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.courses.announcement import Announcement, check_announcement
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class PostAnnouncementCommand:
    actor_id: UUID
    course_id: UUID
    title: str
    content: str


class PostAnnouncement:
    """Course staff (TA and above) and admins. Published live to the course after commit."""

    def __init__(
        self, *, uow: UnitOfWorkFactory, events: EventPublisher, clock: Clock, ids: IdGenerator
    ) -> None:
        self._uow = uow
        self._events = events
        self._clock = clock
        self._ids = ids

    async def execute(self, command: PostAnnouncementCommand) -> Announcement:
        check_announcement(command.title, command.content)
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            course = await authorize(uow, actor, command.course_id, Action.ANNOUNCEMENT_WRITE)
            now = self._clock.now()
            announcement = Announcement(
                id=self._ids.new_id(),
                course_id=course.id,
                author_id=actor.id,
                title=command.title.strip(),
                content=command.content,
                created_at=now,
                updated_at=now,
            )
            await uow.announcements.add(announcement)
            await uow.commit()
        await self._events.publish(announcement_event("created", announcement))
        return announcement
