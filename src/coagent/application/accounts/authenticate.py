"""Authenticate: turn an access token into the caller's identity."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from coagent.application.ports.security import RevocationList, TokenCodec
from coagent.domain.accounts.roles import Role
from coagent.domain.errors import NotAuthenticated


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    user_id: UUID
    session_id: UUID
    role: Role
    expires_at: datetime
    impersonator_id: UUID | None = None


class Authenticate:
    """Any caller. Checks signature, type, expiry and revocation without touching the
    database (one revocation-list read), so it is cheap enough for every request.

    The role in the token is only a hint for cheap checks: use cases that authorise a
    change reload the actor, so a demotion or deactivation takes effect at once.
    """

    def __init__(self, *, tokens: TokenCodec, revocations: RevocationList) -> None:
        self._tokens = tokens
        self._revocations = revocations

    async def execute(self, token: str) -> Principal:
        claims = self._tokens.decode_access(token)
        if await self._revocations.is_revoked(claims.session_id):
            raise NotAuthenticated("Session has been revoked")
        return Principal(
            user_id=claims.user_id,
            session_id=claims.session_id,
            role=claims.role,
            expires_at=claims.expires_at,
            impersonator_id=claims.impersonator_id,
        )
