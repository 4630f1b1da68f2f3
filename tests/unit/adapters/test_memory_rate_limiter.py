import pytest

from coagent.adapters.limits.memory import InMemoryRateLimiter


class Ticker:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.anyio
async def test_allows_up_to_the_limit_then_says_how_long_to_wait() -> None:
    clock = Ticker()
    limiter = InMemoryRateLimiter(monotonic=clock)
    results = [await limiter.hit("k", limit=3, window_seconds=10) for _ in range(3)]
    assert results == [0.0, 0.0, 0.0]
    clock.now = 104.0
    assert await limiter.hit("k", limit=3, window_seconds=10) == pytest.approx(6.0)
    assert await limiter.hit("other", limit=3, window_seconds=10) == 0.0


@pytest.mark.anyio
async def test_a_refused_hit_is_not_counted_and_the_window_slides() -> None:
    clock = Ticker()
    limiter = InMemoryRateLimiter(monotonic=clock)
    assert await limiter.hit("k", limit=1, window_seconds=5) == 0.0
    for _ in range(10):
        assert await limiter.hit("k", limit=1, window_seconds=5) > 0
    clock.now = 105.0
    assert await limiter.hit("k", limit=1, window_seconds=5) == 0.0
