"""The analytics job and report store on every backend (a port outside the unit of work: each
call is its own transaction): one active job per course, a lease that only its holder writes
under and that another runner takes over once expired, cancel, the stale-job scan, one report
per job and the report list's paging.
"""

from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from coagent.domain.analytics.figures import RoomFigures, StudentFigures
from coagent.domain.analytics.job import AnalyticsJob, JobStatus
from coagent.domain.analytics.report import Report, RoomSection
from tests.contract import world as w
from tests.contract.conftest import Backend

pytestmark = pytest.mark.anyio

LEASE = timedelta(seconds=30)


async def _courses(backend: Backend, count: int = 1) -> tuple[UUID, list[UUID]]:
    owner = w.user(full_name="Olga")
    courses = [w.course(owner.id) for _ in range(count)]
    await w.save(backend.uow, owner, *courses)
    return owner.id, [c.id for c in courses]


def _job(course_id: UUID, requested_by: UUID | None, **changes: object) -> AnalyticsJob:
    values: dict[str, object] = {
        "id": w.new_id(),
        "course_id": course_id,
        "status": JobStatus.QUEUED,
        "rooms_done": 0,
        "rooms_total": 0,
        "requested_by": requested_by,
        "created_at": w.tick(),
    }
    values.update(changes)
    return AnalyticsJob(**values)  # type: ignore[arg-type]


def _report(course_id: UUID, job_id: UUID, by: UUID, at: datetime) -> Report:
    room_id = w.new_id()
    return Report(
        id=w.new_id(),
        course_id=course_id,
        job_id=job_id,
        created_at=at,
        created_by=by,
        content="# Summary\n\nÜber gut 老師",
        rooms=(
            RoomSection(
                room_id=room_id,
                room_name="Room",
                figures=RoomFigures(
                    room_id=room_id,
                    messages=3,
                    human_messages=2,
                    humans_active=1,
                    agent_messages={"teacher": 1},
                    median_gap_seconds=1.5,
                ),
                students=(
                    StudentFigures(
                        room_id=room_id,
                        user_id=by,
                        name="Olga",
                        messages=2,
                        words=5,
                        share=1.0,
                        first_activity=at - timedelta(seconds=3),
                        last_activity=at - timedelta(seconds=1),
                        replies=0,
                        teacher_mentions=1,
                    ),
                ),
                summary="Fine",
            ),
        ),
        provider="offline",
        model="m",
    )


async def test_one_active_job_per_course(backend: Backend) -> None:
    owner, (course, other) = await _courses(backend, 2)
    store = backend.analytics
    first = _job(course, owner)
    assert await store.create_job(first) == (first, True)
    existing, created = await store.create_job(_job(course, owner))
    assert (existing, created) == (first, False)
    elsewhere = _job(other, None)
    assert await store.create_job(elsewhere) == (elsewhere, True)
    assert await store.get_job(first.id) == first
    assert await store.get_job(w.new_id()) is None
    now = w.tick()
    cancelled = await store.cancel(first.id, now=now)
    assert cancelled == replace(first, status=JobStatus.CANCELLED, finished_at=now)
    assert await store.cancel(first.id, now=w.tick()) == cancelled  # ended: unchanged
    assert await store.cancel(w.new_id(), now=now) is None
    again = _job(course, owner)
    assert await store.create_job(again) == (again, True)  # the course's job ended


async def test_the_lease_holder_alone_writes_and_an_expired_lease_is_taken_over(
    backend: Backend,
) -> None:
    owner, (course,) = await _courses(backend)
    store = backend.analytics
    job = _job(course, owner)
    await store.create_job(job)
    now = w.tick()
    claimed = await store.claim(job.id, owner="a", now=now, lease_until=now + LEASE)
    assert claimed == replace(
        job,
        status=JobStatus.RUNNING,
        lease_owner="a",
        lease_expires_at=now + LEASE,
        attempts=1,
        started_at=now,
    )
    assert await store.claim(job.id, owner="b", now=now + LEASE / 2, lease_until=now) is None
    assert await store.claim(w.new_id(), owner="b", now=now, lease_until=now + LEASE) is None
    assert await store.progress(job.id, owner="a", rooms_done=1, rooms_total=3)
    assert await store.renew(job.id, owner="a", lease_until=now + 2 * LEASE)
    assert not await store.renew(job.id, owner="b", lease_until=now + 9 * LEASE)
    assert not await store.progress(job.id, owner="b", rooms_done=2, rooms_total=3)
    assert await store.claim(job.id, owner="b", now=now + LEASE * 3 / 2, lease_until=now) is None
    later = now + 3 * LEASE  # a's renewed lease expired: b takes the job over
    taken = await store.claim(job.id, owner="b", now=later, lease_until=later + LEASE)
    assert taken is not None
    assert (taken.lease_owner, taken.attempts, taken.started_at) == ("b", 2, now)
    assert (taken.rooms_done, taken.rooms_total) == (0, 3)  # the run starts over
    assert not await store.renew(job.id, owner="a", lease_until=later + 9 * LEASE)
    assert not await store.finish(
        job.id, owner="a", status=JobStatus.FAILED, now=later, report=None, error_code="internal"
    )
    assert await store.finish(
        job.id, owner="b", status=JobStatus.FAILED, now=later, report=None, error_code="internal"
    )
    failed = await store.get_job(job.id)
    assert failed == replace(
        taken,
        status=JobStatus.FAILED,
        finished_at=later,
        error_code="internal",
        lease_owner=None,
        lease_expires_at=None,
    )
    assert await store.claim(job.id, owner="c", now=later + 9 * LEASE, lease_until=later) is None


