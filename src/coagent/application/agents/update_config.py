"""UpdateAgentConfig."""

from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.agents.access import config_access
from coagent.application.agents.changes import (
    ConfigChanges,
    apply_changes,
    check_endpoint,
    drop_stored_keys,
    still_dropped,
    write_key,
)
from coagent.application.agents.create_config import NAME_TAKEN
from coagent.application.partial import KEEP
from coagent.application.ports.clock import Clock
from coagent.application.ports.llm import EndpointPolicy
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.security import SecretBox
from coagent.domain.agents.config import AgentConfig, same_endpoint
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

    Changing the provider or the base_url deletes every stored key (all four types): a key
    never follows its configuration to another endpoint. A new `api_key` in the same changes
    is stored after that; the result's `dropped_keys` lists the types left without a key. A
    new base_url must pass the endpoint policy (InvalidInput, nothing written).
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        secrets: SecretBox,
        clock: Clock,
        endpoints: EndpointPolicy,
    ) -> None:
        self._uow = uow
        self._secrets = secrets
        self._clock = clock
        self._endpoints = endpoints

    async def execute(self, command: UpdateAgentConfigCommand) -> AgentConfig:
        async with self._uow() as uow:
            actor, config = await config_access(
                uow, command.actor_id, command.config_id, Action.AGENT_CONFIG_MANAGE
            )
            updated = apply_changes(config, command.changes, self._clock.now())
            check_endpoint(self._endpoints, config, updated)
            if updated.name != config.name and await uow.agent_configs.name_taken(
                updated.course_id, updated.type, updated.name, except_id=updated.id
            ):
                raise Conflict(NAME_TAKEN)
            await uow.agent_configs.update(updated)
            mask = config.masked_api_key
            dropped: tuple[KeyType, ...] = ()
            if not same_endpoint(config, updated):
                dropped = await drop_stored_keys(uow, actor_id=actor.id, config_id=config.id)
                mask = None
            if command.changes.api_key is not KEEP:
                written = await write_key(
                    uow,
                    self._secrets,
                    config.id,
                    KeyType.API_KEY,
                    command.changes.api_key,
                    current_mask=mask,
                )
                mask = written.mask
                dropped = still_dropped(dropped, written)
            await uow.commit()
        return replace(updated, masked_api_key=mask, dropped_keys=dropped)
