"""History pages recently read by this process, bounded in bytes and in time."""

import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from coagent.application.ports.chat import EncodedPage, HistoryPage, PageKey
from coagent.domain.chat.message import Message

# How long a page may be served: it bounds how long a sender's rename or deleted account
# shows the old name in history read over HTTP (new messages are never missed: see
# HistoryCache).
PAGE_TTL_SECONDS = 5.0
# A message's fields other than its content, in memory (a Message, three UUIDs, a
# datetime, the sender name; measured with tracemalloc, rounded up).
_MESSAGE_OVERHEAD_BYTES = 700
# An encoded page: its bytes object and the page record around it.
_ENCODED_OVERHEAD_BYTES = 200


@dataclass(frozen=True, slots=True)
class _Entry:
    page: tuple[Message, ...] | EncodedPage
    last_seq: int
    expires_at: float
    size: int


def page_size(page: HistoryPage) -> int:
    if isinstance(page, EncodedPage):
        return _ENCODED_OVERHEAD_BYTES + len(page.json)
    return sum(_MESSAGE_OVERHEAD_BYTES + sys.getsizeof(m.content) for m in page)


class InMemoryHistoryCache:
    """Least recently used pages first out when over `max_bytes` (0 turns the cache off).
    One entry per page key: a page read at a later last seq replaces the earlier one.
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        ttl_seconds: float = PAGE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_bytes = max_bytes
        # No page may take more than an eighth of the budget, so a few huge pages (200
        # messages of 8,000 characters) cannot push out every hot one.
        self._max_page_bytes = max_bytes // 8
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[PageKey, _Entry] = OrderedDict()
        self._bytes = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, key: PageKey, *, last_seq: int) -> HistoryPage | None:
        entry = self._entries.get(key)
        if entry is None or entry.last_seq < last_seq or entry.expires_at <= self._clock():
            return None
        self._entries.move_to_end(key)
        return entry.page

    def seen(self, key: PageKey) -> int | None:
        entry = self._entries.get(key)
        if entry is None or entry.expires_at <= self._clock():
            return None
        return entry.last_seq

    def put(self, key: PageKey, *, last_seq: int, page: HistoryPage) -> None:
        size = page_size(page)
        if not self._max_bytes or size > self._max_page_bytes:
            return
        now = self._clock()
        current = self._entries.get(key)
        if current is not None:
            if current.last_seq > last_seq and current.expires_at > now:
                return  # a concurrent reader already stored a fresher page
            del self._entries[key]
            self._bytes -= current.size
        stored = page if isinstance(page, EncodedPage) else tuple(page)
        self._entries[key] = _Entry(stored, last_seq, now + self._ttl, size)
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size
