"""SearchUsers: people to enroll, found by course staff."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.accounts import policy
from coagent.domain.accounts.credentials import normalize_login
from coagent.domain.accounts.user import User
from coagent.domain.errors import Forbidden, InvalidInput

MAX_SEARCH_RESULTS = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchUsersCommand:
    actor_id: UUID
    query: str
    limit: int = 10


class SearchUsers(UnitOfWorkUseCase):
    """Staff (TA and above), to find people to enroll. Needs at least two characters and
    returns a bounded number of active accounts, so it cannot dump the user table.

    Admins get a prefix search (email, username, or a word of the name). Other staff get an
    exact match only: the account whose email (or username) is the query, any case, and never
    an admin or super admin, so course staff cannot list accounts or learn admins' emails.
    """

    async def execute(self, command: SearchUsersCommand) -> Sequence[User]:
        query = command.query.strip()
        if len(query) < 2:
            raise InvalidInput("Search needs at least 2 characters")
        if not 1 <= command.limit <= MAX_SEARCH_RESULTS:
            raise InvalidInput(f"limit must be between 1 and {MAX_SEARCH_RESULTS}")
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            if not policy.may_search_people(actor):
                raise Forbidden("Only course staff may search people")
            if policy.may_browse_people(actor):
                return await uow.users.search(query, limit=command.limit)
            found = await uow.users.get_by_login(normalize_login(query))
            if found is None or not policy.may_find_in_search(actor, found):
                return []
            return [found]
