"""/api/v1/agents and /api/v1/agent-config: agent configurations, their keys and versions.

`/agents/{id}` is a course id for GET and POST and a configuration id for PUT and DELETE, as
in the original API (one parameter name, so the OpenAPI paths stay distinct). Static paths
(`/agents/system`, `/agents/generate`) win over the parameter.
"""

from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import FromPath, JSONBody, PathParameter

from coagent.adapters.http.agents.schemas import (
    AgentConfigCreate,
    AgentConfigRead,
    AgentConfigUpdate,
    AgentKeysRead,
    AgentKeysUpdate,
    DesignRequest,
    DesignResponse,
    VersionCreate,
    VersionRead,
    tool_bounds_from_schema,
    tools_from_schema,
)
from coagent.adapters.http.agents.services import Agents, AgentServices
from coagent.adapters.http.agents.trigger_schemas import (
    schedule_from_schema,
    trigger_from_schema,
)
from coagent.adapters.http.auth import SECURITY
from coagent.adapters.http.bodies import unset_keeps
from coagent.adapters.http.deps import Current, services_of
from coagent.adapters.http.paging import Limit, Offset, paged
from coagent.adapters.http.problems import problems
from coagent.application.agents.activate_config import ActivateAgentConfigCommand
from coagent.application.agents.changes import ConfigChanges
from coagent.application.agents.create_config import CreateAgentConfigCommand
from coagent.application.agents.delete_config import DeleteAgentConfigCommand
from coagent.application.agents.generate_prompt import GeneratePromptCommand
from coagent.application.agents.list_configs import ListAgentConfigsCommand
from coagent.application.agents.list_system_configs import ListSystemAgentConfigsCommand
from coagent.application.agents.list_versions import ListAgentConfigVersionsCommand
from coagent.application.agents.read_keys import ReadAgentKeysCommand
from coagent.application.agents.restore_version import RestoreAgentConfigVersionCommand
from coagent.application.agents.save_version import SaveAgentConfigVersionCommand
from coagent.application.agents.set_keys import SetAgentKeysCommand
from coagent.application.agents.update_config import UpdateAgentConfigCommand
from coagent.application.agents.upsert_config import UpsertAgentConfigCommand
from coagent.application.partial import KEEP
from coagent.domain.agents.config import AgentType

# Only these types have system configurations (`coagent.domain.agents.config.SYSTEM_TYPES`).
SystemAgentType = Literal["design", "analytics"]
CourseOrConfigId = Annotated[
    UUID,
    PathParameter(description="A course id (GET, POST) or a configuration id (PUT, DELETE)"),
]


def changes_of(data: AgentConfigUpdate) -> ConfigChanges:
    """The use cases' partial update from the wire's: UNSET is KEEP (`unset_keeps`)."""
    return ConfigChanges(
        name=unset_keeps(data.name),
        provider=unset_keeps(data.model_provider),
        model=unset_keeps(data.model, _blank_is_none),
        base_url=unset_keeps(data.base_url, _blank_is_none),
        system_prompt=unset_keeps(data.system_prompt),
        context_window=unset_keeps(data.context_window),
        trigger=unset_keeps(data.trigger_config, trigger_from_schema),
        schedule=unset_keeps(data.schedule_config, schedule_from_schema),
        settings=unset_keeps(data.settings),
        tools=unset_keeps(data.tools, tools_from_schema),
        tool_bounds=unset_keeps(data.tool_bounds, tool_bounds_from_schema),
        interrupt_policy=unset_keeps(data.interrupt_policy),
        # null keeps the key (the original's behaviour); "" deletes it.
        api_key=KEEP if data.api_key is None else unset_keeps(data.api_key),
    )


def _blank_is_none(value: str | None) -> str | None:
    """`model` and `base_url`: null and "" both clear (the provider's default)."""
    return value or None


def changes_of_create(data: AgentConfigCreate) -> ConfigChanges:
    """The upsert routes take the create shape; what it leaves out keeps its value."""
    return ConfigChanges(
        **_create_fields(data), api_key=KEEP if data.api_key is None else data.api_key
    )


