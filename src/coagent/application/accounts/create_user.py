"""CreateUser: an admin opens an account."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.repositories import UnitOfWork, UnitOfWorkFactory
from coagent.application.ports.security import PasswordHasher
from coagent.domain.accounts import policy
from coagent.domain.accounts.credentials import (
    check_password,
    normalize_email,
    normalize_username,
)
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.errors import Conflict, Forbidden


@dataclass(frozen=True, slots=True, kw_only=True)
class NewAccount:
    email: str
    password: str
    username: str | None = None
    full_name: str | None = None
    role: Role = Role.GUEST
    is_active: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateUserCommand:
    actor_id: UUID
    account: NewAccount


class AccountFactory:
    """Validates and inserts a new account and audits it; shared by admins, the CLI and the
    first start.
    """

    def __init__(self, *, hasher: PasswordHasher, clock: Clock, ids: IdGenerator) -> None:
        self._hasher = hasher
        self._clock = clock
        self._ids = ids

    async def add(
        self, uow: UnitOfWork, account: NewAccount, *, actor_id: UUID | None, via: str
    ) -> User:
        email = normalize_email(account.email)
        username = normalize_username(account.username) if account.username else None
        check_password(account.password)
        if await uow.users.email_or_username_taken(email=email, username=username):
            raise Conflict("A user with this email or username already exists")
        now = self._clock.now()
        user = User(
            id=self._ids.new_id(),
            email=email,
            username=username,
            full_name=(account.full_name or "").strip() or None,
            role=account.role,
            is_active=account.is_active,
            password_hash=await self._hasher.hash(account.password),
            avatar_url=None,
            created_at=now,
            updated_at=now,
        )
        await uow.users.add(user)
        await uow.audit.record(
            actor_id=actor_id,
            action="user.created",
            target_type="user",
            target_id=str(user.id),
            details={"role": str(user.role), "via": via},
        )
        return user


class CreateUser:
    """Admins; only a super_admin creates admins or super_admins."""

    def __init__(self, *, uow: UnitOfWorkFactory, accounts: AccountFactory) -> None:
        self._uow = uow
        self._accounts = accounts

    async def execute(self, command: CreateUserCommand) -> User:
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            if not policy.may_administer_users(actor):
                raise Forbidden("Only administrators may create accounts")
            if not policy.may_grant_role(actor, None, command.account.role):
                raise Forbidden("You may not give this role")
            user = await self._accounts.add(uow, command.account, actor_id=actor.id, via="api")
            await uow.commit()
        return user
