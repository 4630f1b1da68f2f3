"""The accounts use cases wired to fakes, the real JwtTokenCodec and the real SessionIssuer."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from coagent.adapters.security.tokens import JwtTokenCodec
from coagent.application.accounts.sessions import IssuedTokens, SessionIssuer, SessionPolicy
from coagent.domain.accounts.session import AuthSession
from coagent.domain.accounts.user import User
from tests.fakes.clock import FakeIdGenerator, FixedClock
from tests.fakes.factories import UserFactory
from tests.fakes.repositories import InMemoryStore, InMemoryUnitOfWorkFactory
from tests.fakes.security import FakeAttemptLimiter, FakePasswordHasher, FakeRevocationList

SECRET = "unit-test-secret-that-is-at-least-32-bytes-long"
ISSUER = "coagent-unit"
AUDIENCE = "coagent-unit-api"


@dataclass
class Accounts:
    uow: InMemoryUnitOfWorkFactory
    clock: FixedClock
    ids: FakeIdGenerator
    hasher: FakePasswordHasher
    limiter: FakeAttemptLimiter
    revocations: FakeRevocationList
    tokens: JwtTokenCodec
    sessions: SessionIssuer

    @property
    def store(self) -> InMemoryStore:
        return self.uow.store

    async def add_user(self, *, password: str | None = None, **fields: Any) -> User:
        """Insert (and commit) an account built by `UserFactory`."""
        if password is not None:
            fields["password_hash"] = self.hasher.hash_of(password)
        user = UserFactory.build(**fields)
        async with self.uow() as uow:
            await uow.users.add(user)
            await uow.commit()
        return user

    async def open_session(self, user: User, **kwargs: Any) -> IssuedTokens:
        async with self.uow() as uow:
            issued = await self.sessions.open(uow, user, **kwargs)
            await uow.commit()
        return issued

    def session(self, session_id: UUID) -> AuthSession:
        """The committed session row (fails the test if it is gone)."""
        return self.store.sessions[session_id]

    def user(self, user_id: UUID) -> User:
        return self.store.users[user_id]


@pytest.fixture
def accounts() -> Accounts:
    # The real codec checks exp/nbf against the wall clock, so the fake clock starts at "now"
    # (whole seconds, as JWTs carry them). Tests that move it forward only do so to make
    # sessions end, never before signing a token they then decode.
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    ids = FakeIdGenerator()
    revocations = FakeRevocationList(clock)
    tokens = JwtTokenCodec(secret=SECRET, issuer=ISSUER, audience=AUDIENCE)
    return Accounts(
        uow=InMemoryUnitOfWorkFactory(),
        clock=clock,
        ids=ids,
        hasher=FakePasswordHasher(),
        limiter=FakeAttemptLimiter(retry_seconds=41.5),
        revocations=revocations,
        tokens=tokens,
        sessions=SessionIssuer(
            policy=SessionPolicy(),
            tokens=tokens,
            revocations=revocations,
            clock=clock,
            ids=ids,
        ),
    )
