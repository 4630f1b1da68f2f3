"""ListMembers: the members of a course."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.courses.access import (
    course_access,
)
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.courses.course import Member
from coagent.domain.courses.policy import Action, Decision, decide


@dataclass(frozen=True, slots=True, kw_only=True)
class ListMembersCommand:
    actor_id: UUID
    course_id: UUID


class ListMembers(UnitOfWorkUseCase):
    """Members and admins. Only staff (TA and above) see email addresses."""

    async def execute(self, command: ListMembersCommand) -> Sequence[Member]:
        async with self._uow() as uow:
            access = await course_access(
                uow, command.actor_id, command.course_id, Action.MEMBERS_READ
            )
            members = await uow.courses.members(access.course.id)
        if decide(access.standing, Action.MEMBER_EMAILS_READ) is Decision.ALLOWED:
            return members
        return [replace(member, email="") for member in members]
