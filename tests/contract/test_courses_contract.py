"""Courses, memberships, rooms and announcements on every backend: roles, the standing reads
the access checks use, lists with totals in their order, restricted rooms, and what deleting a
course or removing a member takes with it.
"""

from dataclasses import replace

import pytest

from coagent.domain.accounts.roles import Role
from coagent.domain.courses.policy import CourseRole
from coagent.domain.courses.room import AiMode
from coagent.domain.errors import NotFound
from tests.contract import world as w
from tests.contract.conftest import Backend

pytestmark = pytest.mark.anyio


async def test_memberships_and_roles(backend: Backend) -> None:
    owner, student = w.user(full_name="Olga"), w.user()
    course = w.course(owner.id)
    await w.save(backend.uow, owner, student, course)
    async with backend.uow() as uow:
        assert await uow.courses.add_member(course.id, owner.id, CourseRole.TEACHER)
        assert await uow.courses.add_member(course.id, student.id, CourseRole.STUDENT)
        assert not await uow.courses.add_member(course.id, student.id, CourseRole.TA)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.courses.role_of(course.id, student.id) is CourseRole.STUDENT
        await uow.courses.set_member_role(course.id, student.id, CourseRole.TA)
        await uow.courses.set_member_role(course.id, w.new_id(), CourseRole.TA)  # nobody
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.courses.role_of(course.id, student.id) is CourseRole.TA
        assert await uow.courses.role_of(course.id, w.new_id()) is None
        stored = await uow.courses.get(course.id)
        assert stored is not None
        assert (stored.owner_id, stored.owner_name) == (owner.id, "Olga")


async def test_members_teachers_first_then_by_name(backend: Backend) -> None:
    people = {
        "zoe": w.user(full_name="Zoe"),
        "adam": w.user(full_name="adam"),
        "bia": w.user(full_name=None, username="bia"),
        "teacher": w.user(full_name="Yuri"),
        "ta": w.user(full_name="Xavier"),
    }
    course = w.course(people["teacher"].id)
    await w.save(backend.uow, *people.values(), course)
    roles = {"teacher": CourseRole.TEACHER, "ta": CourseRole.TA}
    async with backend.uow() as uow:
        for key, person in people.items():
            await uow.courses.add_member(course.id, person.id, roles.get(key, CourseRole.STUDENT))
        await uow.commit()
    async with backend.uow() as uow:
        members = await uow.courses.members(course.id)
        assert await uow.courses.members(w.new_id()) == []
    order = ["teacher", "ta", "adam", "bia", "zoe"]
    assert [m.user_id for m in members] == [people[key].id for key in order]
    assert [m.is_owner for m in members] == [True, False, False, False, False]
    assert members[3].email == people["bia"].email


async def test_course_lists_newest_first_with_totals_and_visibility(backend: Backend) -> None:
    member, admin, idle = w.user(), w.user(role=Role.ADMIN), w.user(is_active=False)
    courses = [w.course(None, title=f"C{i}") for i in range(4)]
    await w.save(backend.uow, member, admin, idle, *courses)
    async with backend.uow() as uow:
        for course in courses[:3]:
            await uow.courses.add_member(course.id, member.id, CourseRole.STUDENT)
        await uow.courses.add_member(courses[0].id, idle.id, CourseRole.STUDENT)
        await uow.commit()
    async with backend.uow() as uow:
        page = await uow.courses.list_for(member.id, offset=1, limit=1)
        everything = await uow.courses.list_for(None, offset=0, limit=10)
        mine = await uow.courses.visible_to(member.id, offset=0, limit=2)
        theirs = await uow.courses.visible_to(admin.id, offset=3, limit=2)
        nothing = await uow.courses.visible_to(idle.id, offset=0, limit=10)
        nobody = await uow.courses.visible_to(w.new_id(), offset=0, limit=10)
        past = await uow.courses.visible_to(member.id, offset=10, limit=2)
    assert ([c.id for c in page.items], page.total) == ([courses[1].id], 3)
    assert [c.id for c in everything.items] == [c.id for c in reversed(courses)]
    assert mine.actor == member
    assert ([c.id for c in mine.page.items], mine.page.total) == (
        [courses[2].id, courses[1].id],
        3,
    )
    assert ([c.id for c in theirs.page.items], theirs.page.total) == ([courses[0].id], 4)
    assert nothing.actor == idle
    assert (list(nothing.page.items), nothing.page.total) == ([], 0)
    assert nobody.actor is None
    assert (list(nobody.page.items), nobody.page.total) == ([], 0)
    assert past.actor == member
    assert (list(past.page.items), past.page.total) == ([], 3)


