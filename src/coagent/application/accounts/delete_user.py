"""DeleteUser: an admin removes an account."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.accounts.sessions import SessionIssuer
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.accounts import policy
from coagent.domain.accounts.user import User
from coagent.domain.errors import Forbidden, NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteUserCommand:
    actor_id: UUID
    user_id: UUID


class DeleteUser:
    """Admins, never on themselves; only a super_admin deletes admins. The account's sessions
    die with it (revoked at once); its avatar goes too; the audit trail keeps the event.
    """

    def __init__(self, *, uow: UnitOfWorkFactory, sessions: SessionIssuer) -> None:
        self._uow = uow
        self._sessions = sessions

    async def execute(self, command: DeleteUserCommand) -> User:
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            if not policy.may_administer_users(actor):
                raise Forbidden("Only administrators may delete accounts")
            target = await uow.users.get(command.user_id)
            if target is None:
                raise NotFound("User not found")
            if not policy.may_delete(actor, target):
                raise Forbidden("You may not delete this account")
            revoked = await self._sessions.revoke_all(uow, target.id)
            await uow.users.delete(target.id)
            await uow.audit.record(
                actor_id=actor.id,
                action="user.deleted",
                target_type="user",
                target_id=str(target.id),
                details={"email": target.email, "role": str(target.role)},
            )
            await uow.commit()
        await self._sessions.announce(revoked)
        return target
