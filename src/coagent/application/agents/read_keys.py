"""ReadAgentKeys."""

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from coagent.application.agents.access import config_access
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.agents.keys import KeyType
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadAgentKeysCommand:
    actor_id: UUID
    config_id: UUID


class ReadAgentKeys(UnitOfWorkUseCase):
    """`agent_config.read` on its course (TAs and above); admins only for system
    configurations. Masks only, computed when the keys were stored: nothing is decrypted.
    """

    async def execute(self, command: ReadAgentKeysCommand) -> Mapping[KeyType, str]:
        async with self._uow() as uow:
            _, config = await config_access(
                uow, command.actor_id, command.config_id, Action.AGENT_CONFIG_READ
            )
            return await uow.agent_configs.key_masks(config.id)
