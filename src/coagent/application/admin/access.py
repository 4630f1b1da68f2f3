"""The administrators-only check the database viewer's use cases share."""

from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.accounts import policy
from coagent.domain.errors import Forbidden


async def require_admin(uow_factory: UnitOfWorkFactory, actor_id: UUID) -> None:
    async with uow_factory() as uow:
        actor = await load_actor(uow, actor_id)
        if not policy.may_administer_users(actor):
            raise Forbidden("Only administrators may browse the database")
