"""rooms and assignments

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy import types as sa_types
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "room",
        sa.Column("id", sa_types.GUID(length=16), nullable=False),
        sa.Column("course_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("ai_mode", sa.String(length=16), nullable=False),
        sa.Column("ai_frequency", sa.Float(), nullable=False),
        sa.Column("is_ai_active", sa.Boolean(), nullable=False),
        sa.Column("is_analytics_active", sa.Boolean(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "ai_mode IN ('off', 'teacher_only', 'both')", name=op.f("ck_room_ai_mode")
        ),
        sa.CheckConstraint(
            "ai_frequency >= 0 AND ai_frequency <= 1", name=op.f("ck_room_ai_frequency")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["course.id"], name=op.f("fk_room_course_id_course"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room")),
    )
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_course_id"), ["course_id"], unique=False)

    op.create_table(
        "room_assignment",
        sa.Column("id", sa_types.GUID(length=16), nullable=False),
        sa.Column("room_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("user_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
            name=op.f("fk_room_assignment_room_id_room"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_room_assignment_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_assignment")),
        sa.UniqueConstraint("room_id", "user_id", name="uq_room_assignment_room_user"),
    )
    with op.batch_alter_table("room_assignment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_assignment_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("room_assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_assignment_user_id"))

    op.drop_table("room_assignment")
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_course_id"))

    op.drop_table("room")
