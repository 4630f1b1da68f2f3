"""UpdateUser: change an account's profile, password, role or status."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.accounts.sessions import SessionIssuer
from coagent.application.partial import KEEP, Keep
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.security import PasswordHasher
from coagent.domain.accounts import policy
from coagent.domain.accounts.credentials import (
    check_password,
    normalize_email,
    normalize_username,
)
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.errors import Conflict, Forbidden, InvalidInput, NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateUserCommand:
    """Fields left at `KEEP` are not changed. `full_name` and `username` None or "" clear it.
    `current_password` is not a field: it proves a self-service password change.
    """

    actor_id: UUID
    user_id: UUID
    full_name: str | Keep | None = KEEP
    username: str | Keep | None = KEEP
    email: str | Keep = KEEP
    password: str | Keep = KEEP
    current_password: str | None = None
    role: Role | Keep = KEEP
    is_active: bool | Keep = KEEP


class UpdateUser:
    """The account holder for their own profile (a new password needs the current one; the
    role and active flag are never self-service), or an admin under the account policy.

    A new password, a role change or deactivation revokes every session of the account, so
    it takes effect at once; the caller's own change of password keeps nothing alive either.
    """

    def __init__(
        self, *, uow: UnitOfWorkFactory, hasher: PasswordHasher, sessions: SessionIssuer
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._sessions = sessions

    async def execute(self, command: UpdateUserCommand) -> User:
        revoked: list[UUID] = []
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            if actor.id != command.user_id and not policy.may_administer_users(actor):
                raise Forbidden("You may only change your own account")
            target = actor if actor.id == command.user_id else await uow.users.get(command.user_id)
            if target is None:
                raise NotFound("User not found")
            if not policy.may_edit(actor, target):
                raise Forbidden("You may not change this account")
            changes = await self._changes(actor, target, command)
            if not changes:
                return target
            updated = target.with_changes(**changes)
            if await uow.users.email_or_username_taken(
                email=changes.get("email"),  # type: ignore[arg-type]
                username=changes.get("username") or None,  # type: ignore[arg-type]
                except_id=target.id,
            ):
                raise Conflict("Email or username is already taken")
            await uow.users.update(updated)
            if {"password_hash", "role", "is_active"} & changes.keys():
                revoked = await self._sessions.revoke_all(uow, target.id)
            if "role" in changes or "is_active" in changes:
                await uow.audit.record(
                    actor_id=actor.id,
                    action="user.role_changed" if "role" in changes else "user.status_changed",
                    target_type="user",
                    target_id=str(target.id),
                    details={
                        key: str(changes[key]) for key in ("role", "is_active") if key in changes
                    },
                )
            await uow.commit()
        await self._sessions.announce(revoked)
        return updated

    async def _changes(
        self, actor: User, target: User, command: UpdateUserCommand
    ) -> dict[str, object]:
        changes: dict[str, object] = {}
        is_self = actor.id == target.id
        if not isinstance(command.full_name, Keep):
            full_name = command.full_name or ""
            if full_name != target.full_name:
                changes["full_name"] = full_name.strip() or None
        if not isinstance(command.username, Keep):
            username = normalize_username(command.username) if command.username else None
            if username != target.username:
                changes["username"] = username
        if not isinstance(command.email, Keep):
            email = normalize_email(command.email)
            if email != target.email:
                if is_self:
                    raise Forbidden("Ask an administrator to change your email address")
                changes["email"] = email
        if not isinstance(command.role, Keep) and command.role is not target.role:
            if not policy.may_grant_role(actor, target, command.role):
                raise Forbidden("You may not give this role")
            changes["role"] = command.role
        if not isinstance(command.is_active, Keep) and command.is_active != target.is_active:
            if is_self:
                raise Forbidden("You may not change your own active status")
            changes["is_active"] = command.is_active
        if not isinstance(command.password, Keep):
            check_password(command.password)
            if is_self:
                if command.current_password is None:
                    raise InvalidInput("current_password is required to change your password")
                if not await self._hasher.verify(target.password_hash, command.current_password):
                    raise InvalidInput("current_password is not correct")
            changes["password_hash"] = await self._hasher.hash(command.password)
        return changes
