"""The analytics store on PostgreSQL and SQLite: figures against a hand-computed course,
statement counts, and the job transitions (one active job per course, leases, one report).
"""

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from coagent.adapters.persistence.analytics import SqlAnalyticsStore
from coagent.domain.analytics.figures import RoomFigures, count_words
from coagent.domain.analytics.job import AnalyticsJob, JobStatus
from coagent.domain.analytics.report import Report, RoomSection
from tests.integration.analytics_fixture import (
    EXPECTED_ROOM,
    T0,
    TEACHER_NAME,
    build,
    expected,
)
from tests.integration.conftest import Database, new_id, utcnow

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def store_of(database: Database) -> SqlAnalyticsStore:
    return SqlAnalyticsStore(database.engine, database.sessions)


async def test_figures_match_the_hand_computed_course(database: Database) -> None:
    fixture = await build(database.uow)
    store = store_of(database)
    rooms = await store.analysed_rooms(fixture.course.id)
    assert [r.name for r in rooms] == ["Main", "Quiet"]

    figures = await store.figures([r.id for r in rooms], teacher_name=TEACHER_NAME)

    got = {
        s.name: {
            "messages": s.messages,
            "words": s.words,
            "share": s.share,
            "first_activity": s.first_activity,
            "last_activity": s.last_activity,
            "replies": s.replies,
            "teacher_mentions": s.teacher_mentions,
        }
        for s in figures.students
    }
    assert got == expected()
    assert all(s.room_id == fixture.main.id for s in figures.students)
    by_room = {f.room_id: f for f in figures.rooms}
    main = by_room[fixture.main.id]
    assert {
        "messages": main.messages,
        "human_messages": main.human_messages,
        "humans_active": main.humans_active,
        "agent_messages": main.agent_messages,
        "median_gap_seconds": main.median_gap_seconds,
    } == EXPECTED_ROOM
    assert by_room[fixture.quiet.id] == RoomFigures(
        room_id=fixture.quiet.id, messages=0, human_messages=0, humans_active=0
    )


async def test_without_a_teacher_name_only_the_fixed_mentions_count(database: Database) -> None:
    fixture = await build(database.uow)
    figures = await store_of(database).figures([fixture.main.id], teacher_name=None)
    mentions = {s.name: s.teacher_mentions for s in figures.students}
    assert mentions == {"Ana Lima": 0, "Ben Ode": 1, "cy": 1}


@pytest.mark.parametrize(
    "text",
    ["", "   ", "one", " two  words ", "a\tb\nc\r\nd", "x" + " " * 15 + "y", "老師 好", "%_ 50%"],
)
async def test_words_in_sql_agree_with_the_python_rule(database: Database, text: str) -> None:
    from sqlalchemy import literal, select  # noqa: PLC0415

    from coagent.adapters.persistence.analytics import _words  # noqa: PLC0415

    async with database.sessions() as session:
        got = await session.scalar(select(_words(literal(text))))
    assert got == count_words(text)


async def test_figures_take_three_statements_whatever_the_size(database: Database) -> None:
    fixture = await build(database.uow)
    store = store_of(database)
    seen: list[str] = []

    def count(*_: Any) -> None:
        seen.append("x")

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        await store.figures([fixture.main.id, fixture.quiet.id], teacher_name=TEACHER_NAME)
        small = len(seen)
        seen.clear()
        await store.figures(
            [fixture.main.id, fixture.quiet.id, fixture.off.id], teacher_name=TEACHER_NAME
        )
        larger = len(seen)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # SQLite's BEGIN IMMEDIATE is a statement of its own.
    assert small == larger
    assert small <= 4


def _job(course_id: Any, requested_by: Any = None) -> AnalyticsJob:
    return AnalyticsJob(
        id=new_id(),
        course_id=course_id,
        status=JobStatus.QUEUED,
        rooms_done=0,
        rooms_total=0,
        requested_by=requested_by,
        created_at=utcnow(),
    )


def _report(job: AnalyticsJob, room_id: Any) -> Report:
    return Report(
        id=new_id(),
        course_id=job.course_id,
        job_id=job.id,
        created_at=utcnow(),
        created_by=None,
        content="# Course Analytics Report: Ethics",
        rooms=(
            RoomSection(
                room_id=room_id,
                room_name="Main",
                figures=RoomFigures(room_id=room_id, messages=1, human_messages=1, humans_active=1),
                students=(),
                summary="fine",
            ),
        ),
    )


async def test_one_active_job_per_course_even_when_asked_at_once(database: Database) -> None:
    fixture = await build(database.uow)
    store = store_of(database)
    results = await asyncio.gather(*(store.create_job(_job(fixture.course.id)) for _ in range(6)))
    created = [job for job, new in results if new]
    assert len(created) == 1
    assert {job.id for job, _ in results} == {created[0].id}


