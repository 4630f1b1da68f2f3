"""Wire formats of the agent-configuration API (the original's field names, plus `base_url`).

The trigger and schedule shapes come from `trigger_schemas`. Every pattern here is the exact
rule the domain applies, so a body the schema accepts is never refused later for its form.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from coagent.adapters.http.agents.trigger_schemas import (
    ScheduleConfig,
    TriggerConfig,
    schedule_to_schema,
    trigger_to_schema,
)
from coagent.application.agents.generate_prompt import (
    MAX_COURSE_CONTEXT,
    MAX_REQUIREMENT,
    REQUEST_KEY_PATTERN,
    GeneratedPrompt,
)
from coagent.domain.agents.config import (
    BASE_URL_PATTERN,
    DEFAULT_CONTEXT_WINDOW,
    DEFAULT_NAME,
    MAX_BASE_URL,
    MAX_CONTEXT_WINDOW,
    MAX_NAME,
    MAX_PROMPT,
    MIN_CONTEXT_WINDOW,
    AgentConfig,
    AgentType,
    ConfigVersion,
    Provider,
)
from coagent.domain.agents.keys import KEY_VALUE_PATTERN, MAX_KEY_LENGTH, KeyType
from coagent.domain.agents.tools import (
    KNOWN_TOOLS,
    Bound,
    InterruptPolicy,
    ToolBounds,
    parse_tool_bounds,
    parse_tools,
)
from coagent.domain.agents.trigger import (
    MAX_MESSAGE_COUNT,
    MAX_PROBABILITY,
    MAX_SECONDS,
    MIN_MESSAGE_COUNT,
    MIN_PROBABILITY,
    MIN_SECONDS,
    TriggerType,
)

NO_NUL = r"^[^\x00]*$"
Name = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_NAME, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$")
]
Prompt = Annotated[str, msgspec.Meta(max_length=MAX_PROMPT, pattern=NO_NUL)]
# "" means: no particular model (the provider's default).
Model = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[!-~]*$")]
# "" means: the provider's own endpoint.
BaseUrl = Annotated[
    str,
    msgspec.Meta(
        max_length=MAX_BASE_URL,
        pattern=f"^(?:{BASE_URL_PATTERN.removeprefix('^').removesuffix('$')})?$",
        description=(
            "An OpenAI-compatible server (e.g. http://localhost:11434/v1 for Ollama). Hosts "
            "that are or resolve to loopback, private, link-local or other internal "
            "addresses are refused (422; checked again at each call) unless the operator "
            "allows them in LLM_ALLOWED_HOSTS (the embedded default allows loopback). "
            "Changing it deletes the stored keys"
        ),
    ),
]
ContextWindow = Annotated[int, msgspec.Meta(ge=MIN_CONTEXT_WINDOW, le=MAX_CONTEXT_WINDOW)]
KeyValue = Annotated[
    str,
    msgspec.Meta(
        max_length=512,
        pattern=KEY_VALUE_PATTERN,
        description='A provider key; "" deletes it; the mask you were shown keeps it',
    ),
]
Label = Annotated[str, msgspec.Meta(max_length=100, pattern=NO_NUL)]
DroppedKeys = Annotated[
    list[KeyType],
    msgspec.Meta(
        description=(
            "The key types this request deleted because it changed model_provider or "
            "base_url (a stored key never follows its configuration to another endpoint); "
            "send the keys again for the new endpoint. Empty otherwise"
        )
    ),
]

ToolName = Literal["update_trigger"]  # KNOWN_TOOLS (a test keeps them the same)
Tools = Annotated[
    list[ToolName],
    msgspec.Meta(
        max_length=len(KNOWN_TOOLS) * 4,
        description="The tools the agent is offered (empty: none)",
    ),
]
_Count = Annotated[int, msgspec.Meta(ge=MIN_MESSAGE_COUNT, le=MAX_MESSAGE_COUNT)]
_Seconds = Annotated[int, msgspec.Meta(ge=MIN_SECONDS, le=MAX_SECONDS)]
_Chance = Annotated[float, msgspec.Meta(ge=MIN_PROBABILITY, le=MAX_PROBABILITY)]


class CountBound(msgspec.Struct, forbid_unknown_fields=True):
    min: _Count
    max: _Count


class SecondsBound(msgspec.Struct, forbid_unknown_fields=True):
    min: _Seconds
    max: _Seconds


class ChanceBound(msgspec.Struct, forbid_unknown_fields=True):
    min: _Chance
    max: _Chance


class ToolBoundsConfig(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Per trigger type, the values `update_trigger` may set (inclusive; `min` > `max` is an
    empty range: none); a type left out keeps the trigger's own bounds.
    """

    message_count: CountBound | None = None
    time_interval: SecondsBound | None = None
    silence: SecondsBound | None = None
    probability: ChanceBound | None = None


