"""GetCurrentUser: the caller's own account."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.accounts.user import User


@dataclass(frozen=True, slots=True, kw_only=True)
class GetCurrentUserCommand:
    actor_id: UUID


class GetCurrentUser(UnitOfWorkUseCase):
    """Any active account; a deactivated or deleted one counts as not authenticated."""

    async def execute(self, command: GetCurrentUserCommand) -> User:
        async with self._uow() as uow:
            return await load_actor(uow, command.actor_id)
