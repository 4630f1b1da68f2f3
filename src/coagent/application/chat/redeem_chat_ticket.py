"""RedeemChatTicket: a chat ticket spent on the WebSocket handshake (see `ticket_key`)."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.chat.ticket_key import ticket_key
from coagent.application.ports.chat import TicketStore
from coagent.application.ports.security import RevocationList
from coagent.domain.errors import NotAuthenticated


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketHolder:
    user_id: UUID
    session_id: UUID


class RedeemChatTicket:
    """The WebSocket handshake. NotAuthenticated for an unknown, used or expired ticket, or
    one whose session has been revoked since.
    """

    def __init__(self, *, store: TicketStore, revocations: RevocationList) -> None:
        self._store = store
        self._revocations = revocations

    async def execute(self, ticket: str) -> TicketHolder:
        value = await self._store.take(ticket_key(ticket)) if 0 < len(ticket) <= 128 else None
        if value is None:
            raise NotAuthenticated("Ticket is invalid, used or expired")
        user_id, session_id = (UUID(part) for part in value.split(":", 1))
        if await self._revocations.is_revoked(session_id):
            raise NotAuthenticated("Session has been revoked")
        return TicketHolder(user_id=user_id, session_id=session_id)