def tools_from_schema(tools: Sequence[str]) -> tuple[str, ...]:
    return parse_tools(tools)


def tool_bounds_from_schema(bounds: ToolBoundsConfig | None) -> dict[TriggerType, Bound]:
    """Through the domain's check (`InvalidInput` names the field)."""
    if bounds is None:
        return {}
    raw = {
        kind.value: {"min": bound.min, "max": bound.max}
        for kind in (
            TriggerType.MESSAGE_COUNT,
            TriggerType.TIME_INTERVAL,
            TriggerType.SILENCE,
            TriggerType.PROBABILITY,
        )
        if (bound := getattr(bounds, kind.value)) is not None
    }
    return parse_tool_bounds(raw)


def tool_bounds_to_schema(bounds: ToolBounds) -> ToolBoundsConfig:
    def get(kind: TriggerType) -> Bound | None:
        return bounds.get(kind)

    count, interval = get(TriggerType.MESSAGE_COUNT), get(TriggerType.TIME_INTERVAL)
    silence, chance = get(TriggerType.SILENCE), get(TriggerType.PROBABILITY)
    return ToolBoundsConfig(
        message_count=CountBound(min=int(count.low), max=int(count.high)) if count else None,
        time_interval=SecondsBound(min=int(interval.low), max=int(interval.high))
        if interval
        else None,
        silence=SecondsBound(min=int(silence.low), max=int(silence.high)) if silence else None,
        probability=ChanceBound(min=float(chance.low), max=float(chance.high)) if chance else None,
    )


class AgentConfigRead(msgspec.Struct):
    """A configuration; keys appear only as `masked_api_key` (`sk-…89`).

    `dropped_keys`: the key types this very request deleted because it changed
    `model_provider` or `base_url` (a stored key never follows its configuration to another
    endpoint): send the keys again for the new endpoint. Empty otherwise, and in lists.
    """

    id: UUID
    course_id: UUID | None
    type: AgentType
    name: str
    model_provider: Provider
    model: str | None
    base_url: str | None
    system_prompt: str
    masked_api_key: str | None
    settings: dict[str, Any]
    trigger_config: TriggerConfig
    schedule_config: ScheduleConfig | None
    context_window: int
    is_active: bool
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime
    dropped_keys: DroppedKeys = msgspec.field(default_factory=list)
    tools: list[str] = msgspec.field(default_factory=list)
    tool_bounds: ToolBoundsConfig = msgspec.field(default_factory=ToolBoundsConfig)
    interrupt_policy: InterruptPolicy = InterruptPolicy.QUEUE

    @classmethod
    def of(cls, config: AgentConfig) -> "AgentConfigRead":
        return cls(
            id=config.id,
            course_id=config.course_id,
            type=config.type,
            name=config.name,
            model_provider=config.provider,
            model=config.model,
            base_url=config.base_url,
            system_prompt=config.system_prompt,
            masked_api_key=config.masked_api_key,
            settings=dict(config.settings),
            trigger_config=trigger_to_schema(config.trigger),
            schedule_config=schedule_to_schema(config.schedule),
            context_window=config.context_window,
            is_active=config.is_active,
            created_by=config.created_by,
            created_at=config.created_at,
            updated_at=config.updated_at,
            dropped_keys=list(config.dropped_keys),
            tools=list(config.tools),
            tool_bounds=tool_bounds_to_schema(config.tool_bounds),
            interrupt_policy=config.interrupt_policy,
        )


