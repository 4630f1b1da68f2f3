"""A per-process circuit breaker in front of Redis (docs/adr/0007).

The shared Redis client retries a failed command for a few seconds, which rides out a short
restart but would make every request wait that long while Redis is down. After one failure
the circuit opens: callers skip Redis and take their fallback at once (the database, this
process's own limiter, or a 503). A background probe pings Redis every `cool_off` seconds,
each ping bounded by `probe_timeout`, and closes the circuit when one answers, so no request
ever waits for Redis while it is known to be down. Without a probe the circuit simply closes
again after `cool_off` seconds.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

logger = logging.getLogger("coagent.redis")

T = TypeVar("T")

# What a 503 caused by a Redis outage tells the client to wait (seconds).
REDIS_RETRY_AFTER_SECONDS = 5


class RedisDown(Exception):
    """Redis was not asked (the circuit is open) or did not answer."""


class RedisCircuit:
    def __init__(
        self,
        *,
        probe: Callable[[], Awaitable[object]] | None = None,
        cool_off: float = 1.0,
        probe_timeout: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._probe = probe
        self._cool_off = cool_off
        self._probe_timeout = probe_timeout
        self._open = False
        self._closes_at = 0.0
        self._prober: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._closed.set()

    @property
    def is_open(self) -> bool:
        """True while Redis is believed to be down."""
        if self._open and self._probe is None and self._monotonic() >= self._closes_at:
            self._close()
        return self._open

    async def wait_closed(self) -> None:
        """Until Redis is believed to be up again (at once when it is)."""
        await self._closed.wait()

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """The operation's result; `RedisDown` when it was skipped or failed."""
        if self.is_open:
            raise RedisDown("circuit open")
        try:
            return await operation()
        except (RedisError, OSError) as error:
            self._trip(error)
            raise RedisDown(type(error).__name__) from error

    async def attempt(
        self, operation: Callable[[], Awaitable[T]], *, timeout_when_open: float
    ) -> T:
        """For what must not be skipped (a chat publish: ADR 0007): always tried, but while the
        circuit is open only for `timeout_when_open` seconds instead of the client's retries.
        A success closes the circuit; a failure opens it. `RedisDown` when it failed.
        """
        try:
            if self.is_open:
                result = await asyncio.wait_for(operation(), timeout_when_open)
                if self._open:
                    self._close()
                return result
            return await operation()
        except (RedisError, OSError, TimeoutError) as error:
            self._trip(error)
            raise RedisDown(type(error).__name__) from error

    def _trip(self, error: BaseException) -> None:
        if not self._open:
            logger.warning(
                "Redis unreachable; degrading until it answers again",
                extra={"error": type(error).__name__},
            )
        self._open = True
        self._closed.clear()
        self._closes_at = self._monotonic() + self._cool_off
        if self._probe is not None and (self._prober is None or self._prober.done()):
            self._prober = asyncio.create_task(self._probe_until_up(self._probe))

    async def _probe_until_up(self, probe: Callable[[], Awaitable[object]]) -> None:
        while self._open:
            await asyncio.sleep(self._cool_off)
            try:
                await asyncio.wait_for(probe(), self._probe_timeout)
            except (RedisError, OSError, TimeoutError):
                continue
            self._close()

    def _close(self) -> None:
        self._open = False
        self._closed.set()
        logger.warning("Redis reachable again")

    async def aclose(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
            self._prober = None
