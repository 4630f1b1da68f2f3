"""Login throttling that survives a Redis outage (docs/adr/0007).

While Redis answers, the shared limiter decides, as before. While it does not, this process's
own limiter does, with the same limits: a guesser gains at most one budget per web process for
the outage, instead of every user losing the ability to log in.
"""

import contextlib
from collections.abc import Iterable

from coagent.adapters.redis_circuit import RedisCircuit, RedisDown
from coagent.application.ports.security import AttemptLimiter


class FallbackAttemptLimiter:
    """Failures are always counted here too, so counting does not restart from zero when
    Redis goes away in the middle of a window; the stricter answer of the two wins.
    """

    def __init__(
        self, *, shared: AttemptLimiter, local: AttemptLimiter, circuit: RedisCircuit
    ) -> None:
        self._shared = shared
        self._local = local
        self._circuit = circuit

    async def retry_after(self, keys: Iterable[str]) -> int:
        keys = list(keys)
        local = await self._local.retry_after(keys)
        try:
            shared = await self._circuit.call(lambda: self._shared.retry_after(keys))
        except RedisDown:
            shared = 0
        return max(local, shared)

    async def record_failure(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        await self._local.record_failure(keys)
        with contextlib.suppress(RedisDown):  # counted here; the shared count misses it
            await self._circuit.call(lambda: self._shared.record_failure(keys))

    async def clear(self, key: str) -> None:
        await self._local.clear(key)
        with contextlib.suppress(RedisDown):  # the shared failures expire with their window
            await self._circuit.call(lambda: self._shared.clear(key))
