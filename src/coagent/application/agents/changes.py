"""What an update of a configuration may change, and how its main key is written.

Fields left at `KEEP` are not touched (`coagent.application.partial`): that is how partial
updates keep every field a client did not send. Keys are encrypted with the `SecretBox` before
they reach a repository; the mask shown in responses is computed here, from the plaintext, at
write time, and stored beside the ciphertext, so rendering a configuration never decrypts
anything (a response path never holds a key in clear, and a wrong ENCRYPTION_KEYS never breaks
reads).
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from coagent.application.partial import KEEP, Keep
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.llm import EndpointPolicy
from coagent.application.ports.repositories import UnitOfWork, UnitOfWorkFactory
from coagent.application.ports.security import SecretBox
from coagent.domain.agents.config import (
    DEFAULT_CONTEXT_WINDOW,
    DEFAULT_NAME,
    AgentConfig,
    AgentType,
    Provider,
    check_config,
    same_endpoint,
)
from coagent.domain.agents.keys import KEY_ORDER, KeyType, check_key, looks_masked, mask_key
from coagent.domain.agents.schedule import Schedule
from coagent.domain.agents.tools import InterruptPolicy, ToolBounds
from coagent.domain.agents.trigger import DEFAULT_TRIGGER, Trigger
from coagent.domain.errors import Conflict


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigChanges:
    """`KEEP`: leave as it is. `model` and `base_url` None: clear (the provider's default);
    `schedule` None: always on duty. `api_key`: "" deletes the main key; a mask sent back
    (`sk-…89`, `****`) keeps it.
    """

    name: str | Keep = KEEP
    provider: Provider | Keep = KEEP
    model: str | Keep | None = KEEP
    base_url: str | Keep | None = KEEP
    system_prompt: str | Keep = KEEP
    context_window: int | Keep = KEEP
    trigger: Trigger | Keep = KEEP
    schedule: Schedule | Keep | None = KEEP
    settings: Mapping[str, Any] | Keep = KEEP
    tools: tuple[str, ...] | Keep = KEEP
    tool_bounds: ToolBounds | Keep = KEEP
    interrupt_policy: InterruptPolicy | Keep = KEEP
    api_key: str | Keep = KEEP


class ConfigCreating:
    """What the use cases that may create a configuration share: their constructor (units of
    work, the key box, the clock and ids of a new configuration, the endpoint policy).
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        secrets: SecretBox,
        clock: Clock,
        ids: IdGenerator,
        endpoints: EndpointPolicy,
    ) -> None:
        self._uow = uow
        self._secrets = secrets
        self._clock = clock
        self._ids = ids
        self._endpoints = endpoints


NAME_TAKEN = "An agent configuration with this name already exists for this agent type"

_FIELDS: Final = (
    "name",
    "provider",
    "model",
    "base_url",
    "system_prompt",
    "context_window",
    "trigger",
    "schedule",
    "settings",
    "tools",
    "tool_bounds",
    "interrupt_policy",
)


def apply_changes(config: AgentConfig, changes: ConfigChanges, now: datetime) -> AgentConfig:
    """The configuration with the changes made, checked, and `updated_at` bumped."""
    values = {name: value for name in _FIELDS if (value := getattr(changes, name)) is not KEEP}
    return check_config(replace(config, **values, updated_at=now))


def check_endpoint(
    endpoints: EndpointPolicy, before: AgentConfig | None, after: AgentConfig
) -> None:
    """A new base_url must pass the endpoint policy (InvalidInput); one already stored is
    checked again, resolved, at every call.
    """
    if after.base_url is not None and (before is None or after.base_url != before.base_url):
        endpoints.check_base_url(after.base_url)


async def drop_stored_keys(
    uow: UnitOfWork, *, actor_id: UUID, config_id: UUID
) -> tuple[KeyType, ...]:
    """Delete every stored key of a configuration whose provider or base_url changed, and
    audit it (types only). Returns the key types that were stored, in call order.
    """
    masks = await uow.agent_configs.key_masks(config_id)
    dropped = tuple(key_type for key_type in KEY_ORDER if key_type in masks)
    for key_type in dropped:
        await uow.agent_configs.delete_key(config_id, key_type)
    if dropped:
        await uow.audit.record(
            actor_id=actor_id,
            action="agent_config.keys_dropped",
            target_type="agent_config",
            target_id=str(config_id),
            details={"key_types": [key_type.value for key_type in dropped]},
        )
    return dropped


