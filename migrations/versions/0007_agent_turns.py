"""agent turns (exactly-once agent replies), room leases, message.turn_id, config revision

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy import types as sa_types
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_room_lease",
        sa.Column("room_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("holder", sa_types.GUID(length=16), nullable=False),
        sa.Column("expires_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
            name=op.f("fk_agent_room_lease_room_id_room"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("room_id", name=op.f("pk_agent_room_lease")),
    )
    op.create_table(
        "agent_turn",
        sa.Column("id", sa_types.GUID(length=16), nullable=False),
        sa.Column("room_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("agent_type", sa.String(length=16), nullable=False),
        sa.Column("config_id", sa_types.GUID(length=16), nullable=True),
        sa.Column("config_revision", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("trigger_key", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("caused_by_seq", sa.BigInteger(), nullable=True),
        sa.Column("requested_by", sa_types.GUID(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_token", sa_types.GUID(length=16), nullable=True),
        sa.Column("lease_expires_at", sa_types.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=True),
        sa.Column("tokens_out", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("first_token_ms", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("seen_up_to_seq", sa.BigInteger(), nullable=True),
        sa.Column("merged_into", sa_types.GUID(length=16), nullable=True),
        sa.Column("started_at", sa_types.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("finished_at", sa_types.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('mention', 'probability', 'message_count', 'time_interval', 'silence', 'request')",
            name=op.f("ck_agent_turn_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'skipped', 'merged')",
            name=op.f("ck_agent_turn_status"),
        ),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["agent_config.id"],
            name=op.f("fk_agent_turn_config_id_agent_config"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["user_account.id"],
            name=op.f("fk_agent_turn_requested_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["room.id"], name=op.f("fk_agent_turn_room_id_room"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_turn")),
        sa.UniqueConstraint("room_id", "agent_type", "trigger_key", name="uq_agent_turn_identity"),
    )
    with op.batch_alter_table("agent_turn", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_turn_config_id"), ["config_id"], unique=False)
        batch_op.create_index(
            "ix_agent_turn_queued",
            ["room_id", "created_at"],
            unique=False,
            postgresql_where=sa.text("status = 'queued'"),
            sqlite_where=sa.text("status = 'queued'"),
        )
        batch_op.create_index(
            batch_op.f("ix_agent_turn_requested_by"), ["requested_by"], unique=False
        )
        batch_op.create_index(
            "ix_agent_turn_room_id_created_at", ["room_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_agent_turn_running_lease",
            ["lease_expires_at"],
            unique=False,
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        )

    with op.batch_alter_table("agent_config", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("turn_id", sa_types.GUID(length=16), nullable=True))
        batch_op.create_index(
            "ix_message_room_id_agent_type_seq", ["room_id", "agent_type", "seq"], unique=False
        )
        batch_op.create_unique_constraint(batch_op.f("uq_message_turn_id"), ["turn_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_message_turn_id_agent_turn"),
            "agent_turn",
            ["turn_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_message_turn_id_agent_turn"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_message_turn_id"), type_="unique")
        batch_op.drop_index("ix_message_room_id_agent_type_seq")
        batch_op.drop_column("turn_id")

    with op.batch_alter_table("agent_config", schema=None) as batch_op:
        batch_op.drop_column("revision")

    with op.batch_alter_table("agent_turn", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_agent_turn_running_lease",
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        )
        batch_op.drop_index("ix_agent_turn_room_id_created_at")
        batch_op.drop_index(batch_op.f("ix_agent_turn_requested_by"))
        batch_op.drop_index(
            "ix_agent_turn_queued",
            postgresql_where=sa.text("status = 'queued'"),
            sqlite_where=sa.text("status = 'queued'"),
        )
        batch_op.drop_index(batch_op.f("ix_agent_turn_config_id"))

    op.drop_table("agent_turn")
    op.drop_table("agent_room_lease")
