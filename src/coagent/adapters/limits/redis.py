"""The rate limiter shared by every process: a sliding-window log per key in Redis."""

import uuid

from redis.asyncio import Redis

PREFIX = "coagent:rate:"

# KEYS[1]: the key. ARGV: limit, window in ms, a unique member for this hit.
# One script, so checking and counting are one atomic step for every process. The time is
# the Redis server's, so processes whose clocks disagree still share one window.
_HIT = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  return math.max(1, math.ceil(tonumber(oldest[2]) + window - now))
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window))
return 0
"""


class RedisRateLimiter:
    """`RateLimiter` for several processes.

    Each key is a sorted set of the times (scores, server time in ms) of its counted hits,
    pruned to the window on every hit and expiring with it, so it holds at most `limit`
    entries. Exact: never more than `limit` hits in any `window_seconds`, across processes.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._hit = redis.register_script(_HIT)

    async def hit(self, key: str, *, limit: int, window_seconds: float) -> float:
        window_ms = max(1, round(window_seconds * 1000))
        wait_ms = await self._hit(keys=[PREFIX + key], args=[limit, window_ms, uuid.uuid4().hex])
        return int(wait_ms) / 1000
