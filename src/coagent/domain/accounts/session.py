"""A login session: one refresh-token family, revocable as a whole."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthSession:
    id: UUID
    user_id: UUID
    refresh_jti: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    # Set on an impersonation session: who is acting, and the session to return to.
    impersonator_id: UUID | None = None
    original_session_id: UUID | None = None

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at
