"""CreateAgentConfig."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.agents.changes import NAME_TAKEN, ConfigCreating, check_endpoint, write_key
from coagent.application.courses.access import authorize
from coagent.domain.agents.config import (
    DEFAULT_CONTEXT_WINDOW,
    DEFAULT_NAME,
    AgentConfig,
    AgentType,
    Provider,
    check_config,
)
from coagent.domain.agents.keys import KeyType
from coagent.domain.agents.schedule import Schedule
from coagent.domain.agents.tools import InterruptPolicy, ToolBounds
from coagent.domain.agents.trigger import DEFAULT_TRIGGER, Trigger
from coagent.domain.courses.policy import Action
from coagent.domain.errors import Conflict


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateAgentConfigCommand:
    actor_id: UUID
    course_id: UUID
    type: AgentType
    system_prompt: str
    name: str = DEFAULT_NAME
    provider: Provider = Provider.OFFLINE
    model: str | None = None
    base_url: str | None = None
    context_window: int = DEFAULT_CONTEXT_WINDOW
    trigger: Trigger = DEFAULT_TRIGGER
    schedule: Schedule | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    tools: tuple[str, ...] = ()
    tool_bounds: ToolBounds = field(default_factory=dict)
    interrupt_policy: InterruptPolicy = InterruptPolicy.QUEUE
    api_key: str | None = None


class CreateAgentConfig(ConfigCreating):
    """Course staff with `agent_config.manage` (co-teachers, the owner) and admins.

    The first configuration of a type in a course is created active, the others inactive;
    the name must be free within (course, type) (Conflict otherwise). A key is encrypted
    before it is stored. A base_url must pass the endpoint policy (InvalidInput).
    """

    async def execute(self, command: CreateAgentConfigCommand) -> AgentConfig:
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            course = await authorize(uow, actor, command.course_id, Action.AGENT_CONFIG_MANAGE)
            now = self._clock.now()
            config = check_config(
                AgentConfig(
                    id=self._ids.new_id(),
                    course_id=course.id,
                    type=command.type,
                    name=command.name,
                    provider=command.provider,
                    model=command.model,
                    base_url=command.base_url,
                    system_prompt=command.system_prompt,
                    context_window=command.context_window,
                    trigger=command.trigger,
                    schedule=command.schedule,
                    settings=command.settings,
                    tools=command.tools,
                    tool_bounds=command.tool_bounds,
                    interrupt_policy=command.interrupt_policy,
                    is_active=False,
                    created_by=actor.id,
                    created_at=now,
                    updated_at=now,
                )
            )
            check_endpoint(self._endpoints, None, config)
            if await uow.agent_configs.name_taken(course.id, config.type, config.name):
                raise Conflict(NAME_TAKEN)
            is_first = await uow.agent_configs.active_for(course.id, config.type) is None
            config = replace(config, is_active=is_first)
            await uow.agent_configs.add(config)
            written = await write_key(
                uow,
                self._secrets,
                config.id,
                KeyType.API_KEY,
                command.api_key,
                current_mask=None,
            )
            await uow.commit()
        return replace(config, masked_api_key=written.mask)
