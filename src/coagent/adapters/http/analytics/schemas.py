"""Wire shapes of analytics reports and jobs. A report keeps the original's fields (`id`,
`course_id`, `room_id`, `content`, `created_at`, `report_type`) and adds the job and rooms.
"""

import csv
import io
from datetime import datetime
from typing import Final
from uuid import UUID

import msgspec

from coagent.domain.analytics.figures import StudentFigures
from coagent.domain.analytics.job import AnalyticsJob
from coagent.domain.analytics.report import Report, RoomSection

STUDENT_COLUMNS: Final = (
    "room",
    "room_id",
    "name",
    "user_id",
    "messages",
    "words",
    "share",
    "first_activity",
    "last_activity",
    "replies",
    "teacher_mentions",
)


class JobRead(msgspec.Struct, kw_only=True):
    id: UUID
    course_id: UUID
    status: str  # queued | running | succeeded | partial | failed | cancelled
    rooms_done: int
    rooms_total: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    report_id: UUID | None
    # Where the report is once there is one.
    report_url: str | None
    error_code: str | None

    @classmethod
    def of(cls, job: AnalyticsJob) -> "JobRead":
        return cls(
            id=job.id,
            course_id=job.course_id,
            status=job.status.value,
            rooms_done=job.rooms_done,
            rooms_total=job.rooms_total,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            report_id=job.report_id,
            report_url=(
                f"/api/v1/analytics/reports/{job.report_id}" if job.report_id is not None else None
            ),
            error_code=job.error_code,
        )


class StudentRead(msgspec.Struct, kw_only=True):
    user_id: UUID
    name: str
    messages: int
    words: int
    share: float
    first_activity: datetime
    last_activity: datetime
    replies: int
    teacher_mentions: int

    @classmethod
    def of(cls, s: StudentFigures) -> "StudentRead":
        return cls(
            user_id=s.user_id,
            name=s.name,
            messages=s.messages,
            words=s.words,
            share=s.share,
            first_activity=s.first_activity,
            last_activity=s.last_activity,
            replies=s.replies,
            teacher_mentions=s.teacher_mentions,
        )


class RoomFiguresRead(msgspec.Struct, kw_only=True):
    messages: int
    human_messages: int
    humans_active: int
    agent_messages: dict[str, int]
    median_gap_seconds: float | None


class RoomReportRead(msgspec.Struct, kw_only=True):
    room_id: UUID
    room_name: str
    room_deleted: bool
    summary: str | None
    error_code: str | None
    figures: RoomFiguresRead
    students: list[StudentRead]

    @classmethod
    def of(cls, s: RoomSection) -> "RoomReportRead":
        f = s.figures
        return cls(
            room_id=s.room_id,
            room_name=s.room_name,
            room_deleted=s.room_deleted,
            summary=s.summary,
            error_code=s.error_code,
            figures=RoomFiguresRead(
                messages=f.messages,
                human_messages=f.human_messages,
                humans_active=f.humans_active,
                agent_messages=dict(f.agent_messages),
                median_gap_seconds=f.median_gap_seconds,
            ),
            students=[StudentRead.of(st) for st in s.students],
        )


class ReportRead(msgspec.Struct, kw_only=True):
    id: UUID
    course_id: UUID
    room_id: UUID | None  # always null: a report covers the course (the original's field)
    content: str  # markdown: `# Course Analytics Report: ...`, `## Room: ...` sections
    created_at: datetime
    report_type: str
    job_id: UUID | None
    provider: str | None
    model: str | None
    rooms: list[RoomReportRead]

    @classmethod
    def of(cls, report: Report) -> "ReportRead":
        return cls(
            id=report.id,
            course_id=report.course_id,
            room_id=None,
            content=report.content,
            created_at=report.created_at,
            report_type=report.report_type,
            job_id=report.job_id,
            provider=report.provider,
            model=report.model,
            rooms=[RoomReportRead.of(section) for section in report.rooms],
        )


class StudentRow(msgspec.Struct, kw_only=True):
    """One line of the export: a student in a room."""

    room: str
    room_id: UUID
    name: str
    user_id: UUID
    messages: int
    words: int
    share: float
    first_activity: datetime
    last_activity: datetime
    replies: int
    teacher_mentions: int


def student_rows(report: Report) -> list[StudentRow]:
    return [
        StudentRow(
            room=section.room_name,
            room_id=section.room_id,
            name=s.name,
            user_id=s.user_id,
            messages=s.messages,
            words=s.words,
            share=s.share,
            first_activity=s.first_activity,
            last_activity=s.last_activity,
            replies=s.replies,
            teacher_mentions=s.teacher_mentions,
        )
        for section in report.rooms
        for s in section.students
    ]


def students_csv(rows: list[StudentRow]) -> str:
    """RFC 4180 CSV with a header line; a cell that a spreadsheet would read as a formula
    (starting with = + - @) is prefixed with an apostrophe.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(STUDENT_COLUMNS)
    for row in rows:
        values = msgspec.to_builtins(row)
        writer.writerow([_cell(values[column]) for column in STUDENT_COLUMNS])
    return out.getvalue()


def _cell(value: object) -> object:
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    return value
