"""Agent-configuration use cases with fakes: authorization, partial updates, activation,
keys (encrypted, masked, ordered), versions, rotation.
"""

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import anyio
import pytest

from coagent.application.agents.activate_config import (
    ActivateAgentConfig,
    ActivateAgentConfigCommand,
)
from coagent.application.agents.changes import ConfigChanges
from coagent.application.agents.create_config import CreateAgentConfig, CreateAgentConfigCommand
from coagent.application.agents.delete_config import DeleteAgentConfig, DeleteAgentConfigCommand
from coagent.application.agents.list_configs import ListAgentConfigs, ListAgentConfigsCommand
from coagent.application.agents.list_system_configs import (
    ListSystemAgentConfigs,
    ListSystemAgentConfigsCommand,
)
from coagent.application.agents.list_versions import (
    ListAgentConfigVersions,
    ListAgentConfigVersionsCommand,
)
from coagent.application.agents.read_keys import ReadAgentKeys, ReadAgentKeysCommand
from coagent.application.agents.restore_version import (
    RestoreAgentConfigVersion,
    RestoreAgentConfigVersionCommand,
)
from coagent.application.agents.rotate_keys import RotateAgentKeys
from coagent.application.agents.save_version import (
    SaveAgentConfigVersion,
    SaveAgentConfigVersionCommand,
)
from coagent.application.agents.set_keys import SetAgentKeys, SetAgentKeysCommand
from coagent.application.agents.update_config import UpdateAgentConfig, UpdateAgentConfigCommand
from coagent.application.agents.upsert_config import UpsertAgentConfig, UpsertAgentConfigCommand
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.agents.config import AgentConfig, AgentType, Provider
from coagent.domain.agents.keys import KeyType
from coagent.domain.agents.trigger import Trigger, TriggerType
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole
from coagent.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.fakes.clock import FakeIdGenerator, FixedClock
from tests.fakes.factories import UserFactory
from tests.fakes.llm import FakeEndpointPolicy
from tests.fakes.repositories import InMemoryUnitOfWorkFactory
from tests.fakes.security import FakeSecretBox

pytestmark = pytest.mark.anyio

KEY = "sk-unit-0123456789abcdef-89"


@dataclass
class Agents:
    uow: InMemoryUnitOfWorkFactory
    clock: FixedClock
    secrets: FakeSecretBox
    owner: User
    ta: User
    student: User
    outsider: User
    admin: User
    course: Course
    ids: FakeIdGenerator
    endpoints: FakeEndpointPolicy

    def create(self) -> CreateAgentConfig:
        return CreateAgentConfig(
            uow=self.uow,
            secrets=self.secrets,
            clock=self.clock,
            ids=self.ids,
            endpoints=self.endpoints,
        )

    def update(self) -> UpdateAgentConfig:
        return UpdateAgentConfig(
            uow=self.uow, secrets=self.secrets, clock=self.clock, endpoints=self.endpoints
        )

    def upsert(self) -> UpsertAgentConfig:
        return UpsertAgentConfig(
            uow=self.uow,
            secrets=self.secrets,
            clock=self.clock,
            ids=self.ids,
            endpoints=self.endpoints,
        )

    def restore(self) -> RestoreAgentConfigVersion:
        return RestoreAgentConfigVersion(uow=self.uow, clock=self.clock, endpoints=self.endpoints)

    async def new(self, **fields) -> AgentConfig:
        values = {
            "actor_id": self.owner.id,
            "course_id": self.course.id,
            "type": AgentType.TEACHER,
            "system_prompt": "Ask.",
            **fields,
        }
        return await self.create().execute(CreateAgentConfigCommand(**values))

    def stored(self, config_id: UUID) -> AgentConfig:
        config: AgentConfig = self.uow.store.agent_configs[config_id]
        return config


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def agents() -> Agents:
    uow = InMemoryUnitOfWorkFactory()
    clock = FixedClock()
    users = {
        "owner": UserFactory.build(role=Role.TEACHER),
        "ta": UserFactory.build(role=Role.STUDENT),
        "student": UserFactory.build(role=Role.STUDENT),
        "outsider": UserFactory.build(role=Role.TEACHER),
        "admin": UserFactory.build(role=Role.ADMIN),
    }
    now = clock.now()
    ids = FakeIdGenerator()
    course = Course(
        id=ids.new_id(),
        title="C",
        description=None,
        owner_id=users["owner"].id,
        created_at=now,
        updated_at=now,
    )
    async with uow() as tx:
        for user in users.values():
            await tx.users.add(user)
        await tx.courses.add(course)
        await tx.courses.add_member(course.id, users["owner"].id, CourseRole.TEACHER)
        await tx.courses.add_member(course.id, users["ta"].id, CourseRole.TA)
        await tx.courses.add_member(course.id, users["student"].id, CourseRole.STUDENT)
        await tx.commit()
    return Agents(
        uow=uow,
        clock=clock,
        secrets=FakeSecretBox(["k1"]),
        course=course,
        ids=ids,
        endpoints=FakeEndpointPolicy("127.0.0.1", "169.254.169.254"),
        **users,
    )


