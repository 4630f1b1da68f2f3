"""ChangeMember: a member's course role changed, or the member removed."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.courses.access import (
    authorize,
    require_manage,
)
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.courses.policy import Action, CourseRole
from coagent.domain.errors import Conflict, NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeMemberCommand:
    actor_id: UUID
    course_id: UUID
    user_id: UUID
    role: CourseRole | None = None  # None: remove the member


class ChangeMember(UnitOfWorkUseCase):
    """Change a member's course role, or remove them. The actor must manage both the old and
    the new role; the owner's membership never changes. Audit-logged.
    """

    async def execute(self, command: ChangeMemberCommand) -> None:
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            course = await authorize(uow, actor, command.course_id, Action.COURSE_READ)
            current = await uow.courses.role_of(course.id, command.user_id)
            if current is None:
                raise NotFound("User is not a member of this course")
            await require_manage(
                uow, actor, course, current, *([command.role] if command.role else [])
            )
            if command.user_id == course.owner_id:
                raise Conflict("The course owner cannot be removed or given another role")
            if command.role is current:
                return  # nothing changes, nothing to audit
            if command.role is None:
                await uow.courses.remove_member(course.id, command.user_id)
            else:
                await uow.courses.set_member_role(course.id, command.user_id, command.role)
            await uow.audit.record(
                actor_id=actor.id,
                action="course.member_removed"
                if command.role is None
                else "course.member_role_changed",
                target_type="course",
                target_id=str(course.id),
                details={
                    "user_id": str(command.user_id),
                    "from": str(current),
                    **({"to": str(command.role)} if command.role else {}),
                },
            )
            await uow.commit()
