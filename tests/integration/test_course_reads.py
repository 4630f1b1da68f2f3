"""CourseRepository.visible_to: the account and the page of courses it may list, in one read.

Runs on PostgreSQL (straight on asyncpg, see persistence/rows.py) and SQLite (through
SQLAlchemy): both must give the same entities as the ORM reads, and the same pages as
`list_for`.
"""

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest

from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.courses.announcement import Announcement
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole
from coagent.domain.courses.room import AiMode, Room
from tests.integration.conftest import Database, UserFactory, new_id, utcnow
from tests.integration.test_chat_messages import sent_to_postgresql

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@dataclass
class World:
    owner: User
    student: User
    admin: User
    loner: User
    inactive: User
    courses: list[Course]  # newest first


@pytest.fixture
async def world(database: Database) -> World:
    owner = UserFactory.build(role=Role.TEACHER, is_active=True, full_name=None)
    student = UserFactory.build(role=Role.STUDENT, is_active=True)
    admin = UserFactory.build(role=Role.ADMIN, is_active=True)
    loner = UserFactory.build(role=Role.STUDENT, is_active=True)
    inactive = UserFactory.build(role=Role.STUDENT, is_active=False)
    now = utcnow()
    courses = [
        Course(
            id=new_id(),
            title=f"Course {number}",
            description=None if number % 2 else f"About {number}",
            owner_id=owner.id,
            created_at=now - timedelta(minutes=number),
            updated_at=now,
        )
        for number in range(5)
    ]
    async with database.uow() as uow:
        for user in (owner, student, admin, loner, inactive):
            await uow.users.add(user)
        for course in courses:
            await uow.courses.add(course)
            await uow.courses.add_member(course.id, owner.id, CourseRole.TEACHER)
        for course in courses[1:4]:
            await uow.courses.add_member(course.id, student.id, CourseRole.STUDENT)
            await uow.courses.add_member(course.id, inactive.id, CourseRole.STUDENT)
        await uow.commit()
    return World(owner, student, admin, loner, inactive, courses)


async def test_the_page_and_the_actor_match_the_orm_reads(database: Database, world: World):
    async with database.uow() as uow:
        for user, scope in (
            (world.owner, world.owner.id),
            (world.student, world.student.id),
            (world.admin, None),
        ):
            for offset, limit in ((0, 100), (0, 2), (1, 2), (2, 1)):
                found = await uow.courses.visible_to(user.id, offset=offset, limit=limit)
                assert found.actor == await uow.users.get(user.id)
                assert found.page == await uow.courses.list_for(scope, offset=offset, limit=limit)
                assert found.page.items  # every case above has at least one course


async def test_who_sees_what(database: Database, world: World):
    async with database.uow() as uow:
        student = await uow.courses.visible_to(world.student.id, offset=0, limit=100)
        admin = await uow.courses.visible_to(world.admin.id, offset=0, limit=100)
        loner = await uow.courses.visible_to(world.loner.id, offset=0, limit=100)
    assert [c.id for c in student.page.items] == [c.id for c in world.courses[1:4]]
    assert student.page.total == 3
    assert student.page.items[0].owner_name == world.owner.username  # never the email
    assert [c.id for c in admin.page.items] == [c.id for c in world.courses]
    assert admin.page.total == 5
    assert loner.actor is not None
    assert loner.actor.id == world.loner.id
    assert (loner.page.items, loner.page.total) == ([], 0)


async def test_an_inactive_or_unknown_account_lists_nothing(database: Database, world: World):
    async with database.uow() as uow:
        inactive = await uow.courses.visible_to(world.inactive.id, offset=0, limit=100)
        unknown = await uow.courses.visible_to(new_id(), offset=0, limit=100)
        past_end = await uow.courses.visible_to(world.inactive.id, offset=10, limit=100)
    assert inactive.actor is not None
    assert not inactive.actor.is_active  # reported, so the use case refuses it
    assert (inactive.page.items, inactive.page.total) == ([], 0)
    assert past_end.actor == inactive.actor
    assert past_end.page.total == 0
    assert unknown.actor is None
    assert unknown.page.total == 0


async def test_a_page_past_the_end_still_has_the_actor_and_the_total(
    database: Database, world: World
):
    async with database.uow() as uow:
        found = await uow.courses.visible_to(world.student.id, offset=3, limit=10)
        admin = await uow.courses.visible_to(world.admin.id, offset=50, limit=10)
    assert found.actor is not None
    assert found.actor.id == world.student.id
    assert (found.page.items, found.page.total) == ([], 3)
    assert (admin.page.items, admin.page.total) == ([], 5)


async def test_a_full_page_is_one_statement_on_postgresql(database: Database, world: World):
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL only: the driver path is PostgreSQL's")
    with sent_to_postgresql(database) as sent:
        async with database.uow() as uow:
            found = await uow.courses.visible_to(world.student.id, offset=0, limit=100)
        await asyncio.sleep(0)  # asyncpg calls its query loggers with call_soon
    assert len(found.page.items) == 3
    assert len(sent) == 1  # no BEGIN: a read alone opens no transaction
    assert "course_membership" in sent[0][0]


