"""Fakes for the analytics ports: an in-memory job and report store, a queue, events and
signals that record what they were given.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from coagent.application.ports.analytics import CourseFigures
from coagent.application.ports.repositories import Page
from coagent.domain.analytics.figures import RoomFigures, StudentFigures, count_words
from coagent.domain.analytics.job import AnalyticsJob, JobStatus
from coagent.domain.analytics.report import Report
from coagent.domain.chat.message import Message
from coagent.domain.courses.room import Room


class InMemoryAnalyticsStore:
    """Keeps the port's guarantees (one active job per course, lease holder writes only, one
    report per job). Figures: message and word counts per sender, from `messages`.
    """

    def __init__(self) -> None:
        self.jobs: dict[UUID, AnalyticsJob] = {}
        self.reports: dict[UUID, Report] = {}
        self.rooms: dict[UUID, list[Room]] = {}  # by course
        self.messages: dict[UUID, list[Message]] = {}  # by room
        self.figure_calls = 0
        # Called on every progress write (a test's hook: cancel mid-run, raise...).
        self.on_progress: list[int] = []

    # --- jobs

    async def create_job(self, job: AnalyticsJob) -> tuple[AnalyticsJob, bool]:
        for existing in self.jobs.values():
            if existing.course_id == job.course_id and existing.status.active:
                return existing, False
        self.jobs[job.id] = job
        return job, True

    async def get_job(self, job_id: UUID) -> AnalyticsJob | None:
        return self.jobs.get(job_id)

    async def claim(
        self, job_id: UUID, *, owner: str, now: datetime, lease_until: datetime
    ) -> AnalyticsJob | None:
        job = self.jobs.get(job_id)
        if job is None:
            return None
        expired = job.lease_expires_at is not None and job.lease_expires_at < now
        if not (job.status is JobStatus.QUEUED or (job.status is JobStatus.RUNNING and expired)):
            return None
        job = replace(
            job,
            status=JobStatus.RUNNING,
            lease_owner=owner,
            lease_expires_at=lease_until,
            attempts=job.attempts + 1,
            started_at=job.started_at or now,
            rooms_done=0,
        )
        self.jobs[job_id] = job
        return job

    def _held(self, job_id: UUID, owner: str) -> AnalyticsJob | None:
        job = self.jobs.get(job_id)
        if job is None or job.status is not JobStatus.RUNNING or job.lease_owner != owner:
            return None
        return job

    async def renew(self, job_id: UUID, *, owner: str, lease_until: datetime) -> bool:
        job = self._held(job_id, owner)
        if job is None:
            return False
        self.jobs[job_id] = replace(job, lease_expires_at=lease_until)
        return True

    async def progress(
        self, job_id: UUID, *, owner: str, rooms_done: int, rooms_total: int
    ) -> bool:
        self.on_progress.append(rooms_done)
        job = self._held(job_id, owner)
        if job is None:
            return False
        self.jobs[job_id] = replace(job, rooms_done=rooms_done, rooms_total=rooms_total)
        return True

    async def finish(
        self,
        job_id: UUID,
        *,
        owner: str,
        status: JobStatus,
        now: datetime,
        report: Report | None,
        error_code: str | None = None,
    ) -> bool:
        job = self._held(job_id, owner)
        if job is None:
            return False
        if report is not None:
            if any(r.job_id == job_id for r in self.reports.values()):
                return False
            self.reports[report.id] = report
        self.jobs[job_id] = replace(
            job,
            status=status,
            finished_at=now,
            report_id=report.id if report is not None else None,
            error_code=error_code,
            lease_owner=None,
            lease_expires_at=None,
        )
        return True

    async def cancel(self, job_id: UUID, *, now: datetime) -> AnalyticsJob | None:
        job = self.jobs.get(job_id)
        if job is None:
            return None
        if job.status.active:
            job = replace(
                job,
                status=JobStatus.CANCELLED,
                finished_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
            self.jobs[job_id] = job
        return job

    async def stale_jobs(self, *, now: datetime, queued_before: datetime) -> Sequence[UUID]:
        return [
            job.id
            for job in self.jobs.values()
            if (
                job.status is JobStatus.RUNNING
                and job.lease_expires_at is not None
                and job.lease_expires_at < now
            )
            or (job.status is JobStatus.QUEUED and job.created_at < queued_before)
        ]

    # --- rooms, messages, figures

    async def analysed_rooms(self, course_id: UUID) -> Sequence[Room]:
        return [room for room in self.rooms.get(course_id, []) if room.is_analytics_active]

    async def room_ids(self, course_id: UUID) -> Sequence[UUID]:
        return [room.id for room in self.rooms.get(course_id, [])]

    async def figures(self, room_ids: Sequence[UUID], *, teacher_name: str | None) -> CourseFigures:
        self.figure_calls += 1
        students: list[StudentFigures] = []
        rooms: list[RoomFigures] = []
        for room_id in room_ids:
            messages = self.messages.get(room_id, [])
            human = [m for m in messages if m.agent_type is None and m.sender_id is not None]
            by_sender: dict[UUID, list[Message]] = {}
            for message in human:
                assert message.sender_id is not None
                by_sender.setdefault(message.sender_id, []).append(message)
            for sender, own in by_sender.items():
                students.append(
                    StudentFigures(
                        room_id=room_id,
                        user_id=sender,
                        name=own[0].sender_name,
                        messages=len(own),
                        words=sum(count_words(m.content) for m in own),
                        share=round(len(own) / len(human), 4),
                        first_activity=own[0].created_at,
                        last_activity=own[-1].created_at,
                        replies=0,
                        teacher_mentions=0,
                    )
                )
            rooms.append(
                RoomFigures(
                    room_id=room_id,
                    messages=len(messages),
                    human_messages=len(human),
                    humans_active=len(by_sender),
                )
            )
        return CourseFigures(students=students, rooms=rooms)

    async def recent_messages(self, room_id: UUID, *, limit: int) -> Sequence[Message]:
        return self.messages.get(room_id, [])[-limit:]

    # --- reports

    async def list_reports(self, course_id: UUID, *, offset: int, limit: int) -> Page[Report]:
        mine = sorted(
            (r for r in self.reports.values() if r.course_id == course_id),
            key=lambda r: (r.created_at, r.id),  # the SQL store's order, ties by id
            reverse=True,
        )
        return Page(items=mine[offset : offset + limit], total=len(mine))

    async def get_report(self, report_id: UUID) -> Report | None:
        """As the SQL store reads it: a section whose room this store does not know (in
        `rooms`) any more is marked `room_deleted`.
        """
        report = self.reports.get(report_id)
        if report is None:
            return None
        known = {room.id for rooms in self.rooms.values() for room in rooms}
        sections = tuple(
            replace(section, room_deleted=section.room_id not in known) for section in report.rooms
        )
        return replace(report, rooms=sections)


class RecordingJobQueue:
    def __init__(self) -> None:
        self.enqueued: list[UUID] = []

    async def enqueue(self, job_id: UUID) -> None:
        self.enqueued.append(job_id)


class RecordingJobEvents:
    def __init__(self) -> None:
        self.published: list[tuple[str, AnalyticsJob, tuple[UUID, ...]]] = []

    async def publish(self, kind: str, job: AnalyticsJob, room_ids: Sequence[UUID]) -> None:
        self.published.append((kind, job, tuple(room_ids)))

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.published]


class RecordingJobSignals:
    """Notifications are recorded; `wait` returns at a notification or its timeout."""

    def __init__(self) -> None:
        self.notified: list[UUID] = []
        self.waits: list[float] = []
        self._event = asyncio.Event()

    def notify(self, job_id: UUID) -> None:
        self.notified.append(job_id)
        self._event.set()

    async def wait(self, job_id: UUID, seconds: float) -> None:
        self.waits.append(seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        self._event.clear()
