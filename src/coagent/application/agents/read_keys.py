"""ReadAgentKeys."""

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.agents.access import authorize_config
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
            actor = await load_actor(uow, command.actor_id)
            config = await authorize_config(uow, actor, command.config_id, Action.AGENT_CONFIG_READ)
            return await uow.agent_configs.key_masks(config.id)
