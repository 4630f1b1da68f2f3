"""The SQLAlchemy repositories and unit of work, on PostgreSQL and on SQLite."""

import asyncio
from datetime import timedelta, timezone

import pytest
from sqlalchemy import select

from coagent.adapters.persistence.models import AuditEventModel
from coagent.application.ports.repositories import StoredImage
from coagent.domain.accounts.roles import Role
from coagent.domain.errors import Conflict
from tests.integration.conftest import Database, UserFactory, new_session, utcnow

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def add_users(database: Database, *users) -> None:
    async with database.uow() as uow:
        for user in users:
            await uow.users.add(user)
        await uow.commit()


def oldest_first(count: int, **fields):
    """Users created one second apart, oldest first."""
    start = utcnow() - timedelta(hours=1)
    return [
        UserFactory.build(created_at=start + timedelta(seconds=n), **fields) for n in range(count)
    ]


# -- users ------------------------------------------------------------------------------------


async def test_user_round_trip(database: Database) -> None:
    user = UserFactory.build(username="alice", full_name="Alice Liddell")
    await add_users(database, user)

    async with database.uow() as uow:
        loaded = await uow.users.get(user.id)

    assert loaded == user
    assert loaded.created_at.tzinfo is not None
    assert loaded.created_at.utcoffset() == timedelta(0)
    assert loaded.updated_at.utcoffset() == timedelta(0)


async def test_timestamps_are_stored_as_utc_instants(database: Database) -> None:
    # Written in another zone, read back as the same instant in UTC.
    plus_two = utcnow().astimezone(timezone(timedelta(hours=2)))
    user = UserFactory.build(created_at=plus_two, updated_at=plus_two)
    await add_users(database, user)

    async with database.uow() as uow:
        loaded = await uow.users.get(user.id)

    assert loaded is not None
    assert loaded.created_at == plus_two
    assert loaded.created_at.utcoffset() == timedelta(0)


async def test_get_unknown_user_is_none(database: Database) -> None:
    async with database.uow() as uow:
        assert await uow.users.get(UserFactory.build().id) is None


async def test_get_by_login_uses_email_with_at_sign_and_username_otherwise(
    database: Database,
) -> None:
    alice = UserFactory.build(email="alice@example.test", username="alice")
    # Bob's email local part is "carol": a bare "carol" must not find him by email.
    bob = UserFactory.build(email="carol@example.test", username=None)
    await add_users(database, alice, bob)

    async with database.uow() as uow:
        assert (await uow.users.get_by_login("alice@example.test")).id == alice.id
        assert (await uow.users.get_by_login("alice")).id == alice.id
        assert (await uow.users.get_by_login("carol@example.test")).id == bob.id
        assert await uow.users.get_by_login("carol") is None
        assert await uow.users.get_by_login("alice@elsewhere.test") is None


async def test_email_or_username_taken(database: Database) -> None:
    alice = UserFactory.build(email="alice@example.test", username="alice")
    await add_users(database, alice)

    async with database.uow() as uow:
        taken = uow.users.email_or_username_taken
        assert await taken(email="alice@example.test", username=None)
        assert await taken(email=None, username="alice")
        assert await taken(email="other@example.test", username="alice")
        assert not await taken(email="other@example.test", username="other")
        assert not await taken(email=None, username=None)
        # The account itself does not count when it keeps its own email or username.
        assert not await taken(email="alice@example.test", username="alice", except_id=alice.id)
        other = UserFactory.build().id
        assert await taken(email="alice@example.test", username=None, except_id=other)


@pytest.mark.parametrize("clash", ["email", "username"])
async def test_add_with_taken_email_or_username_is_a_conflict(
    database: Database, clash: str
) -> None:
    first = UserFactory.build(email="first@example.test", username="first")
    await add_users(database, first)
    second = UserFactory.build(
        email="first@example.test" if clash == "email" else "second@example.test",
        username="first" if clash == "username" else "second",
    )

    async with database.uow() as uow:
        with pytest.raises(Conflict):
            await uow.users.add(second)

    async with database.uow() as uow:
        assert await uow.users.get(second.id) is None


