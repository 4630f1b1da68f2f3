"""Redis revocation list and attempt limiter, shared by every process."""

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from redis.asyncio import Redis

from coagent.adapters.redis_circuit import RedisCircuit, RedisDown
from coagent.application.ports.revocations import REBUILD_SLACK, RevocationRecord

logger = logging.getLogger("coagent.security")

PREFIX = "coagent:"
REVOKED = f"{PREFIX}revoked:"
# Present while the revocation list is complete; it has no TTL, so only a restart or a flush
# of Redis removes it (docs/adr/0007).
COMPLETE = f"{PREFIX}revocations:complete"


class RedisRevocationList:
    """Revocations in Redis, shared by every process, backed by the database (docs/adr/0007).

    A "not revoked" answer is remembered for `recheck_after` seconds, so a busy session costs
    one Redis round trip per second per process instead of one per request. A revocation made
    here takes effect here at once, and in the other processes within `recheck_after`.

    The list is complete only while the marker key exists: it is written (without a TTL) after
    the list was rebuilt from the database, so a Redis restart, which loses both, is noticed
    on the next read, in the same round trip. Until the rebuild is done, and whenever Redis
    does not answer, the database answers instead. Revocations that could not be written are
    kept here and written once Redis answers again.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        record: RevocationRecord,
        access_ttl: timedelta,
        circuit: RedisCircuit | None = None,
        recheck_after: float = 1.0,
        max_remembered: int = 100_000,
    ) -> None:
        self._redis = redis
        self._record = record
        self._access_ttl = access_ttl
        self._circuit = circuit or RedisCircuit()
        self._recheck_after = recheck_after
        self._max_remembered = max_remembered
        self._clear_until: dict[UUID, float] = {}
        self._unwritten: dict[UUID, datetime] = {}
        self._rebuild: asyncio.Task[None] | None = None

    async def revoke(self, session_ids: Iterable[UUID], until: datetime) -> None:
        """Never raises for Redis: the database already holds the revocation (committed)."""
        for session_id in session_ids:
            self._clear_until.pop(session_id, None)
            self._unwritten[session_id] = max(until, self._unwritten.get(session_id, until))
        await self._write_unwritten()

    async def is_revoked(self, session_id: UUID) -> bool:
        now = time.monotonic()
        if self._clear_until.get(session_id, 0.0) > now:
            return False
        if session_id in self._unwritten:  # revoked here; Redis has not been told yet
            return True
        revoked = await self._from_redis(session_id)
        if revoked is None:
            revoked = await self._record.is_revoked(session_id)
        if not revoked:
            if len(self._clear_until) >= self._max_remembered:
                self._clear_until.clear()  # crude, and only ever costs extra round trips
            self._clear_until[session_id] = now + self._recheck_after
        return revoked

    async def _from_redis(self, session_id: UUID) -> bool | None:
        """The list's answer; None when it cannot give one (Redis down, list incomplete)."""
        key = f"{REVOKED}{session_id}"
        try:
            revoked, complete = await self._circuit.call(lambda: self._redis.mget(key, COMPLETE))
        except RedisDown:
            return None
        if self._unwritten:
            await self._write_unwritten()
        if revoked is not None:
            return True
        if complete is not None:
            return False
        # Redis lost the list (restarted, flushed): rebuild it once for this process.
        try:
            await asyncio.shield(self._rebuilding())
            return bool(await self._circuit.call(lambda: self._redis.exists(key)))
        except RedisDown:
            return None
        except Exception:  # noqa: BLE001 - the database answers below, or fails loudly there
            logger.warning("revocation list not rebuilt; asking the database", exc_info=False)
            return None

    def _rebuilding(self) -> asyncio.Task[None]:
        if self._rebuild is None or self._rebuild.done():
            self._rebuild = asyncio.create_task(self._rebuild_from_record())
            # Its failure is reported to whoever awaits it; a task left behind by a cancelled
            # request must not log "exception never retrieved" as well.
            self._rebuild.add_done_callback(lambda task: task.cancelled() or task.exception())
        return self._rebuild

    async def _rebuild_from_record(self) -> None:
        """Every revocation whose access tokens may still live, then the marker. Revocations
        committed after the read below are written by whoever made them, after their commit.
        """
        now = datetime.now(UTC)
        lifetime = self._access_ttl + REBUILD_SLACK
        revoked = await self._record.revoked_since(now - lifetime)

        async def write() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                for session_id, at in revoked:
                    ttl_ms = int((at + lifetime - now).total_seconds() * 1000)
                    if ttl_ms > 0:
                        pipe.set(f"{REVOKED}{session_id}", b"1", px=ttl_ms)
                pipe.set(COMPLETE, b"1")
                await pipe.execute()

        await self._circuit.call(write)
        logger.warning("revocation list rebuilt from the database", extra={"count": len(revoked)})

    async def _write_unwritten(self) -> None:
        now = datetime.now(UTC)
        self._unwritten = {sid: until for sid, until in self._unwritten.items() if until > now}
        pending = dict(self._unwritten)
        if not pending:
            return

        async def write() -> None:
            now = time.time()
            async with self._redis.pipeline(transaction=False) as pipe:
                for session_id, until in pending.items():
                    ttl_ms = max(1, int((until.timestamp() - now) * 1000))
                    pipe.set(f"{REVOKED}{session_id}", b"1", px=ttl_ms)
                await pipe.execute()

        try:
            await self._circuit.call(write)
        except RedisDown:
            logger.warning(
                "revocations not written to Redis yet; the database answers meanwhile",
                extra={"count": len(self._unwritten)},
            )
            return
        for session_id, until in pending.items():
            if self._unwritten.get(session_id) == until:
                del self._unwritten[session_id]


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
