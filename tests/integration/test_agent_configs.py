"""Agent configurations in the real databases: the uniqueness guarantees held by the database
itself (PostgreSQL and SQLite), cascades, key order, and `coagent keys rotate`.
"""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from coagent.adapters.security.secret_box import FernetSecretBox
from coagent.domain.agents.config import AgentConfig, AgentType, Provider
from coagent.domain.agents.keys import KeyType
from coagent.domain.agents.tools import UPDATE_TRIGGER
from coagent.domain.agents.trigger import DEFAULT_TRIGGER
from coagent.domain.courses.course import Course
from coagent.domain.errors import Conflict, InvalidInput
from coagent.main import migrations
from tests.integration.conftest import (
    Database,
    UserFactory,
    new_id,
    process_env,
    sqlite_url,
    utcnow,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

COAGENT = str(Path(sys.executable).with_name("coagent"))


def _config(course_id: UUID | None, **changes) -> AgentConfig:
    now = utcnow()
    values = {
        "id": new_id(),
        "course_id": course_id,
        "type": AgentType.TEACHER if course_id else AgentType.DESIGN,
        "name": f"Config {new_id().hex[-6:]}",
        "provider": Provider.OFFLINE,
        "model": None,
        "base_url": None,
        "system_prompt": "x",
        "context_window": 10,
        "trigger": DEFAULT_TRIGGER,
        "schedule": None,
        "settings": {},
        "is_active": False,
        "created_by": None,
        "created_at": now,
        "updated_at": now,
    }
    values.update(changes)
    return AgentConfig(**values)


async def _course(database: Database) -> UUID:
    owner = UserFactory.build()
    course = Course(
        id=new_id(),
        title="C",
        description=None,
        owner_id=owner.id,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    async with database.uow() as uow:
        await uow.users.add(owner)
        await uow.courses.add(course)
        await uow.commit()
    return course.id


async def _add(database: Database, config: AgentConfig) -> None:
    async with database.uow() as uow:
        await uow.agent_configs.add(config)
        await uow.commit()


async def test_the_database_refuses_a_second_active_configuration(database: Database):
    course_id = await _course(database)
    first = _config(course_id, is_active=True)
    await _add(database, first)
    with pytest.raises(Conflict):
        await _add(database, _config(course_id, is_active=True))
    # Straight SQL, past every repository check: the partial unique index holds.
    insert = text(
        "INSERT INTO agent_config (id, course_id, type, name, provider, system_prompt, "
        "context_window, trigger_config, settings, is_active, created_at, updated_at) "
        "SELECT :id, course_id, type, :name, provider, system_prompt, context_window, "
        "trigger_config, settings, :active, created_at, updated_at FROM agent_config "
        "WHERE id = :source"
    )
    source = first.id if database.dialect == "postgresql" else first.id.bytes
    with pytest.raises(IntegrityError):
        async with database.engine.begin() as connection:
            await connection.execute(
                insert,
                {
                    "id": new_id() if database.dialect == "postgresql" else new_id().bytes,
                    "name": "Another name",
                    "active": True,
                    "source": source,
                },
            )
    # Inactive ones are fine, and another type is another group.
    await _add(database, _config(course_id))
    await _add(database, _config(course_id, type=AgentType.STUDENT, is_active=True))


async def test_system_configurations_are_unique_too_although_their_course_is_null(
    database: Database,
):
    await _add(database, _config(None, is_active=True, name="Default"))
    with pytest.raises(Conflict):
        await _add(database, _config(None, is_active=True))
    with pytest.raises(Conflict, match="name"):
        await _add(database, _config(None, name="Default"))
    await _add(database, _config(None, type=AgentType.ANALYTICS, is_active=True, name="Default"))
    with pytest.raises(IntegrityError):  # a teacher agent needs a course (check constraint)
        async with database.uow() as uow:
            await uow.agent_configs.add(_config(None, type=AgentType.TEACHER))


async def test_names_are_unique_per_course_and_type(database: Database):
    course_id = await _course(database)
    other_course = await _course(database)
    await _add(database, _config(course_id, name="Same"))
    with pytest.raises(Conflict, match="name"):
        await _add(database, _config(course_id, name="Same"))
    await _add(database, _config(other_course, name="Same"))
    await _add(database, _config(course_id, name="Same", type=AgentType.STUDENT))
    renamed = _config(course_id, name="Different")
    await _add(database, renamed)
    async with database.uow() as uow:
        with pytest.raises(Conflict):
            await uow.agent_configs.update(replace(renamed, name="Same"))


async def test_activation_switches_within_one_transaction(database: Database):
    course_id = await _course(database)
    configs = [_config(course_id, is_active=index == 0) for index in range(3)]
    for config in configs:
        await _add(database, config)
    async with database.uow() as uow:
        await uow.agent_configs.activate(configs[2].id)
        await uow.commit()
    async with database.uow() as uow:
        listed = await uow.agent_configs.list_for_course(course_id)
        active = await uow.agent_configs.active_for(course_id, AgentType.TEACHER)
    assert [c.is_active for c in listed] == [False, False, True]
    assert active is not None
    assert active.id == configs[2].id


async def test_keys_cascade_and_come_back_in_fallback_order(database: Database):
    course_id = await _course(database)
    config = _config(course_id)
    await _add(database, config)
    async with database.uow() as uow:
        for key_type in (KeyType.BACKUP_KEY, KeyType.API_KEY, KeyType.ROOM_KEY):
            await uow.agent_configs.set_key(
                config.id, key_type, ciphertext=f"c-{key_type.value}", mask="****"
            )
        await uow.agent_configs.set_key(
            config.id, KeyType.API_KEY, ciphertext="c-api-2", mask="sk-…12"
        )
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.agent_configs.keys_of(config.id) == [
            "c-room_key",
            "c-api-2",
            "c-backup_key",
        ]
        loaded = await uow.agent_configs.get(config.id)
        assert loaded is not None
        assert loaded.masked_api_key == "sk-…12"
        await uow.courses.delete(course_id)
        await uow.commit()
    assert await database.scalar("SELECT count(*) FROM agent_key") == 0
    assert await database.scalar("SELECT count(*) FROM agent_config") == 0


@pytest.mark.slow
def test_keys_rotate_moves_every_key_to_the_new_server_key(tmp_path: Path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = sqlite_url(tmp_path / "rotate.db")
    migrations.upgrade(url)
    plaintexts = [f"sk-rotation-test-{index:04d}-key" for index in range(150)]

    import asyncio  # noqa: PLC0415

    from coagent.adapters.persistence.engine import (  # noqa: PLC0415
        create_engine,
        create_session_factory,
    )
    from coagent.adapters.persistence.unit_of_work import (  # noqa: PLC0415
        SqlAlchemyUnitOfWorkFactory,
    )

    async def seed() -> None:
        engine = create_engine(url, pool_size=2)
        uow = SqlAlchemyUnitOfWorkFactory(create_session_factory(engine))
        box = FernetSecretBox([old])
        try:
            async with uow() as tx:
                for index, key in enumerate(plaintexts):
                    config = _config(None, type=AgentType.DESIGN, name=f"System {index}")
                    await tx.agent_configs.add(config)
                    await tx.agent_configs.set_key(
                        config.id, KeyType.API_KEY, ciphertext=box.encrypt(key), mask="****"
                    )
                await tx.commit()
        finally:
            await engine.dispose()

    async def stored() -> list[str]:
        engine = create_engine(url, pool_size=2)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(text("SELECT ciphertext FROM agent_key"))
                return [row[0] for row in rows]
        finally:
            await engine.dispose()

    asyncio.run(seed())
    env = process_env(DATABASE_URL=url, ENCRYPTION_KEYS=f"{new},{old}")
    result = subprocess.run(  # noqa: S603 - our own entry point
        [COAGENT, "keys", "rotate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "rotated 150 provider key(s)" in result.stdout
    ciphertexts = asyncio.run(stored())
    only_new = FernetSecretBox([new])
    assert sorted(only_new.decrypt(c) for c in ciphertexts) == sorted(plaintexts)
    with pytest.raises(InvalidInput):
        FernetSecretBox([old]).decrypt(ciphertexts[0])
    for output in (result.stdout, result.stderr):
        assert not any(key in output for key in plaintexts)

    # Run again with only the new key: still everything (idempotent); with an unrelated key:
    # nothing can be decrypted, which is an error, and nothing is changed.
    again = subprocess.run(  # noqa: S603
        [COAGENT, "keys", "rotate"],
        env=process_env(DATABASE_URL=url, ENCRYPTION_KEYS=new),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    stranger = subprocess.run(  # noqa: S603
        [COAGENT, "keys", "rotate"],
        env=process_env(DATABASE_URL=url, ENCRYPTION_KEYS=Fernet.generate_key().decode()),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert stranger.returncode != 0
    assert "150 key(s) cannot be decrypted" in stranger.stderr
    assert sorted(only_new.decrypt(c) for c in asyncio.run(stored())) == sorted(plaintexts)


async def test_the_course_list_reads_what_get_reads(database: Database):
    """`list_for_course` runs on the driver (rows.py): every field, JSON ones included, and
    the main key's mask map as `get` maps them, in type order, and no other course's.
    """
    course_id, other = await _course(database), await _course(database)
    configs = [
        _config(course_id, type=AgentType.STUDENT, settings={"tone": "warm", "n": [1, 2]}),
        _config(course_id, type=AgentType.TEACHER, model="m", base_url="http://127.0.0.1:1"),
        _config(course_id, type=AgentType.TEACHER, tools=(UPDATE_TRIGGER,)),
        _config(other, type=AgentType.TEACHER),
    ]
    for config in configs:
        await _add(database, config)
    async with database.uow() as uow:
        await uow.agent_configs.set_key(
            configs[1].id, KeyType.API_KEY, ciphertext="c", mask="sk-...abcd"
        )
        await uow.agent_configs.set_key(
            configs[0].id, KeyType.BACKUP_KEY, ciphertext="c", mask="sk-...back"
        )
        await uow.commit()
    async with database.uow() as uow:
        listed = await uow.agent_configs.list_for_course(course_id)
        expected = [await uow.agent_configs.get(c.id) for c in configs[:3]]
        assert await uow.agent_configs.list_for_course(new_id()) == []
    assert [c.type for c in listed] == [AgentType.TEACHER, AgentType.TEACHER, AgentType.STUDENT]
    assert sorted(listed, key=lambda c: c.id) == sorted(expected, key=lambda c: c.id)  # type: ignore[arg-type, return-value]
    assert [c.masked_api_key for c in listed if c.id == configs[1].id] == ["sk-...abcd"]
    assert [c.masked_api_key for c in listed if c.id == configs[0].id] == [None]  # backup only
    assert [c.settings for c in listed if c.id == configs[0].id] == [{"tone": "warm", "n": [1, 2]}]