async def test_update_writes_every_field(database: Database) -> None:
    user = UserFactory.build(username="before")
    await add_users(database, user)
    changed = user.with_changes(
        email="after@example.test",
        username="after",
        full_name="After",
        is_active=False,
        updated_at=utcnow() + timedelta(minutes=1),
    )

    async with database.uow() as uow:
        await uow.users.update(changed)
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.users.get(user.id) == changed


async def test_update_to_a_taken_email_is_a_conflict(database: Database) -> None:
    first = UserFactory.build()
    second = UserFactory.build()
    await add_users(database, first, second)

    async with database.uow() as uow:
        with pytest.raises(Conflict):
            await uow.users.update(second.with_changes(email=first.email))


async def test_uncommitted_unit_of_work_writes_nothing(database: Database) -> None:
    user = UserFactory.build()
    async with database.uow() as uow:
        await uow.users.add(user)
        await uow.sessions.add(new_session(user.id))
        assert await uow.users.get(user.id) is not None  # visible inside its own transaction

    async with database.uow() as uow:
        assert await uow.users.get(user.id) is None
    assert await database.scalar("SELECT count(*) FROM user_account") == 0
    assert await database.scalar("SELECT count(*) FROM auth_session") == 0


async def test_list_pages_oldest_first_with_total(database: Database) -> None:
    users = oldest_first(5)
    # Insert out of order: the order must come from created_at, not from insertion.
    await add_users(database, *reversed(users))

    async with database.uow() as uow:
        everything = await uow.users.list(offset=0, limit=10, search=None)
        middle = await uow.users.list(offset=1, limit=2, search=None)
        beyond = await uow.users.list(offset=7, limit=2, search=None)

    assert [u.id for u in everything.items] == [u.id for u in users]
    assert everything.total == 5
    assert [u.id for u in middle.items] == [u.id for u in users[1:3]]
    assert middle.total == 5
    assert list(beyond.items) == []
    assert beyond.total == 5


async def test_list_search_matches_email_username_and_name_in_any_case(
    database: Database,
) -> None:
    by_email, by_username, by_name, other = oldest_first(4)
    by_email = by_email.with_changes(email="zebra.one@example.test")
    by_username = by_username.with_changes(username="zebra-two")
    by_name = by_name.with_changes(full_name="Ziggy ZEBRA")
    await add_users(database, by_email, by_username, by_name, other)

    async with database.uow() as uow:
        page = await uow.users.list(offset=0, limit=10, search="ZeBrA")
        second = await uow.users.list(offset=2, limit=10, search="zebra")
        empty = await uow.users.list(offset=0, limit=10, search="giraffe")

    assert [u.id for u in page.items] == [by_email.id, by_username.id, by_name.id]
    assert page.total == 3
    assert [u.id for u in second.items] == [by_name.id]
    assert second.total == 3
    assert list(empty.items) == []
    assert empty.total == 0


@pytest.mark.parametrize(
    ("query", "expected"),
    [("50%", "percent"), ("a_b", "underscore"), ("x\\y", "backslash")],
)
async def test_search_treats_wildcards_literally(
    database: Database, query: str, expected: str
) -> None:
    users = {
        "percent": UserFactory.build(full_name="Gets 50% off"),
        "fifty": UserFactory.build(full_name="Gets 50 off"),
        "later": UserFactory.build(full_name="Gets 150% off"),
        "underscore": UserFactory.build(username="a_b"),
        "any_char": UserFactory.build(username="axb"),
        "backslash": UserFactory.build(full_name="x\\y"),
        "plain": UserFactory.build(full_name="xy"),
    }
    await add_users(database, *users.values())

    async with database.uow() as uow:
        page = await uow.users.list(offset=0, limit=10, search=query)
        found = await uow.users.search(query, limit=10)

    contains = ["later"] if expected == "percent" else []
    assert sorted(u.id for u in page.items) == sorted(users[k].id for k in [expected, *contains])
    assert page.total == 1 + len(contains)
    assert [u.id for u in found] == [users[expected].id]  # search: a prefix of a word


