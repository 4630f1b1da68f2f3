"""ResetDemoPasswords: new passwords for the demo accounts only, their sessions ended."""

import pytest

from coagent.application.accounts.create_user import AccountFactory, NewAccount
from coagent.application.demo.reset_demo_passwords import ResetDemoPasswords
from coagent.application.demo.seed_demo import SeedDemo
from coagent.domain.accounts.roles import Role

pytestmark = pytest.mark.anyio


async def test_resets_the_demo_accounts_only_and_ends_their_sessions(accounts) -> None:
    factory = AccountFactory(hasher=accounts.hasher, clock=accounts.clock, ids=accounts.ids)
    seeded = await SeedDemo(
        uow=accounts.uow, accounts=factory, clock=accounts.clock, ids=accounts.ids
    ).execute()
    assert seeded is not None
    old = {account.email: account.password for account in seeded.accounts}
    async with accounts.uow() as uow:
        other = await factory.add(
            uow,
            NewAccount(
                email="other@example.test",
                username=None,
                full_name=None,
                password="another long password",
                role=Role.STUDENT,
            ),
            actor_id=None,
            via="test",
        )
        teacher = await uow.users.get_by_login("teacher@demo.coagent")
        assert teacher is not None
        await accounts.sessions.open(uow, teacher)
        await accounts.sessions.open(uow, other)
        await uow.commit()

    reset = await ResetDemoPasswords(
        uow=accounts.uow, hasher=accounts.hasher, clock=accounts.clock
    ).execute()

    assert [account.email for account in reset] == list(old)
    async with accounts.uow() as uow:
        for account in reset:
            user = await uow.users.get_by_login(account.email)
            assert user is not None
            assert account.password != old[account.email]
            assert await accounts.hasher.verify(user.password_hash, account.password)
            assert not await accounts.hasher.verify(user.password_hash, old[account.email])
        unchanged = await uow.users.get(other.id)
        assert unchanged == other
        assert await uow.sessions.revoke_all_for_user(teacher.id, accounts.clock.now()) == []
        assert len(await uow.sessions.revoke_all_for_user(other.id, accounts.clock.now())) == 1


async def test_without_a_demo_nothing_is_reset(accounts) -> None:
    reset = await ResetDemoPasswords(
        uow=accounts.uow, hasher=accounts.hasher, clock=accounts.clock
    ).execute()

    assert reset == ()
