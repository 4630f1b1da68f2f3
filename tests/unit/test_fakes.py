"""The fakes keep the ports' contracts: same signatures, real transaction semantics."""

import inspect
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from coagent.application.ports import agents as agent_ports
from coagent.application.ports import chat as chat_ports
from coagent.application.ports import clock as clock_ports
from coagent.application.ports import events as event_ports
from coagent.application.ports import limits as limits_ports
from coagent.application.ports import llm as llm_ports
from coagent.application.ports import repositories as repo_ports
from coagent.application.ports import security as security_ports
from coagent.application.ports.events import CourseEvent
from coagent.application.ports.repositories import StoredImage
from coagent.domain.accounts.session import AuthSession
from coagent.domain.accounts.throttle import Backoff
from coagent.domain.courses.announcement import Announcement
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole
from coagent.domain.courses.room import AiMode, Room
from coagent.domain.errors import Conflict, InvalidInput, NotFound
from tests.fakes.agents import InMemoryAgentConfigRepository
from tests.fakes.chat import FakeTicketStore, InMemoryMessageRepository, RecordingChatPublisher
from tests.fakes.clock import FakeIdGenerator, FixedClock
from tests.fakes.events import RecordingPublisher
from tests.fakes.factories import UserFactory
from tests.fakes.limits import FakeRateLimiter
from tests.fakes.llm import ScriptedLLM, ScriptedProviders
from tests.fakes.repositories import (
    InMemoryAnnouncementRepository,
    InMemoryAuditLog,
    InMemoryAvatarRepository,
    InMemoryCourseRepository,
    InMemoryRoomRepository,
    InMemorySessionRepository,
    InMemoryStore,
    InMemorySystemState,
    InMemoryUnitOfWork,
    InMemoryUnitOfWorkFactory,
    InMemoryUserRepository,
)
from tests.fakes.security import (
    FakeAttemptLimiter,
    FakePasswordHasher,
    FakeRevocationList,
    FakeSecretBox,
)

PAIRS = [
    (repo_ports.UserRepository, InMemoryUserRepository),
    (repo_ports.SessionRepository, InMemorySessionRepository),
    (repo_ports.AuditLog, InMemoryAuditLog),
    (repo_ports.AvatarRepository, InMemoryAvatarRepository),
    (repo_ports.SystemState, InMemorySystemState),
    (repo_ports.CourseRepository, InMemoryCourseRepository),
    (repo_ports.RoomRepository, InMemoryRoomRepository),
    (repo_ports.AnnouncementRepository, InMemoryAnnouncementRepository),
    (agent_ports.AgentConfigRepository, InMemoryAgentConfigRepository),
    (repo_ports.UnitOfWork, InMemoryUnitOfWork),
    (repo_ports.UnitOfWorkFactory, InMemoryUnitOfWorkFactory),
    (security_ports.PasswordHasher, FakePasswordHasher),
    (security_ports.RevocationList, FakeRevocationList),
    (security_ports.AttemptLimiter, FakeAttemptLimiter),
    (security_ports.SecretBox, FakeSecretBox),
    (clock_ports.Clock, FixedClock),
    (clock_ports.IdGenerator, FakeIdGenerator),
    (event_ports.EventPublisher, RecordingPublisher),
    (chat_ports.MessageRepository, InMemoryMessageRepository),
    (chat_ports.ChatPublisher, RecordingChatPublisher),
    (chat_ports.TicketStore, FakeTicketStore),
    (llm_ports.LLMProvider, ScriptedLLM),
    (llm_ports.LLMProviders, ScriptedProviders),
    (limits_ports.RateLimiter, FakeRateLimiter),
]
_DUNDERS = {"__aenter__", "__aexit__", "__call__"}


def _methods(port: type) -> dict[str, object]:
    return {
        name: member
        for name, member in vars(port).items()
        if callable(member) and (not name.startswith("_") or name in _DUNDERS)
    }


def _shape(function: Any) -> tuple[bool, list[tuple[str, Any, Any]]]:
    signature = inspect.signature(function)
    params = [(p.name, p.kind, p.default) for p in signature.parameters.values()]
    return inspect.iscoroutinefunction(function), params


@pytest.mark.parametrize(("port", "fake"), PAIRS, ids=[fake.__name__ for _, fake in PAIRS])
def test_fakes_have_the_ports_signatures(port: type, fake: type) -> None:
    methods = _methods(port)
    assert methods, f"{port.__name__} declares no methods?"
    for name, member in methods.items():
        assert _shape(getattr(fake, name)) == _shape(member), f"{fake.__name__}.{name}"


