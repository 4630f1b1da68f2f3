"""Loading the acting user inside a unit of work."""

from uuid import UUID

from coagent.application.ports.repositories import UnitOfWork
from coagent.domain.accounts.user import User
from coagent.domain.errors import NotAuthenticated


async def load_actor(uow: UnitOfWork, actor_id: UUID) -> User:
    """The caller as stored now: a deleted or deactivated account has no session."""
    return active(await uow.users.get(actor_id))


def active(actor: User | None) -> User:
    if actor is None or not actor.is_active:
        raise NotAuthenticated("Account is not active")
    return actor
