"""InMemoryHistoryCache: the freshness rule, the time to live and the byte budget."""

import tracemalloc
from datetime import UTC, datetime
from uuid import uuid4

from coagent.adapters.persistence.history_cache import InMemoryHistoryCache, page_size
from coagent.application.ports.chat import EncodedPage, PageKey
from coagent.domain.chat.message import Message

ROOM = uuid4()


def page(*seqs: int, content: str = "hello") -> list[Message]:
    return [
        Message(
            id=uuid4(),
            room_id=ROOM,
            seq=seq,
            content=f"{content} {seq}",
            created_at=datetime.now(UTC),
            sender_id=uuid4(),
            sender_name=f"Sender {seq}",
            client_msg_id=str(uuid4()),
        )
        for seq in seqs
    ]


def key(limit: int = 50, before_seq: int | None = None) -> PageKey:
    return PageKey(ROOM, limit, before_seq, None)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def seqs(found: object) -> list[int] | None:
    return None if found is None else [m.seq for m in found]  # type: ignore[attr-defined]


def test_a_page_serves_readers_who_saw_the_same_or_an_older_last_seq() -> None:
    cache = InMemoryHistoryCache(max_bytes=1 << 20)
    assert cache.get(key(), last_seq=2) is None
    cache.put(key(), last_seq=2, page=page(1, 2))
    assert seqs(cache.get(key(), last_seq=2)) == [1, 2]
    assert seqs(cache.get(key(), last_seq=1)) == [1, 2]
    assert cache.get(key(), last_seq=3) is None  # a newer message: read again
    assert cache.get(key(limit=10), last_seq=2) is None  # another page


def test_a_page_expires() -> None:
    clock = Clock()
    cache = InMemoryHistoryCache(max_bytes=1 << 20, ttl_seconds=5, clock=clock)
    cache.put(key(), last_seq=2, page=page(1, 2))
    clock.now += 4.9
    assert seqs(cache.get(key(), last_seq=2)) == [1, 2]
    clock.now += 0.1
    assert cache.get(key(), last_seq=2) is None


def test_a_fresher_page_is_kept_over_a_stale_one_until_it_expires() -> None:
    clock = Clock()
    cache = InMemoryHistoryCache(max_bytes=1 << 20, ttl_seconds=5, clock=clock)
    cache.put(key(), last_seq=3, page=page(1, 2, 3))
    cache.put(key(), last_seq=2, page=page(1, 2))  # a slower reader finishing late
    assert seqs(cache.get(key(), last_seq=3)) == [1, 2, 3]
    clock.now += 5
    cache.put(key(), last_seq=2, page=page(1, 2))
    assert seqs(cache.get(key(), last_seq=2)) == [1, 2]
    assert cache.size_bytes == page_size(page(1, 2))


def test_the_least_recently_used_page_goes_first_when_over_budget() -> None:
    one = page(*range(1, 11))
    cache = InMemoryHistoryCache(max_bytes=page_size(one) * 8 + page_size(one) // 2)
    for before in range(8):
        cache.put(key(before_seq=before), last_seq=10, page=one)
    assert cache.get(key(before_seq=0), last_seq=10) is not None  # now the most recent
    cache.put(key(before_seq=8), last_seq=10, page=one)
    assert cache.get(key(before_seq=1), last_seq=10) is None
    kept = [b for b in (0, *range(2, 9)) if cache.get(key(before_seq=b), last_seq=10)]
    assert kept == [0, 2, 3, 4, 5, 6, 7, 8]
    assert cache.size_bytes == 8 * page_size(one)


def test_a_page_larger_than_an_eighth_of_the_budget_is_not_kept() -> None:
    big = page(*range(1, 201), content="x" * 8000)
    cache = InMemoryHistoryCache(max_bytes=page_size(big) * 8 - 1)
    cache.put(key(limit=200), last_seq=200, page=big)
    assert cache.get(key(limit=200), last_seq=200) is None
    assert cache.size_bytes == 0


def test_a_zero_budget_turns_the_cache_off() -> None:
    cache = InMemoryHistoryCache(max_bytes=0)
    cache.put(key(), last_seq=0, page=[])
    cache.put(key(limit=1), last_seq=1, page=page(1))
    assert cache.get(key(), last_seq=0) is None
    assert cache.get(key(limit=1), last_seq=1) is None


def test_the_size_estimate_covers_what_a_page_takes_in_memory() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        built = page(*range(1, 51), content="a message of an ordinary length, " * 3)
        taken = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert taken <= page_size(built) <= 2 * taken


def test_encoded_pages_are_kept_and_seen_tells_their_last_seq() -> None:
    clock = Clock()
    cache = InMemoryHistoryCache(max_bytes=1_000_000, ttl_seconds=5, clock=clock)
    assert cache.seen(key()) is None
    encoded = EncodedPage(json=b'[{"seq":7}]', first_seq=7, count=1)
    cache.put(key(), last_seq=7, page=encoded)
    assert cache.seen(key()) == 7
    assert cache.get(key(), last_seq=7) is encoded
    assert cache.get(key(), last_seq=8) is None  # the room moved on
    assert cache.size_bytes == page_size(encoded) > len(encoded.json)
    clock.now += 5
    assert cache.seen(key()) is None  # expired: the store must read the page again
    assert cache.get(key(), last_seq=7) is None
