"""Applying the course policy inside a unit of work."""

from uuid import UUID

from coagent.application.ports.repositories import UnitOfWork
from coagent.domain.accounts.user import User
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import Action, Decision, Standing, decide
from coagent.domain.errors import Forbidden, NotFound

COURSE_NOT_FOUND = "Course not found"


async def standing_in(uow: UnitOfWork, actor: User, course: Course) -> Standing:
    return Standing(
        global_role=actor.role,
        course_role=await uow.courses.role_of(course.id, actor.id),
        is_owner=course.owner_id == actor.id,
    )


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
