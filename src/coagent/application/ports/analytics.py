"""Ports of discussion analytics: the job and report store, the queue, events and signals.

The store keeps every job transition atomic (one statement or one transaction each):
- `create_job` inserts a queued job unless the course already has a queued or running one,
  which it returns instead (the database's partial unique index decides, so two requests at
  once make one job);
- `claim` hands a job to one runner at a time (a lease); `renew`, `progress` and `finish`
  succeed only for the lease holder of a running job, so a runner that lost its lease or whose
  job was cancelled writes nothing more;
- `finish` stores the report and the job's end in one transaction: one report per job.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from coagent.application.ports.repositories import Page
from coagent.domain.analytics.figures import RoomFigures, StudentFigures
from coagent.domain.analytics.job import AnalyticsJob, JobStatus
from coagent.domain.analytics.report import Report
from coagent.domain.chat.message import Message
from coagent.domain.courses.room import Room


@dataclass(frozen=True, slots=True, kw_only=True)
class CourseFigures:
    students: Sequence[StudentFigures]
    rooms: Sequence[RoomFigures]


class AnalyticsStore(Protocol):
    async def create_job(self, job: AnalyticsJob) -> tuple[AnalyticsJob, bool]:
        """The new job and True, or the course's active job and False."""
        ...

    async def get_job(self, job_id: UUID) -> AnalyticsJob | None: ...

    async def claim(
        self, job_id: UUID, *, owner: str, now: datetime, lease_until: datetime
    ) -> AnalyticsJob | None:
        """Make the job running under `owner` when it is queued, or running with an expired
        lease (its runner died); None otherwise.
        """
        ...

    async def renew(self, job_id: UUID, *, owner: str, lease_until: datetime) -> bool: ...

    async def progress(
        self, job_id: UUID, *, owner: str, rooms_done: int, rooms_total: int
    ) -> bool: ...

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
        """End the job (and store its report) unless it was cancelled or its lease lost."""
        ...

    async def cancel(self, job_id: UUID, *, now: datetime) -> AnalyticsJob | None:
        """Cancel a queued or running job; the job as it is now (None: no such job)."""
        ...

    async def stale_jobs(self, *, now: datetime, queued_before: datetime) -> Sequence[UUID]:
        """Active jobs nobody runs: running with an expired lease, or queued since before
        `queued_before`.
        """
        ...

    async def analysed_rooms(self, course_id: UUID) -> Sequence[Room]:
        """The course's rooms with analytics on, oldest first."""
        ...

    async def room_ids(self, course_id: UUID) -> Sequence[UUID]:
        """Every room of the course (where staff sockets may be)."""
        ...

    async def figures(self, room_ids: Sequence[UUID], *, teacher_name: str | None) -> CourseFigures:
        """Every figure of these rooms, in a fixed number of statements."""
        ...

    async def recent_messages(self, room_id: UUID, *, limit: int) -> Sequence[Message]:
        """The room's last `limit` messages, oldest first, with display names."""
        ...

    async def list_reports(self, course_id: UUID, *, offset: int, limit: int) -> Page[Report]:
        """Newest first."""
        ...

    async def get_report(self, report_id: UUID) -> Report | None: ...


class JobQueue(Protocol):
    async def enqueue(self, job_id: UUID) -> None:
        """Hand the job to a task worker (idempotent: a second run finds it claimed)."""
        ...


class JobSignals(Protocol):
    """In-process wake-ups: a runner in this process signals, a waiter here wakes at once."""

    def notify(self, job_id: UUID) -> None: ...

    async def wait(self, job_id: UUID, seconds: float) -> None:
        """Return when notified or after `seconds`, whichever comes first."""
        ...


class JobEvents(Protocol):
    """`job.progress`, `job.completed`, `job.failed` to the course's staff sockets."""

    async def publish(self, kind: str, job: AnalyticsJob, room_ids: Sequence[UUID]) -> None: ...
