import asyncio
import hashlib
from datetime import timedelta

import pytest

from coagent.application.accounts.log_in import (
    BAD_CREDENTIALS,
    LogIn,
    LogInCommand,
    LoginThrottle,
    throttle_keys,
)
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.throttle import Backoff
from coagent.domain.accounts.user import User
from coagent.domain.errors import InvalidCredentials, TooManyAttempts
from tests.fakes.factories import DEFAULT_PASSWORD
from tests.fakes.security import FakePasswordHasher
from tests.unit.application.conftest import Accounts

pytestmark = pytest.mark.anyio
ADDRESS = "203.0.113.7"
THROTTLE = LoginThrottle(
    pair=Backoff(free=3, window_seconds=900, first_wait_seconds=1, max_wait_seconds=300),
    account=Backoff(free=6, window_seconds=86_400, first_wait_seconds=1, max_wait_seconds=300),
    address=Backoff(free=10, window_seconds=900, first_wait_seconds=1, max_wait_seconds=300),
)


@pytest.fixture
def log_in(accounts: Accounts) -> LogIn:
    return LogIn(
        uow=accounts.uow,
        hasher=accounts.hasher,
        limiter=accounts.limiter,
        throttle=THROTTLE,
        sessions=accounts.sessions,
    )


def keys_of(user: User | None, login: str = "", address: str = ADDRESS) -> tuple[str, str, str]:
    return throttle_keys(user, login, address)


def command(login: str, password: str = DEFAULT_PASSWORD) -> LogInCommand:
    return LogInCommand(login=login, password=password, client_address=ADDRESS)


@pytest.mark.parametrize("login", ["alice@example.com", "  ALICE@Example.com ", "alice", "Alice"])
async def test_success_by_email_or_username_opens_a_session(
    accounts: Accounts, log_in: LogIn, login: str
) -> None:
    alice = await accounts.add_user(email="alice@example.com", username="alice", role=Role.TA)

    issued = await log_in.execute(command(login))

    assert issued.user.id == alice.id
    claims = accounts.tokens.decode_access(issued.access_token)
    assert (claims.user_id, claims.session_id, claims.role) == (alice.id, issued.session_id, "ta")
    assert claims.impersonator_id is None
    refresh = accounts.tokens.decode_refresh(issued.refresh_token)
    session = accounts.session(issued.session_id)
    assert (refresh.session_id, refresh.jti) == (session.id, session.refresh_jti)
    assert session.user_id == alice.id
    assert session.is_live(accounts.clock.now())
    assert issued.access_expires_in == 600
    assert issued.refresh_expires_in == int(timedelta(days=14).total_seconds())


@pytest.mark.parametrize(
    ("login", "password", "active"),
    [
        ("nobody@example.com", DEFAULT_PASSWORD, True),
        ("alice@example.com", "wrong password", True),
        ("alice@example.com", DEFAULT_PASSWORD, False),
        ("", DEFAULT_PASSWORD, True),
    ],
    ids=["unknown-user", "wrong-password", "inactive-account", "empty-login"],
)
async def test_failures_look_the_same_and_are_counted(
    accounts: Accounts, log_in: LogIn, login: str, password: str, active: bool
) -> None:
    alice = await accounts.add_user(email="alice@example.com", is_active=active)

    with pytest.raises(InvalidCredentials) as error:
        await log_in.execute(command(login, password))

    assert error.value.detail == BAD_CREDENTIALS
    known = alice if login.startswith("alice") else None
    assert accounts.limiter.failures == dict.fromkeys(keys_of(known, login.strip().lower()), 1)
    assert not accounts.store.sessions
    # The hashing work is spent whether or not the account exists.
    assert accounts.hasher.calls == [("verify", password)]


async def test_an_account_without_a_password_cannot_log_in(
    accounts: Accounts, log_in: LogIn
) -> None:
    await accounts.add_user(email="sso@example.com", password_hash=None)

    with pytest.raises(InvalidCredentials, match=BAD_CREDENTIALS):
        await log_in.execute(command("sso@example.com", ""))


async def test_an_oversized_password_fails_without_hashing(
    accounts: Accounts, log_in: LogIn
) -> None:
    await accounts.add_user(email="alice@example.com")

    with pytest.raises(InvalidCredentials, match=BAD_CREDENTIALS):
        await log_in.execute(command("alice@example.com", "x" * 1025))

    assert accounts.hasher.calls == []
    assert sum(accounts.limiter.failures.values()) == 3  # pair, account, address


@pytest.mark.parametrize("throttled", [0, 1, 2], ids=["pair", "account", "address"])
async def test_throttling_is_checked_before_any_hashing(
    accounts: Accounts, log_in: LogIn, throttled: int
) -> None:
    alice = await accounts.add_user(email="alice@example.com")
    key = keys_of(alice)[throttled]
    accounts.limiter.failures[key] = 1000

    with pytest.raises(TooManyAttempts) as error:
        # Even the right password is refused while throttled.
        await log_in.execute(command("Alice@Example.com"))

    assert error.value.retry_after == 42  # 41.5 s, rounded up
    assert accounts.hasher.calls == []
    assert not accounts.store.sessions
    assert accounts.limiter.failures == {key: 1000}  # a refused attempt counts nothing


