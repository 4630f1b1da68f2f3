"""DeleteAgentConfig."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.agents.access import config_access
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.agents.config import AgentConfig
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteAgentConfigCommand:
    actor_id: UUID
    config_id: UUID


class DeleteAgentConfig(UnitOfWorkUseCase):
    """`agent_config.manage` on its course; admins only for system configurations.

    Its keys and versions go with it. Deleting the active configuration leaves none active
    for that type (the agent stays silent until another is activated). Audited.
    """

    async def execute(self, command: DeleteAgentConfigCommand) -> AgentConfig:
        async with self._uow() as uow:
            actor, config = await config_access(
                uow, command.actor_id, command.config_id, Action.AGENT_CONFIG_MANAGE
            )
            await uow.agent_configs.delete(config.id)
            await uow.audit.record(
                actor_id=actor.id,
                action="agent_config.deleted",
                target_type="agent_config",
                target_id=str(config.id),
                details={
                    "course_id": str(config.course_id) if config.course_id else None,
                    "type": config.type.value,
                    "name": config.name,
                },
            )
            await uow.commit()
        return config
