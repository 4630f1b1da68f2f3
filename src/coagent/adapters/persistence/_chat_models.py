"""Chat and report tables. Private: import them from `coagent.adapters.persistence.models`."""

from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import JsonB
from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

# Columns a migration owns that the models leave out on purpose (the schema check skips
# them): `message.event_pieces`, PostgreSQL only, generated from the row (migration 0012,
# ADR 0019) and read by the history page statement alone.
MIGRATION_ONLY_COLUMNS = frozenset({("message", "event_pieces")})


class MessageModel(UUIDv7AuditBase):
    __tablename__ = "message"
    __table_args__ = (
        # The history index: every page is a range scan on (room_id, seq).
        UniqueConstraint("room_id", "seq", name="uq_message_room_seq"),
        # Idempotent sends; rows without a client_msg_id never collide (NULLs are distinct).
        UniqueConstraint(
            "room_id", "sender_id", "client_msg_id", name="uq_message_room_sender_client_msg_id"
        ),
        # An agent's last message in a room (the decision rule's activity read).
        Index("ix_message_room_id_agent_type_seq", "room_id", "agent_type", "seq"),
    )

    room_id: Mapped[UUID] = mapped_column(ForeignKey("room.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    sender_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    agent_type: Mapped[str | None] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    # The agent turn that produced this message (at most one message per turn).
    turn_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("agent_turn.id", ondelete="SET NULL"), unique=True
    )
    # An agent message's author as named when it was written (its configuration's name then;
    # migration 0011), so a rename never rewrites history. NULL for human messages (their
    # name is the user's, read when shown) and for agent messages older than the column.
    sender_name: Mapped[str | None] = mapped_column(String(100))


class AnalyticsReportModel(UUIDv7AuditBase):
    """Reports on a course's discussions (written by the analytics agent)."""

    __tablename__ = "analytics_report"

    course_id: Mapped[UUID] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    # A report on one room; NULL for a course-wide report or once the room is deleted.
    room_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("room.id", ondelete="SET NULL"), index=True
    )
    report_type: Mapped[str] = mapped_column(String(32), default="course_summary")
    content: Mapped[str] = mapped_column(Text)
    created_by: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    # The job that wrote it: one report per job at most (NULL for reports made otherwise).
    job_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("analytics_job.id", ondelete="SET NULL"), unique=True
    )
    # Per room: name, summary or typed error code, figures, per-student figures.
    details: Mapped[dict[str, Any] | None] = mapped_column(JsonB)