async def test_a_cancelled_job_takes_no_more_writes_from_its_runner(backend: Backend) -> None:
    owner, (course,) = await _courses(backend)
    store = backend.analytics
    job = _job(course, owner)
    await store.create_job(job)
    now = w.tick()
    assert await store.claim(job.id, owner="a", now=now, lease_until=now + LEASE) is not None
    cancelled = await store.cancel(job.id, now=now)
    assert cancelled is not None
    assert (cancelled.status, cancelled.lease_owner, cancelled.lease_expires_at) == (
        JobStatus.CANCELLED,
        None,
        None,
    )
    report = _report(course, job.id, owner, now)
    assert not await store.progress(job.id, owner="a", rooms_done=1, rooms_total=1)
    assert not await store.finish(
        job.id, owner="a", status=JobStatus.SUCCEEDED, now=now, report=report
    )
    assert await store.get_report(report.id) is None
    assert await store.get_job(job.id) == cancelled


async def test_stale_jobs_are_expired_leases_and_old_queued_jobs(backend: Backend) -> None:
    owner, courses = await _courses(backend, 4)
    store = backend.analytics
    old_queued, running, expired, fresh = (_job(course, owner) for course in courses)
    for job in (old_queued, running, expired):
        await store.create_job(job)
    cutoff = w.tick()
    await store.create_job(replace(fresh, created_at=cutoff + timedelta(seconds=1)))
    now = w.tick()
    await store.claim(running.id, owner="a", now=now, lease_until=now + LEASE)
    await store.claim(expired.id, owner="a", now=now, lease_until=now + timedelta(seconds=1))
    stale = await store.stale_jobs(now=now + timedelta(seconds=2), queued_before=cutoff)
    assert set(stale) == {old_queued.id, expired.id}
    assert len(stale) == 2


async def test_one_report_per_job_listed_newest_first(backend: Backend) -> None:
    owner, (course, other) = await _courses(backend, 2)
    store = backend.analytics
    reports = []
    for _ in range(3):
        job = _job(course, owner)
        await store.create_job(job)
        now = w.tick()
        await store.claim(job.id, owner="a", now=now, lease_until=now + LEASE)
        report = _report(course, job.id, owner, w.tick())
        assert await store.finish(
            job.id, owner="a", status=JobStatus.SUCCEEDED, now=now, report=report
        )
        assert not await store.finish(  # finished already
            job.id, owner="a", status=JobStatus.SUCCEEDED, now=now, report=report
        )
        done = await store.get_job(job.id)
        assert done is not None
        assert (done.status, done.report_id, done.finished_at) == (
            JobStatus.SUCCEEDED,
            report.id,
            now,
        )
        reports.append(report)
    first = await store.list_reports(course, offset=0, limit=2)
    rest = await store.list_reports(course, offset=2, limit=2)
    assert [r.id for r in first.items] == [reports[2].id, reports[1].id]
    assert [r.id for r in rest.items] == [reports[0].id]
    assert (first.total, rest.total) == (3, 3)
    assert (await store.list_reports(other, offset=0, limit=2)).total == 0
    assert first.items[0] == reports[2]
    # Read by id, a section names whether its room still exists (this one never did).
    stored = await store.get_report(reports[0].id)
    assert stored is not None
    assert stored == replace(
        reports[0], rooms=tuple(replace(s, room_deleted=True) for s in reports[0].rooms)
    )
    assert await store.get_report(w.new_id()) is None
