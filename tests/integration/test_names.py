"""A person's name in the database follows the domain's rule (coagent.domain.accounts.names),
on PostgreSQL and SQLite, on both paths: names built in SQL (persistence/names.py: the
course owner's name, the member list's order) and names built in Python from the selected
account columns (the message mappers).
"""

import pytest
from sqlalchemy import String, literal, select

from coagent.adapters.persistence.names import display_name_sql, public_name_sql
from coagent.domain.accounts.names import display_name, public_name
from coagent.domain.accounts.roles import Role
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole
from tests.integration.conftest import Database, UserFactory, new_id, utcnow
from tests.integration.test_chat_messages import _setting, append
from tests.unit.domain.test_names import NAMES

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_the_sql_names_are_the_domain_names(database: Database) -> None:
    def text(value: str | None) -> object:
        return literal(value, String())

    cases = [parts for parts, _ in NAMES if parts[2] is not None]  # SQL names existing accounts
    async with database.engine.connect() as connection:
        found = [
            tuple(
                (
                    await connection.execute(
                        select(
                            display_name_sql(text(full_name), text(username), text(email)),
                            public_name_sql(text(full_name), text(username)),
                        )
                    )
                ).one()
            )
            for full_name, username, email in cases
        ]
    assert found == [
        (display_name(full_name, username, email), public_name(full_name, username))
        for full_name, username, email in cases
    ]


async def test_members_are_ordered_by_display_name_and_the_owner_named_publicly(
    database: Database,
) -> None:
    tag = new_id().hex[:8]
    owner = UserFactory.build(role=Role.TEACHER, full_name=None, username=f"owner{tag}")
    # By whole address "ann.x@…" sorts before "ann@…" ("." < "@"); by local part, after.
    ann = UserFactory.build(full_name=None, email=f"ann@{tag}-b.test")
    ann_x = UserFactory.build(full_name=None, email=f"ann.x@{tag}-a.test")
    bob = UserFactory.build(full_name=None, username=f"bob{tag}", email=f"aaa@{tag}-c.test")
    zed = UserFactory.build(full_name="Zed", email=f"a@{tag}-d.test")
    now = utcnow()
    course = Course(
        id=new_id(), title="C", description=None, owner_id=owner.id, created_at=now, updated_at=now
    )
    async with database.uow() as uow:
        for user in (owner, ann, ann_x, bob, zed):
            await uow.users.add(user)
        await uow.courses.add(course)
        await uow.courses.add_member(course.id, owner.id, CourseRole.TEACHER)
        for user in (zed, bob, ann_x, ann):
            await uow.courses.add_member(course.id, user.id, CourseRole.STUDENT)
        await uow.commit()
    async with database.uow() as uow:
        members = await uow.courses.members(course.id)
        stored = await uow.courses.get(course.id)

    students = sorted((ann, ann_x, bob, zed), key=lambda u: (u.display_name.lower(), u.id))
    assert [m.user_id for m in members] == [owner.id, *(u.id for u in students)]
    assert [u.display_name for u in students] == ["ann", "ann.x", f"bob{tag}", "Zed"]
    assert stored is not None
    assert stored.owner_name == owner.public_name == f"owner{tag}"


async def test_a_message_sender_is_named_by_the_domain_rule(database: Database) -> None:
    setting = await _setting(database)  # alice has a full name, bob only a username
    plain = UserFactory.build(full_name=None, username=None)
    async with database.uow() as uow:
        await uow.users.add(plain)
        await uow.commit()
    for sender in (setting.alice, setting.bob, plain):
        await append(database, setting.room, "hi", sender_id=sender.id)
    await append(database, setting.room, "hi", sender_id=None, agent_type="teacher")
    async with database.uow() as uow:
        page = await uow.messages.page(setting.room, limit=10)  # messages.py's mapper
        one_by_one = [await uow.turns.message_at(setting.room, m.seq) for m in page]  # turns.py's

    expected = ["Alice Liddell", "bob", plain.email.split("@", 1)[0], "Teacher AI"]
    assert [m.sender_name for m in page] == expected
    assert [m.sender_name if m else None for m in one_by_one] == expected
    assert [u.display_name for u in (setting.alice, setting.bob, plain)] == expected[:3]