async def test_search_matches_prefixes_of_email_username_and_name_words(
    database: Database,
) -> None:
    ann = UserFactory.build(email="ann@school.test", username="zed", full_name="Ann Lee")
    annex = UserFactory.build(email="x@school.test", username="annex", full_name="Lee Ann")
    await add_users(
        database,
        ann,
        annex,
        UserFactory.build(email="joann@school.test", username="jo", full_name="Joann Bo"),
        UserFactory.build(email="b@school.test", username="bob", full_name="Bobann"),
    )
    async with database.uow() as uow:
        assert [u.id for u in await uow.users.search("ANN", limit=10)] == [ann.id, annex.id]
        assert [u.id for u in await uow.users.search("lee", limit=10)] == [ann.id, annex.id]
        assert await uow.users.search("school", limit=10) == []


async def test_search_returns_only_active_accounts_up_to_limit(database: Database) -> None:
    active = [UserFactory.build(email=f"otter{n}@example.test") for n in range(3)]
    inactive = UserFactory.build(email="otter-gone@example.test", is_active=False)
    await add_users(database, inactive, *active)

    async with database.uow() as uow:
        found = await uow.users.search("OTTER", limit=10)
        limited = await uow.users.search("otter", limit=2)

    assert sorted(u.id for u in found) == sorted(u.id for u in active)
    assert all(u.is_active for u in found)
    assert len(limited) == 2


async def test_exists_with_role(database: Database) -> None:
    await add_users(database, UserFactory.build(role=Role.TEACHER))
    async with database.uow() as uow:
        assert await uow.users.exists_with_role(Role.TEACHER)
        assert not await uow.users.exists_with_role(Role.SUPER_ADMIN)


# -- sessions ---------------------------------------------------------------------------------


async def test_session_round_trip(database: Database) -> None:
    user, impersonator = UserFactory.build(), UserFactory.build()
    await add_users(database, user, impersonator)
    original = new_session(impersonator.id)
    acting = new_session(user.id, impersonator_id=impersonator.id, original_session_id=original.id)

    async with database.uow() as uow:
        await uow.sessions.add(original)
        await uow.sessions.add(acting)
        await uow.commit()
    async with database.uow() as uow:
        loaded = await uow.sessions.get(acting.id)
        locked = await uow.sessions.get_for_update(acting.id)
        missing = await uow.sessions.get(UserFactory.build().id)

    assert loaded == acting
    assert locked == acting
    assert loaded.expires_at.utcoffset() == timedelta(0)
    assert missing is None


async def test_rotate_replaces_the_refresh_jti(database: Database) -> None:
    user = UserFactory.build()
    await add_users(database, user)
    session = new_session(user.id, refresh_jti="old")
    async with database.uow() as uow:
        await uow.sessions.add(session)
        await uow.commit()

    async with database.uow() as uow:
        await uow.sessions.get_for_update(session.id)
        await uow.sessions.rotate(session.id, new_jti="new")
        # get_for_update re-reads the row even though the session already holds it.
        assert (await uow.sessions.get_for_update(session.id)).refresh_jti == "new"
        await uow.commit()
    async with database.uow() as uow:
        assert (await uow.sessions.get(session.id)).refresh_jti == "new"


async def test_get_for_update_waits_for_the_holder(database: Database) -> None:
    """A second refresh of the same session sees the first one's rotation, never the old jti."""
    user = UserFactory.build()
    await add_users(database, user)
    session = new_session(user.id, refresh_jti="first")
    async with database.uow() as uow:
        await uow.sessions.add(session)
        await uow.commit()

    async def second_reader() -> str:
        async with database.uow() as uow:
            locked = await uow.sessions.get_for_update(session.id)
            return locked.refresh_jti

    async with database.uow() as holder:
        await holder.sessions.get_for_update(session.id)
        waiting = asyncio.create_task(second_reader())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # blocked on the row (PG) or the write lock (SQLite)
        await holder.sessions.rotate(session.id, new_jti="second")
        await holder.commit()

    assert await asyncio.wait_for(waiting, timeout=30) == "second"


