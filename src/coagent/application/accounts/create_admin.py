"""CreateAdmin: an administrator account, from the CLI."""

from dataclasses import dataclass

from coagent.application.accounts.create_user import AccountFactory, NewAccount
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateAdminCommand:
    email: str
    password: str
    username: str | None = None
    full_name: str | None = None
    role: Role = Role.SUPER_ADMIN


class CreateAdmin:
    """Whoever runs the CLI on the server. Creates an admin or super_admin; never changes an
    existing account (a taken email is a conflict).
    """

    def __init__(self, *, uow: UnitOfWorkFactory, accounts: AccountFactory) -> None:
        self._uow = uow
        self._accounts = accounts

    async def execute(self, command: CreateAdminCommand) -> User:
        if not command.role.is_admin:
            raise InvalidInput("Role must be admin or super_admin")
        async with self._uow() as uow:
            user = await self._accounts.add(
                uow,
                NewAccount(
                    email=command.email,
                    password=command.password,
                    username=command.username,
                    full_name=command.full_name,
                    role=command.role,
                ),
                actor_id=None,
                via="cli",
            )
            await uow.commit()
        return user
