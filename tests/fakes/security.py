"""Fakes for the security ports: hashing, revocation, throttling and secrets at rest."""

import base64
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from coagent.application.ports.clock import Clock
from coagent.domain.accounts.throttle import Backoff
from coagent.domain.errors import InvalidInput


class FakePasswordHasher:
    """Deterministic and instant: the hash of `pw` is `"<scheme>:" + pw`.

    `verify` accepts a hash of any scheme (so a stored `"old:..."` hash still verifies) and
    `needs_rehash` is True for any other scheme, which lets tests drive the rehash-on-login
    path. Every call is recorded in `calls` as `(method, password)`.
    """

    def __init__(self, scheme: str = "plain") -> None:
        self.scheme = scheme
        self.calls: list[tuple[str, str]] = []

    def hash_of(self, password: str) -> str:
        """The hash this hasher would produce, without recording a call (for seeding)."""
        return f"{self.scheme}:{password}"

    async def hash(self, password: str) -> str:
        self.calls.append(("hash", password))
        return self.hash_of(password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self.calls.append(("verify", password))
        if password_hash is None or ":" not in password_hash:
            return False
        return password_hash.split(":", 1)[1] == password

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(f"{self.scheme}:")


class FakeRevocationList:
    """Remembers each revoked session id with its `until`; with a clock, entries expire."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock
        self.revoked: dict[UUID, datetime] = {}

    async def revoke(self, session_ids: Iterable[UUID], until: datetime) -> None:
        for session_id in session_ids:
            self.revoked[session_id] = until

    async def is_revoked(self, session_id: UUID) -> bool:
        until = self.revoked.get(session_id)
        if until is None:
            return False
        return self._clock is None or self._clock.now() < until


class FakeAttemptLimiter:
    """Counts failures per key with no clock: a key with at least its `Backoff.free`
    failures refuses with `retry_seconds` (and counts nothing). `ids` keeps each key's
    attempt ids, `resets` every key `succeeded` reset.
    """

    def __init__(self, *, retry_seconds: float = 41.5) -> None:
        self.retry_seconds = retry_seconds
        self.failures: Counter[str] = Counter()
        self.ids: dict[str, list[str]] = {}
        self.resets: list[str] = []

    async def attempt(self, keys: Sequence[tuple[str, Backoff]], attempt_id: str) -> float:
        if any(self.failures[key] >= backoff.free for key, backoff in keys):
            return self.retry_seconds
        for key, _ in keys:
            self.failures[key] += 1
            self.ids.setdefault(key, []).append(attempt_id)
        return 0.0

    async def succeeded(
        self, attempt_id: str, *, reset: Iterable[str], refund: Iterable[str]
    ) -> None:
        for key in reset:
            self.resets.append(key)
            self.failures.pop(key, None)
            self.ids.pop(key, None)
        for key in refund:
            if attempt_id in self.ids.get(key, []):
                self.ids[key].remove(attempt_id)
                self.failures[key] -= 1
                if not self.failures[key]:
                    del self.failures[key]


class FakeSecretBox:
    """Reversible and keyed: only a box with the same key (or one listing it) can decrypt.

    Not encryption; it only lets tests check that ciphertext is not plaintext and that
    rotation moves a secret to the first key.
    """

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("At least one encryption key is required")
        self._keys = list(keys)

    def encrypt(self, plaintext: str) -> str:
        return self._seal(self._keys[0], plaintext)

    def decrypt(self, ciphertext: str) -> str:
        return self._open(ciphertext)[1]

    def rotate(self, ciphertext: str) -> str:
        return self.encrypt(self._open(ciphertext)[1])

    @staticmethod
    def _seal(key: str, plaintext: str) -> str:
        raw = f"{key}\x00{plaintext}".encode()
        return "fake:" + base64.urlsafe_b64encode(raw).decode()

    def _open(self, ciphertext: str) -> tuple[str, str]:
        try:
            raw = base64.urlsafe_b64decode(ciphertext.removeprefix("fake:").encode()).decode()
            key, plaintext = raw.split("\x00", 1)
        except ValueError as error:
            raise InvalidInput("Stored secret cannot be decrypted") from error
        if not ciphertext.startswith("fake:") or key not in self._keys:
            raise InvalidInput("Stored secret cannot be decrypted")
        return key, plaintext
