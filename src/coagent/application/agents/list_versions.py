"""ListAgentConfigVersions."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from coagent.application.agents.access import config_access
from coagent.application.ports.repositories import Page
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.agents.config import ConfigVersion
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class ListAgentConfigVersionsCommand:
    actor_id: UUID
    config_id: UUID
    offset: int = 0
    limit: int = 100


class ListAgentConfigVersions(UnitOfWorkUseCase):
    """`agent_config.manage` on its course (students and TAs never read old prompts);
    admins only for system configurations. Newest first.
    """

    async def execute(self, command: ListAgentConfigVersionsCommand) -> Page[ConfigVersion]:
        async with self._uow() as uow:
            _, config = await config_access(
                uow, command.actor_id, command.config_id, Action.AGENT_CONFIG_MANAGE
            )
            items, total = await uow.agent_configs.list_versions(
                config.id, offset=command.offset, limit=command.limit
            )
            found: Sequence[ConfigVersion] = items
            return Page(items=found, total=total)
