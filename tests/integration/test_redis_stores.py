"""The Redis revocation list and attempt limiter against a real Redis."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from coagent.adapters.security.redis_stores import RedisAttemptLimiter, RedisRevocationList
from coagent.main.container import create_redis
from tests.fakes.revocations import FakeRevocationRecord
from tests.integration.conftest import utcnow

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

LIMITS = {"login": (3, 60), "addr": (5, 600)}


def revocation_list(client: Redis) -> RedisRevocationList:
    return RedisRevocationList(
        client, record=FakeRevocationRecord(), access_ttl=timedelta(minutes=10)
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


async def test_limiter_allows_until_the_limit_then_asks_to_wait(client: Redis) -> None:
    limiter = RedisAttemptLimiter(client, LIMITS)
    key = "login:alice"

    for _ in range(2):
        await limiter.record_failure([key])
        assert await limiter.retry_after([key]) == 0
    await limiter.record_failure([key])

    wait = await limiter.retry_after([key])
    assert 0 < wait <= 61
    assert await client.zcard(f"coagent:{key}") == 3
    assert 0 < await client.ttl(f"coagent:{key}") <= 60


async def test_limiter_waits_for_the_limit_th_newest_failure_to_leave_the_window(
    client: Redis,
) -> None:
    limiter = RedisAttemptLimiter(client, LIMITS)
    now = time.time()
    # Four failures 55, 50, 40 and 30 s ago; limit 3 in 60 s: the third newest (50 s ago)
    # leaves the window in about 10 s. The oldest would say 5 s, the newest 30 s.
    await client.zadd(
        "coagent:login:bob", {"a": now - 55, "b": now - 50, "c": now - 40, "d": now - 30}
    )

    assert 6 <= await limiter.retry_after(["login:bob"]) <= 11


async def test_limiter_forgets_failures_outside_the_window(client: Redis) -> None:
    limiter = RedisAttemptLimiter(client, LIMITS)
    now = time.time()
    await client.zadd("coagent:login:carol", {"old1": now - 120, "old2": now - 90})
    await limiter.record_failure(["login:carol"])

    assert await limiter.retry_after(["login:carol"]) == 0
    assert await client.zcard("coagent:login:carol") == 1  # the stale ones were trimmed


async def test_limiter_uses_each_prefix_limit_and_the_longest_wait(client: Redis) -> None:
    limiter = RedisAttemptLimiter(client, LIMITS)
    account, address = "login:dave", "addr:192.0.2.1"

    for _ in range(4):
        await limiter.record_failure([account, address])
    assert 0 < await limiter.retry_after([account]) <= 61
    assert await limiter.retry_after([address]) == 0  # 4 of 5 allowed
    await limiter.record_failure([address])

    address_wait = await limiter.retry_after([address])
    assert 60 < address_wait <= 601
    assert await limiter.retry_after([account, address]) == address_wait
    assert 500 < await client.ttl(f"coagent:{address}") <= 600


async def test_clear_forgets_one_key_only(client: Redis) -> None:
    limiter = RedisAttemptLimiter(client, LIMITS)
    for _ in range(3):
        await limiter.record_failure(["login:erin", "login:frank"])

    await limiter.clear("login:erin")

    assert await limiter.retry_after(["login:erin"]) == 0
    assert not await client.exists("coagent:login:erin")
    assert await limiter.retry_after(["login:frank"]) > 0


async def test_other_processes_see_a_revocation_within_the_recheck_window(
    client: Redis, monkeypatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("coagent.adapters.security.redis_stores.time.monotonic", lambda: clock[0])
    here, elsewhere = revocation_list(client), revocation_list(client)
    session = uuid.uuid4()
    assert not await elsewhere.is_revoked(session)  # remembered as clear for 1 s

    await here.revoke([session], until=utcnow() + timedelta(seconds=30))
    assert await here.is_revoked(session)  # at once where it was revoked
    assert not await elsewhere.is_revoked(session)  # the remembered answer, < 1 s old
    clock[0] += 1.01
    assert await elsewhere.is_revoked(session)  # and never later than the window