async def test_create_encrypts_the_key_and_activates_the_first_of_a_type(agents: Agents):
    first = await agents.new(api_key=KEY)
    second = await agents.new(name="Second")
    assert (first.is_active, second.is_active) == (True, False)
    assert first.masked_api_key == "sk-…89"
    assert first.created_by == agents.owner.id
    stored = list(agents.uow.store.agent_keys.values())
    assert len(stored) == 1
    assert KEY not in stored[0].ciphertext
    assert agents.secrets.decrypt(stored[0].ciphertext) == KEY
    with pytest.raises(Conflict):
        await agents.new(name="Second")


@pytest.mark.parametrize(
    ("who", "error"), [("ta", Forbidden), ("student", Forbidden), ("outsider", NotFound)]
)
async def test_only_managers_create_and_update(agents: Agents, who, error):
    actor = getattr(agents, who)
    with pytest.raises(error):
        await agents.new(actor_id=actor.id)
    config = await agents.new()
    with pytest.raises(error if who != "ta" else Forbidden):
        await agents.update().execute(
            UpdateAgentConfigCommand(
                actor_id=actor.id, config_id=config.id, changes=ConfigChanges(name="X")
            )
        )
    assert agents.stored(config.id).name == "Default Profile"


async def test_reading_needs_ta_and_students_are_refused(agents: Agents):
    await agents.new(api_key=KEY)
    listing = ListAgentConfigs(uow=agents.uow)
    configs = await listing.execute(
        ListAgentConfigsCommand(actor_id=agents.ta.id, course_id=agents.course.id)
    )
    assert [c.masked_api_key for c in configs] == ["sk-…89"]
    with pytest.raises(Forbidden):
        await listing.execute(
            ListAgentConfigsCommand(actor_id=agents.student.id, course_id=agents.course.id)
        )
    with pytest.raises(NotFound):
        await listing.execute(
            ListAgentConfigsCommand(actor_id=agents.outsider.id, course_id=agents.course.id)
        )


async def test_partial_update_keeps_what_is_not_sent_and_bumps_updated_at(agents: Agents):
    config = await agents.new(provider=Provider.OPENAI, model="gpt-4o", api_key=KEY)
    agents.clock.advance(timedelta(seconds=5))
    updated = await agents.update().execute(
        UpdateAgentConfigCommand(
            actor_id=agents.owner.id,
            config_id=config.id,
            changes=ConfigChanges(system_prompt="New.", api_key="sk-…89"),
        )
    )
    assert (updated.provider, updated.model, updated.system_prompt) == (
        Provider.OPENAI,
        "gpt-4o",
        "New.",
    )
    assert updated.updated_at == config.updated_at + timedelta(seconds=5)
    assert updated.masked_api_key == "sk-…89"
    cleared = await agents.update().execute(
        UpdateAgentConfigCommand(
            actor_id=agents.owner.id,
            config_id=config.id,
            changes=ConfigChanges(api_key="", model=None),
        )
    )
    assert (cleared.masked_api_key, cleared.model) == (None, None)
    assert agents.uow.store.agent_keys == {}


@pytest.mark.parametrize(
    "changes",
    [
        ConfigChanges(name=" "),
        ConfigChanges(context_window=0),
        ConfigChanges(base_url="http://u:p@host/v1"),
        ConfigChanges(model="two words"),
        ConfigChanges(api_key="has space"),
    ],
)
async def test_invalid_changes_are_refused_and_nothing_is_written(agents: Agents, changes):
    config = await agents.new()
    with pytest.raises(InvalidInput):
        await agents.update().execute(
            UpdateAgentConfigCommand(actor_id=agents.owner.id, config_id=config.id, changes=changes)
        )
    assert agents.stored(config.id) == config


