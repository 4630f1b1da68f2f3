"""Agent configurations: one agent "brain" (provider, model, prompt, trigger, schedule).

A course holds several named configurations per agent type, exactly one of them active; a
configuration without a course is a system configuration (the admins' defaults), which only
the `design` and `analytics` types may have. Provider keys are not part of this entity: they
live encrypted beside it (see `coagent.domain.agents.keys`), and a version snapshot never
holds them.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

from coagent.domain.agents.keys import KeyType
from coagent.domain.agents.schedule import Schedule
from coagent.domain.agents.tools import InterruptPolicy, ToolBounds
from coagent.domain.agents.trigger import DEFAULT_TRIGGER, Trigger
from coagent.domain.errors import InvalidInput


class AgentType(StrEnum):
    TEACHER = "teacher"
    STUDENT = "student"  # the peer agent
    DESIGN = "design"
    ANALYTICS = "analytics"


# Types that may also have a system configuration (course_id None).
SYSTEM_TYPES: Final = frozenset({AgentType.DESIGN, AgentType.ANALYTICS})


class Provider(StrEnum):
    OPENAI = "openai"
    GEMINI = "gemini"
    OFFLINE = "offline"  # no network, no key: zero-setup runs and demos


# The model a configuration without one (model None) is called with.
DEFAULT_MODELS: Final[Mapping[Provider, str]] = {
    Provider.OPENAI: "gpt-4o-mini",
    Provider.GEMINI: "gemini-2.5-flash",
    Provider.OFFLINE: "offline",
}

DEFAULT_NAME: Final = "Default Profile"
MAX_NAME: Final = 100
MAX_PROMPT: Final = 100_000
MAX_MODEL: Final = 200
MAX_BASE_URL: Final = 2048
MIN_CONTEXT_WINDOW: Final = 1
MAX_CONTEXT_WINDOW: Final = 500
DEFAULT_CONTEXT_WINDOW: Final = 10
MAX_SETTINGS_DEPTH: Final = 16

# The one definition of an acceptable `base_url` (the HTTP schema uses the same pattern):
# http or https, a host name or IP address (no user:password@, which would be a secret kept
# in clear), an optional port from 1 to 65535, an optional path; no query, no fragment.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
# An IPv6 address in brackets, in the textual forms of RFC 4291 (so "[D84]" is no host).
_H = r"[0-9A-Fa-f]{1,4}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_V4 = rf"(?:{_OCTET}\.){{3}}{_OCTET}"
_IPV6 = (
    rf"(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:|(?:{_H}:){{1,6}}:{_H}"
    rf"|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}"
    rf"|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}"
    rf"|{_H}:(?::{_H}){{1,6}}|:(?:(?::{_H}){{1,7}}|:)"
    rf"|(?:{_H}:){{6}}{_V4}|::(?:[Ff]{{4}}(?::0{{1,4}})?:)?{_V4}|(?:{_H}:){{1,4}}:{_V4})"
)
BASE_URL_PATTERN: Final = (
    rf"^https?://(?:{_LABEL}(?:\.{_LABEL})*|\[{_IPV6}\])(?::{_PORT})?"
    r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$"
)
_BASE_URL = re.compile(BASE_URL_PATTERN)
# Model names: anything printable without spaces ("gpt-4o", "llama3.1:8b", "models/x").
MODEL_PATTERN: Final = r"^[!-~]{1,200}$"
_MODEL = re.compile(MODEL_PATTERN)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    id: UUID
    course_id: UUID | None  # None: a system configuration
    type: AgentType
    name: str
    provider: Provider
    model: str | None  # None: the provider's default model
    base_url: str | None  # an OpenAI-compatible server (Ollama, vLLM, ...); None: the vendor's
    system_prompt: str
    context_window: int  # how many recent chat messages the agent reads
    trigger: Trigger
    schedule: Schedule | None  # None: always on duty
    settings: Mapping[str, Any]  # a JSON object the clients keep (e.g. `sync_schedule`)
    is_active: bool
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime
    # The main key's mask (`sk-…89`), computed when it was stored; None when there is no key.
    masked_api_key: str | None = None
    # Set by the update that changed the provider or base_url: the stored keys it deleted
    # (a key never follows its configuration to another endpoint). Not stored.
    dropped_keys: tuple[KeyType, ...] = ()

    # The configuration's version as agent turns record it: 1, then + 1 on every update
    # (the store counts; what `update` is given here is ignored).
    revision: int = 1

    # Issue 17: the tools the agent is offered (known names), the bounds staff set on what
    # they may change, and what a new human message does to a reply still streaming.
    tools: tuple[str, ...] = ()
    tool_bounds: ToolBounds = field(default_factory=dict)
    interrupt_policy: InterruptPolicy = InterruptPolicy.QUEUE

    @property
    def is_system(self) -> bool:
        return self.course_id is None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigSnapshot:
    """Everything a version keeps: the whole configuration except its keys, its activation
    and its identity.
    """

    name: str
    provider: Provider
    model: str | None
    base_url: str | None
    system_prompt: str
    context_window: int
    trigger: Trigger = DEFAULT_TRIGGER
    schedule: Schedule | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    tools: tuple[str, ...] = ()
    tool_bounds: ToolBounds = field(default_factory=dict)
    interrupt_policy: InterruptPolicy = InterruptPolicy.QUEUE


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigVersion:
    id: UUID
    config_id: UUID
    version_label: str
    snapshot: ConfigSnapshot
    created_by: UUID | None
    created_at: datetime


def snapshot_of(config: AgentConfig) -> ConfigSnapshot:
    return ConfigSnapshot(
        name=config.name,
        provider=config.provider,
        model=config.model,
        base_url=config.base_url,
        system_prompt=config.system_prompt,
        context_window=config.context_window,
        trigger=config.trigger,
        schedule=config.schedule,
        settings=config.settings,
        tools=config.tools,
        tool_bounds=config.tool_bounds,
        interrupt_policy=config.interrupt_policy,
    )


def same_endpoint(before: AgentConfig, after: AgentConfig) -> bool:
    """Whether stored keys may stay: a key belongs to one provider at one base URL."""
    return before.provider == after.provider and before.base_url == after.base_url


def restored(config: AgentConfig, snapshot: ConfigSnapshot, now: datetime) -> AgentConfig:
    """The configuration with a version's fields back; keys and activation stay as they are."""
    return replace(
        config,
        name=snapshot.name,
        provider=snapshot.provider,
        model=snapshot.model,
        base_url=snapshot.base_url,
        system_prompt=snapshot.system_prompt,
        context_window=snapshot.context_window,
        trigger=snapshot.trigger,
        schedule=snapshot.schedule,
        settings=snapshot.settings,
        tools=snapshot.tools,
        tool_bounds=snapshot.tool_bounds,
        interrupt_policy=snapshot.interrupt_policy,
        updated_at=now,
    )


