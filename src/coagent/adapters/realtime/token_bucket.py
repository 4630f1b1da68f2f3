"""A token bucket: how a chat socket bounds the frames that cost database work."""

import time
from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """Frames that reach the database (sends, resumes) per connection: a flood guard at twice
    the send rate, refusing before any database work. The send limit users meet is
    `PostMessage`'s, per user and room across every socket, HTTP and process. Pings and
    typing hints cost no database work and are not counted.
    """

    capacity: float
    per_second: float
    tokens: float
    stamp: float

    @classmethod
    def full(cls, per_window: float, window_seconds: float) -> "TokenBucket":
        """A full bucket refilled at `per_window` tokens every `window_seconds`."""
        return cls(
            capacity=per_window,
            per_second=per_window / window_seconds,
            tokens=per_window,
            stamp=time.monotonic(),
        )

    def take(self) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second
