"""In-process revocation list and attempt limiter for the embedded single-process mode."""

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from coagent.adapters.system import SystemClock
from coagent.application.ports.clock import Clock
from coagent.application.ports.revocations import REBUILD_SLACK, RevocationRecord
from coagent.domain.accounts.throttle import Backoff


class InMemoryRevocationList:
    """With a `record`, the first check loads the revocations whose access tokens may still
    live from the database, so restarting the process forgets none (docs/adr/0007).
    """

    def __init__(
        self,
        *,
        record: RevocationRecord | None = None,
        access_ttl: timedelta = timedelta(minutes=10),
        clock: Clock | None = None,
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self._until: dict[UUID, float] = {}
        self._record = record
        self._access_ttl = access_ttl
        self._loading = asyncio.Lock()

    async def revoke(self, session_ids: Iterable[UUID], until: datetime) -> None:
        deadline = until.timestamp()
        now = self._clock.now().timestamp()
        # Forget entries whose tokens have all expired, so the map stays small.
        self._until = {sid: t for sid, t in self._until.items() if t > now}
        for session_id in session_ids:
            self._until[session_id] = max(deadline, self._until.get(session_id, deadline))

    async def is_revoked(self, session_id: UUID) -> bool:
        if self._record is not None:
            await self._load(self._record)
        deadline = self._until.get(session_id)
        return deadline is not None and deadline > self._clock.now().timestamp()

    async def _load(self, record: RevocationRecord) -> None:
        async with self._loading:
            if self._record is None:  # loaded while this caller waited
                return
            now = self._clock.now()
            lifetime = self._access_ttl + REBUILD_SLACK
            for session_id, at in await record.revoked_since(now - lifetime):
                self._until.setdefault(session_id, (at + lifetime).timestamp())
            self._record = None


class InMemoryAttemptLimiter:
    """`AttemptLimiter` for one process: each key keeps its failures (time, attempt id) in
    the window. No await between checking and counting, so the step is atomic on the loop.
    """

    def __init__(
        self, *, max_keys: int = 100_000, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._monotonic = monotonic
        self._failures: dict[str, deque[tuple[float, str]]] = {}
        self._max_keys = max_keys

    def _live(self, key: str, window: float, now: float) -> deque[tuple[float, str]]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0][0] <= now - window:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    async def attempt(self, keys: Sequence[tuple[str, Backoff]], attempt_id: str) -> float:
        now = self._monotonic()
        wait = 0.0
        for key, backoff in keys:
            failures = self._live(key, backoff.window_seconds, now)
            if failures:
                latest = failures[-1][0]
                wait = max(wait, latest + backoff.wait_after(len(failures)) - now)
        if wait > 0:
            return wait
        if len(self._failures) >= self._max_keys:  # bounded: forget the quietest half
            by_latest = sorted(self._failures, key=lambda k: self._failures[k][-1][0])
            for key in by_latest[: len(by_latest) // 2]:
                del self._failures[key]
        for key, _ in keys:
            self._failures.setdefault(key, deque()).append((now, attempt_id))
        return 0.0

    async def succeeded(
        self, attempt_id: str, *, reset: Iterable[str], refund: Iterable[str]
    ) -> None:
        for key in reset:
            self._failures.pop(key, None)
        for key in refund:
            failures = self._failures.get(key)
            if failures is None:
                continue
            kept = deque(entry for entry in failures if entry[1] != attempt_id)
            if kept:
                self._failures[key] = kept
            else:
                del self._failures[key]
