"""RestoreAgentConfigVersion."""

from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.agents.access import VERSION_NOT_FOUND, config_access
from coagent.application.agents.changes import NAME_TAKEN, check_endpoint, drop_stored_keys
from coagent.application.ports.clock import Clock
from coagent.application.ports.llm import EndpointPolicy
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.agents.config import AgentConfig, check_config, restored, same_endpoint
from coagent.domain.courses.policy import Action
from coagent.domain.errors import Conflict, NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreAgentConfigVersionCommand:
    actor_id: UUID
    config_id: UUID
    version_id: UUID


class RestoreAgentConfigVersion:
    """`agent_config.manage` on its course; admins only for system configurations.

    Puts every snapshotted field back (name, provider, model, base_url, prompt, context
    window, trigger, schedule, settings) and bumps `updated_at`; activation stays, and so do
    the keys unless the version has another provider or base_url: then every stored key is
    deleted (`dropped_keys`), as in an update. A restored base_url must pass the endpoint
    policy of today (InvalidInput). A version of another configuration is NotFound; a name
    since taken by another configuration is a Conflict.
    """

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, endpoints: EndpointPolicy) -> None:
        self._uow = uow
        self._clock = clock
        self._endpoints = endpoints

    async def execute(self, command: RestoreAgentConfigVersionCommand) -> AgentConfig:
        async with self._uow() as uow:
            actor, config = await config_access(
                uow, command.actor_id, command.config_id, Action.AGENT_CONFIG_MANAGE
            )
            version = await uow.agent_configs.get_version(command.version_id)
            if version is None or version.config_id != config.id:
                raise NotFound(VERSION_NOT_FOUND)
            updated = check_config(restored(config, version.snapshot, self._clock.now()))
            check_endpoint(self._endpoints, config, updated)
            if updated.name != config.name and await uow.agent_configs.name_taken(
                updated.course_id, updated.type, updated.name, except_id=updated.id
            ):
                raise Conflict(NAME_TAKEN)
            await uow.agent_configs.update(updated)
            if not same_endpoint(config, updated):
                dropped = await drop_stored_keys(uow, actor_id=actor.id, config_id=config.id)
                updated = replace(updated, masked_api_key=None, dropped_keys=dropped)
            await uow.commit()
        return updated
