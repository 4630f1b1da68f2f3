"""RefreshSession, LogOut, LogOutEverywhere, Authenticate, GetCurrentUser, PurgeExpiredSessions."""

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import anyio
import pytest

from coagent.application.accounts.authenticate import Authenticate
from coagent.application.accounts.get_current_user import GetCurrentUser, GetCurrentUserCommand
from coagent.application.accounts.log_out import LogOut, LogOutCommand
from coagent.application.accounts.log_out_everywhere import (
    LogOutEverywhere,
    LogOutEverywhereCommand,
)
from coagent.application.accounts.purge_sessions import (
    PurgeExpiredSessions,
    PurgeExpiredSessionsCommand,
)
from coagent.application.accounts.refresh_session import RefreshSession, RefreshSessionCommand
from coagent.application.accounts.sessions import IssuedTokens
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.session import AuthSession
from coagent.domain.errors import NotAuthenticated
from tests.unit.application.conftest import Accounts

pytestmark = pytest.mark.anyio


@pytest.fixture
def refresh(accounts: Accounts) -> RefreshSession:
    return RefreshSession(
        uow=accounts.uow, tokens=accounts.tokens, sessions=accounts.sessions, clock=accounts.clock
    )


@pytest.fixture
def authenticate(accounts: Accounts) -> Authenticate:
    return Authenticate(tokens=accounts.tokens, revocations=accounts.revocations)


@pytest.fixture
def log_out(accounts: Accounts) -> LogOut:
    return LogOut(uow=accounts.uow, tokens=accounts.tokens, sessions=accounts.sessions)


async def _refresh(refresh: RefreshSession, issued: IssuedTokens) -> IssuedTokens:
    return await refresh.execute(RefreshSessionCommand(refresh_token=issued.refresh_token))


# --- RefreshSession ---------------------------------------------------------------------------


async def test_refresh_rotates_the_refresh_token(
    accounts: Accounts, refresh: RefreshSession, authenticate: Authenticate
) -> None:
    user = await accounts.add_user(role=Role.TEACHER)
    issued = await accounts.open_session(user)

    renewed = await _refresh(refresh, issued)

    assert renewed.session_id == issued.session_id
    assert renewed.refresh_token != issued.refresh_token
    new_jti = accounts.tokens.decode_refresh(renewed.refresh_token).jti
    assert accounts.session(issued.session_id).refresh_jti == new_jti
    principal = await authenticate.execute(renewed.access_token)
    assert (principal.user_id, principal.role) == (user.id, Role.TEACHER)
    # The rotated token works in turn.
    assert (await _refresh(refresh, renewed)).session_id == issued.session_id


async def test_refresh_reflects_the_current_role(
    accounts: Accounts, refresh: RefreshSession
) -> None:
    user = await accounts.add_user(role=Role.STUDENT)
    issued = await accounts.open_session(user)
    accounts.store.users[user.id] = user.with_changes(role=Role.TA)

    renewed = await _refresh(refresh, issued)

    assert accounts.tokens.decode_access(renewed.access_token).role is Role.TA


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(
    accounts: Accounts, refresh: RefreshSession, authenticate: Authenticate
) -> None:
    user = await accounts.add_user()
    stolen = await accounts.open_session(user)
    newest = await _refresh(refresh, stolen)

    with pytest.raises(NotAuthenticated, match="already used"):
        await _refresh(refresh, stolen)

    assert accounts.session(stolen.session_id).revoked_at == accounts.clock.now()
    assert stolen.session_id in accounts.revocations.revoked
    with pytest.raises(NotAuthenticated):
        await _refresh(refresh, newest)
    with pytest.raises(NotAuthenticated, match="revoked"):
        await authenticate.execute(newest.access_token)


async def test_concurrent_refreshes_with_one_token_cannot_both_succeed(
    accounts: Accounts, refresh: RefreshSession
) -> None:
    issued = await accounts.open_session(await accounts.add_user())
    outcomes: list[str] = []

    async def attempt() -> None:
        try:
            await _refresh(refresh, issued)
            outcomes.append("ok")
        except NotAuthenticated:
            outcomes.append("refused")

    async with anyio.create_task_group() as group:
        group.start_soon(attempt)
        group.start_soon(attempt)

    assert sorted(outcomes) == ["ok", "refused"]
    assert accounts.session(issued.session_id).revoked_at is not None


