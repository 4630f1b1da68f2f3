"""Redis revocation list and attempt limiter, shared by every process."""

import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from redis.asyncio import Redis

PREFIX = "coagent:"


class RedisRevocationList:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def revoke(self, session_ids: Iterable[UUID], until: datetime) -> None:
        ttl_ms = max(1, int((until.timestamp() - time.time()) * 1000))
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.set(f"{PREFIX}revoked:{session_id}", b"1", px=ttl_ms)
            await pipe.execute()

    async def is_revoked(self, session_id: UUID) -> bool:
        return bool(await self._redis.exists(f"{PREFIX}revoked:{session_id}"))


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
