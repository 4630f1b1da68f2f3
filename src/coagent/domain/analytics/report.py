"""A stored analytics report: the markdown the original clients read, and per-room details."""

from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

from coagent.domain.analytics.figures import RoomFigures, StudentFigures

REPORT_TYPE: Final = "course_summary"


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomSection:
    room_id: UUID
    room_name: str
    figures: RoomFigures
    students: tuple[StudentFigures, ...]
    summary: str | None  # the model's markdown; None when its call failed
    error_code: str | None = None  # typed, when the summary failed
    room_deleted: bool = False  # set when read: the room no longer exists


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    id: UUID
    course_id: UUID
    job_id: UUID | None
    created_at: datetime
    created_by: UUID | None
    content: str
    rooms: tuple[RoomSection, ...]
    provider: str | None = None
    model: str | None = None
    report_type: str = REPORT_TYPE
