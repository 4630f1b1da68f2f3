"""ListSystemAgentConfigs."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.agents.access import require_admin
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.agents.config import AgentConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class ListSystemAgentConfigsCommand:
    actor_id: UUID


class ListSystemAgentConfigs(UnitOfWorkUseCase):
    """Admins and super admins (Forbidden for everyone else). Keys appear only as masks."""

    async def execute(self, command: ListSystemAgentConfigsCommand) -> Sequence[AgentConfig]:
        async with self._uow() as uow:
            require_admin(await load_actor(uow, command.actor_id))
            return await uow.agent_configs.list_system()
