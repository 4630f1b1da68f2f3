"""Redis revocation list and attempt limiter, shared by every process."""

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from redis.asyncio import Redis

from coagent.adapters.redis_circuit import RedisCircuit, RedisDown
from coagent.application.ports.revocations import REBUILD_SLACK, RevocationRecord
from coagent.domain.accounts.throttle import Backoff

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
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
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
        now = self._monotonic()
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
