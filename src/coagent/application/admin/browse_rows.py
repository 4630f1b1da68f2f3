"""BrowseRows: one table's rows in the administrators' read-only database viewer."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from coagent.application.admin.access import require_admin
from coagent.application.ports.admin import DatabaseBrowser
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.errors import InvalidInput, NotFound

MAX_ROWS = 1000


MAX_SEARCH = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class BrowseRowsCommand:
    actor_id: UUID
    table: str
    limit: int = 100
    offset: int = 0
    search: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    resolve_relations: bool = False


class BrowseRows:
    """Admins. One table's rows, newest first, without secret columns."""

    def __init__(self, *, uow: UnitOfWorkFactory, browser: DatabaseBrowser) -> None:
        self._uow = uow
        self._browser = browser

    async def execute(self, command: BrowseRowsCommand) -> list[dict[str, object]]:
        if command.offset < 0 or not 1 <= command.limit <= MAX_ROWS:
            raise InvalidInput(f"offset must be >= 0 and limit between 1 and {MAX_ROWS}")
        for name, moment in (("start", command.start), ("end", command.end)):
            if moment is not None and moment.utcoffset() is None:
                raise InvalidInput(f"{name} needs a time zone")
        # start after end is not an error: it selects nothing.
        search = (command.search or "").strip() or None
        if search is not None and len(search) > MAX_SEARCH:
            raise InvalidInput(f"search is limited to {MAX_SEARCH} characters")
        await require_admin(self._uow, command.actor_id)
        if command.table not in await self._browser.tables():
            raise NotFound("Table not found")
        return await self._browser.rows(
            command.table,
            limit=command.limit,
            offset=command.offset,
            search=search,
            start=command.start,
            end=command.end,
            resolve_relations=command.resolve_relations,
        )
