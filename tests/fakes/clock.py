"""Fakes for the clock ports: a settable clock and a sequential id generator."""

from datetime import UTC, datetime, timedelta
from uuid import UUID


class FixedClock:
    """A clock that only moves when told to. Always timezone-aware UTC."""

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now or datetime(2030, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")

    def now(self) -> datetime:
        return self._now

    def set(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._now = now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by `delta` or by `timedelta(**kwargs)`; return the new time."""
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now


class FakeIdGenerator:
    """Sequential, time-ordered ids shaped like UUIDv7: ...-7000-8000-000000000001, ..."""

    def __init__(self, start: int = 1) -> None:
        self._next = start

    def new_id(self) -> UUID:
        value = UUID(f"00000000-0000-7000-8000-{self._next:012x}")
        self._next += 1
        return value
