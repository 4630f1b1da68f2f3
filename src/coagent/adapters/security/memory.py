"""In-process revocation list and attempt limiter for the embedded single-process mode."""

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from coagent.application.ports.revocations import REBUILD_SLACK, RevocationRecord


class InMemoryRevocationList:
    """With a `record`, the first check loads the revocations whose access tokens may still
    live from the database, so restarting the process forgets none (docs/adr/0007).
    """

    def __init__(
        self,
        *,
        record: RevocationRecord | None = None,
        access_ttl: timedelta = timedelta(minutes=10),
    ) -> None:
        self._until: dict[UUID, float] = {}
        self._record = record
        self._access_ttl = access_ttl
        self._loading = asyncio.Lock()

    async def revoke(self, session_ids: Iterable[UUID], until: datetime) -> None:
        deadline = until.timestamp()
        now = time.time()
        # Forget entries whose tokens have all expired, so the map stays small.
        self._until = {sid: t for sid, t in self._until.items() if t > now}
        for session_id in session_ids:
            self._until[session_id] = max(deadline, self._until.get(session_id, deadline))

    async def is_revoked(self, session_id: UUID) -> bool:
        if self._record is not None:
            await self._load(self._record)
        deadline = self._until.get(session_id)
        return deadline is not None and deadline > time.time()

    async def _load(self, record: RevocationRecord) -> None:
        async with self._loading:
            if self._record is None:  # loaded while this caller waited
                return
            now = datetime.now(UTC)
            lifetime = self._access_ttl + REBUILD_SLACK
            for session_id, at in await record.revoked_since(now - lifetime):
                self._until.setdefault(session_id, (at + lifetime).timestamp())
            self._record = None


class InMemoryAttemptLimiter:
    """Sliding-window failure counter; `limits` maps a key prefix to (max failures, window)."""

    def __init__(self, limits: dict[str, tuple[int, int]]) -> None:
        self._limits = limits
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _limit(self, key: str) -> tuple[int, int]:
        return self._limits[key.split(":", 1)[0]]

    def _prune(self, key: str, now: float) -> deque[float]:
        """The key's failures still in the window; keys with none are forgotten."""
        _, window = self._limit(key)
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - window:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    async def retry_after(self, keys: Iterable[str]) -> int:
        now = time.monotonic()
        wait = 0.0
        for key in keys:
            limit, window = self._limit(key)
            failures = self._prune(key, now)
            if len(failures) >= limit:
                wait = max(wait, failures[-limit] + window - now)
        return int(wait) + 1 if wait > 0 else 0

    async def record_failure(self, keys: Iterable[str]) -> None:
        now = time.monotonic()
        for key in keys:
            self._prune(key, now)
            self._failures[key].append(now)

    async def clear(self, key: str) -> None:
        self._failures.pop(key, None)
