"""Agent configurations on every backend: one active per (course, type) and among the system
ones, unique names, activation, the revision each update bumps, keys in fallback order and
versions newest first.
"""

from dataclasses import replace

import pytest
from sqlalchemy.exc import IntegrityError

from coagent.domain.agents.config import AgentType, ConfigVersion, snapshot_of
from coagent.domain.agents.keys import KeyType
from coagent.domain.errors import Conflict
from tests.contract import world as w
from tests.contract.conftest import Backend

pytestmark = pytest.mark.anyio


async def test_one_active_configuration_per_course_and_type(backend: Backend) -> None:
    owner = w.user()
    course = w.course(owner.id)
    first = w.config(course.id, is_active=True)
    await w.save(backend.uow, owner, course, first)
    for clash in (
        w.config(course.id, is_active=True),  # a second active teacher
        w.config(course.id, name=first.name),  # a taken name
    ):
        async with backend.uow() as uow:
            with pytest.raises(Conflict):
                await uow.agent_configs.add(clash)
    second = w.config(course.id)
    student = w.config(course.id, type=AgentType.STUDENT, name=first.name, is_active=True)
    system = w.config(None, type=AgentType.DESIGN, is_active=True)
    await w.save(backend.uow, second, student, system)
    async with backend.uow() as uow:
        with pytest.raises(Conflict):
            await uow.agent_configs.add(w.config(None, type=AgentType.DESIGN, is_active=True))
    async with backend.uow() as uow:
        active = await uow.agent_configs.active_for(course.id, AgentType.TEACHER)
        assert active is not None
        assert active.id == first.id
        system_active = await uow.agent_configs.active_for(None, AgentType.DESIGN)
        assert system_active is not None
        assert system_active.id == system.id
        assert await uow.agent_configs.name_taken(course.id, AgentType.TEACHER, first.name)
        assert not await uow.agent_configs.name_taken(
            course.id, AgentType.TEACHER, first.name, except_id=first.id
        )
        assert await uow.agent_configs.active_for(None, AgentType.TEACHER) is None
        listed = await uow.agent_configs.list_for_course(course.id)
        assert [c.id for c in listed] == [first.id, second.id, student.id]
        assert [c.id for c in await uow.agent_configs.list_system()] == [system.id]


async def test_activation_switches_and_first_of_falls_back_to_the_oldest(backend: Backend) -> None:
    owner = w.user()
    course = w.course(owner.id)
    old, new = w.config(course.id), w.config(course.id)
    await w.save(backend.uow, owner, course, old, new)
    async with backend.uow() as uow:
        assert await uow.agent_configs.active_for(course.id, AgentType.TEACHER) is None
        oldest = await uow.agent_configs.first_of(course.id, AgentType.TEACHER)
        assert oldest is not None
        assert oldest.id == old.id
        assert await uow.agent_configs.first_of(course.id, AgentType.STUDENT) is None
        await uow.agent_configs.activate(new.id)
        await uow.commit()
    async with backend.uow() as uow:
        await uow.agent_configs.activate(old.id)
        await uow.agent_configs.activate(new.id)
        await uow.commit()
    async with backend.uow() as uow:
        active = await uow.agent_configs.first_of(course.id, AgentType.TEACHER)
        stored_old = await uow.agent_configs.get(old.id)
    assert active is not None
    assert (active.id, active.is_active) == (new.id, True)
    assert stored_old is not None
    assert not stored_old.is_active


async def test_update_bumps_the_revision_and_keeps_identity_and_activation(
    backend: Backend,
) -> None:
    owner = w.user()
    course, other = w.course(owner.id), w.course(owner.id)
    config = w.config(course.id, is_active=True, settings={"a": 1})
    taken = w.config(course.id, name="Taken")
    await w.save(backend.uow, owner, course, other, config, taken)
    at = w.tick()
    async with backend.uow() as uow:
        await uow.agent_configs.update(
            replace(
                config,
                course_id=other.id,
                name="Renamed",
                system_prompt="q",
                settings={"b": 2},
                is_active=False,
                revision=40,
                created_at=at,
                updated_at=at,
            )
        )
        await uow.commit()
    async with backend.uow() as uow:
        await uow.agent_configs.update(replace(config, name="Renamed again"))
        await uow.commit()
    async with backend.uow() as uow:
        with pytest.raises(Conflict):
            await uow.agent_configs.update(replace(config, name="Taken"))
    async with backend.uow() as uow:
        stored = await uow.agent_configs.get(config.id)
    assert stored is not None
    assert (stored.name, stored.revision, stored.is_active) == ("Renamed again", 3, True)
    assert (stored.course_id, stored.created_at) == (course.id, config.created_at)
    assert dict(stored.settings) == {"a": 1}  # the second update wrote the config's own


