"""UpdateAgentConfig."""

from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.agents.access import authorize_config
from coagent.application.agents.changes import KEEP, ConfigChanges, apply_changes, write_key
from coagent.application.agents.create_config import NAME_TAKEN
from coagent.application.ports.clock import Clock
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.security import SecretBox
from coagent.domain.agents.config import AgentConfig
from coagent.domain.agents.keys import KeyType
from coagent.domain.courses.policy import Action
from coagent.domain.errors import Conflict


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateAgentConfigCommand:
    actor_id: UUID
    config_id: UUID
    changes: ConfigChanges


class UpdateAgentConfig:
    """`agent_config.manage` on the configuration's course (co-teachers, the owner, admins);
    admins only for system configurations.

    Partial: only the fields in `changes` change; `updated_at` is bumped. Type, course and
    activation never change here (activation has its own use case). A mask sent back as
    `api_key` keeps the stored key; "" deletes it.
    """

    def __init__(self, *, uow: UnitOfWorkFactory, secrets: SecretBox, clock: Clock) -> None:
        self._uow = uow
        self._secrets = secrets
        self._clock = clock

    async def execute(self, command: UpdateAgentConfigCommand) -> AgentConfig:
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            config = await authorize_config(
                uow, actor, command.config_id, Action.AGENT_CONFIG_MANAGE
            )
            updated = apply_changes(config, command.changes, self._clock.now())
            if updated.name != config.name and await uow.agent_configs.name_taken(
                updated.course_id, updated.type, updated.name, except_id=updated.id
            ):
                raise Conflict(NAME_TAKEN)
            await uow.agent_configs.update(updated)
            mask = config.masked_api_key
            if command.changes.api_key is not KEEP:
                written = await write_key(
                    uow,
                    self._secrets,
                    config.id,
                    KeyType.API_KEY,
                    command.changes.api_key,
                    current_mask=config.masked_api_key,
                )
                mask = written.mask
            await uow.commit()
        return replace(updated, masked_api_key=mask)