async def test_course_standing(backend: Backend) -> None:
    owner, student, stranger = w.user(username="owner", full_name=None), w.user(), w.user()
    course = w.course(owner.id)
    await w.save(backend.uow, owner, student, stranger, course)
    async with backend.uow() as uow:
        await uow.courses.add_member(course.id, student.id, CourseRole.STUDENT)
        await uow.commit()
    async with backend.uow() as uow:
        member = await uow.courses.standing(course.id, student.id)
        outsider = await uow.courses.standing(course.id, stranger.id)
        missing = await uow.courses.standing(w.new_id(), student.id)
        ghost = await uow.courses.standing(course.id, w.new_id())
    assert (member.actor, member.course_role) == (student, CourseRole.STUDENT)
    assert member.course is not None
    assert (member.course.id, member.course.owner_name) == (course.id, "owner")
    assert (outsider.actor, outsider.course_role) == (stranger, None)
    assert outsider.course is not None
    assert (missing.actor, missing.course) == (student, None)
    assert ghost.actor is None


async def test_course_update_writes_title_and_description_only(backend: Backend) -> None:
    owner, other = w.user(), w.user()
    course = w.course(owner.id, description="old")
    await w.save(backend.uow, owner, other, course)
    at = w.tick()
    async with backend.uow() as uow:
        await uow.courses.update(
            replace(course, title="New", description=None, owner_id=other.id, updated_at=at)
        )
        await uow.commit()
    async with backend.uow() as uow:
        stored = await uow.courses.get(course.id)
    assert stored is not None
    assert (stored.title, stored.description, stored.owner_id) == ("New", None, owner.id)
    assert (stored.created_at, stored.updated_at) == (course.created_at, at)


async def test_rooms_oldest_first_restricted_ones_to_their_assignees(backend: Backend) -> None:
    owner, ana, bo = w.user(), w.user(), w.user()
    course, elsewhere = w.course(owner.id), w.course(owner.id)
    open_room, closed, other = w.room(course.id), w.room(course.id), w.room(elsewhere.id)
    await w.save(backend.uow, owner, ana, bo, course, elsewhere, open_room, closed, other)
    async with backend.uow() as uow:
        assert await uow.rooms.assign(closed.id, ana.id)
        assert not await uow.rooms.assign(closed.id, ana.id)
        with pytest.raises(NotFound):
            await uow.rooms.assign(closed.id, w.new_id())
    async with backend.uow() as uow:
        assert await uow.rooms.assign(closed.id, ana.id)
        await uow.commit()
    async with backend.uow() as uow:
        every = await uow.rooms.list_in(course.id, visible_to=None)
        for_ana = await uow.rooms.list_in(course.id, visible_to=ana.id)
        for_bo = await uow.rooms.list_in(course.id, visible_to=bo.id)
        assert await uow.rooms.is_assigned(closed.id, ana.id)
        assert not await uow.rooms.is_assigned(closed.id, bo.id)
        stored = await uow.rooms.get(closed.id)
    assert [(r.id, r.is_restricted) for r in every] == [(open_room.id, False), (closed.id, True)]
    assert [r.id for r in for_ana] == [open_room.id, closed.id]
    assert [r.id for r in for_bo] == [open_room.id]
    assert stored is not None
    assert stored.is_restricted


async def test_room_standing(backend: Backend) -> None:
    owner, ana, bo = w.user(), w.user(), w.user()
    course = w.course(owner.id)
    open_room, closed = w.room(course.id), w.room(course.id)
    await w.save(backend.uow, owner, ana, bo, course, open_room, closed)
    async with backend.uow() as uow:
        await uow.courses.add_member(course.id, ana.id, CourseRole.STUDENT)
        await uow.courses.add_member(course.id, bo.id, CourseRole.STUDENT)
        await uow.rooms.assign(closed.id, ana.id)
        await uow.commit()
    await w.post(backend.uow, w.message(open_room.id, ana.id))
    await w.post(backend.uow, w.message(open_room.id, ana.id))
    async with backend.uow() as uow:
        opened = await uow.rooms.standing(open_room.id, ana.id)
        assigned = await uow.rooms.standing(closed.id, ana.id)
        refused = await uow.rooms.standing(closed.id, bo.id)
        by_owner = await uow.rooms.standing(closed.id, owner.id)
        missing = await uow.rooms.standing(w.new_id(), ana.id)
        ghost = await uow.rooms.standing(open_room.id, w.new_id())
    assert opened.room is not None
    assert (opened.actor, opened.room.id, opened.course_role) == (
        ana,
        open_room.id,
        CourseRole.STUDENT,
    )
    assert (opened.assigned, opened.is_owner, opened.last_seq) == (None, False, 2)
    assert (assigned.assigned, assigned.last_seq) == (True, 0)
    assert refused.assigned is False
    assert (by_owner.is_owner, by_owner.course_role) == (True, None)
    assert (missing.actor, missing.room) == (ana, None)
    assert (ghost.actor, ghost.room) == (None, None)


