"""EnrollMember: a user made a member of a course."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.courses.access import (
    authorize,
    check_user_reference,
    find_active_user,
    require_manage,
)
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.accounts.user import User
from coagent.domain.courses.policy import Action, CourseRole
from coagent.domain.errors import NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollMemberCommand:
    actor_id: UUID
    course_id: UUID
    role: CourseRole = CourseRole.STUDENT
    user_id: UUID | None = None
    user_email: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrollment:
    user: User
    role: CourseRole
    created: bool


class EnrollMember(UnitOfWorkUseCase):
    """TAs enroll students; co-teachers also TAs; the owner and admins anyone. Enrolling an
    existing member changes nothing and says so (idempotent). Audit-logged.
    """

    async def execute(self, command: EnrollMemberCommand) -> Enrollment:
        check_user_reference(command.user_id, command.user_email)
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            course = await authorize(uow, actor, command.course_id, Action.COURSE_READ)
            await require_manage(uow, actor, course, command.role)
            user = await find_active_user(uow, command.user_id, command.user_email)
            if user is None:
                raise NotFound("User not found")
            created = await uow.courses.add_member(course.id, user.id, command.role)
            role = command.role if created else await uow.courses.role_of(course.id, user.id)
            if created:
                await uow.audit.record(
                    actor_id=actor.id,
                    action="course.member_enrolled",
                    target_type="course",
                    target_id=str(course.id),
                    details={"user_id": str(user.id), "role": str(command.role)},
                )
            await uow.commit()
        return Enrollment(user=user, role=role or command.role, created=created)
