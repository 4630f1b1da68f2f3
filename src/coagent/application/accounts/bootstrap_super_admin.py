"""BootstrapSuperAdmin: the first super admin, on the first start."""

from dataclasses import dataclass

from coagent.application.accounts.create_user import AccountFactory, NewAccount
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User

BOOTSTRAP_KEY = "bootstrap.super_admin"


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapSuperAdminCommand:
    login: str
    password: str


class BootstrapSuperAdmin:
    """The server at start-up, with SUPER_ADMIN / SUPER_ADMIN_PASSWORD. Runs its effect at
    most once in the life of the database, whatever the number of processes starting at the
    same moment: the claim of a one-time marker and the account are one transaction. It never
    resets a password or touches an existing account. Returns the account it created.
    """

    def __init__(self, *, uow: UnitOfWorkFactory, accounts: AccountFactory) -> None:
        self._uow = uow
        self._accounts = accounts

    async def execute(self, command: BootstrapSuperAdminCommand) -> User | None:
        login = command.login.strip()
        email, username = (login, None) if "@" in login else (f"{login}@localhost", login)
        async with self._uow() as uow:
            if not await uow.system.claim(BOOTSTRAP_KEY):
                return None
            if await uow.users.exists_with_role(Role.SUPER_ADMIN):
                await uow.commit()
                return None
            user = await self._accounts.add(
                uow,
                NewAccount(
                    email=email,
                    username=username,
                    password=command.password,
                    role=Role.SUPER_ADMIN,
                    full_name="Super Admin",
                ),
                actor_id=None,
                via="bootstrap",
            )
            await uow.commit()
        return user
