"""RefreshSession: rotate a refresh token into a new token pair."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.sessions import IssuedTokens, SessionIssuer
from coagent.application.ports.clock import Clock
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.security import TokenCodec
from coagent.domain.accounts.policy import may_impersonate
from coagent.domain.errors import NotAuthenticated


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshSessionCommand:
    refresh_token: str


class RefreshSession:
    """Holder of a refresh token. Each refresh token works once: presenting one that was
    already rotated is taken as theft and revokes the whole session (every token of it).
    """

    def __init__(
        self, *, uow: UnitOfWorkFactory, tokens: TokenCodec, sessions: SessionIssuer, clock: Clock
    ) -> None:
        self._uow = uow
        self._tokens = tokens
        self._sessions = sessions
        self._clock = clock

    async def execute(self, command: RefreshSessionCommand) -> IssuedTokens:
        claims = self._tokens.decode_refresh(command.refresh_token)
        revoked: list[UUID] = []
        async with self._uow() as uow:
            session = await uow.sessions.get_for_update(claims.session_id)
            if session is None or session.user_id != claims.user_id:
                raise NotAuthenticated("Session not found")
            if not session.is_live(self._clock.now()):
                raise NotAuthenticated("Session has ended")
            if session.refresh_jti != claims.jti:
                await self._sessions.revoke(uow, session.id)
                await uow.commit()
                revoked = [session.id]
            else:
                user = await uow.users.get(session.user_id)
                if user is None or not user.is_active:
                    raise NotAuthenticated("Account is not active")
                if session.impersonator_id is not None:
                    impersonator = await uow.users.get(session.impersonator_id)
                    if impersonator is None or not may_impersonate(impersonator, user):
                        raise NotAuthenticated("Impersonation is no longer allowed")
                issued = await self._sessions.rotate(uow, user, session)
                await uow.commit()
                return issued
        await self._sessions.announce(revoked)
        raise NotAuthenticated("Refresh token was already used; the session is revoked")