async def test_lease_progress_and_exactly_one_report(database: Database) -> None:
    fixture = await build(database.uow)
    store = store_of(database)
    job, _ = await store.create_job(_job(fixture.course.id))
    now = utcnow()
    claimed = await store.claim(job.id, owner="a", now=now, lease_until=now + timedelta(seconds=60))
    assert claimed is not None
    assert (claimed.status, claimed.attempts, claimed.lease_owner) == (JobStatus.RUNNING, 1, "a")
    # Held: nobody else gets it, and only the holder writes.
    assert await store.claim(job.id, owner="b", now=now, lease_until=now) is None
    assert not await store.progress(job.id, owner="b", rooms_done=1, rooms_total=2)
    assert await store.progress(job.id, owner="a", rooms_done=1, rooms_total=2)
    # The lease expires (a dead runner): "b" takes over and restarts.
    later = now + timedelta(seconds=61)
    assert await store.stale_jobs(now=later, queued_before=now) == [job.id]
    retaken = await store.claim(
        job.id, owner="b", now=later, lease_until=later + timedelta(seconds=60)
    )
    assert retaken is not None
    assert (retaken.attempts, retaken.rooms_done) == (2, 0)
    # The old runner wakes up: it can write nothing, not even its report.
    assert not await store.renew(job.id, owner="a", lease_until=later)
    report = _report(job, fixture.main.id)
    assert not await store.finish(
        job.id, owner="a", status=JobStatus.SUCCEEDED, now=later, report=report
    )
    assert await store.finish(job.id, owner="b", status=JobStatus.PARTIAL, now=later, report=report)
    second = replace(report, id=new_id())
    assert not await store.finish(
        job.id, owner="b", status=JobStatus.SUCCEEDED, now=later, report=second
    )
    ended = await store.get_job(job.id)
    assert ended is not None
    assert (ended.status, ended.report_id) == (JobStatus.PARTIAL, report.id)
    assert await database.scalar("SELECT count(*) FROM analytics_report") == 1
    page = await store.list_reports(fixture.course.id, offset=0, limit=10)
    assert (page.total, [r.id for r in page.items]) == (1, [report.id])
    past_the_end = await store.list_reports(fixture.course.id, offset=5, limit=10)
    assert (past_the_end.total, list(past_the_end.items)) == (1, [])
    elsewhere = await store.list_reports(new_id(), offset=0, limit=10)
    assert (elsewhere.total, list(elsewhere.items)) == (0, [])
    # A new job may start once the first has ended.
    _, created = await store.create_job(_job(fixture.course.id))
    assert created


async def test_cancel_stops_the_holder(database: Database) -> None:
    fixture = await build(database.uow)
    store = store_of(database)
    job, _ = await store.create_job(_job(fixture.course.id))
    now = utcnow()
    await store.claim(job.id, owner="a", now=now, lease_until=now + timedelta(seconds=60))
    cancelled = await store.cancel(job.id, now=now)
    assert cancelled is not None
    assert cancelled.status is JobStatus.CANCELLED
    assert not await store.progress(job.id, owner="a", rooms_done=1, rooms_total=1)
    assert not await store.finish(
        job.id, owner="a", status=JobStatus.SUCCEEDED, now=now, report=_report(job, fixture.main.id)
    )
    assert await database.scalar("SELECT count(*) FROM analytics_report") == 0
    again = await store.cancel(job.id, now=now)
    assert again is not None
    assert again.status is JobStatus.CANCELLED


async def test_deleting_a_room_keeps_the_report_and_a_course_takes_everything(
    database: Database,
) -> None:
    fixture = await build(database.uow)
    store = store_of(database)
    job, _ = await store.create_job(_job(fixture.course.id))
    now = utcnow()
    await store.claim(job.id, owner="a", now=now, lease_until=now + timedelta(seconds=60))
    report = _report(job, fixture.main.id)
    assert await store.finish(job.id, owner="a", status=JobStatus.SUCCEEDED, now=now, report=report)
    async with database.uow() as uow:
        await uow.rooms.delete(fixture.main.id)
        await uow.commit()
    kept = await store.get_report(report.id)
    assert kept is not None
    assert [(s.room_name, s.room_deleted) for s in kept.rooms] == [("Main", True)]
    async with database.uow() as uow:
        await uow.courses.delete(fixture.course.id)
        await uow.commit()
    assert await store.get_report(report.id) is None
    assert await store.get_job(job.id) is None


async def test_recent_messages_are_the_last_ones_with_names(database: Database) -> None:
    fixture = await build(database.uow)
    messages = await store_of(database).recent_messages(fixture.main.id, limit=3)
    assert [(m.sender_name, m.content) for m in messages] == [
        ("Ana Lima", "Because"),
        ("Student AI", "Interesting point"),
        ("cy", "Teacher?    no   at sign"),
    ]
    assert messages[0].created_at == T0 + timedelta(seconds=330)


async def _crowd(database: Database, fixture: Any, students: int) -> None:
    """`students` more people in the main room, two messages each."""
    from coagent.application.ports.chat import NewMessage  # noqa: PLC0415
    from tests.integration.conftest import UserFactory  # noqa: PLC0415

    async with database.uow() as uow:
        for number in range(students):
            person = UserFactory.build()
            await uow.users.add(person)
            for index in range(2):
                await uow.messages.append(
                    NewMessage(
                        id=new_id(),
                        room_id=fixture.main.id,
                        content=f"message {number} {index}",
                        created_at=T0 + timedelta(seconds=1000 + number * 2 + index),
                        sender_id=person.id,
                        agent_type=None,
                        client_msg_id=None,
                    )
                )
        await uow.commit()


async def test_statements_do_not_grow_from_10_to_200_students(database: Database) -> None:
    counts = {}
    fixture = await build(database.uow)
    store = store_of(database)
    for students, more in ((10, 10), (200, 190)):
        await _crowd(database, fixture, more)
        seen: list[str] = []

        def count(*_: Any, seen: list[str] = seen) -> None:
            seen.append("statement")

        engine = database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            figures = await store.figures(
                [fixture.main.id, fixture.quiet.id], teacher_name=TEACHER_NAME
            )
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(figures.students) == students + 3
        counts[students] = len(seen)
    assert counts[10] == counts[200]
