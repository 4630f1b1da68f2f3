"""Login throttling: failures counted in a sliding window, then exponential back-off."""

import math
from dataclasses import dataclass

MAX_DOUBLINGS = 40  # 2**40 s is far past any cap; keeps the arithmetic small


@dataclass(frozen=True, slots=True)
class Backoff:
    """`free` failures within `window_seconds` cost nothing; from then on each attempt must
    wait `first_wait_seconds`, doubled for every further failure in the window, at most
    `max_wait_seconds`, after the latest failure. Failures older than the window are
    forgotten, so the wait never outlasts it.
    """

    free: int
    window_seconds: float
    first_wait_seconds: float
    max_wait_seconds: float

    def __post_init__(self) -> None:
        if self.free < 1 or self.first_wait_seconds <= 0:
            raise ValueError("a back-off allows at least one failure and waits more than 0 s")
        if not self.first_wait_seconds <= self.max_wait_seconds < self.window_seconds:
            raise ValueError("a back-off's longest wait lies between its first and its window")

    def wait_after(self, failures: int) -> float:
        """The wait after the latest of `failures` failures in the window."""
        if failures < self.free:
            return 0.0
        doublings = min(failures - self.free, MAX_DOUBLINGS)
        return min(math.ldexp(self.first_wait_seconds, doublings), self.max_wait_seconds)
