"""The agent-configuration repository port (part of the unit of work as `agent_configs`).

Guarantees every implementation keeps (the SQL one through the database itself):
- at most one active configuration per (course, type), and per type among the system
  configurations (course None); names are unique within (course, type) likewise;
  a write that would break either raises `Conflict`;
- keys are stored only as ciphertext (with the mask computed when they were written), at most
  one per (configuration, key type); they and the versions go with their configuration;
- a course's configurations go with the course.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from coagent.domain.agents.config import AgentConfig, AgentType, ConfigVersion
from coagent.domain.agents.keys import KeyType


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredKey:
    """One encrypted key, as key rotation sees it."""

    id: UUID
    ciphertext: str


class AgentConfigRepository(Protocol):
    async def get(self, config_id: UUID) -> AgentConfig | None: ...

    async def active_for(self, course_id: UUID | None, agent_type: AgentType) -> AgentConfig | None:
        """The active configuration of the type in the course (None: the system one)."""
        ...

    async def list_for_course(self, course_id: UUID) -> Sequence[AgentConfig]:
        """Ordered by type, then creation (oldest first)."""
        ...

    async def list_system(self) -> Sequence[AgentConfig]:
        """The system configurations (course None), ordered by type, then creation."""
        ...

    async def first_of(self, course_id: UUID | None, agent_type: AgentType) -> AgentConfig | None:
        """The active configuration of the type, else the oldest one, else None."""
        ...

    async def name_taken(
        self,
        course_id: UUID | None,
        agent_type: AgentType,
        name: str,
        *,
        except_id: UUID | None = None,
    ) -> bool: ...

    async def add(self, config: AgentConfig) -> None:
        """Insert (`masked_api_key` is ignored: keys are written with `set_key`).

        Raises `Conflict` on a taken name or a second active configuration.
        """
        ...

    async def update(self, config: AgentConfig) -> None:
        """Write every field but the identity, placement, activation and creation.

        Raises `Conflict` on a taken name.
        """
        ...

    async def delete(self, config_id: UUID) -> None:
        """Delete with its keys and versions."""
        ...

    async def activate(self, config_id: UUID) -> None:
        """Make it the one active configuration of its (course, type), atomically: the others
        are deactivated in the same transaction. Raises `Conflict` when a concurrent write
        got in the way (the database's uniqueness guarantee held).
        """
        ...

    async def keys_of(self, config_id: UUID) -> Sequence[str]:
        """The stored key ciphertexts in the order a provider call tries them
        (`coagent.domain.agents.keys.KEY_ORDER`); empty when there is none.
        """
        ...

    async def key_masks(self, config_id: UUID) -> Mapping[KeyType, str]:
        """The mask of every stored key, in `KEY_ORDER`. No decryption needed."""
        ...

    async def set_key(
        self, config_id: UUID, key_type: KeyType, *, ciphertext: str, mask: str
    ) -> None:
        """Store (or replace) the key of that type."""
        ...

    async def delete_key(self, config_id: UUID, key_type: KeyType) -> None: ...

    async def stored_keys(self, *, after: UUID | None, limit: int) -> Sequence[StoredKey]:
        """Every stored key of every configuration, by id, `limit` at a time after `after`."""
        ...

    async def replace_ciphertext(self, key_id: UUID, ciphertext: str) -> None: ...

    async def add_version(self, version: ConfigVersion) -> None: ...

    async def get_version(self, version_id: UUID) -> ConfigVersion | None: ...

    async def list_versions(
        self, config_id: UUID, *, offset: int, limit: int
    ) -> tuple[Sequence[ConfigVersion], int]:
        """A page of the configuration's versions, newest first, and their total count."""
        ...
