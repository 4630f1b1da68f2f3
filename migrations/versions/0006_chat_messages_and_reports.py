"""chat messages with a per-room seq, analytics reports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy import types as sa_types
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _audit_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_seq", sa.BigInteger(), server_default="0", nullable=False)
        )

    op.create_table(
        "message",
        sa.Column("id", sa_types.GUID(length=16), nullable=False),
        sa.Column("room_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("sender_id", sa_types.GUID(length=16), nullable=True),
        sa.Column("agent_type", sa.String(length=16), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("client_msg_id", sa.String(length=64), nullable=True),
        *_audit_columns(),
        sa.ForeignKeyConstraint(
            ["room_id"], ["room.id"], name=op.f("fk_message_room_id_room"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["user_account.id"],
            name=op.f("fk_message_sender_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
        sa.UniqueConstraint("room_id", "seq", name="uq_message_room_seq"),
        sa.UniqueConstraint(
            "room_id", "sender_id", "client_msg_id", name="uq_message_room_sender_client_msg_id"
        ),
    )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_sender_id"), ["sender_id"], unique=False)

    op.create_table(
        "analytics_report",
        sa.Column("id", sa_types.GUID(length=16), nullable=False),
        sa.Column("course_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("room_id", sa_types.GUID(length=16), nullable=True),
        sa.Column("report_type", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_by", sa_types.GUID(length=16), nullable=True),
        *_audit_columns(),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["course.id"],
            name=op.f("fk_analytics_report_course_id_course"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
            name=op.f("fk_analytics_report_room_id_room"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_analytics_report_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_report")),
    )
    with op.batch_alter_table("analytics_report", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_analytics_report_course_id"), ["course_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_analytics_report_room_id"), ["room_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_analytics_report_created_by"), ["created_by"], unique=False
        )


def downgrade() -> None:
    op.drop_table("analytics_report")
    op.drop_table("message")
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.drop_column("last_seq")
