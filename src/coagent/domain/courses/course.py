"""Courses and their members."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from coagent.domain.courses.policy import CourseRole


@dataclass(frozen=True, slots=True, kw_only=True)
class Course:
    id: UUID
    title: str
    description: str | None
    # None once the owner's account is deleted: the course stays, admins manage it.
    owner_id: UUID | None
    created_at: datetime
    updated_at: datetime
    owner_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    user_id: UUID
    email: str
    full_name: str | None
    avatar_url: str | None
    role: CourseRole
    is_owner: bool
