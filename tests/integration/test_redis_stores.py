"""The Redis revocation list and attempt limiter against a real Redis."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from coagent.adapters.security.redis_stores import RedisAttemptLimiter, RedisRevocationList
from coagent.domain.accounts.throttle import Backoff
from coagent.main.compose.infra import create_redis
from tests.fakes.revocations import FakeRevocationRecord
from tests.integration.conftest import utcnow

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def revocation_list(
    client: Redis, monotonic: Callable[[], float] = time.monotonic
) -> RedisRevocationList:
    return RedisRevocationList(
        client, record=FakeRevocationRecord(), access_ttl=timedelta(minutes=10), monotonic=monotonic
    )


@pytest.fixture
async def client(redis_url: str, anyio_backend: str) -> AsyncIterator[Redis]:
    redis = create_redis(redis_url)
    try:
        yield redis
    finally:
        await redis.aclose()


async def eventually_false(check, *, within: float = 5.0) -> bool:
    """Poll `check` until it returns False; bounded, returns the last answer."""
    deadline = time.monotonic() + within
    while await check():
        if time.monotonic() > deadline:
            return True
        await asyncio.sleep(0.01)
    return False


# -- revocation list --------------------------------------------------------------------------


async def test_revoked_sessions_are_revoked_until_the_given_time(client: Redis) -> None:
    revocations = revocation_list(client)
    revoked, other = [uuid.uuid4(), uuid.uuid4()], uuid.uuid4()

    await revocations.revoke(revoked, until=utcnow() + timedelta(seconds=30))

    assert all([await revocations.is_revoked(sid) for sid in revoked])
    assert not await revocations.is_revoked(other)
    for sid in revoked:
        # The key lives exactly until `until`: set from it, not from a fixed default.
        assert 20_000 < await client.pttl(f"coagent:revoked:{sid}") <= 30_000


async def test_a_short_revocation_gets_a_short_ttl(client: Redis) -> None:
    revocations = revocation_list(client)
    sid = uuid.uuid4()

    await revocations.revoke([sid], until=utcnow() + timedelta(seconds=2))

    assert await revocations.is_revoked(sid)
    assert 0 < await client.pttl(f"coagent:revoked:{sid}") <= 2_000


async def test_revocation_until_the_past_does_not_linger(client: Redis) -> None:
    revocations = revocation_list(client)
    sid = uuid.uuid4()

    await revocations.revoke([sid], until=utcnow() - timedelta(minutes=5))

    assert not await eventually_false(lambda: revocations.is_revoked(sid))


async def test_revoking_nothing_is_harmless(client: Redis) -> None:
    await revocation_list(client).revoke([], until=utcnow() + timedelta(seconds=5))
    assert await client.dbsize() == 0


# -- attempt limiter --------------------------------------------------------------------------

# Three free failures in 60 s, then 2 s, 4 s... at most 20 s after the latest.
THREE = Backoff(free=3, window_seconds=60, first_wait_seconds=2, max_wait_seconds=20)
FIVE = Backoff(free=5, window_seconds=600, first_wait_seconds=30, max_wait_seconds=300)


async def test_limiter_counts_free_failures_then_asks_to_wait(client: Redis) -> None:
    limiter = RedisAttemptLimiter(client)
    for n in range(3):
        assert await limiter.attempt([("alice", THREE)], f"a{n}") == 0

    wait = await limiter.attempt([("alice", THREE)], "refused")

    assert 1.5 < wait <= 2.0
    assert await client.zrange("coagent:alice", 0, -1) == [b"a0", b"a1", b"a2"]
    assert 59_000 < await client.pttl("coagent:alice") <= 60_000


async def test_limiter_doubles_the_wait_per_failure_in_the_window(client: Redis) -> None:
    limiter = RedisAttemptLimiter(client)
    now_ms = time.time() * 1000
    # Six failures, the latest 1 s ago, two of them older than the window: four count,
    # one over the three free, so 2 * 2 = 4 s after the latest, 3 s from now.
    await client.zadd(
        "coagent:bob",
        {
            "old1": now_ms - 90_000,
            "old2": now_ms - 70_000,
            "a": now_ms - 30_000,
            "b": now_ms - 20_000,
            "c": now_ms - 10_000,
            "d": now_ms - 1_000,
        },
    )

    assert 2.5 < await limiter.attempt([("bob", THREE)], "x") <= 3.1
    assert await client.zcard("coagent:bob") == 4  # the stale ones were trimmed


async def test_limiter_answers_the_longest_wait_of_its_keys(client: Redis) -> None:
    limiter = RedisAttemptLimiter(client)
    keys = [("pair", THREE), ("address", FIVE)]
    for n in range(5):
        assert await limiter.attempt(keys[1:] if n >= 3 else keys, f"k{n}") == 0

    assert 29 < await limiter.attempt(keys, "x") <= 30  # the address's 30 s, not the pair's 2
    assert await client.zcard("coagent:pair") == 3


async def test_success_resets_one_key_and_takes_back_its_own_failure_elsewhere(
    client: Redis,
) -> None:
    limiter = RedisAttemptLimiter(client)
    keys = [("pair", THREE), ("account", FIVE)]
    await limiter.attempt(keys, "wrong")
    await limiter.attempt(keys, "right")

    await limiter.succeeded("right", reset=["pair"], refund=["account"])

    assert not await client.exists("coagent:pair")
    assert await client.zrange("coagent:account", 0, -1) == [b"wrong"]


async def test_concurrent_attempts_from_two_clients_pass_the_free_count_only(
    client: Redis, redis_url: str
) -> None:
    other = create_redis(redis_url)
    try:
        limiters = [RedisAttemptLimiter(client), RedisAttemptLimiter(other)]
        keys = [("pair", THREE), ("account", FIVE)]
        waits = await asyncio.gather(
            *(limiters[n % 2].attempt(keys, f"guess{n}") for n in range(30))
        )
    finally:
        await other.aclose()

    assert sum(1 for wait in waits if wait == 0) == 3
    assert await client.zcard("coagent:pair") == await client.zcard("coagent:account") == 3


async def test_other_processes_see_a_revocation_within_the_recheck_window(
    client: Redis,
) -> None:
    clock = [1000.0]
    here = revocation_list(client, lambda: clock[0])
    elsewhere = revocation_list(client, lambda: clock[0])
    session = uuid.uuid4()
    assert not await elsewhere.is_revoked(session)  # remembered as clear for 1 s

    await here.revoke([session], until=utcnow() + timedelta(seconds=30))
    assert await here.is_revoked(session)  # at once where it was revoked
    assert not await elsewhere.is_revoked(session)  # the remembered answer, < 1 s old
    clock[0] += 1.01
    assert await elsewhere.is_revoked(session)  # and never later than the window
