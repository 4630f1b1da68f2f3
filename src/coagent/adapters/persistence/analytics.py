"""The analytics store: jobs with leases, reports, and the figures as aggregate SQL.

Each method is one short transaction of its own (no session is held between calls, so a
job's runner holds no connection while a model is thinking). Figures take three statements
whatever the number of rooms, students or messages; their definitions are in
`coagent.domain.analytics.figures`, and PostgreSQL and SQLite compute the same numbers.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import Float, and_, case, cast, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql import ColumnElement

from coagent.adapters.persistence.engine import busy_database_is_unavailable
from coagent.adapters.persistence.mappers import room_from_row
from coagent.adapters.persistence.models import (
    AnalyticsJobModel,
    AnalyticsReportModel,
    MessageModel,
    RoomModel,
    UserModel,
)
from coagent.adapters.persistence.paging import model_page
from coagent.application.ports.analytics import CourseFigures
from coagent.application.ports.repositories import Page
from coagent.domain.accounts.names import display_name
from coagent.domain.analytics.figures import (
    COLLAPSE_PASSES,
    REPLY_WINDOW_SECONDS,
    TEACHER_MENTIONS,
    RoomFigures,
    StudentFigures,
)
from coagent.domain.analytics.job import ACTIVE_STATUSES, AnalyticsJob, JobStatus
from coagent.domain.analytics.report import REPORT_TYPE, Report, RoomSection
from coagent.domain.chat.message import Message, sender_display_name
from coagent.domain.courses.room import Room


class _Reports(SQLAlchemyAsyncRepository[AnalyticsReportModel]):
    model_type = AnalyticsReportModel


class SqlAnalyticsStore:
    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._sqlite = engine.dialect.name == "sqlite"

    # --- jobs

    async def create_job(self, job: AnalyticsJob) -> tuple[AnalyticsJob, bool]:
        for _ in range(3):
            async with busy_database_is_unavailable(), self._sessions() as session:
                session.add(
                    AnalyticsJobModel(
                        id=job.id,
                        course_id=job.course_id,
                        status=job.status.value,
                        rooms_done=0,
                        rooms_total=0,
                        requested_by=job.requested_by,
                        attempts=0,
                        created_at=job.created_at,
                        updated_at=job.created_at,
                    )
                )
                try:
                    await session.commit()
                except IntegrityError:
                    await session.rollback()
                else:
                    return job, True
                row = await session.scalar(
                    select(AnalyticsJobModel).where(
                        AnalyticsJobModel.course_id == job.course_id,
                        AnalyticsJobModel.status.in_(ACTIVE_STATUSES),
                    )
                )
                if row is not None:
                    return _job(row), False
            # The active job ended between our insert and our read: try again.
        raise RuntimeError("could not create or find the course's analytics job")

    async def get_job(self, job_id: UUID) -> AnalyticsJob | None:
        async with busy_database_is_unavailable(), self._sessions() as session:
            row = await session.get(AnalyticsJobModel, job_id)
            return _job(row) if row is not None else None

    async def claim(
        self, job_id: UUID, *, owner: str, now: datetime, lease_until: datetime
    ) -> AnalyticsJob | None:
        job = AnalyticsJobModel
        async with busy_database_is_unavailable(), self._sessions() as session:
            result = await session.execute(
                update(job)
                .where(
                    job.id == job_id,
                    or_(
                        job.status == JobStatus.QUEUED.value,
                        and_(job.status == JobStatus.RUNNING.value, job.lease_expires_at < now),
                    ),
                )
                .values(
                    status=JobStatus.RUNNING.value,
                    lease_owner=owner,
                    lease_expires_at=lease_until,
                    attempts=job.attempts + 1,
                    started_at=func.coalesce(job.started_at, now),
                    rooms_done=0,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if _rowcount(result) != 1:
                return None
            row = await session.get(job, job_id)
            await session.commit()
            return _job(row) if row is not None else None

    async def renew(self, job_id: UUID, *, owner: str, lease_until: datetime) -> bool:
        return await self._held_update(job_id, owner, lease_expires_at=lease_until)

    async def progress(
        self, job_id: UUID, *, owner: str, rooms_done: int, rooms_total: int
    ) -> bool:
        return await self._held_update(
            job_id, owner, rooms_done=rooms_done, rooms_total=rooms_total
        )

    async def _held_update(self, job_id: UUID, owner: str, **values: Any) -> bool:
        job = AnalyticsJobModel
        async with busy_database_is_unavailable(), self._sessions() as session:
            result = await session.execute(
                update(job)
                .where(
                    job.id == job_id,
                    job.status == JobStatus.RUNNING.value,
                    job.lease_owner == owner,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
            return _rowcount(result) == 1

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
        job = AnalyticsJobModel
        async with busy_database_is_unavailable(), self._sessions() as session:
            result = await session.execute(
                update(job)
                .where(
                    job.id == job_id,
                    job.status == JobStatus.RUNNING.value,
                    job.lease_owner == owner,
                )
                .values(
                    status=status.value,
                    finished_at=now,
                    updated_at=now,
                    report_id=report.id if report is not None else None,
                    error_code=error_code,
                    lease_owner=None,
                    lease_expires_at=None,
                )
                .execution_options(synchronize_session=False)
            )
            if _rowcount(result) != 1:
                await session.rollback()
                return False
            if report is not None:
                session.add(
                    AnalyticsReportModel(
                        id=report.id,
                        course_id=report.course_id,
                        room_id=None,
                        report_type=report.report_type,
                        content=report.content,
                        created_by=report.created_by,
                        job_id=report.job_id,
                        details=_details(report),
                        created_at=report.created_at,
                        updated_at=report.created_at,
                    )
                )
            try:
                await session.commit()
            except IntegrityError:  # a report for this job exists already
                await session.rollback()
                return False
            return True

    async def cancel(self, job_id: UUID, *, now: datetime) -> AnalyticsJob | None:
        job = AnalyticsJobModel
        async with busy_database_is_unavailable(), self._sessions() as session:
            await session.execute(
                update(job)
                .where(job.id == job_id, job.status.in_(ACTIVE_STATUSES))
                .values(
                    status=JobStatus.CANCELLED.value,
                    finished_at=now,
                    updated_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                )
                .execution_options(synchronize_session=False)
            )
            row = await session.get(job, job_id)
            await session.commit()
            return _job(row) if row is not None else None

    async def stale_jobs(self, *, now: datetime, queued_before: datetime) -> Sequence[UUID]:
        job = AnalyticsJobModel
        async with busy_database_is_unavailable(), self._sessions() as session:
            rows = await session.scalars(
                select(job.id).where(
                    or_(
                        and_(job.status == JobStatus.RUNNING.value, job.lease_expires_at < now),
                        and_(job.status == JobStatus.QUEUED.value, job.created_at < queued_before),
                    )
                )
            )
            return list(rows)

    # --- rooms and messages

    async def analysed_rooms(self, course_id: UUID) -> Sequence[Room]:
        async with busy_database_is_unavailable(), self._sessions() as session:
            rows = await session.scalars(
                select(RoomModel)
                .where(RoomModel.course_id == course_id, RoomModel.is_analytics_active)
                .order_by(RoomModel.created_at, RoomModel.id)
            )
            return [room_from_row(row) for row in rows]

    async def room_ids(self, course_id: UUID) -> Sequence[UUID]:
        async with busy_database_is_unavailable(), self._sessions() as session:
            return list(
                await session.scalars(select(RoomModel.id).where(RoomModel.course_id == course_id))
            )

    async def recent_messages(self, room_id: UUID, *, limit: int) -> Sequence[Message]:
        m, u = MessageModel, UserModel
        async with busy_database_is_unavailable(), self._sessions() as session:
            rows = (
                await session.execute(
                    select(
                        m.id,
                        m.room_id,
                        m.seq,
                        m.content,
                        m.created_at,
                        m.sender_id,
                        m.agent_type,
                        u.full_name,
                        u.username,
                        u.email,
                        m.sender_name,
                    )
                    .outerjoin(u, u.id == m.sender_id)
                    .where(m.room_id == room_id)
                    .order_by(m.seq.desc())
                    .limit(limit)
                )
            ).all()
        return [
            Message(
                id=row[0],
                room_id=row[1],
                seq=row[2],
                content=row[3],
                created_at=row[4],
                sender_id=row[5],
                sender_name=sender_display_name(row[6], row[7], row[8], row[9], row[10]),
                agent_type=row[6],
            )
            for row in reversed(rows)
        ]

    # --- figures

    async def figures(self, room_ids: Sequence[UUID], *, teacher_name: str | None) -> CourseFigures:
        if not room_ids:
            return CourseFigures(students=(), rooms=())
        ids = list(room_ids)
        async with busy_database_is_unavailable(), self._sessions() as session:
            students = (await session.execute(self._students_statement(ids, teacher_name))).all()
            kinds = (await session.execute(self._kinds_statement(ids))).all()
            medians = (await session.execute(self._median_statement(ids))).all()
        human_messages: dict[UUID, int] = {}
        messages: dict[UUID, int] = {}
        agents: dict[UUID, dict[str, int]] = {}
        for room_id, agent_type, count in kinds:
            messages[room_id] = messages.get(room_id, 0) + count
            if agent_type is None:
                human_messages[room_id] = human_messages.get(room_id, 0) + count
            else:
                agents.setdefault(room_id, {})[agent_type] = count
        active: dict[UUID, int] = {}
        student_figures = []
        for row in students:
            (room_id, user_id, full_name, username, email, count, words, first, last) = row[:9]
            replies, mentions = row[9], row[10]
            active[room_id] = active.get(room_id, 0) + 1
            total = human_messages.get(room_id, 0)
            student_figures.append(
                StudentFigures(
                    room_id=room_id,
                    user_id=user_id,
                    name=display_name(full_name, username, email),
                    messages=count,
                    words=int(words or 0),
                    share=round(count / total, 4) if total else 0.0,
                    first_activity=first,
                    last_activity=last,
                    replies=int(replies or 0),
                    teacher_mentions=int(mentions or 0),
                )
            )
        median: dict[UUID, Any] = {row[0]: row[1] for row in medians}
        rooms = [
            RoomFigures(
                room_id=room_id,
                messages=messages.get(room_id, 0),
                human_messages=human_messages.get(room_id, 0),
                humans_active=active.get(room_id, 0),
                agent_messages=agents.get(room_id, {}),
                median_gap_seconds=(
                    round(float(median[room_id]), 3) if median.get(room_id) is not None else None
                ),
            )
            for room_id in ids
        ]
        student_figures.sort(key=lambda s: (str(s.room_id), s.name.casefold(), str(s.user_id)))
        return CourseFigures(students=student_figures, rooms=rooms)

    def _seconds_between(self, later: Any, earlier: Any) -> ColumnElement[Any]:
        if self._sqlite:
            return (func.julianday(later) - func.julianday(earlier)) * 86400.0
        return func.extract("epoch", later - earlier)

    def _students_statement(self, ids: list[UUID], teacher_name: str | None) -> Any:
        m = MessageModel
        lagged = (
            select(
                m.room_id,
                m.sender_id,
                m.agent_type,
                m.content,
                m.created_at,
                func.lag(m.sender_id)
                .over(partition_by=m.room_id, order_by=m.seq)
                .label("prev_sender"),
                func.lag(m.agent_type)
                .over(partition_by=m.room_id, order_by=m.seq)
                .label("prev_agent"),
                func.lag(m.created_at)
                .over(partition_by=m.room_id, order_by=m.seq)
                .label("prev_at"),
            )
            .where(m.room_id.in_(ids))
            .subquery("lagged")
        )
        c = lagged.c
        reply = case(
            (
                and_(
                    c.prev_sender.is_not(None),
                    c.prev_agent.is_(None),
                    c.prev_sender != c.sender_id,
                    self._seconds_between(c.created_at, c.prev_at) <= REPLY_WINDOW_SECONDS,
                ),
                1,
            ),
            else_=0,
        )
        lowered = func.lower(c.content)
        mentions: list[ColumnElement[bool]] = [
            lowered.contains(token, autoescape=True) for token in TEACHER_MENTIONS
        ]
        if teacher_name and teacher_name.strip():
            mentions.append(lowered.contains("@" + teacher_name.strip().lower(), autoescape=True))
        mention = case((or_(*mentions), 1), else_=0)
        u = UserModel
        return (
            select(
                c.room_id,
                c.sender_id,
                u.full_name,
                u.username,
                u.email,
                func.count(),
                func.sum(_words(c.content)),
                func.min(c.created_at),
                func.max(c.created_at),
                func.sum(reply),
                func.sum(mention),
            )
            .join(u, u.id == c.sender_id)
            .where(c.agent_type.is_(None))
            .group_by(c.room_id, c.sender_id, u.full_name, u.username, u.email)
        )

    @staticmethod
    def _kinds_statement(ids: list[UUID]) -> Any:
        m = MessageModel
        return (
            select(m.room_id, m.agent_type, func.count())
            .where(m.room_id.in_(ids))
            .group_by(m.room_id, m.agent_type)
        )

    def _median_statement(self, ids: list[UUID]) -> Any:
        m = MessageModel
        lagged = (
            select(
                m.room_id,
                m.created_at,
                func.lag(m.created_at).over(partition_by=m.room_id, order_by=m.seq).label("prev"),
            )
            .where(m.room_id.in_(ids))
            .subquery("lagged")
        )
        gaps = (
            select(
                lagged.c.room_id,
                cast(self._seconds_between(lagged.c.created_at, lagged.c.prev), Float).label("gap"),
            )
            .where(lagged.c.prev.is_not(None))
            .subquery("gaps")
        )
        ranked = select(
            gaps.c.room_id,
            gaps.c.gap,
            func.row_number().over(partition_by=gaps.c.room_id, order_by=gaps.c.gap).label("rn"),
            func.count().over(partition_by=gaps.c.room_id).label("n"),
        ).subquery("ranked")
        r = ranked.c
        middle = or_(r.rn == (r.n + 1) // 2, r.rn == (r.n + 2) // 2)
        return select(r.room_id, func.avg(r.gap)).where(middle).group_by(r.room_id)

    # --- reports

    async def list_reports(self, course_id: UUID, *, offset: int, limit: int) -> Page[Report]:
        r = AnalyticsReportModel
        async with busy_database_is_unavailable(), self._sessions() as session:
            rows, total = await model_page(
                session,
                _Reports,
                [r.course_id == course_id],
                order_by=[(r.created_at, True), (r.id, True)],
                offset=offset,
                limit=limit,
            )
            reports = [_report(row, existing=None) for row in rows]
        return Page(items=reports, total=total)

    async def get_report(self, report_id: UUID) -> Report | None:
        async with busy_database_is_unavailable(), self._sessions() as session:
            row = await session.get(AnalyticsReportModel, report_id)
            if row is None:
                return None
            room_ids = [UUID(room["room_id"]) for room in (row.details or {}).get("rooms", [])]
            existing: set[UUID] = set()
            if room_ids:
                existing = set(
                    await session.scalars(select(RoomModel.id).where(RoomModel.id.in_(room_ids)))
                )
            return _report(row, existing=existing)


# --- helpers


def _words(content: Any) -> ColumnElement[Any]:
    """See `coagent.domain.analytics.figures`: whitespace read as spaces, runs collapsed."""
    text = func.replace(func.replace(func.replace(content, "\t", " "), "\r", " "), "\n", " ")
    for _ in range(COLLAPSE_PASSES):
        text = func.replace(text, "  ", " ")
    trimmed = func.trim(text)
    return case(
        (func.length(trimmed) == 0, 0),
        else_=func.length(trimmed) - func.length(func.replace(trimmed, " ", "")) + 1,
    )


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count


def _job(row: AnalyticsJobModel) -> AnalyticsJob:
    return AnalyticsJob(
        id=row.id,
        course_id=row.course_id,
        status=JobStatus(row.status),
        rooms_done=row.rooms_done,
        rooms_total=row.rooms_total,
        requested_by=row.requested_by,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        report_id=row.report_id,
        error_code=row.error_code,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        attempts=row.attempts,
    )


def _details(report: Report) -> dict[str, Any]:
    return {
        "provider": report.provider,
        "model": report.model,
        "rooms": [
            {
                "room_id": str(s.room_id),
                "room_name": s.room_name,
                "summary": s.summary,
                "error_code": s.error_code,
                "figures": {
                    "messages": s.figures.messages,
                    "human_messages": s.figures.human_messages,
                    "humans_active": s.figures.humans_active,
                    "agent_messages": dict(s.figures.agent_messages),
                    "median_gap_seconds": s.figures.median_gap_seconds,
                },
                "students": [
                    {
                        "user_id": str(st.user_id),
                        "name": st.name,
                        "messages": st.messages,
                        "words": st.words,
                        "share": st.share,
                        "first_activity": st.first_activity.isoformat(),
                        "last_activity": st.last_activity.isoformat(),
                        "replies": st.replies,
                        "teacher_mentions": st.teacher_mentions,
                    }
                    for st in s.students
                ],
            }
            for s in report.rooms
        ],
    }


def _report(row: AnalyticsReportModel, *, existing: set[UUID] | None) -> Report:
    details = row.details or {}
    sections = []
    for room in details.get("rooms", []):
        room_id = UUID(room["room_id"])
        f = room["figures"]
        sections.append(
            RoomSection(
                room_id=room_id,
                room_name=room["room_name"],
                summary=room["summary"],
                error_code=room["error_code"],
                room_deleted=existing is not None and room_id not in existing,
                figures=RoomFigures(
                    room_id=room_id,
                    messages=f["messages"],
                    human_messages=f["human_messages"],
                    humans_active=f["humans_active"],
                    agent_messages=dict(f["agent_messages"]),
                    median_gap_seconds=f["median_gap_seconds"],
                ),
                students=tuple(
                    StudentFigures(
                        room_id=room_id,
                        user_id=UUID(st["user_id"]),
                        name=st["name"],
                        messages=st["messages"],
                        words=st["words"],
                        share=st["share"],
                        first_activity=datetime.fromisoformat(st["first_activity"]),
                        last_activity=datetime.fromisoformat(st["last_activity"]),
                        replies=st["replies"],
                        teacher_mentions=st["teacher_mentions"],
                    )
                    for st in room["students"]
                ),
            )
        )
    return Report(
        id=row.id,
        course_id=row.course_id,
        job_id=row.job_id,
        created_at=row.created_at,
        created_by=row.created_by,
        content=row.content,
        rooms=tuple(sections),
        provider=details.get("provider"),
        model=details.get("model"),
        report_type=row.report_type or REPORT_TYPE,
    )
