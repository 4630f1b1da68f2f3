"""ListAgentConfigs."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import course_access
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.agents.config import AgentConfig
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class ListAgentConfigsCommand:
    actor_id: UUID
    course_id: UUID


class ListAgentConfigs(UnitOfWorkUseCase):
    """Course staff with `agent_config.read` (TAs and above) and admins; students get
    Forbidden (they never see prompts), outsiders NotFound. Keys appear only as masks.
    """

    async def execute(self, command: ListAgentConfigsCommand) -> Sequence[AgentConfig]:
        async with self._uow() as uow:
            access = await course_access(
                uow, command.actor_id, command.course_id, Action.AGENT_CONFIG_READ
            )
            return await uow.agent_configs.list_for_course(access.course.id)
