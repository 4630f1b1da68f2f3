"""Analytics job table. Private: import it from `coagent.adapters.persistence.models`."""

from datetime import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

JOB_STATUSES = ("queued", "running", "succeeded", "partial", "failed", "cancelled")
# At most one job per course in these statuses: a second request finds the first one.
_ACTIVE = text("status IN ('queued', 'running')")


class AnalyticsJobModel(UUIDv7AuditBase):
    __tablename__ = "analytics_job"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in JOB_STATUSES) + ")", name="status"
        ),
        Index(
            "uq_analytics_job_active_course",
            "course_id",
            unique=True,
            postgresql_where=_ACTIVE,
            sqlite_where=_ACTIVE,
        ),
    )

    course_id: Mapped[UUID] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    rooms_done: Mapped[int] = mapped_column(Integer, default=0)
    rooms_total: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # The report's id (the report points back with its unique job_id).
    report_id: Mapped[UUID | None] = mapped_column(GUID)
    error_code: Mapped[str | None] = mapped_column(String(32))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