async def test_activation_is_exclusive_and_survives_concurrency(agents: Agents):
    configs = [await agents.new(name=f"C{i}") for i in range(4)]
    activate = ActivateAgentConfig(uow=agents.uow)
    async with anyio.create_task_group() as group:
        for config in configs * 2:
            group.start_soon(
                activate.execute,
                ActivateAgentConfigCommand(actor_id=agents.owner.id, config_id=config.id),
            )
    active = [c for c in agents.uow.store.agent_configs.values() if c.is_active]
    assert len(active) == 1
    done = await activate.execute(
        ActivateAgentConfigCommand(actor_id=agents.owner.id, config_id=configs[2].id)
    )
    assert done.is_active
    assert [c.id for c in agents.uow.store.agent_configs.values() if c.is_active] == [configs[2].id]


async def test_keys_are_written_in_order_masked_and_audited_by_type_only(agents: Agents):
    config = await agents.new(api_key=KEY)
    set_keys = SetAgentKeys(uow=agents.uow, secrets=agents.secrets, clock=agents.clock)
    updated = await set_keys.execute(
        SetAgentKeysCommand(
            actor_id=agents.owner.id,
            config_id=config.id,
            keys={KeyType.BACKUP_KEY: "sk-backup-00000000000001", KeyType.ROOM_KEY: "short"},
        )
    )
    assert updated.masked_api_key == "sk-…89"
    masks = await ReadAgentKeys(uow=agents.uow).execute(
        ReadAgentKeysCommand(actor_id=agents.ta.id, config_id=config.id)
    )
    assert list(masks.items()) == [
        (KeyType.ROOM_KEY, "****"),
        (KeyType.API_KEY, "sk-…89"),
        (KeyType.BACKUP_KEY, "sk-…01"),
    ]
    async with agents.uow() as uow:
        ordered = [agents.secrets.decrypt(c) for c in await uow.agent_configs.keys_of(config.id)]
    assert ordered == ["short", KEY, "sk-backup-00000000000001"]
    event = agents.uow.store.audit[-1]
    assert event.action == "agent_config.keys_changed"
    assert event.details == {"key_types": ["backup_key", "room_key"]}
    assert KEY not in str(agents.uow.store.audit)
    unchanged = await set_keys.execute(
        SetAgentKeysCommand(
            actor_id=agents.owner.id,
            config_id=config.id,
            keys={KeyType.API_KEY: "sk-…89", KeyType.GLOBAL_KEY: None},
        )
    )
    assert unchanged.updated_at == updated.updated_at  # nothing changed, nothing written
    assert agents.uow.store.actions().count("agent_config.keys_changed") == 1
    with pytest.raises(Forbidden):
        await set_keys.execute(
            SetAgentKeysCommand(actor_id=agents.ta.id, config_id=config.id, keys={})
        )


async def test_versions_snapshot_restore_and_stay_with_managers(agents: Agents):
    config = await agents.new(api_key=KEY)
    save = SaveAgentConfigVersion(uow=agents.uow, clock=agents.clock, ids=agents.ids)
    first = await save.execute(
        SaveAgentConfigVersionCommand(actor_id=agents.owner.id, config_id=config.id)
    )
    assert first.version_label == "v1"
    await agents.update().execute(
        UpdateAgentConfigCommand(
            actor_id=agents.owner.id,
            config_id=config.id,
            changes=ConfigChanges(
                system_prompt="Other.",
                trigger=Trigger(type=TriggerType.MESSAGE_COUNT, value=3),
                api_key="sk-new-key-000000000000042",
            ),
        )
    )
    listing = ListAgentConfigVersions(uow=agents.uow)
    with pytest.raises(Forbidden):
        await listing.execute(
            ListAgentConfigVersionsCommand(actor_id=agents.ta.id, config_id=config.id)
        )
    agents.clock.advance(timedelta(seconds=1))
    second = await save.execute(
        SaveAgentConfigVersionCommand(
            actor_id=agents.owner.id, config_id=config.id, version_label=" after "
        )
    )
    page = await listing.execute(
        ListAgentConfigVersionsCommand(actor_id=agents.owner.id, config_id=config.id)
    )
    assert [v.version_label for v in page.items] == ["after", "v1"]
    assert page.total == 2
    restore = agents.restore()
    restored = await restore.execute(
        RestoreAgentConfigVersionCommand(
            actor_id=agents.owner.id, config_id=config.id, version_id=first.id
        )
    )
    assert (restored.system_prompt, restored.trigger) == ("Ask.", config.trigger)
    assert restored.masked_api_key == "sk-…42"
    other = await agents.new(name="Other")
    with pytest.raises(NotFound):
        await restore.execute(
            RestoreAgentConfigVersionCommand(
                actor_id=agents.owner.id, config_id=other.id, version_id=second.id
            )
        )