async def test_standing_matches_the_orm_reads(database: Database, world: World):
    course = world.courses[2]
    async with database.uow() as uow:
        for user in (world.owner, world.student, world.admin, world.loner, world.inactive):
            found = await uow.courses.standing(course.id, user.id)
            assert found.actor == await uow.users.get(user.id)
            assert found.course == await uow.courses.get(course.id)
            assert found.course_role == await uow.courses.role_of(course.id, user.id)
        missing_course = await uow.courses.standing(new_id(), world.student.id)
        missing_user = await uow.courses.standing(course.id, new_id())
    assert missing_course.actor is not None
    assert missing_course.actor.id == world.student.id
    assert missing_course.course is None
    assert (missing_user.actor, missing_user.course) == (None, None)


async def test_standing_reports_the_membership_of_that_course_only(
    database: Database, world: World
):
    async with database.uow() as uow:
        member = await uow.courses.standing(world.courses[1].id, world.student.id)
        outside = await uow.courses.standing(world.courses[0].id, world.student.id)
        owner = await uow.courses.standing(world.courses[0].id, world.owner.id)
    assert member.course_role is CourseRole.STUDENT
    assert outside.course is not None
    assert outside.course_role is None
    assert owner.course_role is CourseRole.TEACHER
    assert owner.course is not None
    assert owner.course.owner_id == world.owner.id


async def test_members_teachers_first_then_by_name(database: Database, world: World):
    course = world.courses[1]
    async with database.uow() as uow:
        await uow.courses.add_member(course.id, world.admin.id, CourseRole.TA)
        members = await uow.courses.members(course.id)
        nobody = await uow.courses.members(new_id())
    students = sorted(
        (world.student, world.inactive),
        key=lambda u: ((u.full_name or u.username or u.email).lower(), u.id),
    )
    assert [m.user_id for m in members] == [world.owner.id, world.admin.id] + [
        u.id for u in students
    ]
    assert [m.role for m in members] == [
        CourseRole.TEACHER,
        CourseRole.TA,
        CourseRole.STUDENT,
        CourseRole.STUDENT,
    ]
    assert [m.is_owner for m in members] == [True, False, False, False]
    first = members[0]
    assert (first.email, first.full_name, first.avatar_url) == (
        world.owner.email,
        world.owner.full_name,
        world.owner.avatar_url,
    )
    assert nobody == []


def _room(course: Course, name: str, minutes: int) -> Room:
    at = utcnow() - timedelta(minutes=minutes)
    return Room(
        id=new_id(),
        course_id=course.id,
        name=name,
        description=None,
        ai_mode=AiMode.BOTH,
        ai_frequency=0.25,
        is_ai_active=True,
        is_analytics_active=False,
        created_at=at,
        updated_at=at,
    )


async def test_rooms_oldest_first_restricted_ones_to_their_members(
    database: Database, world: World
):
    course = world.courses[1]
    rooms = [_room(course, f"Room {n}", minutes=10 - n) for n in range(3)]
    async with database.uow() as uow:
        for room in rooms:
            await uow.rooms.add(room)
        await uow.rooms.assign(rooms[1].id, world.student.id)
        await uow.rooms.assign(rooms[2].id, world.inactive.id)
        await uow.commit()
    async with database.uow() as uow:
        every = await uow.rooms.list_in(course.id, visible_to=None)
        student = await uow.rooms.list_in(course.id, visible_to=world.student.id)
        expected = [await uow.rooms.get(room.id) for room in rooms]
    assert every == expected  # the same entities as the ORM read, oldest first
    assert [r.is_restricted for r in every] == [False, True, True]
    assert [r.id for r in student] == [rooms[0].id, rooms[1].id]
    assert student[0] == expected[0]


async def test_announcements_newest_first_with_the_total(database: Database, world: World):
    course = world.courses[0]
    now = utcnow()
    made = [
        Announcement(
            id=new_id(),
            course_id=course.id,
            author_id=world.owner.id if n else None,
            title=f"Title {n}",
            content=f"Content {n}",
            created_at=now - timedelta(minutes=n),
            updated_at=now,
        )
        for n in range(4)
    ]
    async with database.uow() as uow:
        for announcement in made:
            await uow.announcements.add(announcement)
        await uow.commit()
    async with database.uow() as uow:
        first = await uow.announcements.list_in(course.id, offset=0, limit=3)
        rest = await uow.announcements.list_in(course.id, offset=3, limit=3)
        past = await uow.announcements.list_in(course.id, offset=9, limit=3)
        stored = [await uow.announcements.get(a.id) for a in made]
        other = await uow.announcements.list_in(world.courses[1].id, offset=0, limit=3)
    assert list(first.items) == stored[:3]
    assert list(rest.items) == stored[3:]
    assert (first.total, rest.total, past.total) == (4, 4, 4)
    assert list(past.items) == []
    assert (list(other.items), other.total) == ([], 0)


async def test_an_admin_who_is_a_member_still_lists_every_course(database: Database, world: World):
    async with database.uow() as uow:
        await uow.courses.add_member(world.courses[3].id, world.admin.id, CourseRole.TA)
        await uow.commit()
    async with database.uow() as uow:
        first = await uow.courses.visible_to(world.admin.id, offset=0, limit=2)
        # Past the end of the admin's own memberships, within every course.
        later = await uow.courses.visible_to(world.admin.id, offset=2, limit=10)
    assert [c.id for c in first.page.items] == [c.id for c in world.courses[:2]]
    assert [c.id for c in later.page.items] == [c.id for c in world.courses[2:]]
    assert (first.page.total, later.page.total) == (5, 5)
