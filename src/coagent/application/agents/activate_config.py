"""ActivateAgentConfig."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.agents.access import CONFIG_NOT_FOUND, config_access
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.agents.config import AgentConfig
from coagent.domain.courses.policy import Action
from coagent.domain.errors import NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivateAgentConfigCommand:
    actor_id: UUID
    config_id: UUID


class ActivateAgentConfig(UnitOfWorkUseCase):
    """`agent_config.manage` on its course; admins only for system configurations.

    Atomic: in one transaction the others of its (course, type) are deactivated and this one
    activated; the database allows only one active per (course, type), so a concurrent
    activation ends in Conflict, never in two active configurations. Idempotent.
    """

    async def execute(self, command: ActivateAgentConfigCommand) -> AgentConfig:
        async with self._uow() as uow:
            _, config = await config_access(
                uow, command.actor_id, command.config_id, Action.AGENT_CONFIG_MANAGE
            )
            await uow.agent_configs.activate(config.id)
            activated = await uow.agent_configs.get(config.id)
            if activated is None:  # deleted meanwhile
                raise NotFound(CONFIG_NOT_FOUND)
            await uow.commit()
        return activated