async def test_system_configurations_are_for_admins_only(agents: Agents):
    upsert = agents.upsert()
    command = UpsertAgentConfigCommand(
        actor_id=agents.owner.id,
        course_id=None,
        type=AgentType.DESIGN,
        changes=ConfigChanges(system_prompt="Design."),
    )
    with pytest.raises(Forbidden):
        await upsert.execute(command)
    created = await upsert.execute(
        UpsertAgentConfigCommand(
            actor_id=agents.admin.id,
            course_id=None,
            type=AgentType.DESIGN,
            changes=ConfigChanges(system_prompt="Design.", api_key=KEY),
        )
    )
    assert (created.course_id, created.is_active, created.masked_api_key) == (
        None,
        True,
        "sk-…89",
    )
    again = await upsert.execute(
        UpsertAgentConfigCommand(
            actor_id=agents.admin.id,
            course_id=None,
            type=AgentType.DESIGN,
            changes=ConfigChanges(system_prompt="Better."),
        )
    )
    assert (again.id, again.system_prompt, again.masked_api_key) == (
        created.id,
        "Better.",
        "sk-…89",
    )
    with pytest.raises(InvalidInput):
        await upsert.execute(
            UpsertAgentConfigCommand(
                actor_id=agents.admin.id,
                course_id=None,
                type=AgentType.TEACHER,
                changes=ConfigChanges(),
            )
        )
    listing = ListSystemAgentConfigs(uow=agents.uow)
    assert [
        c.id for c in await listing.execute(ListSystemAgentConfigsCommand(actor_id=agents.admin.id))
    ] == [created.id]
    with pytest.raises(Forbidden):
        await listing.execute(ListSystemAgentConfigsCommand(actor_id=agents.owner.id))
    with pytest.raises(NotFound):  # a system configuration is invisible to non-admins
        await ActivateAgentConfig(uow=agents.uow).execute(
            ActivateAgentConfigCommand(actor_id=agents.owner.id, config_id=created.id)
        )


async def test_delete_cascades_to_keys_and_versions_and_is_audited(agents: Agents):
    config = await agents.new(api_key=KEY)
    await SaveAgentConfigVersion(uow=agents.uow, clock=agents.clock, ids=agents.ids).execute(
        SaveAgentConfigVersionCommand(actor_id=agents.owner.id, config_id=config.id)
    )
    await DeleteAgentConfig(uow=agents.uow).execute(
        DeleteAgentConfigCommand(actor_id=agents.owner.id, config_id=config.id)
    )
    store = agents.uow.store
    assert (store.agent_configs, store.agent_keys, store.agent_versions) == ({}, {}, {})
    assert store.actions()[-1] == "agent_config.deleted"


async def test_course_deletion_takes_its_configurations(agents: Agents):
    await agents.new(api_key=KEY)
    async with agents.uow() as uow:
        await uow.courses.delete(agents.course.id)
        await uow.commit()
    assert agents.uow.store.agent_configs == {}
    assert agents.uow.store.agent_keys == {}


async def test_rotation_moves_every_key_to_the_newest_server_key(agents: Agents):
    for index in range(5):
        await agents.new(name=f"C{index}", api_key=f"{KEY}-{index}")
    rotated_box = FakeSecretBox(["k2", "k1"])
    report = await RotateAgentKeys(uow=agents.uow, secrets=rotated_box, batch_size=2).execute()
    assert (report.rotated, report.undecryptable) == (5, 0)
    only_new = FakeSecretBox(["k2"])
    plain = sorted(only_new.decrypt(row.ciphertext) for row in agents.uow.store.agent_keys.values())
    assert plain == [f"{KEY}-{index}" for index in range(5)]
    with pytest.raises(InvalidInput):
        FakeSecretBox(["k1"]).decrypt(next(iter(agents.uow.store.agent_keys.values())).ciphertext)
    again = await RotateAgentKeys(uow=agents.uow, secrets=rotated_box).execute()
    assert again.rotated == 5
    stranger = await RotateAgentKeys(uow=agents.uow, secrets=FakeSecretBox(["k3"])).execute()
    assert (stranger.rotated, stranger.undecryptable) == (0, 5)


# --- a stored key never follows its configuration to another endpoint ---------------------

