"""StopImpersonating: back to the super admin's own session."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.sessions import IssuedTokens, SessionIssuer
from coagent.application.ports.clock import Clock
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.accounts.roles import Role
from coagent.domain.errors import Conflict, NotAuthenticated


@dataclass(frozen=True, slots=True, kw_only=True)
class StopImpersonatingCommand:
    session_id: UUID


class StopImpersonating:
    """The holder of an impersonation session. Ends it and returns to the original session
    only when that one is still live and its owner still a super_admin; otherwise the caller
    is simply logged out (and told so).
    """

    def __init__(self, *, uow: UnitOfWorkFactory, sessions: SessionIssuer, clock: Clock) -> None:
        self._uow = uow
        self._sessions = sessions
        self._clock = clock

    async def execute(self, command: StopImpersonatingCommand) -> IssuedTokens:
        async with self._uow() as uow:
            session = await uow.sessions.get(command.session_id)
            if session is None or session.impersonator_id is None:
                raise Conflict("Not impersonating")
            await self._sessions.revoke(uow, session.id)
            await uow.audit.record(
                actor_id=session.impersonator_id,
                action="impersonation.stopped",
                target_type="user",
                target_id=str(session.user_id),
                details={"session_id": str(session.id)},
            )
            original = (
                await uow.sessions.get_for_update(session.original_session_id)
                if session.original_session_id
                else None
            )
            admin = await uow.users.get(session.impersonator_id)
            issued = None
            if (
                session.is_live(self._clock.now())
                and original is not None
                and original.is_live(self._clock.now())
                and admin is not None
                and admin.is_active
                and admin.role is Role.SUPER_ADMIN
            ):
                issued = await self._sessions.rotate(uow, admin, original)
            await uow.commit()
        await self._sessions.announce([session.id])
        if issued is None:
            raise NotAuthenticated("The original session has ended; log in again")
        return issued