async def test_revoke_keeps_the_first_revocation_time(database: Database) -> None:
    user = UserFactory.build()
    await add_users(database, user)
    session = new_session(user.id)
    first, later = utcnow(), utcnow() + timedelta(minutes=5)
    async with database.uow() as uow:
        await uow.sessions.add(session)
        await uow.sessions.revoke(session.id, first)
        await uow.sessions.revoke(session.id, later)
        await uow.commit()

    async with database.uow() as uow:
        assert (await uow.sessions.get(session.id)).revoked_at == first


async def test_revoke_all_for_user_touches_only_live_sessions(database: Database) -> None:
    """The user's own live sessions and the live ones they opened as impersonator."""
    user, other = UserFactory.build(), UserFactory.build()
    await add_users(database, user, other)
    now = utcnow()
    earlier = now - timedelta(hours=1)
    live = [
        new_session(user.id),
        new_session(user.id),
        new_session(other.id, impersonator_id=user.id),
    ]
    expired = new_session(user.id, expires_at=now - timedelta(seconds=1))
    revoked = new_session(user.id, revoked_at=earlier)
    others = new_session(other.id)
    async with database.uow() as uow:
        for session in [*live, expired, revoked, others]:
            await uow.sessions.add(session)
        await uow.commit()

    async with database.uow() as uow:
        ids = await uow.sessions.revoke_all_for_user(user.id, now)
        await uow.commit()

    assert sorted(ids) == sorted(s.id for s in live)
    async with database.uow() as uow:
        for session in live:
            assert (await uow.sessions.get(session.id)).revoked_at == now
        assert (await uow.sessions.get(expired.id)).revoked_at is None
        assert (await uow.sessions.get(revoked.id)).revoked_at == earlier
        assert (await uow.sessions.get(others.id)).revoked_at is None
        assert list(await uow.sessions.revoke_all_for_user(user.id, now)) == []


async def test_purge_deletes_sessions_that_ended_before_the_cutoff(database: Database) -> None:
    user = UserFactory.build()
    await add_users(database, user)
    now = utcnow()
    cutoff = now - timedelta(days=1)
    gone = [
        new_session(user.id, expires_at=now - timedelta(days=2)),
        new_session(user.id, revoked_at=now - timedelta(days=3)),
    ]
    kept = [
        new_session(user.id),
        new_session(user.id, expires_at=now - timedelta(hours=1)),
        new_session(user.id, revoked_at=now - timedelta(hours=1)),
    ]
    async with database.uow() as uow:
        for session in gone + kept:
            await uow.sessions.add(session)
        await uow.commit()

    async with database.uow() as uow:
        assert await uow.sessions.purge(expired_before=cutoff) == 2
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.sessions.purge(expired_before=cutoff) == 0
        await uow.commit()

    remaining = await database.rows("SELECT id FROM auth_session")
    assert len(remaining) == len(kept)
    async with database.uow() as uow:
        for session in gone:
            assert await uow.sessions.get(session.id) is None
        for session in kept:
            assert await uow.sessions.get(session.id) == session


# -- deletion, avatars, audit -----------------------------------------------------------------


async def test_deleting_a_user_cascades_and_keeps_the_audit_trail(database: Database) -> None:
    victim, bystander = UserFactory.build(), UserFactory.build()
    await add_users(database, victim, bystander)
    own = new_session(victim.id)
    impersonating = new_session(bystander.id, impersonator_id=victim.id)
    survivor = new_session(bystander.id, original_session_id=own.id)
    async with database.uow() as uow:
        for session in (own, impersonating, survivor):
            await uow.sessions.add(session)
        await uow.avatars.put(
            victim.id, StoredImage(file_name="victim.png", content_type="image/png", data=b"v")
        )
        await uow.audit.record(
            actor_id=victim.id, action="user.updated", target_type="user", target_id="x"
        )
        await uow.commit()

    async with database.uow() as uow:
        await uow.users.delete(victim.id)
        await uow.commit()

    async with database.uow() as uow:
        assert await uow.users.get(victim.id) is None
        assert await uow.users.get(bystander.id) is not None
        assert await uow.sessions.get(own.id) is None
        assert await uow.sessions.get(impersonating.id) is None
        kept = await uow.sessions.get(survivor.id)
        assert await uow.avatars.get_by_file_name("victim.png") is None
    assert kept is not None
    assert kept.original_session_id is None
    audit = await database.rows("SELECT actor_id, action, target_id FROM audit_event")
    assert [(row.actor_id, row.action, row.target_id) for row in audit] == [
        (None, "user.updated", "x")
    ]


