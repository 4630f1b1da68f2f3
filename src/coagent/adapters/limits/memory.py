"""The embedded mode's rate limiter: sliding windows in this process's memory."""

import time
from collections import deque
from collections.abc import Callable


class InMemoryRateLimiter:
    """`RateLimiter` for one process: each key keeps the times of its counted actions."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._hits: dict[str, deque[float]] = {}

    async def hit(self, key: str, *, limit: int, window_seconds: float) -> float:
        now = self._now()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - window_seconds:
            hits.popleft()
        if len(hits) >= limit:
            return max(hits[0] + window_seconds - now, 0.001)
        hits.append(now)
        if len(self._hits) > 100_000:  # forget idle keys so memory stays bounded
            self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - 3600}
        return 0.0