async def test_an_access_token_is_not_a_refresh_token(
    accounts: Accounts, refresh: RefreshSession
) -> None:
    issued = await accounts.open_session(await accounts.add_user())

    with pytest.raises(NotAuthenticated, match="Not a refresh token"):
        await refresh.execute(RefreshSessionCommand(refresh_token=issued.access_token))

    assert accounts.session(issued.session_id).refresh_jti == (
        accounts.tokens.decode_refresh(issued.refresh_token).jti
    )


@pytest.mark.parametrize(
    "end_it",
    [
        lambda a, s: a.clock.advance(days=15),
        lambda a, s: a.store.sessions.update({s.id: replace(s, revoked_at=a.clock.now())}),
        lambda a, s: a.store.sessions.pop(s.id),
        lambda a, s: a.store.users.update(
            {s.user_id: a.user(s.user_id).with_changes(is_active=False)}
        ),
        lambda a, s: a.store.users.pop(s.user_id),
    ],
    ids=["expired", "revoked", "purged", "account-deactivated", "account-deleted"],
)
async def test_refresh_of_an_ended_session_fails_without_rotating(
    accounts: Accounts, refresh: RefreshSession, end_it: Callable[[Accounts, AuthSession], object]
) -> None:
    issued = await accounts.open_session(await accounts.add_user())
    session = accounts.session(issued.session_id)
    end_it(accounts, session)

    with pytest.raises(NotAuthenticated):
        await _refresh(refresh, issued)

    current = accounts.store.sessions.get(session.id)
    assert current is None or current.refresh_jti == session.refresh_jti


async def test_refresh_token_of_another_users_session_is_refused(
    accounts: Accounts, refresh: RefreshSession
) -> None:
    alice, mallory = await accounts.add_user(), await accounts.add_user()
    issued = await accounts.open_session(alice)
    session = accounts.session(issued.session_id)
    accounts.store.sessions[session.id] = replace(session, user_id=mallory.id)

    with pytest.raises(NotAuthenticated, match="not found"):
        await _refresh(refresh, issued)


# --- LogOut / LogOutEverywhere ------------------------------------------------------------------


@pytest.mark.parametrize("by", ["session_id", "refresh_token", "both"])
async def test_log_out_ends_the_session_at_once(
    accounts: Accounts,
    log_out: LogOut,
    refresh: RefreshSession,
    authenticate: Authenticate,
    by: str,
) -> None:
    issued = await accounts.open_session(await accounts.add_user())
    other = await accounts.open_session(await accounts.add_user())

    await log_out.execute(
        LogOutCommand(
            session_id=issued.session_id if by != "refresh_token" else None,
            refresh_token=issued.refresh_token if by != "session_id" else None,
        )
    )

    assert accounts.session(issued.session_id).revoked_at is not None
    assert list(accounts.revocations.revoked) == [issued.session_id]
    with pytest.raises(NotAuthenticated):
        await authenticate.execute(issued.access_token)
    with pytest.raises(NotAuthenticated):
        await _refresh(refresh, issued)
    assert (await authenticate.execute(other.access_token)).session_id == other.session_id


@pytest.mark.parametrize("token", [None, "", "not-a-jwt"])
async def test_log_out_without_a_valid_token_is_a_quiet_no_op(
    accounts: Accounts, log_out: LogOut, token: str | None
) -> None:
    issued = await accounts.open_session(await accounts.add_user())
    commits = accounts.store.commits

    await log_out.execute(LogOutCommand(refresh_token=token))

    assert accounts.store.commits == commits
    assert accounts.session(issued.session_id).revoked_at is None
    assert not accounts.revocations.revoked


async def test_log_out_is_idempotent(accounts: Accounts, log_out: LogOut) -> None:
    issued = await accounts.open_session(await accounts.add_user())
    await log_out.execute(LogOutCommand(session_id=issued.session_id))
    first_revocation = accounts.session(issued.session_id).revoked_at

    accounts.clock.advance(minutes=1)
    await log_out.execute(LogOutCommand(session_id=issued.session_id))

    assert accounts.session(issued.session_id).revoked_at == first_revocation


