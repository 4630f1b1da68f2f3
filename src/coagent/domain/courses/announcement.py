"""Announcements of a course."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from coagent.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True, kw_only=True)
class Announcement:
    id: UUID
    course_id: UUID
    # None once the author's account is deleted: the announcement stays.
    author_id: UUID | None
    title: str
    content: str
    created_at: datetime
    updated_at: datetime


def check_announcement(title: str, content: str) -> None:
    if not title.strip():
        raise InvalidInput("Title must not be blank")
    if not content.strip():
        raise InvalidInput("Content must not be blank")
