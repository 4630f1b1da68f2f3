"""RoomRepository.standing: the caller, the room and the caller's standing, in one read.

Runs on PostgreSQL (straight on asyncpg, see persistence/rows.py) and SQLite (through
SQLAlchemy), so both paths must map the same row to the same entities.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from coagent.application.ports.chat import NewMessage
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
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
    ta: User
    outsider: User
    open_room: Room
    restricted_room: Room


def _room(course: Course, name: str) -> Room:
    now = utcnow()
    return Room(
        id=new_id(),
        course_id=course.id,
        name=name,
        description=f"{name} description",
        ai_mode=AiMode.BOTH,
        ai_frequency=0.25,
        is_ai_active=True,
        is_analytics_active=True,
        created_at=now,
        updated_at=now,
    )


@pytest.fixture
async def world(database: Database) -> World:
    owner = UserFactory.build(role=Role.TEACHER, is_active=True)
    student = UserFactory.build(role=Role.STUDENT, is_active=True, full_name=None)
    ta = UserFactory.build(role=Role.STUDENT, is_active=True)
    outsider = UserFactory.build(role=Role.STUDENT, is_active=False)
    now = utcnow()
    course = Course(
        id=new_id(), title="C", description=None, owner_id=owner.id, created_at=now, updated_at=now
    )
    open_room, restricted_room = _room(course, "Open"), _room(course, "Restricted")
    async with database.uow() as uow:
        for user in (owner, student, ta, outsider):
            await uow.users.add(user)
        await uow.courses.add(course)
        await uow.courses.add_member(course.id, student.id, CourseRole.STUDENT)
        await uow.courses.add_member(course.id, ta.id, CourseRole.TA)
        await uow.rooms.add(open_room)
        await uow.rooms.add(restricted_room)
        await uow.rooms.assign(restricted_room.id, ta.id)
        await uow.commit()
    return World(owner, student, ta, outsider, open_room, restricted_room)


async def test_the_actor_and_room_are_the_stored_entities(database: Database, world: World):
    async with database.uow() as uow:
        for user in (world.owner, world.student, world.ta, world.outsider):
            for room in (world.open_room, world.restricted_room):
                found = await uow.rooms.standing(room.id, user.id)
                assert found.actor == await uow.users.get(user.id)
                assert found.room == await uow.rooms.get(room.id)
    assert found.room is not None
    assert found.room.is_restricted
    assert found.actor is not None
    assert not found.actor.is_active  # the outsider is inactive: reported, not filtered


async def test_relations_to_the_course(database: Database, world: World):
    async with database.uow() as uow:
        owner = await uow.rooms.standing(world.open_room.id, world.owner.id)
        student = await uow.rooms.standing(world.open_room.id, world.student.id)
        ta = await uow.rooms.standing(world.open_room.id, world.ta.id)
        outsider = await uow.rooms.standing(world.open_room.id, world.outsider.id)
    assert (owner.is_owner, owner.course_role, owner.assigned) == (True, None, None)
    assert (student.is_owner, student.course_role, student.assigned) == (
        False,
        CourseRole.STUDENT,
        None,
    )
    assert ta.course_role is CourseRole.TA
    assert (outsider.is_owner, outsider.course_role) == (False, None)


async def test_assignment_counts_only_in_a_restricted_room(database: Database, world: World):
    async with database.uow() as uow:
        assigned = await uow.rooms.standing(world.restricted_room.id, world.ta.id)
        unassigned = await uow.rooms.standing(world.restricted_room.id, world.student.id)
        open_room = await uow.rooms.standing(world.open_room.id, world.ta.id)
    assert assigned.assigned is True
    assert unassigned.assigned is False
    assert open_room.assigned is None


async def test_unknown_room_or_user(database: Database, world: World):
    async with database.uow() as uow:
        no_room = await uow.rooms.standing(new_id(), world.student.id)
        no_user = await uow.rooms.standing(world.open_room.id, new_id())
    assert no_room.actor is not None
    assert no_room.actor.id == world.student.id
    assert no_room.room is None
    assert (no_user.actor, no_user.room) == (None, None)


async def test_the_rooms_last_seq_comes_with_the_standing(database: Database, world: World):
    async with database.uow() as uow:
        empty = await uow.rooms.standing(world.open_room.id, world.student.id)
        for number in range(3):
            await uow.messages.append(
                NewMessage(
                    id=new_id(),
                    room_id=world.open_room.id,
                    content=f"m{number}",
                    created_at=utcnow(),
                    sender_id=world.student.id,
                    agent_type=None,
                    client_msg_id=None,
                )
            )
        inside = await uow.rooms.standing(world.open_room.id, world.student.id)
        await uow.commit()
    async with database.uow() as uow:
        after = await uow.rooms.standing(world.open_room.id, world.owner.id)
        other = await uow.rooms.standing(world.restricted_room.id, world.owner.id)
    assert (empty.last_seq, inside.last_seq, after.last_seq, other.last_seq) == (0, 3, 3, 0)


async def test_a_history_read_is_two_statements_and_no_transaction(
    database: Database, world: World
):
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL only: counts what asyncpg sends")
    with sent_to_postgresql(database) as sent:
        async with database.uow() as uow:
            await uow.rooms.standing(world.open_room.id, world.student.id)
            await uow.messages.page(world.open_room.id, limit=50)
        await asyncio.sleep(0)  # asyncpg calls its query loggers with call_soon
    statements: list[str] = [query for query, _args in sent]
    assert len(statements) == 2, statements
    assert "FROM user_account" in statements[0]
    assert "FROM message" in statements[1]


async def test_inside_a_write_the_read_sees_the_transaction(database: Database, world: World):
    """On PostgreSQL the read runs on the session's connection: inside an open transaction it
    sees that transaction's own uncommitted changes, like any other statement of the unit.
    """
    async with database.uow() as uow:
        await uow.courses.set_member_role(
            world.open_room.course_id, world.student.id, CourseRole.TA
        )
        inside: Any = await uow.rooms.standing(world.open_room.id, world.student.id)
    async with database.uow() as uow:
        after: Any = await uow.rooms.standing(world.open_room.id, world.student.id)
    assert inside.course_role is CourseRole.TA
    assert after.course_role is CourseRole.STUDENT  # never committed
