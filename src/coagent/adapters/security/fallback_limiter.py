"""Limiters that survive a Redis outage (docs/adr/0007).

While Redis answers, the shared limiter decides. While it does not, this process's own
limiter does, with the same limits: a guesser (or a flooder) gains at most one budget per
web process for the outage, instead of every user losing the ability to log in or to send.
"""

import contextlib
from collections.abc import Iterable, Sequence

from coagent.adapters.redis_circuit import RedisCircuit, RedisDown
from coagent.application.ports.limits import RateLimiter
from coagent.application.ports.security import AttemptLimiter
from coagent.domain.accounts.throttle import Backoff


class FallbackAttemptLimiter:
    """Login failures are always counted here too, so counting does not restart from zero
    when Redis goes away in the middle of a window; the stricter answer of the two wins.
    """

    def __init__(
        self, *, shared: AttemptLimiter, local: AttemptLimiter, circuit: RedisCircuit
    ) -> None:
        self._shared = shared
        self._local = local
        self._circuit = circuit

    async def attempt(self, keys: Sequence[tuple[str, Backoff]], attempt_id: str) -> float:
        keys = list(keys)
        local = await self._local.attempt(keys, attempt_id)
        if local > 0:
            return local
        try:
            return await self._circuit.call(lambda: self._shared.attempt(keys, attempt_id))
        except RedisDown:
            return 0.0

    async def succeeded(
        self, attempt_id: str, *, reset: Iterable[str], refund: Iterable[str]
    ) -> None:
        reset, refund = list(reset), list(refund)
        await self._local.succeeded(attempt_id, reset=reset, refund=refund)
        with contextlib.suppress(RedisDown):  # the shared failures expire with their window
            await self._circuit.call(
                lambda: self._shared.succeeded(attempt_id, reset=reset, refund=refund)
            )


class FallbackRateLimiter:
    """Action limits (sends, model calls): the shared limiter while Redis answers, this
    process's own while it does not.
    """

    def __init__(self, *, shared: RateLimiter, local: RateLimiter, circuit: RedisCircuit) -> None:
        self._shared = shared
        self._local = local
        self._circuit = circuit

    async def hit(self, key: str, *, limit: int, window_seconds: float) -> float:
        try:
            return await self._circuit.call(
                lambda: self._shared.hit(key, limit=limit, window_seconds=window_seconds)
            )
        except RedisDown:
            return await self._local.hit(key, limit=limit, window_seconds=window_seconds)
