"""EditAnnouncement: an announcement's title or content."""

from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.courses.access import authorize_announcement
from coagent.application.courses.announcement_events import announcement_event
from coagent.application.partial import KEEP, Keep, kept
from coagent.application.ports.clock import Clock
from coagent.application.ports.events import EventPublisher
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.courses.announcement import Announcement, check_announcement
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class EditAnnouncementCommand:
    actor_id: UUID
    announcement_id: UUID
    title: str | Keep = KEEP
    content: str | Keep = KEEP


class EditAnnouncement:
    """Course staff and admins; only the fields given change. Published live."""

    def __init__(self, *, uow: UnitOfWorkFactory, events: EventPublisher, clock: Clock) -> None:
        self._uow = uow
        self._events = events
        self._clock = clock

    async def execute(self, command: EditAnnouncementCommand) -> Announcement:
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            current = await authorize_announcement(
                uow, actor, command.announcement_id, Action.ANNOUNCEMENT_WRITE
            )
            updated = replace(
                current,
                title=kept(command.title, current.title).strip(),
                content=kept(command.content, current.content),
                updated_at=self._clock.now(),
            )
            check_announcement(updated.title, updated.content)
            await uow.announcements.update(updated)
            await uow.commit()
        await self._events.publish(announcement_event("updated", updated))
        return updated
