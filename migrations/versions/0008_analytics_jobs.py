"""analytics jobs; reports know their job and hold per-room details

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy import types as sa_types
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table(
        "analytics_job",
        sa.Column("id", sa_types.GUID(length=16), nullable=False),
        sa.Column("course_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rooms_done", sa.Integer(), nullable=False),
        sa.Column("rooms_total", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa_types.GUID(length=16), nullable=True),
        sa.Column("started_at", sa_types.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("finished_at", sa_types.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("report_id", sa_types.GUID(length=16), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa_types.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled')",
            name=op.f("ck_analytics_job_status"),
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["course.id"],
            name=op.f("fk_analytics_job_course_id_course"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["user_account.id"],
            name=op.f("fk_analytics_job_requested_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_job")),
    )
    with op.batch_alter_table("analytics_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analytics_job_course_id"), ["course_id"])
        batch_op.create_index(batch_op.f("ix_analytics_job_requested_by"), ["requested_by"])
        batch_op.create_index(
            "uq_analytics_job_active_course",
            ["course_id"],
            unique=True,
            postgresql_where=ACTIVE,
            sqlite_where=ACTIVE,
        )
    with op.batch_alter_table("analytics_report", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_id", sa_types.GUID(length=16), nullable=True))
        batch_op.add_column(sa.Column("details", sa_types.JsonB, nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_analytics_report_job_id"), ["job_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_analytics_report_job_id_analytics_job"),
            "analytics_job",
            ["job_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("analytics_report", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_analytics_report_job_id_analytics_job"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_analytics_report_job_id"), type_="unique")
        batch_op.drop_column("details")
        batch_op.drop_column("job_id")
    op.drop_table("analytics_job")
