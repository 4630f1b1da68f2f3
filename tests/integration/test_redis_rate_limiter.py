"""RedisRateLimiter against a real Redis: exact, atomic, and shared by separate clients."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from coagent.adapters.limits.redis import PREFIX, RedisRateLimiter
from coagent.main.compose.infra import create_redis

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
async def clients(redis_url: str, anyio_backend: str) -> AsyncIterator[list[Redis]]:
    """Two clients with their own pools, as two web processes would have."""
    made = [create_redis(redis_url), create_redis(redis_url)]
    try:
        yield made
    finally:
        for client in made:
            await client.aclose()


async def test_up_to_the_limit_then_the_wait_until_the_oldest_leaves(clients: list[Redis]) -> None:
    limiter = RedisRateLimiter(clients[0])
    assert [await limiter.hit("k", limit=3, window_seconds=60) for _ in range(3)] == [0.0] * 3

    wait = await limiter.hit("k", limit=3, window_seconds=60)

    assert 59.0 < wait <= 60.0
    assert await limiter.hit("other", limit=3, window_seconds=60) == 0.0
    # Refused hits are not counted: the set still holds three entries, and expires with the
    # window.
    assert await clients[0].zcard(PREFIX + "k") == 3
    assert 59_000 < await clients[0].pttl(PREFIX + "k") <= 60_000


async def test_concurrent_hits_from_two_clients_never_pass_the_limit(
    clients: list[Redis],
) -> None:
    limiters = [RedisRateLimiter(client) for client in clients]

    waits = await asyncio.gather(
        *(limiters[n % 2].hit("shared", limit=20, window_seconds=30) for n in range(300))
    )

    assert sum(1 for wait in waits if wait == 0.0) == 20
    assert all(0 < wait <= 30 for wait in waits if wait)
    assert await clients[1].zcard(PREFIX + "shared") == 20


async def test_after_the_wait_it_says_one_more_is_allowed(clients: list[Redis]) -> None:
    limiter = RedisRateLimiter(clients[0])
    assert await limiter.hit("slide", limit=2, window_seconds=0.3) == 0.0
    assert await limiter.hit("slide", limit=2, window_seconds=0.3) == 0.0
    wait = await limiter.hit("slide", limit=2, window_seconds=0.3)
    assert 0 < wait <= 0.3

    await asyncio.sleep(wait + 0.01)  # the window's own time: there is no event to await

    assert await limiter.hit("slide", limit=2, window_seconds=0.3) == 0.0


async def test_a_lowered_limit_waits_for_enough_entries_to_leave(clients: list[Redis]) -> None:
    limiter = RedisRateLimiter(clients[0])
    for _ in range(4):
        assert await limiter.hit("lowered", limit=4, window_seconds=60) == 0.0

    # Four in the window, now only two allowed: the wait is for the third newest to leave,
    # so it is a positive wait inside the window, and nothing is counted.
    assert 0 < await limiter.hit("lowered", limit=2, window_seconds=60) <= 60
    assert await clients[0].zcard(PREFIX + "lowered") == 4
