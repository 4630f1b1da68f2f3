"""BrowseTables: the tables of the administrators' read-only database viewer."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.admin.access import require_admin
from coagent.application.ports.admin import DatabaseBrowser
from coagent.application.ports.repositories import UnitOfWorkFactory


@dataclass(frozen=True, slots=True, kw_only=True)
class BrowseTablesCommand:
    actor_id: UUID


class BrowseTables:
    """Admins. The names of the tables the viewer shows."""

    def __init__(self, *, uow: UnitOfWorkFactory, browser: DatabaseBrowser) -> None:
        self._uow = uow
        self._browser = browser

    async def execute(self, command: BrowseTablesCommand) -> list[str]:
        await require_admin(self._uow, command.actor_id)
        return await self._browser.tables()