async def test_audit_details_round_trip(database: Database) -> None:
    async with database.uow() as uow:
        await uow.audit.record(
            actor_id=None,
            action="user.created",
            target_type="user",
            target_id="42",
            details={"role": "admin", "nested": {"n": 1}},
        )
        await uow.audit.record(actor_id=None, action="other", target_type="t", target_id="1")
        await uow.commit()

    async with database.sessions() as session:
        rows = (await session.scalars(select(AuditEventModel).order_by(AuditEventModel.id))).all()
    assert [row.details for row in rows] == [{"role": "admin", "nested": {"n": 1}}, {}]
    assert all(row.created_at.utcoffset() == timedelta(0) for row in rows)


async def test_avatar_put_replaces_the_previous_one(database: Database) -> None:
    user, other = UserFactory.build(), UserFactory.build()
    await add_users(database, user, other)
    first = StoredImage(file_name="first.png", content_type="image/png", data=b"\x89PNG1")
    second = StoredImage(file_name="second.webp", content_type="image/webp", data=b"RIFF2")
    others = StoredImage(file_name="other.jpg", content_type="image/jpeg", data=b"\xff\xd8")
    async with database.uow() as uow:
        await uow.avatars.put(user.id, first)
        await uow.avatars.put(other.id, others)
        await uow.commit()
    async with database.uow() as uow:
        await uow.avatars.put(user.id, second)
        await uow.commit()

    async with database.uow() as uow:
        assert await uow.avatars.get_by_file_name("first.png") is None
        assert await uow.avatars.get_by_file_name("second.webp") == second
        assert await uow.avatars.get_by_file_name("other.jpg") == others
    assert await database.scalar("SELECT count(*) FROM avatar") == 2


async def test_avatar_put_can_reuse_the_same_file_name(database: Database) -> None:
    user = UserFactory.build()
    await add_users(database, user)
    async with database.uow() as uow:
        await uow.avatars.put(
            user.id, StoredImage(file_name="a.png", content_type="image/png", data=b"1")
        )
        await uow.avatars.put(
            user.id, StoredImage(file_name="a.png", content_type="image/png", data=b"2")
        )
        await uow.commit()
    async with database.uow() as uow:
        assert (await uow.avatars.get_by_file_name("a.png")).data == b"2"


# -- one-time markers -------------------------------------------------------------------------


async def test_claim_succeeds_once_per_key(database: Database) -> None:
    async with database.uow() as uow:
        assert await uow.system.claim("step.one")
        assert not await uow.system.claim("step.one")  # the transaction survives the clash
        assert await uow.system.claim("step.two")
        await uow.commit()
    async with database.uow() as uow:
        assert not await uow.system.claim("step.one")
        assert not await uow.system.claim("step.two")


async def test_uncommitted_claim_is_released(database: Database) -> None:
    async with database.uow() as uow:
        assert await uow.system.claim("step")
    async with database.uow() as uow:
        assert await uow.system.claim("step")


async def test_claim_is_won_by_exactly_one_of_many_concurrent_claimers(
    database: Database,
) -> None:
    async def claim() -> bool:
        async with database.uow() as uow:
            won = await uow.system.claim("bootstrap.race")
            await uow.commit()
            return won

    results = await asyncio.gather(*(claim() for _ in range(10)))

    assert results.count(True) == 1
    assert await database.scalar("SELECT count(*) FROM system_state") == 1
