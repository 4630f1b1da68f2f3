"""Chat messages: what a room's history is made of."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from coagent.domain.accounts.names import display_name
from coagent.domain.errors import InvalidInput

# The largest client_msg_id / Idempotency-Key we keep (a UUID is 36 characters).
MAX_CLIENT_MSG_ID = 64


class SenderKind(StrEnum):
    USER = "user"
    AGENT = "agent"


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A stored message. `seq` numbers a room's messages 1, 2, 3... with no gap."""

    id: UUID
    room_id: UUID
    seq: int
    content: str
    created_at: datetime
    sender_id: UUID | None
    # The author's display name when it was read (never an email address).
    sender_name: str
    agent_type: str | None = None
    client_msg_id: str | None = None
    # The agent turn that produced an agent message; None for human messages.
    turn_id: UUID | None = None

    @property
    def kind(self) -> SenderKind:
        return SenderKind.AGENT if self.agent_type else SenderKind.USER


def agent_display_name(agent_type: str) -> str:
    """What the original clients show for agent messages ("Teacher AI", "Student AI")."""
    return f"{agent_type.capitalize()} AI"


def sender_display_name(
    agent_type: str | None,
    full_name: str | None,
    username: str | None,
    email: str | None,
    stored_name: str | None = None,
) -> str:
    """A message's `sender_name` from its row: for an agent message the name stored with it
    (its configuration's name at the time of the turn), else the agent's label; for a person
    their `display_name` (from the sender's account columns, all None once the sender was
    deleted: "Unknown").
    """
    if agent_type:
        return stored_name or agent_display_name(agent_type)
    return display_name(full_name, username, email)


def check_content(content: str, *, max_length: int) -> str:
    """The content to store; InvalidInput when it is blank, too long or holds a NUL (which
    no text column can keep).
    """
    if "\x00" in content:
        raise InvalidInput("Message must not contain NUL characters")
    if not content.strip():
        raise InvalidInput("Message must not be blank")
    if len(content) > max_length:
        raise InvalidInput(f"Message is longer than {max_length} characters")
    return content


def check_client_msg_id(client_msg_id: str | None) -> str | None:
    if client_msg_id is None:
        return None
    # The same rule as the OpenAPI pattern: no C0 control characters and no DEL.
    if (
        not client_msg_id
        or len(client_msg_id) > MAX_CLIENT_MSG_ID
        or any(ord(c) < 32 or ord(c) == 127 for c in client_msg_id)
    ):
        raise InvalidInput(
            f"client_msg_id must be 1 to {MAX_CLIENT_MSG_ID} characters without control characters"
        )
    return client_msg_id