def check_placement(course_id: UUID | None, agent_type: AgentType) -> None:
    if course_id is None and agent_type not in SYSTEM_TYPES:
        raise InvalidInput("Only design and analytics agents have system configurations")


def check_config(config: AgentConfig) -> AgentConfig:
    """The configuration with its name trimmed, if every field is within bounds."""
    check_placement(config.course_id, config.type)
    name = config.name.strip()
    if not name or len(name) > MAX_NAME or "\x00" in name:
        raise InvalidInput(f"name must be 1 to {MAX_NAME} characters, not blank")
    if len(config.system_prompt) > MAX_PROMPT or "\x00" in config.system_prompt:
        raise InvalidInput(f"system_prompt must be at most {MAX_PROMPT} characters")
    if config.model is not None and not _MODEL.match(config.model):
        raise InvalidInput(f"model must be 1 to {MAX_MODEL} printable characters, no spaces")
    if config.base_url is not None and (
        len(config.base_url) > MAX_BASE_URL or not _BASE_URL.match(config.base_url)
    ):
        raise InvalidInput(
            "base_url must be an http(s) URL with a host, an optional port and path, "
            "and no user name, password, query or fragment"
        )
    if not MIN_CONTEXT_WINDOW <= config.context_window <= MAX_CONTEXT_WINDOW:
        raise InvalidInput(
            f"context_window must be between {MIN_CONTEXT_WINDOW} and {MAX_CONTEXT_WINDOW}"
        )
    return replace(config, name=name, settings=clean_settings(config.settings))


def clean_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON object as the database can keep it: NUL characters (which PostgreSQL's jsonb
    refuses) removed from keys and strings; nesting deeper than `MAX_SETTINGS_DEPTH` refused.
    """

    def clean(value: Any, depth: int) -> Any:
        if depth > MAX_SETTINGS_DEPTH:
            raise InvalidInput(f"settings may nest at most {MAX_SETTINGS_DEPTH} levels deep")
        if isinstance(value, str):
            return value.replace("\x00", "")
        if isinstance(value, Mapping):
            return {
                str(key).replace("\x00", ""): clean(item, depth + 1) for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [clean(item, depth + 1) for item in value]
        return value

    cleaned: dict[str, Any] = clean(settings, 0)
    return cleaned
