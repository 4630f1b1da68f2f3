"""The fakes keep the ports' contracts: same signatures, real transaction semantics."""

import inspect
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from coagent.application.ports import clock as clock_ports
from coagent.application.ports import repositories as repo_ports
from coagent.application.ports import security as security_ports
from coagent.application.ports.repositories import StoredImage
from coagent.domain.accounts.session import AuthSession
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole
from coagent.domain.errors import Conflict, InvalidInput
from tests.fakes.clock import FakeIdGenerator, FixedClock
from tests.fakes.factories import UserFactory
from tests.fakes.repositories import (
    InMemoryAuditLog,
    InMemoryAvatarRepository,
    InMemoryCourseRepository,
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
    (repo_ports.UnitOfWork, InMemoryUnitOfWork),
    (repo_ports.UnitOfWorkFactory, InMemoryUnitOfWorkFactory),
    (security_ports.PasswordHasher, FakePasswordHasher),
    (security_ports.RevocationList, FakeRevocationList),
    (security_ports.AttemptLimiter, FakeAttemptLimiter),
    (security_ports.SecretBox, FakeSecretBox),
    (clock_ports.Clock, FixedClock),
    (clock_ports.IdGenerator, FakeIdGenerator),
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
async def test_fake_limiter_throttles_at_its_limit() -> None:
    limiter = FakeAttemptLimiter(limit=2, retry_seconds=9)

    await limiter.record_failure(["a", "b"])
    assert await limiter.retry_after(["a"]) == 0
    await limiter.record_failure(["a"])
    assert await limiter.retry_after(["b", "a"]) == 9
    await limiter.clear("a")
    assert await limiter.retry_after(["a", "b"]) == 0


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
