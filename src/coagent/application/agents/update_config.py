"""UpdateAgentConfig."""

from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.agents.access import config_access
from coagent.application.agents.changes import (
    ConfigChanges,
    update_existing,
    write_changed_key,
)
from coagent.application.ports.clock import Clock
from coagent.application.ports.llm import EndpointPolicy
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.security import SecretBox
from coagent.domain.agents.config import AgentConfig
from coagent.domain.courses.policy import Action


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
            updated, mask, dropped = await update_existing(
                uow,
                self._endpoints,
                config,
                command.changes,
                actor_id=actor.id,
                now=self._clock.now(),
            )
            mask, dropped = await write_changed_key(
                uow, self._secrets, config.id, command.changes.api_key, mask=mask, dropped=dropped
            )
            await uow.commit()
        return replace(updated, masked_api_key=mask, dropped_keys=dropped)
