"""In-memory chat ports: messages with a gapless per-room seq, a recording publisher,
and a ticket store with a clock.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID

from coagent.application.ports.chat import EncodedPage, HistoryPage, NewMessage, PageKey
from coagent.domain.chat.message import Message, sender_display_name
from coagent.domain.errors import Conflict, NotFound


class InMemoryMessageRepository:
    def __init__(
        self,
        messages: Any,  # _Overlay[UUID, Message]
        rooms: Any,  # _Overlay[UUID, Room]
        users: Any,  # _Overlay[UUID, User]
        seqs: Any,  # _Overlay[UUID, int]
    ) -> None:
        self._messages = messages
        self._rooms = rooms
        self._users = users
        self._seqs = seqs
        # Set by the unit of work.
        self.commit: Callable[[], Awaitable[None]] | None = None

    async def append(self, message: NewMessage) -> int:
        room_id, sender_id, client_msg_id = (
            message.room_id,
            message.sender_id,
            message.client_msg_id,
        )
        if self._rooms.get(room_id) is None:
            raise NotFound("Room not found")
        if (
            client_msg_id is not None
            and sender_id is not None
            and await self.find_sent(room_id, sender_id, client_msg_id) is not None
        ):
            raise Conflict("client_msg_id was already used in this room")
        seq = (self._seqs.get(room_id) or 0) + 1
        self._seqs.put(room_id, seq)
        self._messages.put(
            message.id,
            Message(
                id=message.id,
                room_id=room_id,
                seq=seq,
                content=message.content,
                created_at=message.created_at,
                sender_id=sender_id,
                sender_name="",
                agent_type=message.agent_type,
                client_msg_id=client_msg_id,
            ),
        )
        return seq

    async def append_committed(self, message: NewMessage) -> int:
        seq = await self.append(message)
        assert self.commit is not None, "append_committed outside a unit of work"
        await self.commit()
        return seq

    def _named(self, message: Message) -> Message:
        user = self._users.get(message.sender_id) if message.sender_id else None
        name = sender_display_name(
            message.agent_type,
            *((user.full_name, user.username, user.email) if user else (None, None, None)),
            stored_name=message.sender_name,
        )
        return replace(message, sender_name=name)

    def _in(self, room_id: UUID) -> list[Message]:
        return sorted((m for m in self._messages.values() if m.room_id == room_id), key=_seq)

    async def find_sent(self, room_id: UUID, sender_id: UUID, client_msg_id: str) -> Message | None:
        for message in self._in(room_id):
            if message.sender_id == sender_id and message.client_msg_id == client_msg_id:
                return self._named(message)
        return None

    async def page(
        self,
        room_id: UUID,
        *,
        limit: int,
        before_seq: int | None = None,
        after_seq: int | None = None,
    ) -> Sequence[Message]:
        rows = [
            m
            for m in self._in(room_id)
            if (before_seq is None or m.seq < before_seq)
            and (after_seq is None or m.seq > after_seq)
        ]
        chosen = rows[:limit] if after_seq is not None else rows[-limit:]
        return [self._named(m) for m in chosen]

    async def last_seq(self, room_id: UUID) -> int:
        return int(self._seqs.get(room_id) or 0)

    def room_deleted(self, room_id: UUID) -> None:
        for message in self._in(room_id):
            self._messages.delete(message.id)

    def user_deleted(self, user_id: UUID) -> None:
        for message in self._messages.values():
            if message.sender_id == user_id:
                self._messages.put(message.id, replace(message, sender_id=None))


def _seq(message: Message) -> int:
    return message.seq


class DictHistoryCache:
    """A HistoryCache with no bound and no expiry: only the rule the use case relies on."""

    def __init__(self) -> None:
        self.pages: dict[PageKey, tuple[int, tuple[Message, ...] | EncodedPage]] = {}
        self.hits = 0

    def get(self, key: PageKey, *, last_seq: int) -> HistoryPage | None:
        found = self.pages.get(key)
        if found is None or found[0] < last_seq:
            return None
        self.hits += 1
        return found[1]

    def seen(self, key: PageKey) -> int | None:
        found = self.pages.get(key)
        return None if found is None else found[0]

    def put(self, key: PageKey, *, last_seq: int, page: HistoryPage) -> None:
        self.pages[key] = (last_seq, page if isinstance(page, EncodedPage) else tuple(page))


class RecordingChatPublisher:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        # What the publisher could observe when it was called (set by tests).
        self.observer: Callable[[Message], None] | None = None

    async def message_posted(self, message: Message) -> None:
        if self.observer is not None:
            self.observer(message)
        self.messages.append(message)


class FakeTicketStore:
    """Tickets expire by an injected clock (seconds)."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self.values: dict[str, tuple[str, float]] = {}

    async def put(self, ticket: str, value: str, ttl_seconds: int) -> None:
        self.values[ticket] = (value, self._now() + ttl_seconds)

    async def take(self, ticket: str) -> str | None:
        value, until = self.values.pop(ticket, (None, 0.0))
        return value if until > self._now() else None
