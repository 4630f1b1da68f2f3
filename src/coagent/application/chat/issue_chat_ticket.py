"""IssueChatTicket: a single-use, seconds-long WebSocket credential (see `ticket_key`)."""

import secrets
from dataclasses import dataclass

from coagent.application.accounts.authenticate import Principal
from coagent.application.chat.ticket_key import ticket_key
from coagent.application.ports.chat import TicketStore


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatTicket:
    ticket: str
    expires_in: int


class IssueChatTicket:
    """Any authenticated caller."""

    def __init__(self, *, store: TicketStore, ttl_seconds: int) -> None:
        self._store = store
        self._ttl = ttl_seconds

    async def execute(self, principal: Principal) -> ChatTicket:
        ticket = secrets.token_urlsafe(32)
        await self._store.put(
            ticket_key(ticket), f"{principal.user_id}:{principal.session_id}", self._ttl
        )
        return ChatTicket(ticket=ticket, expires_in=self._ttl)
