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
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole
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
        pytest.skip("the driver path is PostgreSQL's")
    with sent_to_postgresql(database) as sent:
        async with database.uow() as uow:
            found = await uow.courses.visible_to(world.student.id, offset=0, limit=100)
        await asyncio.sleep(0)  # asyncpg calls its query loggers with call_soon
    assert len(found.page.items) == 3
    assert len(sent) == 1  # no BEGIN: a read alone opens no transaction
    assert "course_membership" in sent[0][0]
