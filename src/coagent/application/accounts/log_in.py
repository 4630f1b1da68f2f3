"""LogIn: exchange credentials for a new session."""

import hashlib
import math
import uuid
from dataclasses import dataclass

from coagent.application.accounts.sessions import IssuedTokens, SessionIssuer
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.security import AttemptLimiter, PasswordHasher
from coagent.domain.accounts.credentials import PASSWORD_MAX_LENGTH, normalize_login
from coagent.domain.accounts.throttle import Backoff
from coagent.domain.accounts.user import User
from coagent.domain.errors import InvalidCredentials, TooManyAttempts

BAD_CREDENTIALS = "Incorrect username/email or password"
THROTTLED = "Too many failed login attempts; try again later"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginThrottle:
    """How failures are counted (docs/adr/0008-throttling.md): per account and client
    address pair, per account from every address (slower), and per client address over
    every account (a classroom behind one NAT shares it, so it is generous).
    """

    pair: Backoff
    account: Backoff
    address: Backoff


def throttle_keys(user: User | None, login: str, client_address: str) -> tuple[str, str, str]:
    """The pair, account and address keys. An account is one key whichever of its e-mail or
    username is typed; a login naming no account is keyed by its digest (no personal data
    and a bounded length in the store).
    """
    if user is not None:
        account = f"id:{user.id}"
    else:
        account = "unknown:" + hashlib.sha256(login.encode()).hexdigest()[:32]
    address = client_address[:64]
    return (
        f"login:pair:{account}:{address}",
        f"login:account:{account}",
        f"login:address:{address}",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class LogInCommand:
    login: str
    password: str
    client_address: str


class LogIn:
    """Anyone. Unknown account, wrong password and inactive account get the same answer and
    cost the same hashing time; failures are throttled (`LoginThrottle`) before any hashing,
    so a throttled caller learns nothing either.

    Every attempt is counted as a failure in the same atomic step that lets it through, and
    taken back only once it succeeded: concurrent guesses cannot all pass a check made
    before any of them was counted. A success forgets the failures of its account and
    address pair; those counted per account and per address stay until they age out.
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        limiter: AttemptLimiter,
        throttle: LoginThrottle,
        sessions: SessionIssuer,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._limiter = limiter
        self._throttle = throttle
        self._sessions = sessions

    async def execute(self, command: LogInCommand) -> IssuedTokens:
        login = normalize_login(command.login)
        # No database connection is held while hashing: read, hash, then write.
        async with self._uow() as uow:
            user = await uow.users.get_by_login(login) if login else None
        pair, account, address = throttle_keys(user, login, command.client_address)
        attempt_id = uuid.uuid4().hex
        wait = await self._limiter.attempt(
            (
                (pair, self._throttle.pair),
                (account, self._throttle.account),
                (address, self._throttle.address),
            ),
            attempt_id,
        )
        if wait > 0:
            raise TooManyAttempts(THROTTLED, max(1, math.ceil(wait)))
        password_ok = len(command.password) <= PASSWORD_MAX_LENGTH and await self._hasher.verify(
            user.password_hash if user else None, command.password
        )
        if user is None or not password_ok or not user.is_active:
            raise InvalidCredentials(BAD_CREDENTIALS)  # counted already
        rehashed = None
        if user.password_hash and self._hasher.needs_rehash(user.password_hash):
            rehashed = await self._hasher.hash(command.password)
        async with self._uow() as uow:
            current = await uow.users.get(user.id)
            # The account may have changed while we hashed (password, status, deletion).
            if (
                current is None
                or not current.is_active
                or current.password_hash != user.password_hash
            ):
                raise InvalidCredentials(BAD_CREDENTIALS)
            if rehashed is not None:
                current = current.with_changes(password_hash=rehashed)
                await uow.users.update(current)
            issued = await self._sessions.open(uow, current)
            await uow.commit()
        await self._limiter.succeeded(attempt_id, reset=(pair,), refund=(account, address))
        return issued
