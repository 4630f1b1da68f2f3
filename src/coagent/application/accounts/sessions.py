"""Session mechanics shared by the login, refresh and impersonation use cases."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.repositories import UnitOfWork
from coagent.application.ports.security import (
    AccessClaims,
    RefreshClaims,
    RevocationList,
    TokenCodec,
)
from coagent.domain.accounts.session import AuthSession
from coagent.domain.accounts.user import User


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPolicy:
    access_ttl: timedelta = timedelta(minutes=10)
    refresh_ttl: timedelta = timedelta(days=14)
    impersonation_ttl: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedTokens:
    """What a successful login, refresh or impersonation hands back to the client."""

    user: User
    session_id: UUID
    access_token: str
    access_expires_in: int
    refresh_token: str
    refresh_expires_in: int
    impersonator_id: UUID | None = None


class SessionIssuer:
    """Creates session rows and signs their tokens; revokes sessions in the record and the
    fast revocation list together.
    """

    def __init__(
        self,
        *,
        policy: SessionPolicy,
        tokens: TokenCodec,
        revocations: RevocationList,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self.policy = policy
        self._tokens = tokens
        self._revocations = revocations
        self._clock = clock
        self._ids = ids

    async def open(
        self,
        uow: UnitOfWork,
        user: User,
        *,
        impersonator_id: UUID | None = None,
        original_session_id: UUID | None = None,
    ) -> IssuedTokens:
        now = self._clock.now()
        ttl = self.policy.refresh_ttl if impersonator_id is None else self.policy.impersonation_ttl
        session = AuthSession(
            id=self._ids.new_id(),
            user_id=user.id,
            refresh_jti=secrets.token_urlsafe(16),
            created_at=now,
            expires_at=now + ttl,
            impersonator_id=impersonator_id,
            original_session_id=original_session_id,
        )
        await uow.sessions.add(session)
        return self.sign(user, session, session.refresh_jti)

    async def rotate(self, uow: UnitOfWork, user: User, session: AuthSession) -> IssuedTokens:
        new_jti = secrets.token_urlsafe(16)
        await uow.sessions.rotate(session.id, new_jti=new_jti)
        return self.sign(user, session, new_jti)

    def sign(self, user: User, session: AuthSession, refresh_jti: str) -> IssuedTokens:
        now = self._clock.now()
        access_expires = min(now + self.policy.access_ttl, session.expires_at)
        access = self._tokens.encode_access(
            AccessClaims(
                user_id=user.id,
                session_id=session.id,
                role=user.role,
                expires_at=access_expires,
                impersonator_id=session.impersonator_id,
            ),
            issued_at=now,
        )
        refresh = self._tokens.encode_refresh(
            RefreshClaims(
                user_id=user.id,
                session_id=session.id,
                jti=refresh_jti,
                expires_at=session.expires_at,
            ),
            issued_at=now,
        )
        return IssuedTokens(
            user=user,
            session_id=session.id,
            access_token=access,
            access_expires_in=max(0, int((access_expires - now).total_seconds())),
            refresh_token=refresh,
            refresh_expires_in=max(0, int((session.expires_at - now).total_seconds())),
            impersonator_id=session.impersonator_id,
        )

    async def revoke(self, uow: UnitOfWork, session_id: UUID) -> None:
        """Revoke in the record now; call `announce` after commit."""
        await uow.sessions.revoke(session_id, self._clock.now())

    async def revoke_all(self, uow: UnitOfWork, user_id: UUID) -> list[UUID]:
        return list(await uow.sessions.revoke_all_for_user(user_id, self._clock.now()))

    async def announce(self, session_ids: list[UUID]) -> None:
        """Make revocations effective for access tokens at once (after the commit)."""
        if session_ids:
            until: datetime = self._clock.now() + self.policy.access_ttl
            await self._revocations.revoke(session_ids, until)