# --- unit of work ---------------------------------------------------------------------------------


@pytest.fixture
def factory() -> InMemoryUnitOfWorkFactory:
    return InMemoryUnitOfWorkFactory()


@pytest.mark.anyio
async def test_the_unit_of_work_exposes_every_repository(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    async with factory() as uow:
        for name in repo_ports.UnitOfWork.__annotations__:
            assert getattr(uow, name) is not None


@pytest.mark.anyio
async def test_changes_are_visible_to_others_only_after_commit(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    user = UserFactory.build()
    async with factory() as writer:
        await writer.users.add(user)
        assert await writer.users.get(user.id) == user  # sees its own write
        async with factory() as reader:
            assert await reader.users.get(user.id) is None
            await writer.commit()
            assert await reader.users.get(user.id) == user  # read committed
    assert factory.store.users == {user.id: user}


@pytest.mark.anyio
async def test_leaving_without_commit_discards_everything(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    user = UserFactory.build()
    async with factory() as uow:
        await uow.users.add(user)
        await uow.audit.record(actor_id=None, action="x", target_type="user", target_id="1")
        await uow.avatars.put(user.id, StoredImage(file_name="a", content_type="b", data=b""))
        assert await uow.system.claim("once")

    async def fail_midway() -> None:
        async with factory() as uow:
            await uow.users.add(user)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_midway()

    store = factory.store
    assert (store.users, store.avatars, store.audit, store.system) == ({}, {}, [], set())
    assert store.commits == 0
    async with factory() as uow:
        assert await uow.system.claim("once")


@pytest.mark.anyio
async def test_writes_after_a_commit_need_another_commit(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    first, second = UserFactory.build(), UserFactory.build()
    async with factory() as uow:
        await uow.users.add(first)
        await uow.commit()
        await uow.users.add(second)

    assert set(factory.store.users) == {first.id}


@pytest.mark.anyio
async def test_unique_email_and_username(factory: InMemoryUnitOfWorkFactory) -> None:
    alice = UserFactory.build(email="alice@example.com", username="alice")
    bob = UserFactory.build(email="bob@example.com", username="bob")
    async with factory() as uow:
        await uow.users.add(alice)
        await uow.users.add(bob)
        with pytest.raises(Conflict):
            await uow.users.add(UserFactory.build(email="alice@example.com"))
        with pytest.raises(Conflict):
            await uow.users.update(bob.with_changes(username="alice"))
        await uow.users.update(bob.with_changes(username=None))
        assert await uow.users.email_or_username_taken(email=None, username="alice")
        assert not await uow.users.email_or_username_taken(
            email="alice@example.com", username=None, except_id=alice.id
        )


@pytest.mark.anyio
async def test_deleting_a_user_cascades_like_the_database(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    owner, admin, other = UserFactory.build(), UserFactory.build(), UserFactory.build()

    def session(n: int, user_id: object, **fields: object) -> AuthSession:
        base = AuthSession(
            id=FakeIdGenerator(n).new_id(),
            user_id=user_id,  # type: ignore[arg-type]
            refresh_jti=str(n),
            created_at=now,
            expires_at=now + timedelta(days=1),
        )
        return replace(base, **fields)  # type: ignore[arg-type]

    admins = session(1, admin.id)
    acting = session(2, other.id, impersonator_id=admin.id, original_session_id=admins.id)
    others = session(3, other.id)
    async with factory() as uow:
        for user in (owner, admin, other):
            await uow.users.add(user)
        for item in (admins, acting, others):
            await uow.sessions.add(item)
        await uow.avatars.put(admin.id, StoredImage(file_name="a", content_type="b", data=b""))
        await uow.commit()

    async with factory() as uow:
        await uow.users.delete(admin.id)
        await uow.commit()

    assert set(factory.store.sessions) == {others.id}
    assert factory.store.avatars == {}


@pytest.mark.anyio
async def test_purge_sets_null_on_sessions_that_pointed_at_a_purged_one(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    user = UserFactory.build()
    ids = FakeIdGenerator()
    old = AuthSession(
        id=ids.new_id(), user_id=user.id, refresh_jti="a", created_at=now, expires_at=now
    )
    live = replace(old, id=ids.new_id(), expires_at=now + timedelta(days=1))
    live = replace(live, original_session_id=old.id)
    async with factory() as uow:
        await uow.users.add(user)
        await uow.sessions.add(old)
        await uow.sessions.add(live)
        assert await uow.sessions.purge(expired_before=now + timedelta(seconds=1)) == 1
        await uow.commit()

    assert factory.store.sessions == {live.id: replace(live, original_session_id=None)}


@pytest.mark.anyio
async def test_get_for_update_serialises_units_of_work(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    session = AuthSession(
        id=FakeIdGenerator().new_id(),
        user_id=UserFactory.build().id,
        refresh_jti="v0",
        created_at=now,
        expires_at=now + timedelta(days=1),
    )
    factory.store.sessions[session.id] = session
    seen: list[str] = []

    async def bump() -> None:
        async with factory() as uow:
            current = await uow.sessions.get_for_update(session.id)
            assert current is not None
            seen.append(current.refresh_jti)
            await anyio.lowlevel.checkpoint()
            await uow.sessions.rotate(session.id, new_jti=current.refresh_jti + "+")
            await uow.commit()

    async with anyio.create_task_group() as group:
        group.start_soon(bump)
        group.start_soon(bump)

    assert seen == ["v0", "v0+"]
    assert factory.store.sessions[session.id].refresh_jti == "v0++"


@pytest.mark.anyio
async def test_a_claim_is_exclusive_while_pending_and_final_once_committed(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    async with factory() as first, factory() as second:
        assert await first.system.claim("k")
        assert not await second.system.claim("k")
        await first.commit()
    async with factory() as later:
        assert not await later.system.claim("k")
    assert factory.store.system == {"k"}


@pytest.mark.anyio
async def test_a_unit_of_work_is_single_use(factory: InMemoryUnitOfWorkFactory) -> None:
    uow = factory()
    with pytest.raises(RuntimeError):
        await uow.commit()
    async with uow:
        pass
    with pytest.raises(RuntimeError):
        await uow.commit()
    with pytest.raises(RuntimeError):
        async with uow:
            pass


# --- courses --------------------------------------------------------------------------------------

_EPOCH = datetime(2030, 1, 1, tzinfo=UTC)


def _course(n: int, owner_id: object, *, minutes: int = 0, **fields: object) -> Course:
    created = _EPOCH + timedelta(minutes=minutes)
    base = Course(
        id=FakeIdGenerator(n).new_id(),
        title=f"Course {n}",
        description=None,
        owner_id=owner_id,  # type: ignore[arg-type]
        created_at=created,
        updated_at=created,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_course_writes_are_transactional(factory: InMemoryUnitOfWorkFactory) -> None:
    owner = UserFactory.build()
    factory.store.users[owner.id] = owner
    course = _course(1, owner.id)
    async with factory() as uow:
        await uow.courses.add(course)
        assert await uow.courses.add_member(course.id, owner.id, CourseRole.TEACHER)

    assert (factory.store.courses, factory.store.memberships) == ({}, {})

    async with factory() as writer, factory() as reader:
        await writer.courses.add(course)
        await writer.courses.add_member(course.id, owner.id, CourseRole.TEACHER)
        assert await reader.courses.get(course.id) is None
        assert await reader.courses.role_of(course.id, owner.id) is None
        await writer.commit()
        assert await reader.courses.role_of(course.id, owner.id) is CourseRole.TEACHER

    assert factory.store.courses == {course.id: course}
    assert factory.store.memberships == {(course.id, owner.id): CourseRole.TEACHER}


@pytest.mark.anyio
async def test_course_owner_name_follows_the_owner(factory: InMemoryUnitOfWorkFactory) -> None:
    named = UserFactory.build(full_name="Ada Lovelace")
    plain = UserFactory.build(email="plain@example.com")
    bare = UserFactory.build(email="bare@example.com", username=None)
    async with factory() as uow:
        for user in (named, plain, bare):
            await uow.users.add(user)
        for n, user in enumerate((named, plain, bare), start=1):
            await uow.courses.add(_course(n, user.id, owner_name="ignored"))
        await uow.commit()

    async with factory() as uow:
        names = [
            (await uow.courses.get(FakeIdGenerator(n).new_id())).owner_name  # type: ignore[union-attr]
            for n in (1, 2, 3)
        ]
        assert await uow.courses.get(FakeIdGenerator(9).new_id()) is None
    assert names == ["Ada Lovelace", "plain", None]  # never an email address
    assert all(course.owner_name is None for course in factory.store.courses.values())


@pytest.mark.anyio
async def test_course_lists_are_newest_first_and_scoped(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    owner, student = UserFactory.build(), UserFactory.build()
    factory.store.users.update({owner.id: owner, student.id: student})
    old, new, same_time = _course(1, owner.id), _course(2, owner.id, minutes=5), _course(3, None)
    async with factory() as uow:
        for course in (old, new, same_time):
            await uow.courses.add(course)
        await uow.courses.add_member(old.id, student.id, CourseRole.STUDENT)
        await uow.courses.add_member(new.id, student.id, CourseRole.STUDENT)

        everything = await uow.courses.list_for(None, offset=0, limit=10)
        mine = await uow.courses.list_for(student.id, offset=1, limit=10)
        beyond = await uow.courses.list_for(student.id, offset=5, limit=10)

    # same created_at: the greater id first
    assert [c.id for c in everything.items] == [new.id, same_time.id, old.id]
    assert everything.total == 3
    assert [c.id for c in mine.items] == [old.id]
    assert mine.total == 2
    assert (list(beyond.items), beyond.total) == ([], 2)


@pytest.mark.anyio
async def test_course_members_order_and_idempotent_enrolment(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    owner = UserFactory.build(full_name="zed")
    bea = UserFactory.build(full_name="Bea")
    al = UserFactory.build(full_name="al")
    ta = UserFactory.build(full_name="Zz")
    teacher = UserFactory.build(full_name="Yann")
    course = _course(1, owner.id)
    async with factory() as uow:
        for user in (owner, bea, al, ta, teacher):
            await uow.users.add(user)
        await uow.courses.add(course)
        assert await uow.courses.add_member(course.id, owner.id, CourseRole.TEACHER)
        for user in (bea, al, ta, teacher):
            assert await uow.courses.add_member(course.id, user.id, CourseRole.STUDENT)
        assert not await uow.courses.add_member(course.id, bea.id, CourseRole.TEACHER)
        await uow.courses.set_member_role(course.id, ta.id, CourseRole.TA)
        await uow.courses.set_member_role(course.id, teacher.id, CourseRole.TEACHER)

        members = await uow.courses.members(course.id)

    assert [(m.full_name, m.role, m.is_owner) for m in members] == [
        ("Yann", CourseRole.TEACHER, False),
        ("zed", CourseRole.TEACHER, True),
        ("Zz", CourseRole.TA, False),
        ("al", CourseRole.STUDENT, False),
        ("Bea", CourseRole.STUDENT, False),
    ]


@pytest.mark.anyio
async def test_deleting_courses_and_users_cascades_like_the_database(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    owner, student = UserFactory.build(), UserFactory.build()
    kept, doomed = _course(1, owner.id), _course(2, owner.id)
    async with factory() as uow:
        await uow.users.add(owner)
        await uow.users.add(student)
        for course in (kept, doomed):
            await uow.courses.add(course)
            await uow.courses.add_member(course.id, owner.id, CourseRole.TEACHER)
            await uow.courses.add_member(course.id, student.id, CourseRole.STUDENT)
        await uow.commit()

    async with factory() as uow:
        await uow.courses.delete(doomed.id)
        await uow.users.delete(owner.id)
        await uow.commit()

    assert factory.store.courses == {kept.id: replace(kept, owner_id=None)}
    assert factory.store.memberships == {(kept.id, student.id): CourseRole.STUDENT}
    async with factory() as uow:
        orphan = await uow.courses.get(kept.id)
        assert orphan is not None
        assert (orphan.owner_id, orphan.owner_name) == (None, None)


@pytest.mark.anyio
async def test_course_rows_must_point_at_existing_rows(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    user = UserFactory.build()
    async with factory() as uow:
        with pytest.raises(ValueError, match="owner"):
            await uow.courses.add(_course(1, user.id))
        await uow.users.add(user)
        await uow.courses.add(_course(1, user.id))
        with pytest.raises(ValueError, match="already exists"):
            await uow.courses.add(_course(1, user.id))
        with pytest.raises(ValueError, match="enroll"):
            await uow.courses.add_member(_course(2, None).id, user.id, CourseRole.STUDENT)
        with pytest.raises(ValueError, match="enroll"):
            await uow.courses.add_member(
                _course(1, None).id, UserFactory.build().id, CourseRole.STUDENT
            )


# --- rooms ----------------------------------------------------------------------------------------


def _room(n: int, course_id: object, *, minutes: int = 0, **fields: object) -> Room:
    created = _EPOCH + timedelta(minutes=minutes)
    base = Room(
        id=FakeIdGenerator(100 + n).new_id(),
        course_id=course_id,  # type: ignore[arg-type]
        name=f"Room {n}",
        description=None,
        ai_mode=AiMode.TEACHER_ONLY,
        ai_frequency=0.5,
        is_ai_active=True,
        is_analytics_active=False,
        created_at=created,
        updated_at=created,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


async def _course_with_people(
    factory: InMemoryUnitOfWorkFactory, n: int = 1
) -> tuple[Course, list[Any]]:
    """A committed course and three committed users (not enrolled: rooms do not care)."""
    users = [UserFactory.build() for _ in range(3)]
    course = _course(n, users[0].id)
    async with factory() as uow:
        for user in users:
            await uow.users.add(user)
        await uow.courses.add(course)
        await uow.commit()
    return course, users


@pytest.mark.anyio
async def test_rooms_are_restricted_by_assignments_and_listed_oldest_first(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    course, (alice, bob, _) = await _course_with_people(factory)
    other_course, _ = await _course_with_people(factory, 2)
    late = _room(1, course.id, minutes=5)
    open_room = _room(2, course.id)
    alices = _room(3, course.id, minutes=1)
    same_time = _room(4, course.id, minutes=5)
    elsewhere = _room(5, other_course.id)
    async with factory() as uow:
        for room in (late, open_room, alices, same_time, elsewhere):
            await uow.rooms.add(replace(room, is_restricted=True))  # never stored
        assert await uow.rooms.assign(alices.id, alice.id)
        assert not await uow.rooms.assign(alices.id, alice.id)  # already: nothing changes

        everything = await uow.rooms.list_in(course.id, visible_to=None)
        for_alice = await uow.rooms.list_in(course.id, visible_to=alice.id)
        for_bob = await uow.rooms.list_in(course.id, visible_to=bob.id)
        got = await uow.rooms.get(alices.id)
        flags = (
            await uow.rooms.is_assigned(alices.id, alice.id),
            await uow.rooms.is_assigned(alices.id, bob.id),
            await uow.rooms.is_assigned(open_room.id, alice.id),
        )
        missing = await uow.rooms.get(_room(9, course.id).id)
        await uow.commit()

    # same created_at: the smaller id first
    assert [r.id for r in everything] == [open_room.id, alices.id, late.id, same_time.id]
    assert [r.is_restricted for r in everything] == [False, True, False, False]
    assert [r.id for r in for_alice] == [open_room.id, alices.id, late.id, same_time.id]
    assert [r.id for r in for_bob] == [open_room.id, late.id, same_time.id]
    assert got == replace(alices, is_restricted=True)
    assert flags == (True, False, False)
    assert missing is None
    assert factory.store.room_assignments == {(alices.id, alice.id): True}
    assert not any(room.is_restricted for room in factory.store.rooms.values())


@pytest.mark.anyio
async def test_room_update_writes_the_settings_only(factory: InMemoryUnitOfWorkFactory) -> None:
    course, _ = await _course_with_people(factory)
    other_course, _ = await _course_with_people(factory, 2)
    room = _room(1, course.id)
    async with factory() as uow:
        await uow.rooms.add(room)
        changed = replace(
            room,
            course_id=other_course.id,
            name="Renamed",
            description="About",
            ai_mode=AiMode.BOTH,
            ai_frequency=0.9,
            is_ai_active=False,
            is_analytics_active=True,
            created_at=_EPOCH + timedelta(days=9),
            updated_at=_EPOCH + timedelta(days=1),
            is_restricted=True,
        )
        await uow.rooms.update(changed)
        await uow.rooms.update(_room(2, course.id))  # missing: nothing happens
        await uow.commit()

    assert factory.store.rooms == {
        room.id: replace(
            changed, course_id=course.id, created_at=room.created_at, is_restricted=False
        )
    }


@pytest.mark.anyio
async def test_room_writes_are_transactional(factory: InMemoryUnitOfWorkFactory) -> None:
    course, (alice, _, _) = await _course_with_people(factory)
    room = _room(1, course.id)
    async with factory() as uow:
        await uow.rooms.add(room)
        assert await uow.rooms.assign(room.id, alice.id)

    assert (factory.store.rooms, factory.store.room_assignments) == ({}, {})

    async with factory() as writer, factory() as reader:
        await writer.rooms.add(room)
        await writer.rooms.assign(room.id, alice.id)
        assert await reader.rooms.get(room.id) is None
        assert not await reader.rooms.is_assigned(room.id, alice.id)
        await writer.commit()
        assert await reader.rooms.is_assigned(room.id, alice.id)
        seen = await reader.rooms.get(room.id)

    assert seen == replace(room, is_restricted=True)
    assert factory.store.rooms == {room.id: room}
    assert factory.store.room_assignments == {(room.id, alice.id): True}

    async with factory() as uow:
        await uow.rooms.delete(room.id)
        assert await uow.rooms.get(room.id) is None
    assert set(factory.store.rooms) == {room.id}  # not committed: discarded


@pytest.mark.anyio
async def test_deleting_rooms_courses_and_users_cascades_to_rooms_and_assignments(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    course, (alice, bob, carol) = await _course_with_people(factory)
    doomed_course, _ = await _course_with_people(factory, 2)
    kept, doomed_room, in_doomed_course = (
        _room(1, course.id),
        _room(2, course.id),
        _room(3, doomed_course.id),
    )
    async with factory() as uow:
        for room in (kept, doomed_room, in_doomed_course):
            await uow.rooms.add(room)
            for user in (alice, bob):
                await uow.rooms.assign(room.id, user.id)
        await uow.rooms.assign(kept.id, carol.id)
        await uow.commit()

    async with factory() as uow:
        await uow.rooms.delete(doomed_room.id)
        await uow.rooms.delete(doomed_room.id)  # missing: nothing happens
        await uow.courses.delete(doomed_course.id)
        await uow.users.delete(alice.id)
        await uow.users.delete(bob.id)
        still_restricted = await uow.rooms.get(kept.id)
        await uow.commit()

    assert set(factory.store.rooms) == {kept.id}
    assert factory.store.room_assignments == {(kept.id, carol.id): True}
    assert still_restricted is not None
    assert still_restricted.is_restricted

    async with factory() as uow:
        await uow.users.delete(carol.id)
        after = await uow.rooms.get(kept.id)
    assert after is not None
    assert not after.is_restricted  # its last assignee gone, the room is open again


@pytest.mark.anyio
async def test_room_rows_must_point_at_existing_rows(factory: InMemoryUnitOfWorkFactory) -> None:
    course, (alice, _, _) = await _course_with_people(factory)
    room = _room(1, course.id)
    async with factory() as uow:
        with pytest.raises(ValueError, match="does not exist"):
            await uow.rooms.add(_room(1, _course(9, None).id))
        await uow.rooms.add(room)
        with pytest.raises(ValueError, match="already exists"):
            await uow.rooms.add(room)
        with pytest.raises(NotFound):
            await uow.rooms.assign(_room(2, course.id).id, alice.id)
        with pytest.raises(NotFound):
            await uow.rooms.assign(room.id, UserFactory.build().id)
        assert not await uow.rooms.is_assigned(room.id, alice.id)


@pytest.mark.anyio
async def test_removing_a_member_drops_their_assignments_in_that_course_only(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    course, (alice, bob, _) = await _course_with_people(factory)
    other_course, _ = await _course_with_people(factory, 2)
    first, second, elsewhere = (
        _room(1, course.id),
        _room(2, course.id),
        _room(3, other_course.id),
    )
    async with factory() as uow:
        for room in (first, second, elsewhere):
            await uow.rooms.add(room)
            await uow.rooms.assign(room.id, alice.id)
        await uow.rooms.assign(first.id, bob.id)
        for user in (alice, bob):
            await uow.courses.add_member(course.id, user.id, CourseRole.STUDENT)
        await uow.commit()

    async with factory() as uow:
        await uow.courses.remove_member(course.id, alice.id)
        assert not await uow.rooms.is_assigned(first.id, alice.id)
        # not committed: discarded
    assert len(factory.store.room_assignments) == 4

    async with factory() as uow:
        await uow.courses.remove_member(course.id, alice.id)
        await uow.courses.remove_member(course.id, alice.id)  # again: nothing happens
        opened = await uow.rooms.get(second.id)
        still = await uow.rooms.get(first.id)
        await uow.commit()

    assert factory.store.room_assignments == {
        (first.id, bob.id): True,
        (elsewhere.id, alice.id): True,
    }
    assert factory.store.memberships == {(course.id, bob.id): CourseRole.STUDENT}
    assert opened is not None
    assert not opened.is_restricted  # alice was its only assignee
    assert still is not None
    assert still.is_restricted


# --- announcements --------------------------------------------------------------------------------


def _announcement(
    n: int, course_id: object, author_id: object, *, minutes: int = 0, **fields: object
) -> Announcement:
    created = _EPOCH + timedelta(minutes=minutes)
    base = Announcement(
        id=FakeIdGenerator(200 + n).new_id(),
        course_id=course_id,  # type: ignore[arg-type]
        author_id=author_id,  # type: ignore[arg-type]
        title=f"News {n}",
        content=f"Body {n}",
        created_at=created,
        updated_at=created,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_announcements_are_listed_newest_first_and_paged(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    course, (author, _, _) = await _course_with_people(factory)
    other_course, _ = await _course_with_people(factory, 2)
    old = _announcement(1, course.id, author.id)
    new = _announcement(2, course.id, author.id, minutes=5)
    same_time = _announcement(3, course.id, None, minutes=5)
    elsewhere = _announcement(4, other_course.id, author.id, minutes=9)
    async with factory() as uow:
        for item in (old, new, same_time, elsewhere):
            await uow.announcements.add(item)
        everything = await uow.announcements.list_in(course.id, offset=0, limit=10)
        second_page = await uow.announcements.list_in(course.id, offset=1, limit=1)
        beyond = await uow.announcements.list_in(course.id, offset=5, limit=10)
        none = await uow.announcements.list_in(_course(9, None).id, offset=0, limit=10)
        got = await uow.announcements.get(old.id)
        missing = await uow.announcements.get(_announcement(9, course.id, None).id)

    # same created_at: the greater id first
    assert [a.id for a in everything.items] == [same_time.id, new.id, old.id]
    assert everything.total == 3
    assert ([a.id for a in second_page.items], second_page.total) == ([new.id], 3)
    assert (list(beyond.items), beyond.total) == ([], 3)
    assert (list(none.items), none.total) == ([], 0)
    assert (got, missing) == (old, None)
    assert factory.store.announcements == {}  # never committed


@pytest.mark.anyio
async def test_announcement_writes_are_transactional_and_update_three_columns(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    course, (author, _, _) = await _course_with_people(factory)
    other_course, _ = await _course_with_people(factory, 2)
    item = _announcement(1, course.id, author.id)
    async with factory() as writer, factory() as reader:
        await writer.announcements.add(item)
        assert await reader.announcements.get(item.id) is None
        await writer.commit()
        assert await reader.announcements.get(item.id) == item

    changed = replace(
        item,
        course_id=other_course.id,
        author_id=None,
        title="New title",
        content="New body",
        created_at=_EPOCH + timedelta(days=9),
        updated_at=_EPOCH + timedelta(days=1),
    )
    async with factory() as uow:
        await uow.announcements.update(changed)
        await uow.announcements.update(_announcement(2, course.id, None))  # missing: nothing
        await uow.commit()
    assert factory.store.announcements == {
        item.id: replace(
            item, title="New title", content="New body", updated_at=_EPOCH + timedelta(days=1)
        )
    }

    async with factory() as uow:
        await uow.announcements.delete(item.id)
        assert await uow.announcements.get(item.id) is None
    assert set(factory.store.announcements) == {item.id}  # not committed: discarded

    async with factory() as uow:
        await uow.announcements.delete(item.id)
        await uow.announcements.delete(item.id)  # missing: nothing happens
        await uow.commit()
    assert factory.store.announcements == {}


@pytest.mark.anyio
async def test_deleting_courses_and_users_cascades_to_announcements(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    course, (author, other_author, _) = await _course_with_people(factory)
    doomed_course, _ = await _course_with_people(factory, 2)
    orphaned = _announcement(1, course.id, author.id)
    kept = _announcement(2, course.id, other_author.id)
    doomed = _announcement(3, doomed_course.id, other_author.id)
    async with factory() as uow:
        for item in (orphaned, kept, doomed):
            await uow.announcements.add(item)
        await uow.commit()

    async with factory() as uow:
        await uow.courses.delete(doomed_course.id)
        await uow.users.delete(author.id)
        await uow.commit()

    assert factory.store.announcements == {
        orphaned.id: replace(orphaned, author_id=None),
        kept.id: kept,
    }


@pytest.mark.anyio
async def test_announcement_rows_must_point_at_existing_rows(
    factory: InMemoryUnitOfWorkFactory,
) -> None:
    course, (author, _, _) = await _course_with_people(factory)
    item = _announcement(1, course.id, author.id)
    async with factory() as uow:
        with pytest.raises(ValueError, match="course"):
            await uow.announcements.add(_announcement(1, _course(9, None).id, author.id))
        with pytest.raises(ValueError, match="author"):
            await uow.announcements.add(_announcement(1, course.id, UserFactory.build().id))
        await uow.announcements.add(item)
        with pytest.raises(ValueError, match="already exists"):
            await uow.announcements.add(item)
        assert await uow.announcements.get(item.id) == item


@pytest.mark.anyio
async def test_recording_publisher_records_events_and_observations() -> None:
    seen: list[int] = []
    publisher = RecordingPublisher(lambda: len(seen))
    course_id = FakeIdGenerator().new_id()
    first = CourseEvent(course_id=course_id, type="announcement.created", data={"title": "a"})
    second = CourseEvent(course_id=course_id, type="announcement.deleted")

    await publisher.publish(first)
    seen.append(1)
    await publisher.publish(second)

    assert publisher.events == [first, second]
    assert publisher.types() == ["announcement.created", "announcement.deleted"]
    assert publisher.observed == [0, 1]
    assert RecordingPublisher().observed == []


def test_factories_share_a_store_only_when_given_one() -> None:
    store = InMemoryStore()
    assert InMemoryUnitOfWorkFactory(store).store is store
    assert InMemoryUnitOfWorkFactory().store is not InMemoryUnitOfWorkFactory().store


# --- the other fakes ------------------------------------------------------------------------------


def test_fixed_clock_moves_only_when_told() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    clock = FixedClock(start)

    assert clock.now() == clock.now() == start
    assert clock.advance(minutes=5) == start + timedelta(minutes=5)
    clock.set(start)
    assert clock.now() == start
    with pytest.raises(ValueError, match="timezone"):
        FixedClock(datetime(2030, 1, 1))  # noqa: DTZ001


def test_id_generator_is_sequential_and_ordered() -> None:
    ids = FakeIdGenerator()
    generated = [ids.new_id() for _ in range(3)]

    assert generated == sorted(generated)
    assert len(set(generated)) == 3
    assert FakeIdGenerator().new_id() == generated[0]


@pytest.mark.anyio
async def test_fake_hasher_records_calls_and_flags_other_schemes() -> None:
    hasher = FakePasswordHasher()

    hashed = await hasher.hash("pw")

    assert hashed == "plain:pw"
    assert await hasher.verify(hashed, "pw")
    assert await hasher.verify("old:pw", "pw")
    assert not await hasher.verify(hashed, "other")
    assert not await hasher.verify(None, "pw")
    assert hasher.needs_rehash("old:pw")
    assert not hasher.needs_rehash(hashed)
    assert [name for name, _ in hasher.calls] == ["hash", "verify", "verify", "verify", "verify"]


@pytest.mark.anyio
async def test_fake_revocation_list_expires_with_its_clock() -> None:
    clock = FixedClock()
    revocations = FakeRevocationList(clock)
    session_id = FakeIdGenerator().new_id()

    await revocations.revoke([session_id], clock.now() + timedelta(minutes=1))

    assert await revocations.is_revoked(session_id)
    clock.advance(minutes=1)
    assert not await revocations.is_revoked(session_id)


@pytest.mark.anyio
async def test_fake_limiter_throttles_at_each_keys_free_failures() -> None:
    limiter = FakeAttemptLimiter(retry_seconds=9)
    two, three = Backoff(2, 60, 1, 30), Backoff(3, 60, 1, 30)

    assert await limiter.attempt([("a", two), ("b", three)], "1") == 0
    assert await limiter.attempt([("a", two)], "2") == 0
    assert await limiter.attempt([("b", three), ("a", two)], "3") == 9
    assert limiter.failures == {"a": 2, "b": 1}  # the refused attempt counted nothing
    await limiter.succeeded("2", reset=["b"], refund=["a"])
    assert limiter.failures == {"a": 1}
    assert limiter.resets == ["b"]
    assert await limiter.attempt([("a", two), ("b", three)], "4") == 0


def test_fake_secret_box_rotates_and_refuses_unknown_keys() -> None:
    old = FakeSecretBox(["old"])
    stored = old.encrypt("s3cret")
    both = FakeSecretBox(["new", "old"])

    assert "s3cret" not in stored
    rotated = both.rotate(stored)
    assert FakeSecretBox(["new"]).decrypt(rotated) == "s3cret"
    with pytest.raises(InvalidInput):
        FakeSecretBox(["new"]).decrypt(stored)
    with pytest.raises(InvalidInput):
        old.decrypt("garbage")
