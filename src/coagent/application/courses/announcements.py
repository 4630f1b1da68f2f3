"""PostAnnouncement, ListAnnouncements, EditAnnouncement and DeleteAnnouncement."""

from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.courses.access import authorize, course_access
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.events import CourseEvent, EventPublisher
from coagent.application.ports.repositories import Page, UnitOfWork, UnitOfWorkFactory
from coagent.domain.accounts.user import User
from coagent.domain.courses.announcement import Announcement, check_announcement
from coagent.domain.courses.policy import Action
from coagent.domain.errors import InvalidInput, NotFound

MAX_PAGE = 200


def _event(kind: str, announcement: Announcement) -> CourseEvent:
    return CourseEvent(
        course_id=announcement.course_id,
        type=f"announcement.{kind}",
        data={
            "id": str(announcement.id),
            "title": announcement.title,
            "content": announcement.content,
            "author_id": str(announcement.author_id) if announcement.author_id else None,
            "created_at": announcement.created_at.isoformat(),
            "updated_at": announcement.updated_at.isoformat(),
        },
    )


async def _authorized(
    uow: UnitOfWork, actor: User, announcement_id: UUID, action: Action
) -> Announcement:
    """The announcement, if the actor may do `action`; outsiders cannot tell it exists."""
    announcement = await uow.announcements.get(announcement_id)
    if announcement is None:
        raise NotFound("Announcement not found")
    try:
        await authorize(uow, actor, announcement.course_id, action)
    except NotFound as error:
        raise NotFound("Announcement not found") from error
    return announcement


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
        await self._events.publish(_event("created", announcement))
        return announcement


@dataclass(frozen=True, slots=True, kw_only=True)
class ListAnnouncementsCommand:
    actor_id: UUID
    course_id: UUID
    offset: int = 0
    limit: int = 100


class ListAnnouncements:
    """Members and admins; newest first."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, command: ListAnnouncementsCommand) -> Page[Announcement]:
        if command.offset < 0 or not 1 <= command.limit <= MAX_PAGE:
            raise InvalidInput(f"offset must be >= 0 and limit between 1 and {MAX_PAGE}")
        async with self._uow() as uow:
            access = await course_access(
                uow, command.actor_id, command.course_id, Action.ANNOUNCEMENT_READ
            )
            return await uow.announcements.list_in(
                access.course.id, offset=command.offset, limit=command.limit
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class EditAnnouncementCommand:
    actor_id: UUID
    announcement_id: UUID
    title: str | None = None
    content: str | None = None


class EditAnnouncement:
    """Course staff and admins; only the fields given change. Published live."""

    def __init__(self, *, uow: UnitOfWorkFactory, events: EventPublisher, clock: Clock) -> None:
        self._uow = uow
        self._events = events
        self._clock = clock

    async def execute(self, command: EditAnnouncementCommand) -> Announcement:
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            current = await _authorized(
                uow, actor, command.announcement_id, Action.ANNOUNCEMENT_WRITE
            )
            updated = replace(
                current,
                title=(command.title if command.title is not None else current.title).strip(),
                content=command.content if command.content is not None else current.content,
                updated_at=self._clock.now(),
            )
            check_announcement(updated.title, updated.content)
            await uow.announcements.update(updated)
            await uow.commit()
        await self._events.publish(_event("updated", updated))
        return updated


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
            announcement = await _authorized(
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
        await self._events.publish(_event("deleted", announcement))
        return announcement
