"""Ports for credentials, tokens, revocation and throttling."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.throttle import Backoff


class PasswordHasher(Protocol):
    """Hashes and checks passwords without blocking the event loop, with bounded concurrency."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches. With no hash, spend the same time and return False."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID
    role: Role
    expires_at: datetime
    impersonator_id: UUID | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshClaims:
    user_id: UUID
    session_id: UUID
    jti: str
    expires_at: datetime


class TokenCodec(Protocol):
    """Signs and checks tokens. Decoding raises `NotAuthenticated` for anything not valid
    (bad signature, expired, wrong issuer or audience, wrong type).
    """

    def encode_access(self, claims: AccessClaims, issued_at: datetime) -> str: ...

    def encode_refresh(self, claims: RefreshClaims, issued_at: datetime) -> str: ...

    def decode_access(self, token: str) -> AccessClaims: ...

    def decode_refresh(self, token: str) -> RefreshClaims: ...


class RevocationList(Protocol):
    """Revoked session ids, read on every authenticated request, so it must be fast.

    The database is the record; this list only has to remember a revocation for as long as an
    access token of that session can live (`until`).
    """

    async def revoke(self, session_ids: Iterable[UUID], until: datetime) -> None: ...

    async def is_revoked(self, session_id: UUID) -> bool: ...


class AttemptLimiter(Protocol):
    """Failed attempts per key, each key with its own `Backoff`, shared by every process
    that shares the store.
    """

    async def attempt(self, keys: Sequence[tuple[str, Backoff]], attempt_id: str) -> float:
        """One atomic step: when every key allows an attempt now, count one failure named
        `attempt_id` against each (it is a failure until `succeeded` says otherwise) and
        return 0.0; else count nothing and return the seconds until every key allows one.
        """
        ...

    async def succeeded(
        self, attempt_id: str, *, reset: Iterable[str], refund: Iterable[str]
    ) -> None:
        """The attempt succeeded: forget every failure of the `reset` keys, and take back
        the failure `attempt_id` counted against the `refund` keys.
        """
        ...


class SecretBox(Protocol):
    """Encrypts secrets at rest with a rotatable key set."""

    def encrypt(self, plaintext: str) -> str: ...

    def decrypt(self, ciphertext: str) -> str: ...

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the newest key."""
        ...
