"""DeleteAnnouncement: an announcement removed, published live."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.courses.access import authorize_announcement
from coagent.application.courses.announcement_events import announcement_event
from coagent.application.ports.events import EventPublisher
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.courses.announcement import Announcement
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteAnnouncementCommand:
    actor_id: UUID
    announcement_id: UUID


class DeleteAnnouncement:
    """Course staff and admins. Published live; audit-logged."""

    def __init__(self, *, uow: UnitOfWorkFactory, events: EventPublisher) -> None:
        self._uow = uow
        self._events = events

    async def execute(self, command: DeleteAnnouncementCommand) -> Announcement:
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            announcement = await authorize_announcement(
                uow, actor, command.announcement_id, Action.ANNOUNCEMENT_WRITE
            )
            await uow.announcements.delete(announcement.id)
            await uow.audit.record(
                actor_id=actor.id,
                action="announcement.deleted",
                target_type="announcement",
                target_id=str(announcement.id),
                details={"course_id": str(announcement.course_id), "title": announcement.title},
            )
            await uow.commit()
        await self._events.publish(announcement_event("deleted", announcement))
        return announcement
