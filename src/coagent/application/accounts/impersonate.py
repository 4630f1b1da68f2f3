"""Impersonate: a super admin acting as another account."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.accounts.sessions import IssuedTokens, SessionIssuer
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.accounts import policy
from coagent.domain.accounts.roles import Role
from coagent.domain.errors import Forbidden, NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class ImpersonateCommand:
    actor_id: UUID
    actor_session_id: UUID
    target_id: UUID


class Impersonate:
    """A super_admin, never of another super_admin, an inactive account or while already
    impersonating. Opens a short session for the target that remembers who acts and which
    session to return to; audit-logged.
    """

    def __init__(self, *, uow: UnitOfWorkFactory, sessions: SessionIssuer) -> None:
        self._uow = uow
        self._sessions = sessions

    async def execute(self, command: ImpersonateCommand) -> IssuedTokens:
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            if actor.role is not Role.SUPER_ADMIN:  # before any lookup: the same 403 for all
                raise Forbidden("Only a super admin may impersonate")
            current = await uow.sessions.get(command.actor_session_id)
            if current is None or current.impersonator_id is not None:
                raise Forbidden("Stop the current impersonation first")
            target = await uow.users.get(command.target_id)
            if target is None:
                raise NotFound("User not found")
            if not policy.may_impersonate(actor, target):
                raise Forbidden("You may not impersonate this account")
            issued = await self._sessions.open(
                uow, target, impersonator_id=actor.id, original_session_id=current.id
            )
            await uow.audit.record(
                actor_id=actor.id,
                action="impersonation.started",
                target_type="user",
                target_id=str(target.id),
                details={"session_id": str(issued.session_id)},
            )
            await uow.commit()
        return issued