ALL_KEYS = (KeyType.ROOM_KEY, KeyType.GLOBAL_KEY, KeyType.API_KEY, KeyType.BACKUP_KEY)
LOCAL = "https://llm.example.org/v1"


async def _with_every_key(agents: Agents, **fields) -> AgentConfig:
    config = await agents.new(api_key=KEY, provider=Provider.OPENAI, **fields)
    await SetAgentKeys(uow=agents.uow, secrets=agents.secrets, clock=agents.clock).execute(
        SetAgentKeysCommand(
            actor_id=agents.owner.id,
            config_id=config.id,
            keys={
                KeyType.ROOM_KEY: "sk-room-000000000000001",
                KeyType.GLOBAL_KEY: "sk-global-0000000000002",
                KeyType.BACKUP_KEY: "sk-backup-0000000000003",
            },
        )
    )
    return config


async def _stored_keys(agents: Agents, config_id: UUID) -> list[KeyType]:
    async with agents.uow() as uow:
        return list(await uow.agent_configs.key_masks(config_id))


@pytest.mark.parametrize(
    "changes",
    [
        ConfigChanges(base_url="https://attacker.example.net/v1"),
        ConfigChanges(base_url=None),
        ConfigChanges(provider=Provider.GEMINI),
        ConfigChanges(provider=Provider.GEMINI, base_url=LOCAL, system_prompt="Same URL."),
        ConfigChanges(base_url="https://attacker.example.net/v1", api_key="sk-…89"),  # the mask
        ConfigChanges(base_url="https://attacker.example.net/v1", api_key=""),
    ],
    ids=["base-url", "base-url-cleared", "provider", "provider-only", "mask-sent", "deleted"],
)
async def test_a_new_endpoint_drops_every_stored_key(agents: Agents, changes: ConfigChanges):
    config = await _with_every_key(agents, base_url=LOCAL)
    assert await _stored_keys(agents, config.id) == list(ALL_KEYS)
    co_teacher = agents.owner  # any manager: the owner stored the keys, anyone may move them

    updated = await agents.update().execute(
        UpdateAgentConfigCommand(actor_id=co_teacher.id, config_id=config.id, changes=changes)
    )

    assert updated.dropped_keys == ALL_KEYS
    assert updated.masked_api_key is None
    assert await _stored_keys(agents, config.id) == []
    event = agents.uow.store.audit[-1]
    assert event.action == "agent_config.keys_dropped"
    assert event.details == {"key_types": [k.value for k in ALL_KEYS]}


async def test_a_key_sent_with_the_new_endpoint_is_the_only_one_kept(agents: Agents):
    config = await _with_every_key(agents)
    new_key = "sk-for-the-new-server-0000077"

    updated = await agents.update().execute(
        UpdateAgentConfigCommand(
            actor_id=agents.owner.id,
            config_id=config.id,
            changes=ConfigChanges(base_url=LOCAL, api_key=new_key),
        )
    )

    assert updated.masked_api_key == "sk-…77"
    assert updated.dropped_keys == (KeyType.ROOM_KEY, KeyType.GLOBAL_KEY, KeyType.BACKUP_KEY)
    async with agents.uow() as uow:
        stored = [agents.secrets.decrypt(c) for c in await uow.agent_configs.keys_of(config.id)]
    assert stored == [new_key]


@pytest.mark.parametrize(
    "changes",
    [
        ConfigChanges(system_prompt="Only the prompt."),
        ConfigChanges(provider=Provider.OPENAI, base_url=LOCAL, api_key="sk-…89"),  # sent back
    ],
    ids=["other-fields", "same-endpoint-sent-back"],
)
async def test_the_same_endpoint_keeps_the_keys(agents: Agents, changes: ConfigChanges):
    config = await _with_every_key(agents, base_url=LOCAL)
    audited = len(agents.uow.store.audit)

    updated = await agents.update().execute(
        UpdateAgentConfigCommand(actor_id=agents.owner.id, config_id=config.id, changes=changes)
    )

    assert updated.dropped_keys == ()
    assert updated.masked_api_key == "sk-…89"
    assert await _stored_keys(agents, config.id) == list(ALL_KEYS)
    assert len(agents.uow.store.audit) == audited


