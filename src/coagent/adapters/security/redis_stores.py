"""Redis revocation list and attempt limiter, shared by every process."""

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from redis.asyncio import Redis

from coagent.domain.accounts.throttle import Backoff

PREFIX = "coagent:"


class RedisRevocationList:
    """Revocations in Redis, shared by every process.

    A "not revoked" answer is remembered for `recheck_after` seconds, so a busy session costs
    one Redis round trip per second per process instead of one per request. A revocation made
    here takes effect here at once, and in the other processes within `recheck_after`.
    """

    def __init__(
        self, redis: Redis, *, recheck_after: float = 1.0, max_remembered: int = 100_000
    ) -> None:
        self._redis = redis
        self._recheck_after = recheck_after
        self._max_remembered = max_remembered
        self._clear_until: dict[UUID, float] = {}

    async def revoke(self, session_ids: Iterable[UUID], until: datetime) -> None:
        ttl_ms = max(1, int((until.timestamp() - time.time()) * 1000))
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                self._clear_until.pop(session_id, None)
                pipe.set(f"{PREFIX}revoked:{session_id}", b"1", px=ttl_ms)
            await pipe.execute()

    async def is_revoked(self, session_id: UUID) -> bool:
        now = time.monotonic()
        if self._clear_until.get(session_id, 0.0) > now:
            return False
        revoked = bool(await self._redis.exists(f"{PREFIX}revoked:{session_id}"))
        if not revoked:
            if len(self._clear_until) >= self._max_remembered:
                self._clear_until.clear()  # crude, and only ever costs extra round trips
            self._clear_until[session_id] = now + self._recheck_after
        return revoked


# KEYS: the keys. ARGV[1]: the attempt id; then per key: free, window, first wait, longest
# wait (ms). One script, so the check and the count are one step for every process; the
# time is the Redis server's, so processes whose clocks disagree share one window.
_ATTEMPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local wait = 0
for i, key in ipairs(KEYS) do
  local at = 1 + (i - 1) * 4
  local free, window = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  local first, longest = tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= free then
    local latest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    local delay = math.min(first * 2 ^ math.min(count - free, 40), longest)
    wait = math.max(wait, tonumber(latest[2]) + delay - now)
  end
end
if wait > 0 then
  return math.max(1, math.ceil(wait))
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('PEXPIRE', key, ARGV[1 + (i - 1) * 4 + 2])
end
return 0
"""


class RedisAttemptLimiter:
    """`AttemptLimiter` for several processes: a sorted set per key (member: attempt id,
    score: server time in ms), pruned to the window on every attempt and expiring with it.
    A key holds its failures of one window at most; with back-off that is a few dozen.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._attempt = redis.register_script(_ATTEMPT)

    async def attempt(self, keys: Sequence[tuple[str, Backoff]], attempt_id: str) -> float:
        args: list[str | int] = [attempt_id]
        for _, backoff in keys:
            args += [
                backoff.free,
                _ms(backoff.window_seconds),
                _ms(backoff.first_wait_seconds),
                _ms(backoff.max_wait_seconds),
            ]
        wait_ms = await self._attempt(keys=[PREFIX + key for key, _ in keys], args=args)
        return int(wait_ms) / 1000

    async def succeeded(
        self, attempt_id: str, *, reset: Iterable[str], refund: Iterable[str]
    ) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in reset:
                pipe.delete(PREFIX + key)
            for key in refund:
                pipe.zrem(PREFIX + key, attempt_id)
            await pipe.execute()


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
