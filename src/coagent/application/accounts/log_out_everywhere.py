"""LogOutEverywhere: end every session of an account at once."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.sessions import SessionIssuer
from coagent.application.ports.repositories import UnitOfWorkFactory


@dataclass(frozen=True, slots=True, kw_only=True)
class LogOutEverywhereCommand:
    user_id: UUID


class LogOutEverywhere:
    """The account holder. Revokes every session of the account, this one included."""

    def __init__(self, *, uow: UnitOfWorkFactory, sessions: SessionIssuer) -> None:
        self._uow = uow
        self._sessions = sessions

    async def execute(self, command: LogOutEverywhereCommand) -> int:
        async with self._uow() as uow:
            revoked = await self._sessions.revoke_all(uow, command.user_id)
            await uow.commit()
        await self._sessions.announce(revoked)
        return len(revoked)