def _create_fields(data: AgentConfigCreate) -> dict[str, Any]:
    """The create shape's fields but the key, as the use cases take them (the keyword
    arguments shared by `CreateAgentConfigCommand` and `ConfigChanges`).
    """
    return {
        "name": data.name,
        "provider": data.model_provider,
        "model": data.model or None,
        "base_url": data.base_url or None,
        "system_prompt": data.system_prompt,
        "context_window": data.context_window,
        "trigger": trigger_from_schema(data.trigger_config),
        "schedule": schedule_from_schema(data.schedule_config),
        "settings": data.settings,
        "tools": tools_from_schema(data.tools),
        "tool_bounds": tool_bounds_from_schema(data.tool_bounds),
        "interrupt_policy": data.interrupt_policy,
    }


DROPPED_KEYS = (
    "Changing `model_provider` or `base_url` deletes every stored key (api_key, room_key, "
    "global_key, backup_key) unless `api_key` is sent in the same request; the "
    "response lists the deleted types in `dropped_keys` (and `masked_api_key` is "
    "null). A base_url to an internal address is a 422."
)


async def _list_configs(
    agents: AgentServices, actor_id: UUID, course_id: UUID
) -> list[AgentConfigRead]:
    configs = await agents.list.execute(
        ListAgentConfigsCommand(actor_id=actor_id, course_id=course_id)
    )
    return [AgentConfigRead.of(config) for config in configs]


async def _upsert(
    agents: AgentServices,
    actor_id: UUID,
    course_id: UUID | None,
    agent_type: AgentType,
    data: AgentConfigCreate,
) -> AgentConfigRead:
    config = await agents.upsert.execute(
        UpsertAgentConfigCommand(
            actor_id=actor_id, course_id=course_id, type=agent_type, changes=changes_of_create(data)
        )
    )
    return AgentConfigRead.of(config)