async def test_room_update_keeps_its_course_and_creation(backend: Backend) -> None:
    owner = w.user()
    course, other = w.course(owner.id), w.course(owner.id)
    room = w.room(course.id)
    await w.save(backend.uow, owner, course, other, room)
    changed = replace(
        room,
        course_id=other.id,
        name="Renamed",
        ai_mode=AiMode.BOTH,
        is_ai_active=False,
        created_at=w.tick(),
        updated_at=w.tick(),
    )
    async with backend.uow() as uow:
        await uow.rooms.update(changed)
        await uow.commit()
    async with backend.uow() as uow:
        stored = await uow.rooms.get(room.id)
    assert stored == replace(changed, course_id=course.id, created_at=room.created_at)


async def test_removing_a_member_drops_their_assignments_in_that_course(backend: Backend) -> None:
    owner, ana = w.user(), w.user()
    course, other = w.course(owner.id), w.course(owner.id)
    here, there = w.room(course.id), w.room(other.id)
    await w.save(backend.uow, owner, ana, course, other, here, there)
    async with backend.uow() as uow:
        await uow.courses.add_member(course.id, ana.id, CourseRole.STUDENT)
        await uow.rooms.assign(here.id, ana.id)
        await uow.rooms.assign(there.id, ana.id)
        await uow.commit()
    async with backend.uow() as uow:
        await uow.courses.remove_member(course.id, ana.id)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.courses.role_of(course.id, ana.id) is None
        assert not await uow.rooms.is_assigned(here.id, ana.id)
        assert await uow.rooms.is_assigned(there.id, ana.id)


async def test_announcements_newest_first_with_the_total(backend: Backend) -> None:
    owner = w.user()
    course, other = w.course(owner.id), w.course(owner.id)
    notes = [w.announcement(course.id, owner.id, title=f"N{i}") for i in range(3)]
    await w.save(backend.uow, owner, course, other, *notes, w.announcement(other.id, None))
    at = w.tick()
    async with backend.uow() as uow:
        await uow.announcements.update(
            replace(notes[0], title="Edited", content="New", author_id=None, updated_at=at)
        )
        await uow.announcements.delete(notes[1].id)
        await uow.commit()
    async with backend.uow() as uow:
        page = await uow.announcements.list_in(course.id, offset=0, limit=1)
        rest = await uow.announcements.list_in(course.id, offset=1, limit=5)
        edited = await uow.announcements.get(notes[0].id)
    assert ([a.id for a in page.items], page.total) == ([notes[2].id], 2)
    assert [a.id for a in rest.items] == [notes[0].id]
    assert edited == replace(notes[0], title="Edited", content="New", updated_at=at)


async def test_deleting_a_course_takes_its_rooms_messages_announcements_and_agents(
    backend: Backend,
) -> None:
    owner, ana = w.user(), w.user()
    course, kept = w.course(owner.id), w.course(owner.id)
    room, kept_room = w.room(course.id), w.room(kept.id)
    note = w.announcement(course.id, owner.id)
    agent = w.config(course.id, is_active=True)
    await w.save(backend.uow, owner, ana, course, kept, room, kept_room, note, agent)
    async with backend.uow() as uow:
        await uow.courses.add_member(course.id, ana.id, CourseRole.STUDENT)
        await uow.rooms.assign(room.id, ana.id)
        await uow.commit()
    await w.post(backend.uow, w.message(room.id, ana.id))
    async with backend.uow() as uow:
        await uow.courses.delete(course.id)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.courses.get(course.id) is None
        assert await uow.courses.role_of(course.id, ana.id) is None
        assert await uow.rooms.get(room.id) is None
        assert await uow.messages.page(room.id, limit=10) == []
        assert await uow.announcements.get(note.id) is None
        assert await uow.agent_configs.get(agent.id) is None
        assert await uow.rooms.get(kept_room.id) is not None
        assert [c.id for c in (await uow.courses.list_for(None, offset=0, limit=5)).items] == [
            kept.id
        ]
