"""The course-scoped reads authorize in one read (`course_access`) with the same answers as
`load_actor` + `authorize`: 401 for a deactivated or deleted account, 404 for a course the
caller may not know of, 403 for a member without the right, in that order.
"""

from uuid import uuid4

import pytest

from coagent.application.agents.list_configs import ListAgentConfigs, ListAgentConfigsCommand
from coagent.application.courses.create_course import CreateCourse, CreateCourseCommand
from coagent.application.courses.get_course import GetCourse, GetCourseCommand
from coagent.application.courses.list_announcements import (
    ListAnnouncements,
    ListAnnouncementsCommand,
)
from coagent.application.courses.list_courses import ListCourses, ListCoursesCommand
from coagent.application.courses.list_members import ListMembers, ListMembersCommand
from coagent.application.courses.list_rooms import ListRooms, ListRoomsCommand
from coagent.domain.accounts.roles import Role
from coagent.domain.courses.policy import CourseRole
from coagent.domain.errors import Forbidden, NotAuthenticated, NotFound
from tests.unit.application.conftest import Accounts

pytestmark = pytest.mark.anyio


def _reads(accounts: Accounts, actor_id, course_id):
    uow = accounts.uow
    return {
        "course": lambda: GetCourse(uow=uow).execute(
            GetCourseCommand(actor_id=actor_id, course_id=course_id)
        ),
        "members": lambda: ListMembers(uow=uow).execute(
            ListMembersCommand(actor_id=actor_id, course_id=course_id)
        ),
        "rooms": lambda: ListRooms(uow=uow).execute(
            ListRoomsCommand(actor_id=actor_id, course_id=course_id)
        ),
        "announcements": lambda: ListAnnouncements(uow=uow).execute(
            ListAnnouncementsCommand(actor_id=actor_id, course_id=course_id)
        ),
        "agent configs": lambda: ListAgentConfigs(uow=uow).execute(
            ListAgentConfigsCommand(actor_id=actor_id, course_id=course_id)
        ),
    }


async def _course(accounts: Accounts):
    owner = await accounts.add_user(role=Role.TEACHER)
    course = await CreateCourse(uow=accounts.uow, clock=accounts.clock, ids=accounts.ids).execute(
        CreateCourseCommand(actor_id=owner.id, title="Reads")
    )
    return owner, course


async def test_a_deactivated_or_deleted_account_is_refused_before_anything(accounts: Accounts):
    _, course = await _course(accounts)
    inactive = await accounts.add_user(role=Role.ADMIN, is_active=False)
    for actor_id in (inactive.id, uuid4()):
        # Even for a course that does not exist: 401 comes first, as with load_actor.
        for course_id in (course.id, uuid4()):
            for read in _reads(accounts, actor_id, course_id).values():
                with pytest.raises(NotAuthenticated):
                    await read()
        with pytest.raises(NotAuthenticated):
            await ListCourses(uow=accounts.uow).execute(ListCoursesCommand(actor_id=actor_id))


async def test_an_outsider_or_a_missing_course_is_not_found(accounts: Accounts):
    _, course = await _course(accounts)
    outsider = await accounts.add_user(role=Role.TEACHER)
    member = await accounts.add_user(role=Role.STUDENT)
    for actor_id, course_id in ((outsider.id, course.id), (member.id, uuid4())):
        for read in _reads(accounts, actor_id, course_id).values():
            with pytest.raises(NotFound):
                await read()


async def test_a_student_may_read_the_course_but_not_its_agent_configs(accounts: Accounts):
    owner, course = await _course(accounts)
    student = await accounts.add_user(role=Role.STUDENT)
    async with accounts.uow() as uow:
        await uow.courses.add_member(course.id, student.id, CourseRole.STUDENT)
        await uow.commit()
    reads = _reads(accounts, student.id, course.id)
    assert (await reads["course"]()).id == course.id
    members = await reads["members"]()
    assert {m.user_id for m in members} == {owner.id, student.id}
    assert all(m.email == "" for m in members)  # students never see addresses
    assert list(await reads["rooms"]()) == []
    assert (await reads["announcements"]()).total == 0
    with pytest.raises(Forbidden):
        await reads["agent configs"]()
    staff = _reads(accounts, owner.id, course.id)
    assert {m.email for m in await staff["members"]()} == {owner.email, student.email}
