"""Redis revocation list and attempt limiter, shared by every process."""

import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from redis.asyncio import Redis

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


class RedisAttemptLimiter:
    """Sliding window in a sorted set per key (score = time of failure)."""

    def __init__(self, redis: Redis, limits: dict[str, tuple[int, int]]) -> None:
        self._redis = redis
        self._limits = limits

    def _limit(self, key: str) -> tuple[int, int]:
        return self._limits[key.split(":", 1)[0]]

    async def retry_after(self, keys: Iterable[str]) -> int:
        now = time.time()
        keys = list(keys)
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                limit, window = self._limit(key)
                pipe.zremrangebyscore(PREFIX + key, "-inf", now - window)
                pipe.zrange(PREFIX + key, -limit, -limit, withscores=True)
                pipe.zcard(PREFIX + key)
            results = await pipe.execute()
        wait = 0.0
        for index, key in enumerate(keys):
            limit, window = self._limit(key)
            oldest, count = results[index * 3 + 1], results[index * 3 + 2]
            if count >= limit and oldest:
                wait = max(wait, float(oldest[0][1]) + window - now)
        return int(wait) + 1 if wait > 0 else 0

    async def record_failure(self, keys: Iterable[str]) -> None:
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                _, window = self._limit(key)
                pipe.zadd(PREFIX + key, {uuid.uuid4().hex: now})
                pipe.expire(PREFIX + key, window)
            await pipe.execute()

    async def clear(self, key: str) -> None:
        await self._redis.delete(PREFIX + key)