class AgentsController(Controller):
    path = "/api/v1/agents"
    tags = ["agents"]
    security = SECURITY
    dependencies = {"agents": services_of(AgentServices)}

    @get(
        "/system",
        operation_id="agents_system_list",
        description="Admins only: the system design and analytics configurations.",
        responses=problems(401, 403),
    )
    async def list_system(self, agents: Agents, current: Current) -> list[AgentConfigRead]:
        configs = await agents.list_system.execute(
            ListSystemAgentConfigsCommand(actor_id=current.user_id)
        )
        return [AgentConfigRead.of(config) for config in configs]

    @put(
        "/system/{agent_type:str}",
        operation_id="agents_system_upsert",
        description=(
            "Admins only: change the system configuration of a type (`design` or `analytics`), "
            "or create it, active, when there is none." + DROPPED_KEYS
        ),
        responses=problems(401, 403, 409, 422),
    )
    async def upsert_system(
        self,
        agent_type: FromPath[SystemAgentType],
        data: JSONBody[AgentConfigCreate],
        agents: Agents,
        current: Current,
    ) -> AgentConfigRead:
        return await _upsert(agents, current.user_id, None, AgentType(agent_type), data)

    @post(
        "/generate",
        operation_id="agents_generate_prompt",
        status_code=200,
        description=(
            "The design agent writes a system prompt for an agent. With `course_id`: "
            "co-teachers, the owner and admins of the course, using its active design "
            "configuration (else the system one); without: teachers and admins, using the "
            "system design configuration, else the built-in offline defaults. The `custom_*` "
            "fields override the configuration; request keys are used for this call only. "
            "No key for a provider that needs one: 422. A provider failure is a 502 (key or "
            "request rejected, an answer that is not the API's, or a base_url that resolves "
            "to an internal address: the connection is refused before anything is sent), "
            "503 (rate limited, with Retry-After, or unavailable) or 504 (timeout), never a "
            "200. Model calls are limited per caller and per course "
            "(`LLM_CALLS_PER_USER_PER_MINUTE`, `LLM_CALLS_PER_COURSE_PER_MINUTE`): over either, "
            "429 with Retry-After and no call."
        ),
        responses=problems(401, 403, 404, 429, 502, 503, 504),
    )
    async def generate(
        self, data: JSONBody[DesignRequest], agents: Agents, current: Current
    ) -> DesignResponse:
        result = await agents.generate.execute(
            GeneratePromptCommand(
                actor_id=current.user_id,
                requirement=data.requirement,
                target_agent_type=data.target_agent_type,
                course_context=data.course_context,
                course_id=data.course_id,
                provider=data.provider,
                api_key=data.api_key or None,
                custom_system_prompt=data.custom_system_prompt or None,
                custom_api_key=data.custom_api_key or None,
                custom_provider=data.custom_provider,
                custom_model=data.custom_model or None,
            )
        )
        return DesignResponse.of(result)

    @get(
        "/{id:uuid}",
        operation_id="agents_list",
        description=(
            "Course staff (TA and above) and admins: the course's configurations, ordered by "
            "type. Students get 403: they never see prompts or keys."
        ),
        responses=problems(401, 403, 404),
    )
    async def list_configs(
        self, id: CourseOrConfigId, agents: Agents, current: Current
    ) -> list[AgentConfigRead]:
        return await _list_configs(agents, current.user_id, id)

    @post(
        "/{id:uuid}",
        operation_id="agents_create",
        description=(
            "Co-teachers, the owner and admins. The first configuration of a type in the "
            "course becomes active. A name already used for the type is a 409; a base_url to "
            "an internal address a 422."
        ),
        responses=problems(401, 403, 404, 409, 422),
    )
    async def create(
        self,
        id: CourseOrConfigId,
        data: JSONBody[AgentConfigCreate],
        agents: Agents,
        current: Current,
    ) -> AgentConfigRead:
        config = await agents.create.execute(
            CreateAgentConfigCommand(
                actor_id=current.user_id,
                course_id=id,
                type=data.type,
                **_create_fields(data),
                api_key=data.api_key,
            )
        )
        return AgentConfigRead.of(config)

    @put(
        "/{id:uuid}",
        operation_id="agents_update",
        description=(
            "Co-teachers, the owner and admins (admins only for system configurations). "
            "Partial: only the fields sent change; read-only fields sent back are ignored; "
            "the masked key sent back never replaces the key." + DROPPED_KEYS
        ),
        responses=problems(401, 403, 404, 409, 422),
    )
    async def update(
        self,
        id: CourseOrConfigId,
        data: JSONBody[AgentConfigUpdate],
        agents: Agents,
        current: Current,
    ) -> AgentConfigRead:
        config = await agents.update.execute(
            UpdateAgentConfigCommand(
                actor_id=current.user_id, config_id=id, changes=changes_of(data)
            )
        )
        return AgentConfigRead.of(config)

    @delete(
        "/{id:uuid}",
        operation_id="agents_delete",
        description="Co-teachers, the owner and admins; keys and versions go with it.",
        responses=problems(401, 403, 404),
    )
    async def delete_config(self, id: CourseOrConfigId, agents: Agents, current: Current) -> None:
        await agents.delete.execute(
            DeleteAgentConfigCommand(actor_id=current.user_id, config_id=id)
        )

    @put(
        "/{config_id:uuid}/activate",
        operation_id="agents_activate",
        description=(
            "Co-teachers, the owner and admins: make this the one active configuration of "
            "its type, atomically. A concurrent activation may get a 409."
        ),
        responses=problems(401, 403, 404, 409),
    )
    async def activate(
        self, config_id: FromPath[UUID], agents: Agents, current: Current
    ) -> AgentConfigRead:
        config = await agents.activate.execute(
            ActivateAgentConfigCommand(actor_id=current.user_id, config_id=config_id)
        )
        return AgentConfigRead.of(config)

    @get(
        "/{config_id:uuid}/keys",
        operation_id="agents_keys_read",
        description="Course staff (TA and above) and admins: `{key_type: mask}`, never a key.",
        responses=problems(401, 403, 404),
    )
    async def read_keys(
        self, config_id: FromPath[UUID], agents: Agents, current: Current
    ) -> AgentKeysRead:
        masks = await agents.read_keys.execute(
            ReadAgentKeysCommand(actor_id=current.user_id, config_id=config_id)
        )
        return AgentKeysRead.of(masks)

    @put(
        "/{config_id:uuid}/keys",
        operation_id="agents_keys_update",
        description=(
            "Co-teachers, the owner and admins. `{key_type: key}` stores a key encrypted; "
            'null or "" deletes it; key types not sent stay. Calls try room_key, global_key, '
            "api_key, backup_key in that order."
        ),
        responses=problems(401, 403, 404),
    )
    async def update_keys(
        self,
        config_id: FromPath[UUID],
        data: JSONBody[AgentKeysUpdate],
        agents: Agents,
        current: Current,
    ) -> AgentConfigRead:
        config = await agents.set_keys.execute(
            SetAgentKeysCommand(
                actor_id=current.user_id, config_id=config_id, keys=data.as_mapping()
            )
        )
        return AgentConfigRead.of(config)