async def test_log_out_everywhere_revokes_every_live_session_of_the_account(
    accounts: Accounts, authenticate: Authenticate
) -> None:
    everywhere = LogOutEverywhere(uow=accounts.uow, sessions=accounts.sessions)
    alice, bob = await accounts.add_user(), await accounts.add_user()
    laptop, phone = await accounts.open_session(alice), await accounts.open_session(alice)
    bobs = await accounts.open_session(bob)

    assert await everywhere.execute(LogOutEverywhereCommand(user_id=alice.id)) == 2

    assert set(accounts.revocations.revoked) == {laptop.session_id, phone.session_id}
    for issued in (laptop, phone):
        assert accounts.session(issued.session_id).revoked_at is not None
        with pytest.raises(NotAuthenticated):
            await authenticate.execute(issued.access_token)
    assert accounts.session(bobs.session_id).revoked_at is None
    assert await everywhere.execute(LogOutEverywhereCommand(user_id=alice.id)) == 0


# --- Authenticate / GetCurrentUser -----------------------------------------------------------


async def test_authenticate_returns_the_principal(
    accounts: Accounts, authenticate: Authenticate
) -> None:
    user = await accounts.add_user(role=Role.ADMIN)
    issued = await accounts.open_session(user)

    principal = await authenticate.execute(issued.access_token)

    assert principal.user_id == user.id
    assert principal.session_id == issued.session_id
    assert principal.role is Role.ADMIN
    assert principal.impersonator_id is None
    assert principal.expires_at == accounts.clock.now() + timedelta(minutes=10)


async def test_authenticate_refuses_revoked_sessions_and_refresh_tokens(
    accounts: Accounts, authenticate: Authenticate
) -> None:
    issued = await accounts.open_session(await accounts.add_user())

    with pytest.raises(NotAuthenticated, match="Not an access token"):
        await authenticate.execute(issued.refresh_token)
    await accounts.revocations.revoke([issued.session_id], accounts.clock.now() + timedelta(1))
    with pytest.raises(NotAuthenticated, match="revoked"):
        await authenticate.execute(issued.access_token)


@pytest.mark.parametrize(
    ("change", "known"),
    [({}, True), ({"is_active": False}, False), (None, False)],
    ids=["active", "deactivated", "deleted"],
)
async def test_get_current_user_only_for_live_accounts(
    accounts: Accounts, change: dict[str, object] | None, known: bool
) -> None:
    user = await accounts.add_user()
    if change is None:
        del accounts.store.users[user.id]
    else:
        accounts.store.users[user.id] = user.with_changes(**change)
    current = GetCurrentUser(uow=accounts.uow)

    if known:
        assert (await current.execute(GetCurrentUserCommand(actor_id=user.id))).id == user.id
    else:
        with pytest.raises(NotAuthenticated):
            await current.execute(GetCurrentUserCommand(actor_id=user.id))


# --- PurgeExpiredSessions ----------------------------------------------------------------------


async def test_purge_deletes_sessions_ended_before_the_grace_period_and_is_idempotent(
    accounts: Accounts,
) -> None:
    user = await accounts.add_user()
    now = accounts.clock.now()
    day = timedelta(days=1)

    def session(n: int, *, expires: timedelta, revoked: timedelta | None = None) -> AuthSession:
        return AuthSession(
            id=accounts.ids.new_id(),
            user_id=user.id,
            refresh_jti=f"jti-{n}",
            created_at=now - 30 * day,
            expires_at=now + expires,
            revoked_at=now + revoked if revoked is not None else None,
        )

    live = session(1, expires=day)
    expired_recently = session(2, expires=-day / 2)
    revoked_recently = session(3, expires=day, revoked=-day / 2)
    expired_long_ago = session(4, expires=-2 * day)
    revoked_long_ago = session(5, expires=day, revoked=-2 * day)
    for item in (live, expired_recently, revoked_recently, expired_long_ago, revoked_long_ago):
        accounts.store.sessions[item.id] = item
    purge = PurgeExpiredSessions(uow=accounts.uow, clock=accounts.clock)

    assert await purge.execute(PurgeExpiredSessionsCommand()) == 2
    assert await purge.execute(PurgeExpiredSessionsCommand()) == 0

    assert set(accounts.store.sessions) == {live.id, expired_recently.id, revoked_recently.id}
    assert await purge.execute(PurgeExpiredSessionsCommand(grace=timedelta(0))) == 2
    assert set(accounts.store.sessions) == {live.id}
