"""peer-agent proposals, room.approval_mode

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy import types as sa_types
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_proposal",
        sa.Column("id", sa_types.GUID(length=16), nullable=False),
        sa.Column("room_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("turn_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("decided_at", sa_types.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("decided_by", sa_types.GUID(length=16), nullable=True),
        sa.Column("decided_by_agent", sa.Boolean(), nullable=False),
        sa.Column("screened_by_agent", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'edited', 'rejected', 'expired')",
            name=op.f("ck_agent_proposal_status"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["user_account.id"],
            name=op.f("fk_agent_proposal_decided_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
            name=op.f("fk_agent_proposal_room_id_room"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["turn_id"],
            ["agent_turn.id"],
            name=op.f("fk_agent_proposal_turn_id_agent_turn"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_proposal")),
        sa.UniqueConstraint("turn_id", name=op.f("uq_agent_proposal_turn_id")),
    )
    with op.batch_alter_table("agent_proposal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_proposal_decided_by"), ["decided_by"], unique=False
        )
        batch_op.create_index(
            "ix_agent_proposal_room_id_created_at", ["room_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_agent_proposal_pending_expires_at",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )

    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approval_mode", sa.String(length=16), server_default="agent", nullable=False)
        )
        batch_op.create_check_constraint(
            "approval_mode", "approval_mode IN ('agent', 'human', 'agent_then_human')"
        )


def downgrade() -> None:
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_room_approval_mode"), type_="check")
        batch_op.drop_column("approval_mode")

    with op.batch_alter_table("agent_proposal", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_agent_proposal_pending_expires_at",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index("ix_agent_proposal_room_id_created_at")
        batch_op.drop_index(batch_op.f("ix_agent_proposal_decided_by"))

    op.drop_table("agent_proposal")