async def test_the_email_and_the_username_of_an_account_are_one_key(
    accounts: Accounts, log_in: LogIn
) -> None:
    alice = await accounts.add_user(email="alice@example.com", username="alice")
    for login in ("alice@example.com", "ALICE", "alice"):
        with pytest.raises(InvalidCredentials):
            await log_in.execute(command(login, "guess"))

    with pytest.raises(TooManyAttempts):  # the pair allows 3
        await log_in.execute(command("Alice@example.com"))
    pair, account, _ = keys_of(alice)
    assert (accounts.limiter.failures[pair], accounts.limiter.failures[account]) == (3, 3)
    assert str(alice.id) in account
    assert "alice@example.com" not in account


async def test_an_unknown_login_is_keyed_by_its_digest(accounts: Accounts, log_in: LogIn) -> None:
    with pytest.raises(InvalidCredentials):
        await log_in.execute(command("Nobody@Example.com", "guess"))

    digest = hashlib.sha256(b"nobody@example.com").hexdigest()[:32]
    assert set(accounts.limiter.failures) == {
        f"login:pair:unknown:{digest}:{ADDRESS}",
        f"login:account:unknown:{digest}",
        f"login:address:{ADDRESS}",
    }


async def test_repeated_failures_lead_to_throttling(accounts: Accounts, log_in: LogIn) -> None:
    await accounts.add_user(email="alice@example.com")
    for _ in range(THROTTLE.pair.free):
        with pytest.raises(InvalidCredentials):
            await log_in.execute(command("alice@example.com", "guess"))

    with pytest.raises(TooManyAttempts):
        await log_in.execute(command("alice@example.com"))


async def test_the_account_limit_holds_across_addresses_and_spares_other_accounts(
    accounts: Accounts, log_in: LogIn
) -> None:
    await accounts.add_user(email="alice@example.com")
    bob = await accounts.add_user(email="bob@example.com")
    for n in range(THROTTLE.account.free):  # two guesses from each of three addresses
        with pytest.raises(InvalidCredentials):
            await log_in.execute(
                LogInCommand(
                    login="alice@example.com", password="x", client_address=f"10.0.0.{n // 2}"
                )
            )

    with pytest.raises(TooManyAttempts):  # from a fresh address too
        await log_in.execute(
            LogInCommand(
                login="alice@example.com", password=DEFAULT_PASSWORD, client_address="10.9.9.9"
            )
        )
    issued = await log_in.execute(
        LogInCommand(login="bob@example.com", password=DEFAULT_PASSWORD, client_address="10.0.0.0")
    )
    assert issued.user.id == bob.id


async def test_success_resets_the_pair_and_takes_back_only_its_own_count(
    accounts: Accounts, log_in: LogIn
) -> None:
    alice = await accounts.add_user(email="alice@example.com")
    with pytest.raises(InvalidCredentials):
        await log_in.execute(command("alice@example.com", "guess"))

    await log_in.execute(command("alice@example.com"))

    pair, account, address = keys_of(alice)
    assert accounts.limiter.resets == [pair]
    # The earlier failure stays counted for the account and the address; the success not.
    assert accounts.limiter.failures == {account: 1, address: 1}


async def test_a_right_password_for_an_inactive_account_stays_a_failure(
    accounts: Accounts, log_in: LogIn
) -> None:
    alice = await accounts.add_user(email="alice@example.com", is_active=False)

    with pytest.raises(InvalidCredentials):
        await log_in.execute(command("alice@example.com"))

    assert accounts.limiter.failures == dict.fromkeys(keys_of(alice), 1)
    assert accounts.limiter.resets == []


class SlowHasher(FakePasswordHasher):
    """Yields to the loop while 'hashing', as the real one does (it runs in a thread)."""

    async def verify(self, password_hash: str | None, password: str) -> bool:
        await asyncio.sleep(0)
        return await super().verify(password_hash, password)


async def test_concurrent_wrong_guesses_cannot_slip_past_the_limit(accounts: Accounts) -> None:
    await accounts.add_user(email="alice@example.com")
    hasher = SlowHasher()
    log_in = LogIn(
        uow=accounts.uow,
        hasher=hasher,
        limiter=accounts.limiter,
        throttle=THROTTLE,
        sessions=accounts.sessions,
    )

    results = await asyncio.gather(
        *(log_in.execute(command("alice@example.com", f"guess {n}")) for n in range(30)),
        return_exceptions=True,
    )

    assert sum(isinstance(r, InvalidCredentials) for r in results) == THROTTLE.pair.free
    assert sum(isinstance(r, TooManyAttempts) for r in results) == 30 - THROTTLE.pair.free
    assert len(hasher.calls) == THROTTLE.pair.free


async def test_an_outdated_hash_is_upgraded_on_login(accounts: Accounts, log_in: LogIn) -> None:
    alice = await accounts.add_user(
        email="alice@example.com", password_hash=f"old:{DEFAULT_PASSWORD}"
    )

    issued = await log_in.execute(command("alice@example.com"))

    assert accounts.user(alice.id).password_hash == f"plain:{DEFAULT_PASSWORD}"
    assert issued.user.password_hash == f"plain:{DEFAULT_PASSWORD}"


async def test_each_login_opens_its_own_session(accounts: Accounts, log_in: LogIn) -> None:
    await accounts.add_user(email="alice@example.com")

    first = await log_in.execute(command("alice@example.com"))
    second = await log_in.execute(command("alice@example.com"))

    assert first.session_id != second.session_id
    assert set(accounts.store.sessions) == {first.session_id, second.session_id}
