"""RedisCircuit and FallbackAttemptLimiter without a Redis: failures are simulated."""

import asyncio
from collections.abc import Iterable, Sequence

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from coagent.adapters.limits.memory import InMemoryRateLimiter
from coagent.adapters.redis_circuit import RedisCircuit, RedisDown
from coagent.adapters.security.fallback_limiter import FallbackAttemptLimiter, FallbackRateLimiter
from coagent.adapters.security.memory import InMemoryAttemptLimiter
from coagent.domain.accounts.throttle import Backoff

pytestmark = pytest.mark.anyio

BACKOFF = Backoff(3, 60, 1, 30)


class Redisish:
    """Answers, or fails like a Redis that is down; counts the calls that reached it."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0

    async def answer(self) -> str:
        self.calls += 1
        if self.down:
            raise RedisConnectionError("Connection refused")
        return "PONG"


async def test_a_closed_circuit_passes_calls_and_results_through() -> None:
    redis, circuit = Redisish(), RedisCircuit(probe=Redisish().answer)

    assert await circuit.call(redis.answer) == "PONG"
    assert not circuit.is_open


async def test_a_failure_opens_it_and_later_calls_skip_redis_until_the_probe_answers() -> None:
    redis = Redisish()
    circuit = RedisCircuit(probe=redis.answer, cool_off=0.01)
    redis.down = True

    with pytest.raises(RedisDown):
        await circuit.call(redis.answer)
    calls = redis.calls
    for _ in range(5):
        with pytest.raises(RedisDown):
            await circuit.call(redis.answer)
    assert circuit.is_open
    assert redis.calls - calls <= 1  # the callers never waited on Redis; only the probe asks

    redis.down = False
    await asyncio.wait_for(circuit.wait_closed(), 5)
    assert await circuit.call(redis.answer) == "PONG"
    await circuit.aclose()


async def test_any_redis_error_counts_and_other_errors_propagate() -> None:
    circuit = RedisCircuit(cool_off=60)

    async def refused() -> None:
        raise ResponseError("OOM command not allowed")

    async def bug() -> None:
        raise KeyError("ours")

    with pytest.raises(KeyError):
        await circuit.call(bug)
    assert not circuit.is_open
    with pytest.raises(RedisDown):
        await circuit.call(refused)
    assert circuit.is_open


async def test_without_a_probe_it_closes_after_the_cool_off() -> None:
    clock = [100.0]
    redis = Redisish()
    circuit = RedisCircuit(cool_off=1.0, monotonic=lambda: clock[0])
    redis.down = True
    with pytest.raises(RedisDown):
        await circuit.call(redis.answer)

    clock[0] += 0.5
    assert circuit.is_open
    clock[0] += 0.6
    assert not circuit.is_open
    redis.down = False
    assert await circuit.call(redis.answer) == "PONG"


async def test_closing_stops_the_probe() -> None:
    redis = Redisish()
    circuit = RedisCircuit(probe=redis.answer, cool_off=0.01)
    redis.down = True
    with pytest.raises(RedisDown):
        await circuit.call(redis.answer)

    await circuit.aclose()
    calls = redis.calls
    await asyncio.sleep(0.05)  # several cool-offs: a running probe would have asked again
    assert redis.calls == calls


async def test_what_must_not_be_skipped_is_tried_briefly_while_open() -> None:
    redis = Redisish()
    circuit = RedisCircuit(cool_off=60)
    redis.down = True
    with pytest.raises(RedisDown):
        await circuit.call(redis.answer)
    never = asyncio.Event()

    async def hangs() -> None:  # what the client's retries look like from here
        await never.wait()

    with pytest.raises(RedisDown):
        await circuit.attempt(hangs, timeout_when_open=0.01)
    assert circuit.is_open
    redis.down = False
    assert await circuit.attempt(redis.answer, timeout_when_open=1) == "PONG"
    assert not circuit.is_open  # an answer is proof enough


async def test_an_attempt_while_closed_waits_as_long_as_it_takes_and_trips_on_failure() -> None:
    circuit = RedisCircuit(cool_off=60)
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "late"

    pending = asyncio.create_task(circuit.attempt(slow, timeout_when_open=0.01))
    await asyncio.sleep(0.05)  # past the open-circuit bound: a closed circuit sets none
    release.set()
    assert await pending == "late"
    redis = Redisish()
    redis.down = True
    with pytest.raises(RedisDown):
        await circuit.attempt(redis.answer, timeout_when_open=1)
    assert circuit.is_open


# -- login throttling while Redis is down ------------------------------------------------------


class BrokenLimiter:
    """A shared limiter whose Redis is gone."""

    async def attempt(self, keys: Sequence[tuple[str, Backoff]], attempt_id: str) -> float:
        raise RedisConnectionError("Connection refused")

    async def succeeded(
        self, attempt_id: str, *, reset: Iterable[str], refund: Iterable[str]
    ) -> None:
        raise RedisConnectionError("Connection refused")

    async def hit(self, key: str, *, limit: int, window_seconds: float) -> float:
        raise RedisConnectionError("Connection refused")


def fallback(shared: object) -> FallbackAttemptLimiter:
    return FallbackAttemptLimiter(
        shared=shared,  # type: ignore[arg-type]
        local=InMemoryAttemptLimiter(),
        circuit=RedisCircuit(cool_off=60),
    )


async def test_without_redis_this_process_throttles_with_the_same_limits() -> None:
    limiter = fallback(BrokenLimiter())
    keys = [("login:ann", BACKOFF), ("addr:10.0.0.1", Backoff(10, 60, 1, 30))]

    for n in range(3):
        assert await limiter.attempt(keys, f"a{n}") == 0
    assert 0 < await limiter.attempt(keys, "a3") <= 30
    assert await limiter.attempt([("login:bob", BACKOFF)], "b0") == 0
    await limiter.succeeded("a2", reset=["login:ann"], refund=[])
    assert await limiter.attempt([("login:ann", BACKOFF)], "a4") == 0


async def test_the_stricter_of_the_shared_and_local_counts_wins() -> None:
    shared = InMemoryAttemptLimiter()  # stands for Redis: other processes' failures
    limiter = fallback(shared)
    for n in range(3):
        await shared.attempt([("login:ann", BACKOFF)], f"other{n}")
    assert await limiter.attempt([("login:ann", BACKOFF)], "mine") > 0  # others' count

    for n in range(3):
        await limiter.attempt([("login:cy", BACKOFF)], f"c{n}")
    await shared.succeeded("x", reset=["login:cy"], refund=[])  # e.g. Redis lost them
    assert await limiter.attempt([("login:cy", BACKOFF)], "c3") > 0  # still counted here


async def test_sends_are_limited_by_this_process_while_redis_is_down() -> None:
    limiter = FallbackRateLimiter(
        shared=BrokenLimiter(), local=InMemoryRateLimiter(), circuit=RedisCircuit(cool_off=60)
    )
    allowed = [await limiter.hit("send:u:r", limit=2, window_seconds=10) for _ in range(3)]
    assert allowed[:2] == [0.0, 0.0]
    assert allowed[2] > 0


async def test_sends_use_the_shared_limiter_while_redis_answers() -> None:
    shared = InMemoryRateLimiter()  # stands for Redis
    limiter = FallbackRateLimiter(
        shared=shared, local=InMemoryRateLimiter(), circuit=RedisCircuit(cool_off=60)
    )
    await shared.hit("send:u:r", limit=1, window_seconds=10)  # another process's send
    assert await limiter.hit("send:u:r", limit=1, window_seconds=10) > 0
