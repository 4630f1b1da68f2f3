"""Chat ports: message storage, live fan-out and single-use WebSocket tickets."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from coagent.domain.chat.message import Message


class MessageRepository(Protocol):
    async def append(
        self,
        *,
        message_id: UUID,
        room_id: UUID,
        content: str,
        created_at: datetime,
        sender_id: UUID | None,
        agent_type: str | None,
        client_msg_id: str | None,
    ) -> int:
        """Store a message under the room's next `seq` (returned), in the caller's transaction.

        Seqs are gapless: the counter moves in the same transaction, so a rollback gives the
        number back. Raises `Conflict` when the sender already used `client_msg_id` in the room.
        """
        ...

    async def find_sent(
        self, room_id: UUID, sender_id: UUID, client_msg_id: str
    ) -> Message | None: ...

    async def page(
        self,
        room_id: UUID,
        *,
        limit: int,
        before_seq: int | None = None,
        after_seq: int | None = None,
    ) -> Sequence[Message]:
        """Ascending by seq. With `after_seq`: the oldest `limit` after it; otherwise the
        newest `limit` (before `before_seq` when given). One indexed range scan.
        """
        ...

    async def last_seq(self, room_id: UUID) -> int:
        """The room's latest seq (0 when empty or absent)."""
        ...


class ChatPublisher(Protocol):
    async def message_posted(self, message: Message) -> None:
        """Deliver a committed message to the room's live sockets, in every process.

        Best effort: a lost publish never loses data, because clients resume by `seq`.
        """
        ...


class TicketStore(Protocol):
    """Short-lived single-use secrets (WebSocket tickets)."""

    async def put(self, ticket: str, value: str, ttl_seconds: int) -> None: ...

    async def take(self, ticket: str) -> str | None:
        """The value, removed atomically: a second take of the same ticket gets None."""
        ...
