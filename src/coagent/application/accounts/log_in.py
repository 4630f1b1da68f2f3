"""LogIn: exchange credentials for a new session."""

from dataclasses import dataclass

from coagent.application.accounts.sessions import IssuedTokens, SessionIssuer
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.security import AttemptLimiter, PasswordHasher
from coagent.domain.accounts.credentials import PASSWORD_MAX_LENGTH, normalize_login
from coagent.domain.errors import InvalidCredentials, TooManyAttempts

BAD_CREDENTIALS = "Incorrect username/email or password"


@dataclass(frozen=True, slots=True, kw_only=True)
class LogInCommand:
    login: str
    password: str
    client_address: str


class LogIn:
    """Anyone. Unknown account, wrong password and inactive account get the same answer and
    cost the same hashing time; failures are throttled per account key and per client address
    before any hashing, so a throttled caller learns nothing either.
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        limiter: AttemptLimiter,
        sessions: SessionIssuer,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._limiter = limiter
        self._sessions = sessions

    async def execute(self, command: LogInCommand) -> IssuedTokens:
        login = normalize_login(command.login)
        keys = (f"login:{login}", f"addr:{command.client_address}")
        retry_after = await self._limiter.retry_after(keys)
        if retry_after:
            raise TooManyAttempts("Too many failed login attempts; try again later", retry_after)
        # No database connection is held while hashing: read, hash, then write.
        async with self._uow() as uow:
            user = await uow.users.get_by_login(login) if login else None
        password_ok = len(command.password) <= PASSWORD_MAX_LENGTH and await self._hasher.verify(
            user.password_hash if user else None, command.password
        )
        if user is None or not password_ok or not user.is_active:
            await self._limiter.record_failure(keys)
            raise InvalidCredentials(BAD_CREDENTIALS)
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
        await self._limiter.clear(keys[0])
        return issued
