"""UpsertAgentConfig: the original's "PUT the config of this type" (course or system)."""

from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.agents.access import require_admin
from coagent.application.agents.changes import (
    NAME_TAKEN,
    ConfigChanges,
    ConfigCreating,
    apply_changes,
    blank_config,
    check_endpoint,
    update_existing,
    write_changed_key,
)
from coagent.application.courses.access import authorize
from coagent.domain.agents.config import AgentConfig, AgentType, check_placement
from coagent.domain.agents.keys import KeyType
from coagent.domain.courses.policy import Action
from coagent.domain.errors import Conflict


@dataclass(frozen=True, slots=True, kw_only=True)
class UpsertAgentConfigCommand:
    """`course_id` None: the system configuration of the type (design or analytics only)."""

    actor_id: UUID
    course_id: UUID | None
    type: AgentType
    changes: ConfigChanges


class UpsertAgentConfig(ConfigCreating):
    """For a course: `agent_config.manage` (co-teachers, the owner, admins). For the system
    configurations: admins only.

    Changes the active configuration of the type (else the oldest one) like a partial update;
    when there is none, creates one, active, from the defaults and the changes. As in
    `UpdateAgentConfig`, a changed provider or base_url deletes every stored key (reported in
    `dropped_keys`), and a new base_url must pass the endpoint policy.
    """

    async def execute(self, command: UpsertAgentConfigCommand) -> AgentConfig:
        check_placement(command.course_id, command.type)
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            if command.course_id is None:
                require_admin(actor)
            else:
                await authorize(uow, actor, command.course_id, Action.AGENT_CONFIG_MANAGE)
            now = self._clock.now()
            dropped: tuple[KeyType, ...] = ()
            existing = await uow.agent_configs.first_of(command.course_id, command.type)
            if existing is None:
                base = blank_config(
                    config_id=self._ids.new_id(),
                    course_id=command.course_id,
                    agent_type=command.type,
                    created_by=actor.id,
                    now=now,
                )
                config = replace(apply_changes(base, command.changes, now), is_active=True)
                check_endpoint(self._endpoints, None, config)
                if await uow.agent_configs.name_taken(config.course_id, config.type, config.name):
                    raise Conflict(NAME_TAKEN)
                await uow.agent_configs.add(config)
                mask: str | None = None
            else:
                config, mask, dropped = await update_existing(
                    uow,
                    self._endpoints,
                    existing,
                    command.changes,
                    actor_id=actor.id,
                    now=now,
                )
            mask, dropped = await write_changed_key(
                uow, self._secrets, config.id, command.changes.api_key, mask=mask, dropped=dropped
            )
            await uow.commit()
        return replace(config, masked_api_key=mask, dropped_keys=dropped)
