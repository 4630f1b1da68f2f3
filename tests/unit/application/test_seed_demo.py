"""SeedDemo: one demo course with a teacher, two students and a room, once."""

import pytest

from coagent.application.accounts.create_user import AccountFactory
from coagent.application.demo.seed_demo import SeedDemo
from coagent.domain.accounts.roles import Role
from coagent.domain.agents.config import AgentType, Provider
from coagent.domain.courses.policy import CourseRole
from coagent.domain.courses.room import AiMode
from coagent.domain.errors import Conflict

pytestmark = pytest.mark.anyio


def _seeder(accounts) -> SeedDemo:
    factory = AccountFactory(hasher=accounts.hasher, clock=accounts.clock, ids=accounts.ids)
    return SeedDemo(uow=accounts.uow, accounts=factory, clock=accounts.clock, ids=accounts.ids)


async def test_seeds_a_usable_course_once(accounts):
    seeder = _seeder(accounts)
    seeded = await seeder.execute()
    assert seeded is not None
    assert [a.role for a in seeded.accounts] == [Role.TEACHER, Role.STUDENT, Role.STUDENT]
    assert len({a.password for a in seeded.accounts}) == 3  # generated, not a default
    assert all(len(a.password) >= 12 for a in seeded.accounts)
    async with accounts.uow() as uow:
        members = await uow.courses.members(seeded.course.id)
        rooms = await uow.rooms.list_in(seeded.course.id, visible_to=None)
        teacher = await uow.users.get_by_login("teacher@demo.coagent")
    assert teacher is not None
    assert seeded.course.owner_id == teacher.id
    assert sorted(m.role for m in members) == sorted(
        [CourseRole.TEACHER, CourseRole.STUDENT, CourseRole.STUDENT]
    )
    assert [r.ai_mode for r in rooms] == [AiMode.BOTH]
    async with accounts.uow() as uow:
        agents = await uow.agent_configs.list_for_course(seeded.course.id)
    assert [(a.type, a.provider, a.is_active) for a in agents] == [
        (AgentType.TEACHER, Provider.OFFLINE, True),
        (AgentType.STUDENT, Provider.OFFLINE, True),
    ]
    assert all(a.system_prompt and a.masked_api_key is None for a in agents)
    assert seeded.agents == tuple(agents)
    assert await seeder.execute() is None  # once per database
    assert accounts.store.actions().count("user.created") == 3


async def test_a_taken_demo_address_seeds_nothing(accounts):
    await accounts.add_user(email="alice@demo.coagent", role=Role.STUDENT)
    with pytest.raises(Conflict):
        await _seeder(accounts).execute()
    async with accounts.uow() as uow:
        assert await uow.users.get_by_login("teacher@demo.coagent") is None
        assert (await uow.courses.list_for(None, offset=0, limit=10)).total == 0
