"""IssueChatTicket and RedeemChatTicket: single-use, seconds-long WebSocket credentials.

Browsers cannot set headers on a WebSocket handshake, and a long-lived token in a URL ends
up in logs. A ticket is bound to the session that asked for it, lives a few seconds and
works once.
"""

import hashlib
import secrets
from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.authenticate import Principal
from coagent.application.ports.chat import TicketStore
from coagent.application.ports.security import RevocationList
from coagent.domain.errors import NotAuthenticated


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatTicket:
    ticket: str
    expires_in: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketHolder:
    user_id: UUID
    session_id: UUID


def _key(ticket: str) -> str:
    # Only a digest is stored: a dump of the store holds nothing usable.
    return hashlib.sha256(ticket.encode()).hexdigest()


class IssueChatTicket:
    """Any authenticated caller."""

    def __init__(self, *, store: TicketStore, ttl_seconds: int) -> None:
        self._store = store
        self._ttl = ttl_seconds

    async def execute(self, principal: Principal) -> ChatTicket:
        ticket = secrets.token_urlsafe(32)
        await self._store.put(
            _key(ticket), f"{principal.user_id}:{principal.session_id}", self._ttl
        )
        return ChatTicket(ticket=ticket, expires_in=self._ttl)


class RedeemChatTicket:
    """The WebSocket handshake. NotAuthenticated for an unknown, used or expired ticket, or
    one whose session has been revoked since.
    """

    def __init__(self, *, store: TicketStore, revocations: RevocationList) -> None:
        self._store = store
        self._revocations = revocations

    async def execute(self, ticket: str) -> TicketHolder:
        value = await self._store.take(_key(ticket)) if 0 < len(ticket) <= 128 else None
        if value is None:
            raise NotAuthenticated("Ticket is invalid, used or expired")
        user_id, session_id = (UUID(part) for part in value.split(":", 1))
        if await self._revocations.is_revoked(session_id):
            raise NotAuthenticated("Session has been revoked")
        return TicketHolder(user_id=user_id, session_id=session_id)
