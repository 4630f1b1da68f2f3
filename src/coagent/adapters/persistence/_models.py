"""Table definitions. Private: import them from `coagent.adapters.persistence.models`."""

from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase, orm_registry
from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

ROLE_VALUES = ("guest", "student", "ta", "teacher", "admin", "super_admin")


class UserModel(UUIDv7AuditBase):
    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in ROLE_VALUES) + ")", name="role"),
    )

    email: Mapped[str] = mapped_column(String(320), unique=True)
    username: Mapped[str | None] = mapped_column(String(63), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="guest", index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    avatar_url: Mapped[str | None] = mapped_column(String(255))


class AuthSessionModel(UUIDv7AuditBase):
    __tablename__ = "auth_session"

    user_id: Mapped[UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    refresh_jti: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    impersonator_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE")
    )
    original_session_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("auth_session.id", ondelete="SET NULL")
    )


class AvatarModel(UUIDv7AuditBase):
    __tablename__ = "avatar"

    user_id: Mapped[UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), unique=True
    )
    file_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEventModel(UUIDv7AuditBase):
    __tablename__ = "audit_event"

    actor_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)


class SystemStateModel(UUIDv7AuditBase):
    """One-time markers (first-start steps)."""

    __tablename__ = "system_state"

    key: Mapped[str] = mapped_column(String(100), unique=True)
    value: Mapped[str | None] = mapped_column(Text)


class CourseModel(UUIDv7AuditBase):
    __tablename__ = "course"

    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # The course outlives its owner's account (admins take over); see docs/adr/0003.
    owner_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )


class CourseMembershipModel(UUIDv7AuditBase):
    __tablename__ = "course_membership"
    __table_args__ = (
        UniqueConstraint("course_id", "user_id", name="uq_course_membership_course_user"),
        CheckConstraint("role IN ('teacher', 'ta', 'student')", name="role"),
    )

    course_id: Mapped[UUID] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    user_id: Mapped[UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))


class RoomModel(UUIDv7AuditBase):
    __tablename__ = "room"
    __table_args__ = (
        CheckConstraint("ai_mode IN ('off', 'teacher_only', 'both')", name="ai_mode"),
        CheckConstraint("ai_frequency >= 0 AND ai_frequency <= 1", name="ai_frequency"),
        CheckConstraint(
            "approval_mode IN ('agent', 'human', 'agent_then_human')", name="approval_mode"
        ),
    )

    course_id: Mapped[UUID] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    ai_mode: Mapped[str] = mapped_column(String(16), default="teacher_only")
    ai_frequency: Mapped[float] = mapped_column(Float, default=0.5)
    is_ai_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_analytics_active: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who decides on the peer agent's proposals (issue 17).
    approval_mode: Mapped[str] = mapped_column(String(16), default="agent", server_default="agent")
    # The seq of the room's latest message; moved in the message's own transaction.
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class RoomAssignmentModel(UUIDv7AuditBase):
    __tablename__ = "room_assignment"
    __table_args__ = (UniqueConstraint("room_id", "user_id", name="uq_room_assignment_room_user"),)

    room_id: Mapped[UUID] = mapped_column(ForeignKey("room.id", ondelete="CASCADE"))
    user_id: Mapped[UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )


class AnnouncementModel(UUIDv7AuditBase):
    __tablename__ = "announcement"

    course_id: Mapped[UUID] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)


metadata = orm_registry.metadata
