"""ResetDemoPasswords: new passwords for the demo accounts when their credentials are lost."""

import secrets

from coagent.application.demo.seed_demo import DEMO_ACCOUNTS, DemoAccount
from coagent.application.ports.clock import Clock
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.security import PasswordHasher


class ResetDemoPasswords:
    """An operator through the CLI (`coagent seed demo --reset-passwords`). Gives each demo
    account that still exists a new generated password and ends its sessions (refresh tokens
    are refused at once; access tokens already issued run out within their lifetime), all in
    one transaction. Accounts deleted since the seed are left out; other accounts are never
    touched. Returns the accounts with their new passwords (empty: nothing to reset).
    """

    def __init__(self, *, uow: UnitOfWorkFactory, hasher: PasswordHasher, clock: Clock) -> None:
        self._uow = uow
        self._hasher = hasher
        self._clock = clock

    async def execute(self) -> tuple[DemoAccount, ...]:
        reset: list[DemoAccount] = []
        async with self._uow() as uow:
            for email, *_ in DEMO_ACCOUNTS:
                user = await uow.users.get_by_login(email)
                if user is None or user.email != email:
                    continue
                password = secrets.token_urlsafe(12)
                password_hash = await self._hasher.hash(password)
                await uow.users.update(user.with_changes(password_hash=password_hash))
                await uow.sessions.revoke_all_for_user(user.id, self._clock.now())
                await uow.audit.record(
                    actor_id=None,
                    action="user.password_reset",
                    target_type="user",
                    target_id=str(user.id),
                    details={"via": "demo"},
                )
                reset.append(
                    DemoAccount(
                        email=user.email,
                        username=user.username or "",
                        password=password,
                        role=user.role,
                    )
                )
            await uow.commit()
        return tuple(reset)
