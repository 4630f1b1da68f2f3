"""Applying the course policy inside a unit of work: the access checks every course, room
and announcement use case (and the chat, turn and proposal ones) share.
"""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import active
from coagent.application.ports.repositories import RoomStanding, UnitOfWork
from coagent.domain.accounts.credentials import normalize_email
from coagent.domain.accounts.user import User
from coagent.domain.courses.announcement import Announcement
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import (
    MANAGE_ACTION,
    Action,
    CourseRole,
    Decision,
    Relation,
    Standing,
    decide,
)
from coagent.domain.courses.room import Room
from coagent.domain.errors import Forbidden, InvalidInput, NotFound

COURSE_NOT_FOUND = "Course not found"
ROOM_NOT_FOUND = "Room not found"
ANNOUNCEMENT_NOT_FOUND = "Announcement not found"


async def standing_in(uow: UnitOfWork, actor: User, course: Course) -> Standing:
    return Standing(
        global_role=actor.role,
        course_role=await uow.courses.role_of(course.id, actor.id),
        is_owner=course.owner_id == actor.id,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CourseAccess:
    actor: User
    course: Course
    standing: Standing


async def course_access(
    uow: UnitOfWork, actor_id: UUID, course_id: UUID, action: Action
) -> CourseAccess:
    """`load_actor` + `authorize` + `standing_in` in one read (`CourseRepository.standing`),
    for the read paths: the same checks, the same errors, in the same order.
    """
    found = await uow.courses.standing(course_id, actor_id)
    actor = active(found.actor)
    course = found.course
    if course is None:
        raise NotFound(COURSE_NOT_FOUND)
    standing = Standing(
        global_role=actor.role, course_role=found.course_role, is_owner=course.owner_id == actor.id
    )
    require(decide(standing, action))
    return CourseAccess(actor=actor, course=course, standing=standing)


async def authorize(uow: UnitOfWork, actor: User, course_id: UUID, action: Action) -> Course:
    """The course, if the actor may do `action` on it; NotFound when they may not know of it."""
    course = await uow.courses.get(course_id)
    if course is None:
        raise NotFound(COURSE_NOT_FOUND)
    require(decide(await standing_in(uow, actor, course), action))
    return course


def require(decision: Decision) -> None:
    if decision is Decision.HIDDEN:
        raise NotFound(COURSE_NOT_FOUND)
    if decision is Decision.DENIED:
        raise Forbidden("You may not do this in this course")


def check_user_reference(user_id: UUID | None, user_email: str | None) -> None:
    """Enrollment and assignment name a user by id, by email, or by both (see
    `find_active_user`); naming nobody is invalid.
    """
    if user_id is None and user_email is None:
        raise InvalidInput("Give user_id or user_email")


async def find_active_user(
    uow: UnitOfWork, user_id: UUID | None, user_email: str | None
) -> User | None:
    """The active account named by id or email, or None.

    Both may be given (the original web client sends both for a picked search hit): the id is
    used, and the email must be that account's, else the two name different users (invalid).
    """
    if user_id is None:
        user = await uow.users.get_by_login(normalize_email(user_email or ""))
    else:
        user = await uow.users.get(user_id)
        if (
            user is not None
            and user_email is not None
            and normalize_email(user_email) != user.email
        ):
            raise InvalidInput("user_id and user_email name different users")
    return user if user is not None and user.is_active else None


async def require_manage(uow: UnitOfWork, actor: User, course: Course, *roles: CourseRole) -> None:
    """The actor must be allowed to manage members of every one of `roles`."""
    standing = await standing_in(uow, actor, course)
    for role in roles:
        require(decide(standing, MANAGE_ACTION[role]))


async def authorize_room(
    uow: UnitOfWork, actor_id: UUID, room_id: UUID, action: Action
) -> tuple[User, Room]:
    """The actor as stored now and the room, if the actor may do `action` in it. One read.

    NotAuthenticated for a deleted or deactivated account (as `load_actor`); NotFound when
    the actor may not know of the room (outside the course, or a student of the course not
    assigned to a restricted room); Forbidden when they may see it but not do this.
    """
    access = await room_access(uow, actor_id, room_id, action)
    return access.actor, access.room


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomAccess:
    actor: User
    room: Room
    last_seq: int  # the room's latest committed message when the access was read
    # Course staff (TA and above, admins): may see what students may not (agent traces).
    staff: bool = False


async def room_access(uow: UnitOfWork, actor_id: UUID, room_id: UUID, action: Action) -> RoomAccess:
    """`authorize_room`, with the room's last seq from the same read."""
    return room_access_from(await uow.rooms.standing(room_id, actor_id), action)


def room_access_from(found: RoomStanding, action: Action) -> RoomAccess:
    """`room_access` decided from a standing already read."""
    actor = active(found.actor)
    if found.room is None:
        raise NotFound(ROOM_NOT_FOUND)
    standing = Standing(
        global_role=actor.role,
        course_role=found.course_role,
        is_owner=found.is_owner,
        assigned=found.assigned,
    )
    decision = decide(standing, action)
    if decision is Decision.HIDDEN or (
        decision is Decision.DENIED and decide(standing, Action.ROOM_READ) is Decision.HIDDEN
    ):
        raise NotFound(ROOM_NOT_FOUND)
    require(decision)
    return RoomAccess(
        actor=actor,
        room=found.room,
        last_seq=found.last_seq,
        staff=standing.relation >= Relation.TA,
    )


async def authorize_announcement(
    uow: UnitOfWork, actor: User, announcement_id: UUID, action: Action
) -> Announcement:
    """The announcement, if the actor may do `action`; outsiders cannot tell it exists."""
    announcement = await uow.announcements.get(announcement_id)
    if announcement is None:
        raise NotFound(ANNOUNCEMENT_NOT_FOUND)
    try:
        await authorize(uow, actor, announcement.course_id, action)
    except NotFound as error:
        raise NotFound(ANNOUNCEMENT_NOT_FOUND) from error
    return announcement
