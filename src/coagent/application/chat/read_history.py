"""ReadHistory: a page of a room's messages by seq cursor."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import room_access, room_access_from
from coagent.application.ports.chat import EncodedPage, HistoryCache, HistoryPage, PageKey
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.chat.message import Message
from coagent.domain.courses.policy import Action
from coagent.domain.errors import InvalidInput

MAX_PAGE = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadHistoryQuery:
    actor_id: UUID
    room_id: UUID
    limit: int = 50
    before_seq: int | None = None
    after_seq: int | None = None


class ReadHistory:
    """Members who may read the room. Ascending by seq; the newest page by default, the
    page before `before_seq`, or the page after `after_seq` (both: the page after
    `after_seq` that stops before `before_seq`). Any integer is a valid cursor (seqs start
    at 1). The cost does not grow with the room's age.

    The access check reads the room's last seq too; a page this process read since then
    comes from `cache` (the newest page of a busy room is read by everyone who opens it).
    """

    def __init__(self, *, uow: UnitOfWorkFactory, cache: HistoryCache) -> None:
        self._uow = uow
        self._cache = cache

    async def execute(self, query: ReadHistoryQuery) -> Sequence[Message]:
        """The page as messages (two reads: access, then the page unless cached)."""
        key = _key(query)
        async with self._uow() as uow:
            access = await room_access(uow, query.actor_id, query.room_id, Action.CHAT_READ)
            cached = self._cache.get(key, last_seq=access.last_seq)
            if cached is not None and not isinstance(cached, EncodedPage):
                return cached
            page = await uow.messages.page(
                query.room_id,
                limit=query.limit,
                before_seq=query.before_seq,
                after_seq=query.after_seq,
            )
        self._cache.put(key, last_seq=access.last_seq, page=page)
        return page

    async def page(self, query: ReadHistoryQuery) -> HistoryPage:
        """The page, encoded where the store can, else as messages (the HTTP answer). Access
        is decided on every call. When this process holds the page, the standing alone is
        read (a small statement PostgreSQL plans cheaply) and the page is served from the
        cache if the room has not moved on; otherwise one read gets the standing and the
        page together.
        """
        key = _key(query)
        async with self._uow() as uow:
            if self._cache.seen(key) is not None:
                access = await room_access(uow, query.actor_id, query.room_id, Action.CHAT_READ)
                cached = self._cache.get(key, last_seq=access.last_seq)
                if cached is not None:
                    return cached
            found, encoded = await uow.rooms.standing_with_page(
                query.room_id, query.actor_id, key, unless_seen=-1
            )
            access = room_access_from(found, Action.CHAT_READ)
            page: HistoryPage
            if encoded is not None:
                page = encoded
            else:  # the store cannot encode (SQLite)
                page = await uow.messages.page(
                    query.room_id,
                    limit=query.limit,
                    before_seq=query.before_seq,
                    after_seq=query.after_seq,
                )
        self._cache.put(key, last_seq=access.last_seq, page=page)
        return page


def _key(query: ReadHistoryQuery) -> PageKey:
    if not 1 <= query.limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    return PageKey(query.room_id, query.limit, query.before_seq, query.after_seq)
