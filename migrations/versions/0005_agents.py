"""agent configurations, their encrypted keys and versions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy import types as sa_types
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_IN_COURSE = sa.text("is_active AND course_id IS NOT NULL")
ACTIVE_SYSTEM = sa.text("is_active AND course_id IS NULL")
SYSTEM = sa.text("course_id IS NULL")


def _audit_columns() -> list[sa.Column]:
    return [
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "agent_config",
        sa.Column("id", sa_types.GUID(length=16), nullable=False),
        sa.Column("course_id", sa_types.GUID(length=16), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("base_url", sa.String(length=2048), nullable=True),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("context_window", sa.Integer(), nullable=False),
        sa.Column("trigger_config", sa_types.JsonB, nullable=False),
        sa.Column("schedule_config", sa_types.JsonB, nullable=True),
        sa.Column("settings", sa_types.JsonB, nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa_types.GUID(length=16), nullable=True),
        *_audit_columns(),
        sa.CheckConstraint(
            "type IN ('teacher', 'student', 'design', 'analytics')",
            name=op.f("ck_agent_config_type"),
        ),
        sa.CheckConstraint(
            "provider IN ('openai', 'gemini', 'offline')", name=op.f("ck_agent_config_provider")
        ),
        sa.CheckConstraint(
            "context_window >= 1 AND context_window <= 500",
            name=op.f("ck_agent_config_context_window"),
        ),
        sa.CheckConstraint(
            "course_id IS NOT NULL OR type IN ('design', 'analytics')",
            name=op.f("ck_agent_config_system_type"),
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["course.id"],
            name=op.f("fk_agent_config_course_id_course"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_agent_config_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_config")),
        sa.UniqueConstraint("course_id", "type", "name", name="uq_agent_config_course_type_name"),
    )
    with op.batch_alter_table("agent_config", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_config_created_by"), ["created_by"], unique=False
        )
        batch_op.create_index(
            "uq_agent_config_system_type_name",
            ["type", "name"],
            unique=True,
            postgresql_where=SYSTEM,
            sqlite_where=SYSTEM,
        )
        batch_op.create_index(
            "uq_agent_config_active_course_type",
            ["course_id", "type"],
            unique=True,
            postgresql_where=ACTIVE_IN_COURSE,
            sqlite_where=ACTIVE_IN_COURSE,
        )
        batch_op.create_index(
            "uq_agent_config_active_system_type",
            ["type"],
            unique=True,
            postgresql_where=ACTIVE_SYSTEM,
            sqlite_where=ACTIVE_SYSTEM,
        )

    op.create_table(
        "agent_key",
        sa.Column("id", sa_types.GUID(length=16), nullable=False),
        sa.Column("config_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("mask", sa.String(length=16), nullable=False),
        *_audit_columns(),
        sa.CheckConstraint(
            "key_type IN ('api_key', 'room_key', 'global_key', 'backup_key')",
            name=op.f("ck_agent_key_key_type"),
        ),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["agent_config.id"],
            name=op.f("fk_agent_key_config_id_agent_config"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_key")),
        sa.UniqueConstraint("config_id", "key_type", name="uq_agent_key_config_key_type"),
    )

    op.create_table(
        "agent_config_version",
        sa.Column("id", sa_types.GUID(length=16), nullable=False),
        sa.Column("config_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("version_label", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("base_url", sa.String(length=2048), nullable=True),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("context_window", sa.Integer(), nullable=False),
        sa.Column("trigger_config", sa_types.JsonB, nullable=False),
        sa.Column("schedule_config", sa_types.JsonB, nullable=True),
        sa.Column("settings", sa_types.JsonB, nullable=False),
        sa.Column("created_by", sa_types.GUID(length=16), nullable=True),
        *_audit_columns(),
        sa.CheckConstraint(
            "provider IN ('openai', 'gemini', 'offline')",
            name=op.f("ck_agent_config_version_provider"),
        ),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["agent_config.id"],
            name=op.f("fk_agent_config_version_config_id_agent_config"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_agent_config_version_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_config_version")),
    )
    with op.batch_alter_table("agent_config_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agent_config_version_config_id_created_at",
            ["config_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_agent_config_version_created_by"), ["created_by"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_config_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_config_version_created_by"))
        batch_op.drop_index("ix_agent_config_version_config_id_created_at")
    op.drop_table("agent_config_version")
    op.drop_table("agent_key")
    with op.batch_alter_table("agent_config", schema=None) as batch_op:
        batch_op.drop_index("uq_agent_config_active_system_type")
        batch_op.drop_index("uq_agent_config_active_course_type")
        batch_op.drop_index("uq_agent_config_system_type_name")
        batch_op.drop_index(batch_op.f("ix_agent_config_created_by"))
    op.drop_table("agent_config")