class AgentConfigController(Controller):
    """The original's legacy and versioning routes."""

    dependencies = {"agents": services_of(AgentServices)}

    path = "/api/v1/agent-config"
    tags = ["agents"]
    security = SECURITY

    @get(
        "/{course_id:uuid}",
        operation_id="agent_config_list",
        description="Course staff (TA and above) and admins; the same list as GET /agents/{id}.",
        responses=problems(401, 403, 404),
    )
    async def list_configs(
        self, course_id: FromPath[UUID], agents: Agents, current: Current
    ) -> list[AgentConfigRead]:
        return await _list_configs(agents, current.user_id, course_id)

    @put(
        "/{course_id:uuid}/{agent_type:str}",
        operation_id="agent_config_upsert",
        description=(
            "Co-teachers, the owner and admins: change the course's active configuration of "
            "the type (else its oldest), or create it, active, when there is none." + DROPPED_KEYS
        ),
        responses=problems(401, 403, 404, 409, 422),
    )
    async def upsert(
        self,
        course_id: FromPath[UUID],
        agent_type: FromPath[AgentType],
        data: JSONBody[AgentConfigCreate],
        agents: Agents,
        current: Current,
    ) -> AgentConfigRead:
        return await _upsert(agents, current.user_id, course_id, agent_type, data)

    @post(
        "/{config_id:uuid}/versions",
        operation_id="agent_config_versions_create",
        description=("Co-teachers, the owner and admins: snapshot everything but the keys."),
        responses=problems(401, 403, 404),
    )
    async def save_version(
        self,
        config_id: FromPath[UUID],
        data: JSONBody[VersionCreate],
        agents: Agents,
        current: Current,
    ) -> VersionRead:
        version = await agents.save_version.execute(
            SaveAgentConfigVersionCommand(
                actor_id=current.user_id, config_id=config_id, version_label=data.version_label
            )
        )
        return VersionRead.of(version)

    @get(
        "/{config_id:uuid}/versions",
        operation_id="agent_config_versions_list",
        description=(
            "Co-teachers, the owner and admins (never students or TAs); newest first, paged "
            "(`X-Total-Count`, `Link`)."
        ),
        responses=problems(401, 403, 404),
    )
    async def list_versions(
        self,
        request: Request[Any, Any, Any],
        config_id: FromPath[UUID],
        agents: Agents,
        current: Current,
        offset: Offset = 0,
        limit: Limit = 100,
    ) -> Response[list[VersionRead]]:
        page = await agents.list_versions.execute(
            ListAgentConfigVersionsCommand(
                actor_id=current.user_id, config_id=config_id, offset=offset, limit=limit
            )
        )
        return paged(request, page, offset, limit, VersionRead.of)

    @post(
        "/{config_id:uuid}/versions/{version_id:uuid}/restore",
        operation_id="agent_config_versions_restore",
        description=(
            "Co-teachers, the owner and admins: put a version's fields back (activation "
            "stays; keys stay unless the version has another `model_provider` or `base_url`: "
            "then every stored key is deleted and listed in `dropped_keys`). A version of "
            "another configuration is a 404; a base_url now refused is a 422."
        ),
        responses=problems(401, 403, 404, 409, 422),
        status_code=200,
    )
    async def restore(
        self,
        config_id: FromPath[UUID],
        version_id: FromPath[UUID],
        agents: Agents,
        current: Current,
    ) -> AgentConfigRead:
        config = await agents.restore_version.execute(
            RestoreAgentConfigVersionCommand(
                actor_id=current.user_id, config_id=config_id, version_id=version_id
            )
        )
        return AgentConfigRead.of(config)
