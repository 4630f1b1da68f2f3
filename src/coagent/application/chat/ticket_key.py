"""The store key of a chat ticket (IssueChatTicket, RedeemChatTicket).

Browsers cannot set headers on a WebSocket handshake, and a long-lived token in a URL ends
up in logs. A ticket is bound to the session that asked for it, lives a few seconds and
works once.
"""

import hashlib


def ticket_key(ticket: str) -> str:
    # Only a digest is stored: a dump of the store holds nothing usable.
    return hashlib.sha256(ticket.encode()).hexdigest()