class AgentConfigCreate(msgspec.Struct):
    """A new configuration; the first of its type in the course becomes the active one."""

    type: AgentType
    system_prompt: Prompt
    name: Name = DEFAULT_NAME
    model_provider: Provider = Provider.OFFLINE
    model: Model | None = None
    base_url: BaseUrl | None = None
    api_key: KeyValue | None = None
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    trigger_config: TriggerConfig | None = None
    schedule_config: ScheduleConfig | None = None
    context_window: ContextWindow = DEFAULT_CONTEXT_WINDOW
    tools: Tools = msgspec.field(default_factory=list)
    tool_bounds: ToolBoundsConfig | None = None
    interrupt_policy: InterruptPolicy = InterruptPolicy.QUEUE


class AgentConfigUpdate(msgspec.Struct):
    """Only the fields sent change. Read-only fields a client sends back (`id`, `type`,
    `course_id`, `masked_api_key`, `is_active`, `created_by`, timestamps) are ignored.
    `model`/`base_url` null or "": the provider's default; `trigger_config` null: the default
    trigger; `schedule_config` null: always on duty; `api_key` null: unchanged, "": deleted.
    """

    name: Name | msgspec.UnsetType = msgspec.UNSET
    system_prompt: Prompt | msgspec.UnsetType = msgspec.UNSET
    model_provider: Provider | msgspec.UnsetType = msgspec.UNSET
    model: Model | msgspec.UnsetType | None = msgspec.UNSET
    base_url: BaseUrl | msgspec.UnsetType | None = msgspec.UNSET
    api_key: KeyValue | msgspec.UnsetType | None = msgspec.UNSET
    settings: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    trigger_config: TriggerConfig | msgspec.UnsetType | None = msgspec.UNSET
    schedule_config: ScheduleConfig | msgspec.UnsetType | None = msgspec.UNSET
    context_window: ContextWindow | msgspec.UnsetType = msgspec.UNSET
    tools: Tools | msgspec.UnsetType = msgspec.UNSET
    tool_bounds: ToolBoundsConfig | msgspec.UnsetType | None = msgspec.UNSET
    interrupt_policy: InterruptPolicy | msgspec.UnsetType = msgspec.UNSET


class AgentKeysUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Per key type: a new key, or null / "" to delete it. Types not sent stay as they are.
    A provider call tries them in the order room_key, global_key, api_key, backup_key.
    """

    api_key: KeyValue | msgspec.UnsetType | None = msgspec.UNSET
    room_key: KeyValue | msgspec.UnsetType | None = msgspec.UNSET
    global_key: KeyValue | msgspec.UnsetType | None = msgspec.UNSET
    backup_key: KeyValue | msgspec.UnsetType | None = msgspec.UNSET

    def as_mapping(self) -> Mapping[KeyType, str | None]:
        return {
            key_type: value
            for key_type in KeyType
            if (value := getattr(self, key_type.value)) is not msgspec.UNSET
        }


class AgentKeysRead(msgspec.Struct):
    """Per stored key type, its mask (never the key); a type without a stored key is absent."""

    api_key: str | msgspec.UnsetType = msgspec.UNSET
    room_key: str | msgspec.UnsetType = msgspec.UNSET
    global_key: str | msgspec.UnsetType = msgspec.UNSET
    backup_key: str | msgspec.UnsetType = msgspec.UNSET

    @classmethod
    def of(cls, masks: Mapping[KeyType, str]) -> "AgentKeysRead":
        return cls(**{key_type.value: mask for key_type, mask in masks.items()})


class VersionCreate(msgspec.Struct):
    """`version_label` empty or absent: "v<n>"."""

    version_label: Label | None = None


class VersionRead(msgspec.Struct):
    """A snapshot of a configuration (never its keys)."""

    id: UUID
    config_id: UUID
    version_label: str
    name: str
    system_prompt: str
    model_provider: Provider
    model: str | None
    base_url: str | None
    context_window: int
    trigger_config: TriggerConfig
    schedule_config: ScheduleConfig | None
    settings: dict[str, Any]
    created_at: datetime
    created_by: UUID | None
    tools: list[str] = msgspec.field(default_factory=list)
    tool_bounds: ToolBoundsConfig = msgspec.field(default_factory=ToolBoundsConfig)
    interrupt_policy: InterruptPolicy = InterruptPolicy.QUEUE

    @classmethod
    def of(cls, version: ConfigVersion) -> "VersionRead":
        snapshot = version.snapshot
        return cls(
            id=version.id,
            config_id=version.config_id,
            version_label=version.version_label,
            name=snapshot.name,
            system_prompt=snapshot.system_prompt,
            model_provider=snapshot.provider,
            model=snapshot.model,
            base_url=snapshot.base_url,
            context_window=snapshot.context_window,
            trigger_config=trigger_to_schema(snapshot.trigger),
            schedule_config=schedule_to_schema(snapshot.schedule),
            settings=dict(snapshot.settings),
            created_at=version.created_at,
            created_by=version.created_by,
            tools=list(snapshot.tools),
            tool_bounds=tool_bounds_to_schema(snapshot.tool_bounds),
            interrupt_policy=snapshot.interrupt_policy,
        )


Requirement = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_REQUIREMENT,
        pattern=r"^[^\x00]*[^\x00\s][^\x00]*$",
        description="What the agent should do; may include an existing prompt to refine",
    ),
]
CourseContext = Annotated[str, msgspec.Meta(max_length=MAX_COURSE_CONTEXT, pattern=NO_NUL)]
RequestKey = Annotated[
    str,
    msgspec.Meta(
        max_length=MAX_KEY_LENGTH,
        pattern=REQUEST_KEY_PATTERN,
        description='A provider key for this call only (never stored or logged); "" = none',
    ),
]


class DesignRequest(msgspec.Struct):
    """A design-agent request (the original's `DesignRequest`).

    Precedence: `custom_system_prompt` > the design configuration's prompt > the built-in
    meta-prompt; `custom_provider` > `provider` > the configuration's provider (else offline);
    `custom_model` > the configuration's model > the provider's default; `custom_api_key` >
    `api_key` > the configuration's stored keys. The configuration is the course's active
    `design` one (with `course_id`), else the system one. Its keys and base URL are used only
    with its own provider. `custom_provider: "offline"` needs no key.
    """

    requirement: Requirement
    target_agent_type: AgentType
    course_context: CourseContext = ""
    course_id: UUID | None = None
    provider: Provider | None = None
    api_key: RequestKey | None = None
    custom_system_prompt: Prompt | None = None
    custom_api_key: RequestKey | None = None
    custom_provider: Provider | None = None
    custom_model: Model | None = None


class DesignResponse(msgspec.Struct):
    """The generated system prompt and what produced it. `offline` true: the offline provider
    answered with a labelled placeholder, not a model's work.
    """

    generated_prompt: str
    provider: Provider
    model: str
    offline: bool
    config_id: UUID | None  # the design configuration used; null: the built-in defaults

    @classmethod
    def of(cls, result: GeneratedPrompt) -> "DesignResponse":
        return cls(
            generated_prompt=result.prompt,
            provider=Provider(result.provider),
            model=result.model,
            offline=result.offline,
            config_id=result.config_id,
        )
