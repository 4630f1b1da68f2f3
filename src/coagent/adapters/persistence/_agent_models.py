"""Agent configuration tables. Private: import them from `coagent.adapters.persistence.models`.

The database itself keeps the guarantees of `coagent.application.ports.agents`:
- partial unique indexes allow one active configuration per (course, type) and one per type
  among the system configurations (course_id NULL: NULLs never collide in a plain unique
  index, hence the second, separate index); names are unique the same two ways;
- keys and versions cascade with their configuration, configurations with their course;
- a key row holds ciphertext and the mask computed when it was written, never the key.
"""

from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import JsonB
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

AGENT_TYPES = ("teacher", "student", "design", "analytics")
PROVIDERS = ("openai", "gemini", "offline")
KEY_TYPES = ("api_key", "room_key", "global_key", "backup_key")
INTERRUPT_POLICIES = ("queue", "interrupt")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


_ACTIVE_IN_COURSE = text("is_active AND course_id IS NOT NULL")
_ACTIVE_SYSTEM = text("is_active AND course_id IS NULL")
_SYSTEM = text("course_id IS NULL")


class AgentConfigModel(UUIDv7AuditBase):
    __tablename__ = "agent_config"
    __table_args__ = (
        CheckConstraint(_in("type", AGENT_TYPES), name="type"),
        CheckConstraint(_in("provider", PROVIDERS), name="provider"),
        CheckConstraint("context_window >= 1 AND context_window <= 500", name="context_window"),
        CheckConstraint(_in("interrupt_policy", INTERRUPT_POLICIES), name="interrupt_policy"),
        CheckConstraint(
            "course_id IS NOT NULL OR type IN ('design', 'analytics')", name="system_type"
        ),
        UniqueConstraint("course_id", "type", "name", name="uq_agent_config_course_type_name"),
        Index(
            "uq_agent_config_system_type_name",
            "type",
            "name",
            unique=True,
            postgresql_where=_SYSTEM,
            sqlite_where=_SYSTEM,
        ),
        Index(
            "uq_agent_config_active_course_type",
            "course_id",
            "type",
            unique=True,
            postgresql_where=_ACTIVE_IN_COURSE,
            sqlite_where=_ACTIVE_IN_COURSE,
        ),
        Index(
            "uq_agent_config_active_system_type",
            "type",
            unique=True,
            postgresql_where=_ACTIVE_SYSTEM,
            sqlite_where=_ACTIVE_SYSTEM,
        ),
    )

    # NULL: a system configuration. The unique constraint's index (course_id first) serves
    # the lookups by course.
    course_id: Mapped[UUID | None] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(200))
    base_url: Mapped[str | None] = mapped_column(String(2048))
    system_prompt: Mapped[str] = mapped_column(Text)
    context_window: Mapped[int] = mapped_column(Integer)
    trigger_config: Mapped[dict[str, Any]] = mapped_column(JsonB)
    schedule_config: Mapped[dict[str, Any] | None] = mapped_column(JsonB)
    settings: Mapped[dict[str, Any]] = mapped_column(JsonB)
    # Issue 17 (migration 0010): tool names, their bounds per trigger type, interrupt policy.
    tools: Mapped[list[str]] = mapped_column(JsonB, default=list, server_default="[]")
    tool_bounds: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict, server_default="{}")
    interrupt_policy: Mapped[str] = mapped_column(
        String(16), default="queue", server_default="queue"
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    # The configuration version a turn records: 1, then + 1 on every update.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class AgentKeyModel(UUIDv7AuditBase):
    __tablename__ = "agent_key"
    __table_args__ = (
        UniqueConstraint("config_id", "key_type", name="uq_agent_key_config_key_type"),
        CheckConstraint(_in("key_type", KEY_TYPES), name="key_type"),
    )

    config_id: Mapped[UUID] = mapped_column(ForeignKey("agent_config.id", ondelete="CASCADE"))
    key_type: Mapped[str] = mapped_column(String(16))
    # SecretBox ciphertext (Fernet under ENCRYPTION_KEYS); `coagent keys rotate` rewrites it.
    ciphertext: Mapped[str] = mapped_column(Text)
    # What responses show (`sk-…89`), computed at write time so no read ever decrypts.
    mask: Mapped[str] = mapped_column(String(16))


class AgentConfigVersionModel(UUIDv7AuditBase):
    """A snapshot of a configuration without its keys."""

    __tablename__ = "agent_config_version"
    __table_args__ = (
        CheckConstraint(_in("provider", PROVIDERS), name="provider"),
        Index("ix_agent_config_version_config_id_created_at", "config_id", "created_at"),
    )

    config_id: Mapped[UUID] = mapped_column(ForeignKey("agent_config.id", ondelete="CASCADE"))
    version_label: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(200))
    base_url: Mapped[str | None] = mapped_column(String(2048))
    system_prompt: Mapped[str] = mapped_column(Text)
    context_window: Mapped[int] = mapped_column(Integer)
    trigger_config: Mapped[dict[str, Any]] = mapped_column(JsonB)
    schedule_config: Mapped[dict[str, Any] | None] = mapped_column(JsonB)
    settings: Mapped[dict[str, Any]] = mapped_column(JsonB)
    tools: Mapped[list[str]] = mapped_column(JsonB, default=list, server_default="[]")
    tool_bounds: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict, server_default="{}")
    interrupt_policy: Mapped[str] = mapped_column(
        String(16), default="queue", server_default="queue"
    )
    created_by: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