async def test_the_upsert_paths_drop_the_keys_too(agents: Agents):
    config = await _with_every_key(agents)
    upsert = agents.upsert()

    moved = await upsert.execute(
        UpsertAgentConfigCommand(
            actor_id=agents.owner.id,
            course_id=agents.course.id,
            type=AgentType.TEACHER,
            changes=ConfigChanges(base_url="https://attacker.example.net/v1"),
        )
    )

    assert moved.id == config.id
    assert moved.dropped_keys == ALL_KEYS
    assert moved.masked_api_key is None
    assert await _stored_keys(agents, config.id) == []
    again = await upsert.execute(
        UpsertAgentConfigCommand(
            actor_id=agents.owner.id,
            course_id=agents.course.id,
            type=AgentType.TEACHER,
            changes=ConfigChanges(
                provider=Provider.GEMINI,
                base_url="https://attacker.example.net/v1",
                api_key="AIza-new-key-00000000066",
            ),
        )
    )
    assert again.dropped_keys == ()  # nothing was stored to drop; the new key is kept
    assert again.masked_api_key == "AIz…66"


async def test_restoring_a_version_with_another_endpoint_drops_the_keys(agents: Agents):
    config = await agents.new(provider=Provider.OPENAI, base_url=LOCAL)
    save = SaveAgentConfigVersion(uow=agents.uow, clock=agents.clock, ids=agents.ids)
    version = await save.execute(
        SaveAgentConfigVersionCommand(actor_id=agents.owner.id, config_id=config.id)
    )
    await agents.update().execute(
        UpdateAgentConfigCommand(
            actor_id=agents.owner.id,
            config_id=config.id,
            changes=ConfigChanges(base_url=None, api_key=KEY),
        )
    )
    assert await _stored_keys(agents, config.id) == [KeyType.API_KEY]
    same = await save.execute(
        SaveAgentConfigVersionCommand(actor_id=agents.owner.id, config_id=config.id)
    )
    restore = agents.restore()

    kept = await restore.execute(
        RestoreAgentConfigVersionCommand(
            actor_id=agents.owner.id, config_id=config.id, version_id=same.id
        )
    )
    assert (kept.dropped_keys, kept.masked_api_key) == ((), "sk-…89")
    restored = await restore.execute(
        RestoreAgentConfigVersionCommand(
            actor_id=agents.owner.id, config_id=config.id, version_id=version.id
        )
    )

    assert restored.base_url == LOCAL
    assert restored.dropped_keys == (KeyType.API_KEY,)
    assert restored.masked_api_key is None
    assert await _stored_keys(agents, config.id) == []


async def test_a_refused_base_url_is_invalid_and_nothing_is_written(agents: Agents):
    config = await _with_every_key(agents)
    refused = "http://169.254.169.254/latest"
    before = agents.stored(config.id)

    with pytest.raises(InvalidInput, match="internal address"):
        await agents.update().execute(
            UpdateAgentConfigCommand(
                actor_id=agents.owner.id,
                config_id=config.id,
                changes=ConfigChanges(base_url=refused),
            )
        )
    with pytest.raises(InvalidInput, match="internal address"):
        await agents.upsert().execute(
            UpsertAgentConfigCommand(
                actor_id=agents.owner.id,
                course_id=agents.course.id,
                type=AgentType.TEACHER,
                changes=ConfigChanges(base_url=refused),
            )
        )
    with pytest.raises(InvalidInput, match="internal address"):
        await agents.new(name="New", base_url="http://127.0.0.1:11434/v1")

    assert agents.stored(config.id) == before
    assert await _stored_keys(agents, config.id) == list(ALL_KEYS)
    assert len(agents.uow.store.agent_configs) == 1
    assert refused in agents.endpoints.checked


async def test_a_version_whose_base_url_is_now_refused_is_not_restored(agents: Agents):
    config = await agents.new(api_key=KEY, provider=Provider.OPENAI, base_url=LOCAL)
    version = await SaveAgentConfigVersion(
        uow=agents.uow, clock=agents.clock, ids=agents.ids
    ).execute(SaveAgentConfigVersionCommand(actor_id=agents.owner.id, config_id=config.id))
    await agents.update().execute(
        UpdateAgentConfigCommand(
            actor_id=agents.owner.id,
            config_id=config.id,
            changes=ConfigChanges(base_url=None, api_key=KEY),
        )
    )
    agents.endpoints.refused.add("llm.example.org")  # the operator tightened the policy

    with pytest.raises(InvalidInput):
        await agents.restore().execute(
            RestoreAgentConfigVersionCommand(
                actor_id=agents.owner.id, config_id=config.id, version_id=version.id
            )
        )
    assert agents.stored(config.id).base_url is None
    assert await _stored_keys(agents, config.id) == [KeyType.API_KEY]