def still_dropped(dropped: tuple[KeyType, ...], written: "KeyWrite") -> tuple[KeyType, ...]:
    """The dropped key types, without the main key when the same request stored a new one."""
    if written.changed and written.mask is not None:
        return tuple(key_type for key_type in dropped if key_type is not KeyType.API_KEY)
    return dropped


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyWrite:
    mask: str | None  # the key's mask afterwards; None: no key
    changed: bool


async def write_key(
    uow: UnitOfWork,
    secrets: SecretBox,
    config_id: UUID,
    key_type: KeyType,
    value: str | None,
    *,
    current_mask: str | None,
) -> KeyWrite:
    """Store, replace or delete one key.

    None or "" deletes it; the mask a client was shown (or anything that looks masked) keeps
    the stored key; anything else is checked, encrypted and stored.
    """
    if value is None or value == "":
        if current_mask is None:
            return KeyWrite(mask=None, changed=False)
        await uow.agent_configs.delete_key(config_id, key_type)
        return KeyWrite(mask=None, changed=True)
    if value == current_mask or looks_masked(value):
        return KeyWrite(mask=current_mask, changed=False)
    key = check_key(value)
    mask = mask_key(key)
    await uow.agent_configs.set_key(config_id, key_type, ciphertext=secrets.encrypt(key), mask=mask)
    return KeyWrite(mask=mask, changed=True)


async def update_existing(
    uow: UnitOfWork,
    endpoints: EndpointPolicy,
    existing: AgentConfig,
    changes: ConfigChanges,
    *,
    actor_id: UUID,
    now: datetime,
) -> tuple[AgentConfig, str | None, tuple[KeyType, ...]]:
    """Make the changes to a stored configuration and store it: a new base_url must pass the
    endpoint policy, a new name must be free within (course, type) (Conflict otherwise), and a
    changed provider or base_url deletes every stored key. Returns the configuration, its key's
    mask afterwards and the dropped key types.
    """
    config = apply_changes(existing, changes, now)
    check_endpoint(endpoints, existing, config)
    if config.name != existing.name and await uow.agent_configs.name_taken(
        config.course_id, config.type, config.name, except_id=config.id
    ):
        raise Conflict(NAME_TAKEN)
    await uow.agent_configs.update(config)
    mask = existing.masked_api_key
    dropped: tuple[KeyType, ...] = ()
    if not same_endpoint(existing, config):
        dropped = await drop_stored_keys(uow, actor_id=actor_id, config_id=config.id)
        mask = None
    return config, mask, dropped


async def write_changed_key(
    uow: UnitOfWork,
    secrets: SecretBox,
    config_id: UUID,
    api_key: str | Keep,
    *,
    mask: str | None,
    dropped: tuple[KeyType, ...],
) -> tuple[str | None, tuple[KeyType, ...]]:
    """The main key written as `write_key` does unless the change keeps it: returns the mask
    afterwards and the dropped key types without the main key when a new one was stored.
    """
    if api_key is KEEP:
        return mask, dropped
    written = await write_key(uow, secrets, config_id, KeyType.API_KEY, api_key, current_mask=mask)
    return written.mask, still_dropped(dropped, written)


def blank_config(
    *,
    config_id: UUID,
    course_id: UUID | None,
    agent_type: AgentType,
    created_by: UUID,
    now: datetime,
) -> AgentConfig:
    """A new configuration with every default (the caller applies its changes)."""
    return AgentConfig(
        id=config_id,
        course_id=course_id,
        type=agent_type,
        name=DEFAULT_NAME,
        provider=Provider.OFFLINE,
        model=None,
        base_url=None,
        system_prompt="",
        context_window=DEFAULT_CONTEXT_WINDOW,
        trigger=DEFAULT_TRIGGER,
        schedule=None,
        settings={},
        is_active=False,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
