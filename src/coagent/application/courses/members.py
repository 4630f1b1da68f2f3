"""EnrollMember, ListMembers, ChangeMemberRole and RemoveMember."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.courses.access import (
    authorize,
    check_user_reference,
    course_access,
    find_active_user,
    require,
    standing_in,
)
from coagent.application.ports.repositories import UnitOfWork, UnitOfWorkFactory
from coagent.domain.accounts.user import User
from coagent.domain.courses.course import Course, Member
from coagent.domain.courses.policy import MANAGE_ACTION, Action, CourseRole, Decision, decide
from coagent.domain.errors import Conflict, NotFound


async def _manage(uow: UnitOfWork, actor: User, course: Course, *roles: CourseRole) -> None:
    """The actor must be allowed to manage members of every one of `roles`."""
    standing = await standing_in(uow, actor, course)
    for role in roles:
        require(decide(standing, MANAGE_ACTION[role]))


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


class EnrollMember:
    """TAs enroll students; co-teachers also TAs; the owner and admins anyone. Enrolling an
    existing member changes nothing and says so (idempotent). Audit-logged.
    """

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, command: EnrollMemberCommand) -> Enrollment:
        check_user_reference(command.user_id, command.user_email)
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            course = await authorize(uow, actor, command.course_id, Action.COURSE_READ)
            await _manage(uow, actor, course, command.role)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class ListMembersCommand:
    actor_id: UUID
    course_id: UUID


class ListMembers:
    """Members and admins. Only staff (TA and above) see email addresses."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, command: ListMembersCommand) -> Sequence[Member]:
        async with self._uow() as uow:
            access = await course_access(
                uow, command.actor_id, command.course_id, Action.MEMBERS_READ
            )
            members = await uow.courses.members(access.course.id)
        if decide(access.standing, Action.MEMBER_EMAILS_READ) is Decision.ALLOWED:
            return members
        return [replace(member, email="") for member in members]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeMemberCommand:
    actor_id: UUID
    course_id: UUID
    user_id: UUID
    role: CourseRole | None = None  # None: remove the member


class ChangeMember:
    """Change a member's course role, or remove them. The actor must manage both the old and
    the new role; the owner's membership never changes. Audit-logged.
    """

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, command: ChangeMemberCommand) -> None:
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            course = await authorize(uow, actor, command.course_id, Action.COURSE_READ)
            current = await uow.courses.role_of(course.id, command.user_id)
            if current is None:
                raise NotFound("User is not a member of this course")
            await _manage(uow, actor, course, current, *([command.role] if command.role else []))
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
