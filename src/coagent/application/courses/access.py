"""Applying the course policy inside a unit of work."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import active
from coagent.application.ports.repositories import UnitOfWork
from coagent.domain.accounts.credentials import normalize_email
from coagent.domain.accounts.user import User
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import Action, Decision, Standing, decide
from coagent.domain.errors import Forbidden, InvalidInput, NotFound

COURSE_NOT_FOUND = "Course not found"


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
