"""In-memory agent configurations, keys and versions, with the database's guarantees.

Part of `InMemoryUnitOfWork` (as `agent_configs`): its tables live in the `InMemoryStore`
(`agent_configs`, `agent_keys`, `agent_versions`), seen through the unit of work's overlays.
Like the database: one active configuration per (course, type) and per system type, names
unique likewise (`Conflict`); keys and versions cascade with their configuration and
configurations with their course; a configuration in a missing course is refused
(`ValueError`, a foreign-key violation).
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import NAMESPACE_OID, UUID, uuid4, uuid5

import anyio.lowlevel

from coagent.application.ports.agents import StoredKey
from coagent.domain.agents.config import SYSTEM_TYPES, AgentConfig, AgentType, ConfigVersion
from coagent.domain.agents.keys import KEY_ORDER, KeyType
from coagent.domain.errors import Conflict

NAME_TAKEN = "An agent configuration with this name already exists for this agent type"
CONCURRENT = "Another configuration of this agent type was activated at the same time; try again"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRow:
    id: UUID
    config_id: UUID
    key_type: KeyType
    ciphertext: str
    mask: str


class InMemoryAgentConfigRepository:
    def __init__(
        self,
        configs: Any,  # _Overlay[UUID, AgentConfig]
        keys: Any,  # _Overlay[tuple[UUID, KeyType], KeyRow]
        versions: Any,  # _Overlay[UUID, ConfigVersion]
        course_exists: Callable[[UUID], bool],
        lock: Callable[[UUID], Awaitable[None]],
    ) -> None:
        self._configs = configs
        self._keys = keys
        self._versions = versions
        self._course_exists = course_exists
        self._lock = lock

    # --- configurations ----------------------------------------------------------------

    async def get(self, config_id: UUID) -> AgentConfig | None:
        await anyio.lowlevel.checkpoint()
        config = self._configs.get(config_id)
        return self._with_mask(config) if config is not None else None

    async def active_for(self, course_id: UUID | None, agent_type: AgentType) -> AgentConfig | None:
        await anyio.lowlevel.checkpoint()
        return next(
            (c for c in self._group(course_id, agent_type) if c.is_active),
            None,
        )

    async def first_of(self, course_id: UUID | None, agent_type: AgentType) -> AgentConfig | None:
        await anyio.lowlevel.checkpoint()
        group = sorted(
            self._group(course_id, agent_type),
            key=lambda c: (not c.is_active, c.created_at, c.id),
        )
        return group[0] if group else None

    async def list_for_course(self, course_id: UUID) -> Sequence[AgentConfig]:
        await anyio.lowlevel.checkpoint()
        return self._sorted(c for c in self._all() if c.course_id == course_id)

    async def list_system(self) -> Sequence[AgentConfig]:
        await anyio.lowlevel.checkpoint()
        return self._sorted(c for c in self._all() if c.course_id is None)

    async def name_taken(
        self,
        course_id: UUID | None,
        agent_type: AgentType,
        name: str,
        *,
        except_id: UUID | None = None,
    ) -> bool:
        await anyio.lowlevel.checkpoint()
        return any(c.name == name and c.id != except_id for c in self._group(course_id, agent_type))

    async def add(self, config: AgentConfig) -> None:
        await anyio.lowlevel.checkpoint()
        if self._configs.get(config.id) is not None:
            raise ValueError(f"Agent configuration {config.id} already exists")
        if config.course_id is not None and not self._course_exists(config.course_id):
            raise ValueError(f"Agent configuration course {config.course_id} does not exist")
        if config.course_id is None and config.type not in SYSTEM_TYPES:
            # The database's check constraint (ck_agent_config_system_type): a caller's bug.
            raise ValueError(f"A system configuration cannot be of type {config.type}")
        self._check_unique(config)
        self._configs.put(config.id, replace(config, masked_api_key=None))

    async def update(self, config: AgentConfig) -> None:
        await anyio.lowlevel.checkpoint()
        stored = self._configs.get(config.id)
        if stored is None:
            return  # like UPDATE ... WHERE id = :id on a missing row
        # The SQL repository writes the snapshot fields and updated_at only.
        updated = replace(
            stored,
            name=config.name,
            provider=config.provider,
            model=config.model,
            base_url=config.base_url,
            system_prompt=config.system_prompt,
            context_window=config.context_window,
            trigger=config.trigger,
            schedule=config.schedule,
            settings=dict(config.settings),
            tools=config.tools,
            tool_bounds=dict(config.tool_bounds),
            interrupt_policy=config.interrupt_policy,
            updated_at=config.updated_at,
            revision=stored.revision + 1,
        )
        self._check_unique(updated)
        self._configs.put(config.id, updated)

    async def delete(self, config_id: UUID) -> None:
        await anyio.lowlevel.checkpoint()
        self.delete_where(lambda c: c.id == config_id)

    async def activate(self, config_id: UUID) -> None:
        await anyio.lowlevel.checkpoint()
        target = self._configs.get(config_id)
        if target is None:
            return
        # Like SELECT ... FOR UPDATE of the group: held until the unit of work ends.
        await self._lock(uuid5(NAMESPACE_OID, f"agent-group:{target.course_id}:{target.type}"))
        for other in self._group(target.course_id, target.type):
            if other.is_active and other.id != config_id:
                self._configs.put(other.id, replace(other, is_active=False))
        self._configs.put(config_id, replace(target, is_active=True))

    # --- keys --------------------------------------------------------------------------

    async def keys_of(self, config_id: UUID) -> Sequence[str]:
        await anyio.lowlevel.checkpoint()
        return [row.ciphertext for row in self._key_rows(config_id)]

    async def key_masks(self, config_id: UUID) -> Mapping[KeyType, str]:
        await anyio.lowlevel.checkpoint()
        return {row.key_type: row.mask for row in self._key_rows(config_id)}

    async def set_key(
        self, config_id: UUID, key_type: KeyType, *, ciphertext: str, mask: str
    ) -> None:
        await anyio.lowlevel.checkpoint()
        if self._configs.get(config_id) is None:
            raise ValueError(f"No agent configuration {config_id} for a key")
        stored = self._keys.get((config_id, key_type))
        self._keys.put(
            (config_id, key_type),
            KeyRow(
                id=stored.id if stored is not None else uuid4(),
                config_id=config_id,
                key_type=key_type,
                ciphertext=ciphertext,
                mask=mask,
            ),
        )

    async def delete_key(self, config_id: UUID, key_type: KeyType) -> None:
        await anyio.lowlevel.checkpoint()
        if self._keys.get((config_id, key_type)) is not None:
            self._keys.delete((config_id, key_type))

    async def stored_keys(self, *, after: UUID | None, limit: int) -> Sequence[StoredKey]:
        await anyio.lowlevel.checkpoint()
        rows = sorted(self._keys.values(), key=lambda row: row.id)
        if after is not None:
            rows = [row for row in rows if row.id > after]
        return [StoredKey(id=row.id, ciphertext=row.ciphertext) for row in rows[:limit]]

    async def replace_ciphertext(self, key_id: UUID, ciphertext: str) -> None:
        await anyio.lowlevel.checkpoint()
        for key, row in self._keys.items():
            if row.id == key_id:
                self._keys.put(key, replace(row, ciphertext=ciphertext))

    # --- versions ----------------------------------------------------------------------

    async def add_version(self, version: ConfigVersion) -> None:
        await anyio.lowlevel.checkpoint()
        if self._configs.get(version.config_id) is None:
            raise ValueError(f"No agent configuration {version.config_id} for a version")
        self._versions.put(version.id, version)

    async def get_version(self, version_id: UUID) -> ConfigVersion | None:
        await anyio.lowlevel.checkpoint()
        version: ConfigVersion | None = self._versions.get(version_id)
        return version

    async def list_versions(
        self, config_id: UUID, *, offset: int, limit: int
    ) -> tuple[Sequence[ConfigVersion], int]:
        await anyio.lowlevel.checkpoint()
        found = [v for v in self._versions.values() if v.config_id == config_id]
        found.sort(key=lambda v: (v.created_at, v.id), reverse=True)
        return found[offset : offset + limit], len(found)

    # --- cascades and helpers ----------------------------------------------------------

    def delete_where(self, predicate: Callable[[AgentConfig], bool]) -> None:
        """Delete matching configurations with their keys and versions (ON DELETE CASCADE)."""
        doomed = {c.id for c in self._all() if predicate(c)}
        for config_id in doomed:
            self._configs.delete(config_id)
        for key, row in list(self._keys.items()):
            if row.config_id in doomed:
                self._keys.delete(key)
        for version in self._versions.values():
            if version.config_id in doomed:
                self._versions.delete(version.id)

    def course_deleted(self, course_id: UUID) -> None:
        self.delete_where(lambda c: c.course_id == course_id)

    def user_deleted(self, user_id: UUID) -> None:
        """ON DELETE SET NULL of `created_by`."""
        for config in self._all():
            if config.created_by == user_id:
                self._configs.put(config.id, replace(config, created_by=None))
        for version in self._versions.values():
            if version.created_by == user_id:
                self._versions.put(version.id, replace(version, created_by=None))

    def _all(self) -> list[AgentConfig]:
        configs: list[AgentConfig] = self._configs.values()
        return configs

    def _group(self, course_id: UUID | None, agent_type: AgentType) -> list[AgentConfig]:
        return [
            self._with_mask(c)
            for c in self._all()
            if c.course_id == course_id and c.type is agent_type
        ]

    def _sorted(self, configs: Any) -> list[AgentConfig]:
        rank = {agent_type: index for index, agent_type in enumerate(AgentType)}
        return [
            self._with_mask(c)
            for c in sorted(configs, key=lambda c: (rank[c.type], c.created_at, c.id))
        ]

    def _key_rows(self, config_id: UUID) -> list[KeyRow]:
        rows = {row.key_type: row for row in self._keys.values() if row.config_id == config_id}
        return [rows[key_type] for key_type in KEY_ORDER if key_type in rows]

    def _with_mask(self, config: AgentConfig) -> AgentConfig:
        row = self._keys.get((config.id, KeyType.API_KEY))
        return replace(config, masked_api_key=row.mask if row is not None else None)

    def _check_unique(self, config: AgentConfig) -> None:
        for other in self._group(config.course_id, config.type):
            if other.id == config.id:
                continue
            if other.name == config.name:
                raise Conflict(NAME_TAKEN)
            if other.is_active and config.is_active:
                raise Conflict(CONCURRENT)
