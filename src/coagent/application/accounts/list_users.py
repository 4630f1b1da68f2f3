"""ListUsers: every account, paged, for administrators."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.ports.repositories import Page
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.accounts import policy
from coagent.domain.accounts.user import User
from coagent.domain.errors import Forbidden, InvalidInput

MAX_PAGE = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class ListUsersCommand:
    actor_id: UUID
    offset: int = 0
    limit: int = 100
    search: str | None = None


class ListUsers(UnitOfWorkUseCase):
    """Admins. Oldest first, paged; `search` matches email, username or name."""

    async def execute(self, command: ListUsersCommand) -> Page[User]:
        if command.offset < 0 or not 1 <= command.limit <= MAX_PAGE:
            raise InvalidInput(f"offset must be >= 0 and limit between 1 and {MAX_PAGE}")
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            if not policy.may_administer_users(actor):
                raise Forbidden("Only administrators may list accounts")
            search = (command.search or "").strip() or None
            return await uow.users.list(offset=command.offset, limit=command.limit, search=search)
