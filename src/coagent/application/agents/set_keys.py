"""SetAgentKeys."""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.agents.access import config_access
from coagent.application.agents.changes import write_key
from coagent.application.ports.clock import Clock
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.security import SecretBox
from coagent.domain.agents.config import AgentConfig
from coagent.domain.agents.keys import KeyType
from coagent.domain.courses.policy import Action


@dataclass(frozen=True, slots=True, kw_only=True)
class SetAgentKeysCommand:
    """Per key type: a new key, None or "" to delete it, or the mask shown (keeps it)."""

    actor_id: UUID
    config_id: UUID
    keys: Mapping[KeyType, str | None]


class SetAgentKeys:
    """`agent_config.manage` on its course; admins only for system configurations.

    Keys are checked and encrypted before they are stored; the audit log records which key
    types changed, never a value. `updated_at` is bumped.
    """

    def __init__(self, *, uow: UnitOfWorkFactory, secrets: SecretBox, clock: Clock) -> None:
        self._uow = uow
        self._secrets = secrets
        self._clock = clock

    async def execute(self, command: SetAgentKeysCommand) -> AgentConfig:
        async with self._uow() as uow:
            actor, config = await config_access(
                uow, command.actor_id, command.config_id, Action.AGENT_CONFIG_MANAGE
            )
            masks = dict(await uow.agent_configs.key_masks(config.id))
            changed = []
            for key_type, value in command.keys.items():
                written = await write_key(
                    uow, self._secrets, config.id, key_type, value, current_mask=masks.get(key_type)
                )
                if written.changed:
                    changed.append(key_type.value)
            if not changed:
                return config
            after = await uow.agent_configs.key_masks(config.id)
            updated = replace(
                config, updated_at=self._clock.now(), masked_api_key=after.get(KeyType.API_KEY)
            )
            await uow.agent_configs.update(updated)
            await uow.audit.record(
                actor_id=actor.id,
                action="agent_config.keys_changed",
                target_type="agent_config",
                target_id=str(config.id),
                details={"key_types": sorted(changed)},
            )
            await uow.commit()
        return updated
