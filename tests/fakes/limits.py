"""A `RateLimiter` with no clock: a key refuses once it has `limit` counted hits."""

from collections import Counter


class FakeRateLimiter:
    """Counts hits per key; a key at its limit answers `wait_seconds` and counts nothing.
    `calls` records every hit asked for (key, limit, window); `forget` empties a key, as
    the window passing would.
    """

    def __init__(self, *, wait_seconds: float = 7.5) -> None:
        self.wait_seconds = wait_seconds
        self.counted: Counter[str] = Counter()
        self.calls: list[tuple[str, int, float]] = []

    async def hit(self, key: str, *, limit: int, window_seconds: float) -> float:
        self.calls.append((key, limit, window_seconds))
        if self.counted[key] >= limit:
            return self.wait_seconds
        self.counted[key] += 1
        return 0.0

    def forget(self, key: str) -> None:
        self.counted.pop(key, None)
