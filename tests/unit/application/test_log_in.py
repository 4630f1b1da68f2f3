from datetime import timedelta

import pytest

from coagent.application.accounts.log_in import BAD_CREDENTIALS, LogIn, LogInCommand
from coagent.domain.accounts.roles import Role
from coagent.domain.errors import InvalidCredentials, TooManyAttempts
from tests.fakes.factories import DEFAULT_PASSWORD
from tests.unit.application.conftest import Accounts

pytestmark = pytest.mark.anyio
ADDRESS = "203.0.113.7"


@pytest.fixture
def log_in(accounts: Accounts) -> LogIn:
    return LogIn(
        uow=accounts.uow,
        hasher=accounts.hasher,
        limiter=accounts.limiter,
        sessions=accounts.sessions,
    )


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
    await accounts.add_user(email="alice@example.com", is_active=active)

    with pytest.raises(InvalidCredentials) as error:
        await log_in.execute(command(login, password))

    assert error.value.detail == BAD_CREDENTIALS
    assert accounts.limiter.failures == {f"login:{login}": 1, f"addr:{ADDRESS}": 1}
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
    assert accounts.limiter.failures["login:alice@example.com"] == 1


@pytest.mark.parametrize(
    "throttled_key", ["login:alice@example.com", f"addr:{ADDRESS}"], ids=["account", "address"]
)
async def test_throttling_is_checked_before_any_hashing(
    accounts: Accounts, log_in: LogIn, throttled_key: str
) -> None:
    await accounts.add_user(email="alice@example.com")
    accounts.limiter.failures[throttled_key] = accounts.limiter.limit

    with pytest.raises(TooManyAttempts) as error:
        # Even the right password is refused while throttled.
        await log_in.execute(command("Alice@Example.com"))

    assert error.value.retry_after == 42
    assert accounts.hasher.calls == []
    assert not accounts.store.sessions


async def test_repeated_failures_lead_to_throttling(accounts: Accounts, log_in: LogIn) -> None:
    await accounts.add_user(email="alice@example.com")
    for _ in range(accounts.limiter.limit):
        with pytest.raises(InvalidCredentials):
            await log_in.execute(command("alice@example.com", "guess"))

    with pytest.raises(TooManyAttempts):
        await log_in.execute(command("alice@example.com"))


async def test_success_clears_the_account_key_but_not_the_address_key(
    accounts: Accounts, log_in: LogIn
) -> None:
    await accounts.add_user(email="alice@example.com")
    with pytest.raises(InvalidCredentials):
        await log_in.execute(command("alice@example.com", "guess"))

    await log_in.execute(command("alice@example.com"))

    assert accounts.limiter.cleared == ["login:alice@example.com"]
    assert accounts.limiter.failures == {f"addr:{ADDRESS}": 1}


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