async def test_keys_in_fallback_order_and_versions_newest_first(backend: Backend) -> None:
    owner = w.user()
    course = w.course(owner.id)
    config = w.config(course.id)
    await w.save(backend.uow, owner, course, config)
    versions = [
        ConfigVersion(
            id=w.new_id(),
            config_id=config.id,
            version_label=f"v{i}",
            snapshot=snapshot_of(config),
            created_by=owner.id,
            created_at=w.tick(),
        )
        for i in range(3)
    ]
    async with backend.uow() as uow:
        await uow.agent_configs.set_key(config.id, KeyType.BACKUP_KEY, ciphertext="b", mask="b…")
        await uow.agent_configs.set_key(config.id, KeyType.API_KEY, ciphertext="a", mask="a…")
        await uow.agent_configs.set_key(config.id, KeyType.ROOM_KEY, ciphertext="r", mask="r…")
        await uow.agent_configs.set_key(config.id, KeyType.API_KEY, ciphertext="a2", mask="a2…")
        for version in versions:
            await uow.agent_configs.add_version(version)
        await uow.commit()
    async with backend.uow() as uow:
        assert list(await uow.agent_configs.keys_of(config.id)) == ["r", "a2", "b"]
        masks = await uow.agent_configs.key_masks(config.id)
        stored = await uow.agent_configs.get(config.id)
        page, total = await uow.agent_configs.list_versions(config.id, offset=1, limit=1)
        assert await uow.agent_configs.get_version(versions[0].id) == versions[0]
        await uow.agent_configs.delete_key(config.id, KeyType.ROOM_KEY)
        await uow.commit()
    assert list(masks.items()) == [
        (KeyType.ROOM_KEY, "r…"),
        (KeyType.API_KEY, "a2…"),
        (KeyType.BACKUP_KEY, "b…"),
    ]
    assert stored is not None
    assert stored.masked_api_key == "a2…"
    assert ([v.id for v in page], total) == ([versions[1].id], 3)
    async with backend.uow() as uow:
        assert list(await uow.agent_configs.keys_of(config.id)) == ["a2", "b"]
        keys = await uow.agent_configs.stored_keys(after=None, limit=10)
        assert sorted(k.ciphertext for k in keys) == ["a2", "b"]
        assert [k.id for k in keys] == sorted(k.id for k in keys)
        await uow.agent_configs.replace_ciphertext(keys[0].id, "rotated")
        await uow.agent_configs.delete(config.id)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.agent_configs.get(config.id) is None
        assert await uow.agent_configs.keys_of(config.id) == []
        assert await uow.agent_configs.get_version(versions[0].id) is None
        assert await uow.agent_configs.stored_keys(after=None, limit=10) == []


async def test_only_design_and_analytics_configurations_may_be_system_ones(
    backend: Backend,
) -> None:
    # A caller's bug (the use cases check `SYSTEM_TYPES` first): the database's check
    # constraint refuses it, the fake raises ValueError; either way nothing is stored.
    teacher = w.config(None)
    with pytest.raises((ValueError, IntegrityError)):
        await w.save(backend.uow, teacher)
    async with backend.uow() as uow:
        assert await uow.agent_configs.get(teacher.id) is None


async def test_lists_order_by_type_then_creation_then_id(backend: Backend) -> None:
    owner = w.user()
    course = w.course(owner.id)
    student = w.config(course.id, type=AgentType.STUDENT)
    design = w.config(course.id, type=AgentType.DESIGN)
    teacher = w.config(course.id)
    at = w.tick()
    tied = [w.config(course.id, created_at=at, updated_at=at) for _ in range(2)]
    analytics = w.config(None, type=AgentType.ANALYTICS)
    system_design = w.config(None, type=AgentType.DESIGN)
    await w.save(
        backend.uow, owner, course, *tied, design, student, teacher, analytics, system_design
    )
    async with backend.uow() as uow:
        listed = await uow.agent_configs.list_for_course(course.id)
        system = await uow.agent_configs.list_system()
        assert await uow.agent_configs.list_for_course(w.new_id()) == []
    # Teacher, student, design, analytics: the order `AgentType` declares.
    teachers = [teacher.id, *sorted(c.id for c in tied)]
    assert [c.id for c in listed] == [*teachers, student.id, design.id]
    assert [c.id for c in system] == [system_design.id, analytics.id]
