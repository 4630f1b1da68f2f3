"""Chat ports: message storage, a cache of history pages, live fan-out and single-use
WebSocket tickets.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from coagent.domain.chat.message import Message


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMessage:
    """A message to store; the repository gives it the room's next seq."""

    id: UUID
    room_id: UUID
    content: str
    created_at: datetime
    sender_id: UUID | None
    agent_type: str | None = None
    client_msg_id: str | None = None


class MessageRepository(Protocol):
    async def append(self, message: NewMessage) -> int:
        """Store a message under the room's next `seq` (returned), in the caller's transaction.

        Seqs are gapless: the counter moves in the same transaction, so a rollback gives the
        number back. Raises `Conflict` when the sender already used `client_msg_id` in the room.
        """
        ...

    async def append_committed(self, message: NewMessage) -> int:
        """`append`, then commit the unit of work. With nothing else pending it may be one
        statement and no transaction round trips (the hot path of a send). Raises like
        `append`, and then nothing is stored.
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


@dataclass(frozen=True, slots=True)
class EncodedPage:
    """A history page as the JSON array the HTTP API answers, built by the store (the read
    model of a hot read: no message entity per row). The encoding is the adapters' wire
    format; the application only passes it on.
    """

    json: bytes
    first_seq: int | None  # the oldest message's seq; None for an empty page
    count: int


# A page as messages, or already encoded (see `RoomRepository.standing_with_page`).
HistoryPage = Sequence[Message] | EncodedPage


@dataclass(frozen=True, slots=True)
class PageKey:
    """Which page of which room: the arguments of `MessageRepository.page`."""

    room_id: UUID
    limit: int
    before_seq: int | None
    after_seq: int | None


class HistoryCache(Protocol):
    """Recently read history pages, in this process.

    A page is only served to a reader who saw the room at a `last_seq` no later than the one
    it was read at, so it holds every message the reader could know of. Sender names in a
    cached page may lag a rename or an account deletion by the cache's time to live.
    """

    def get(self, key: PageKey, *, last_seq: int) -> HistoryPage | None: ...

    def seen(self, key: PageKey) -> int | None:
        """The last seq the live page for `key` was read at, if there is one: a reader
        whose room is no newer can be served it (so the store need not read the page).
        """
        ...

    def put(self, key: PageKey, *, last_seq: int, page: HistoryPage) -> None:
        """`page` was read after the room's last seq was seen at `last_seq`."""
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
