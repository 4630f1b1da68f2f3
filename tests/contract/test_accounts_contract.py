"""Accounts on every backend: unique e-mail and username, lookups, the admin list and search,
sessions (and the lock `get_for_update` holds), one-time claims, and what deleting an account
takes with it.
"""

from dataclasses import replace
from datetime import timedelta

import anyio
import pytest

from coagent.domain.accounts.roles import Role
from coagent.domain.courses.policy import CourseRole
from coagent.domain.errors import Conflict
from tests.contract import world as w
from tests.contract.conftest import Backend
from tests.integration.conftest import new_session

pytestmark = pytest.mark.anyio


async def test_email_and_username_are_unique(backend: Backend) -> None:
    ana = w.user(email="ana@example.test", username="ana")
    await w.save(backend.uow, ana)
    for clash in (w.user(email="ana@example.test"), w.user(username="ana")):
        async with backend.uow() as uow:
            with pytest.raises(Conflict):
                await uow.users.add(clash)
    other = w.user()
    await w.save(backend.uow, other)
    async with backend.uow() as uow:
        with pytest.raises(Conflict):
            await uow.users.update(replace(other, email="ana@example.test"))
    async with backend.uow() as uow:
        assert await uow.users.email_or_username_taken(email="ana@example.test", username=None)
        assert await uow.users.email_or_username_taken(email=None, username="ana")
        assert not await uow.users.email_or_username_taken(
            email="ana@example.test", username="ana", except_id=ana.id
        )
        assert not await uow.users.email_or_username_taken(email="bo@example.test", username="bo")


async def test_lookups_by_id_email_and_username(backend: Backend) -> None:
    ana = w.user(email="ana@example.test", username="ana", full_name="Ana Lima")
    await w.save(backend.uow, ana)
    async with backend.uow() as uow:
        assert await uow.users.get(ana.id) == ana
        assert await uow.users.get(w.new_id()) is None
        assert await uow.users.get_by_login("ana@example.test") == ana
        assert await uow.users.get_by_login("ana") == ana
        assert await uow.users.get_by_login("ana@other.test") is None
        assert await uow.users.exists_with_role(Role.STUDENT)
        assert not await uow.users.exists_with_role(Role.SUPER_ADMIN)


async def test_update_writes_every_field_and_uncommitted_work_is_lost(backend: Backend) -> None:
    ana = w.user()
    await w.save(backend.uow, ana)
    changed = replace(ana, full_name="Ana", role=Role.TEACHER, is_active=False, updated_at=w.tick())
    async with backend.uow() as uow:
        await uow.users.update(changed)
        await uow.users.add(w.user(email="lost@example.test"))
    async with backend.uow() as uow:
        assert await uow.users.get(ana.id) == ana
        assert await uow.users.get_by_login("lost@example.test") is None
        await uow.users.update(changed)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.users.get(ana.id) == changed


async def test_list_pages_oldest_first_with_the_total_and_a_search(backend: Backend) -> None:
    users = [w.user(full_name=f"Person {i}") for i in range(5)]
    users[3] = replace(users[3], full_name="Zed Quux")
    await w.save(backend.uow, *users)
    async with backend.uow() as uow:
        page = await uow.users.list(offset=1, limit=2, search=None)
        assert [u.id for u in page.items] == [users[1].id, users[2].id]
        assert page.total == 5
        past = await uow.users.list(offset=10, limit=2, search=None)
        assert (list(past.items), past.total) == ([], 5)
        found = await uow.users.list(offset=0, limit=10, search="QUU")
        assert ([u.id for u in found.items], found.total) == ([users[3].id], 1)


async def test_search_matches_prefixes_of_active_accounts_by_email(backend: Backend) -> None:
    bea = w.user(email="bea@example.test", username="bea", full_name="Beatriz Costa")
    cos = w.user(email="cosme@example.test", username="cosme", full_name="Cosme")
    gone = w.user(email="costa@example.test", username="costa", is_active=False)
    await w.save(backend.uow, bea, cos, gone)
    async with backend.uow() as uow:
        assert [u.id for u in await uow.users.search("cos", limit=10)] == [bea.id, cos.id]
        assert [u.id for u in await uow.users.search("cos", limit=1)] == [bea.id]
        assert await uow.users.search("%", limit=10) == []


async def test_sessions_revoke_and_purge(backend: Backend) -> None:
    ana, admin = w.user(), w.user(role=Role.ADMIN)
    await w.save(backend.uow, ana, admin)
    now = w.tick()
    live = new_session(ana.id, created_at=now, expires_at=now + timedelta(days=1))
    ended = new_session(ana.id, created_at=now, expires_at=now - timedelta(seconds=1))
    acting = new_session(
        ana.id, impersonator_id=admin.id, created_at=now, expires_at=now + timedelta(hours=1)
    )
    async with backend.uow() as uow:
        for session in (live, ended, acting):
            await uow.sessions.add(session)
        await uow.commit()
    async with backend.uow() as uow:
        await uow.sessions.rotate(live.id, new_jti="next")
        revoked = await uow.sessions.revoke_all_for_user(admin.id, now)
        await uow.commit()
    assert list(revoked) == [acting.id]
    async with backend.uow() as uow:
        stored = await uow.sessions.get(live.id)
        assert stored is not None
        assert (stored.refresh_jti, stored.revoked_at) == ("next", None)
        await uow.sessions.revoke(live.id, now)
        await uow.sessions.revoke(live.id, now + timedelta(seconds=5))  # the first one stays
        await uow.commit()
    async with backend.uow() as uow:
        stored = await uow.sessions.get_for_update(live.id)
        assert stored is not None
        assert stored.revoked_at == now
        assert await uow.sessions.purge(expired_before=now + timedelta(seconds=1)) == 3
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.sessions.get(live.id) is None


async def test_get_for_update_makes_a_second_reader_wait_for_the_first_to_commit(
    backend: Backend,
) -> None:
    # What refreshing a session relies on: of two refreshes at once, the second reads the
    # session only after the first committed its rotation (the fake's row lock, PostgreSQL's
    # FOR UPDATE, SQLite's BEGIN IMMEDIATE).
    ana = w.user()
    await w.save(backend.uow, ana)
    now = w.tick()
    session = new_session(ana.id, created_at=now, expires_at=now + timedelta(days=1))
    async with backend.uow() as uow:
        await uow.sessions.add(session)
        await uow.commit()
    if backend.name == "postgresql":  # two pooled connections, so the second waits on the row
        async with backend.uow() as one, backend.uow() as two:
            await one.users.get(ana.id)
            await two.users.get(ana.id)
    locked = anyio.Event()
    seen: list[str] = []

    async def first() -> None:
        async with backend.uow() as uow:
            assert await uow.sessions.get_for_update(session.id) is not None
            locked.set()
            await anyio.wait_all_tasks_blocked()  # the second is waiting
            await uow.sessions.rotate(session.id, new_jti="rotated")
            seen.append("first commits")
            await uow.commit()

    async def second() -> None:
        await locked.wait()
        async with backend.uow() as uow:
            found = await uow.sessions.get_for_update(session.id)
            assert found is not None
            seen.append(found.refresh_jti)

    async with anyio.create_task_group() as group:
        group.start_soon(first)
        group.start_soon(second)
    assert seen == ["first commits", "rotated"]
    async with backend.uow() as uow:
        assert await uow.sessions.get_for_update(w.new_id()) is None


async def test_a_one_time_claim_is_granted_once_and_only_when_committed(backend: Backend) -> None:
    async with backend.uow() as uow:
        assert await uow.system.claim("seed")
    async with backend.uow() as uow:
        assert await uow.system.claim("seed")  # the first one was rolled back
        await uow.commit()
    async with backend.uow() as uow:
        assert not await uow.system.claim("seed")
        assert await uow.system.claim("other")


async def test_deleting_a_user_takes_its_sessions_and_memberships_keeps_its_work(
    backend: Backend,
) -> None:
    ana, bo = w.user(full_name="Ana"), w.user()
    course = w.course(ana.id)
    room = w.room(course.id)
    note = w.announcement(course.id, ana.id)
    await w.save(backend.uow, ana, bo, course, room, note)
    async with backend.uow() as uow:
        await uow.courses.add_member(course.id, ana.id, CourseRole.TEACHER)
        await uow.courses.add_member(course.id, bo.id, CourseRole.STUDENT)
        await uow.rooms.assign(room.id, ana.id)
        session = new_session(ana.id, created_at=w.tick())
        await uow.sessions.add(session)
        await uow.commit()
    seq = await w.post(backend.uow, w.message(room.id, ana.id, "hello"))
    async with backend.uow() as uow:
        await uow.users.delete(ana.id)
        await uow.users.delete(w.new_id())  # unknown: nothing
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.users.get(ana.id) is None
        assert await uow.sessions.get(session.id) is None
        assert await uow.courses.role_of(course.id, ana.id) is None
        assert not await uow.rooms.is_assigned(room.id, ana.id)
        kept = await uow.courses.get(course.id)
        assert kept is not None
        assert (kept.owner_id, kept.owner_name) == (None, None)
        kept_note = await uow.announcements.get(note.id)
        assert kept_note is not None
        assert kept_note.author_id is None
        [kept_message] = await uow.messages.page(room.id, limit=10)
        assert (kept_message.seq, kept_message.sender_id) == (seq, None)
        assert [m.user_id for m in await uow.courses.members(course.id)] == [bo.id]


async def test_the_audit_log_lists_newest_first_and_outlives_its_actor(backend: Backend) -> None:
    ana = w.user()
    await w.save(backend.uow, ana)
    async with backend.uow() as uow:
        await uow.audit.record(actor_id=ana.id, action="a.one", target_type="t", target_id="1")
        await uow.commit()
    async with backend.uow() as uow:
        await uow.audit.record(
            actor_id=None, action="a.two", target_type="t", target_id="2", details={"k": [1]}
        )
        await uow.commit()
    async with backend.uow() as uow:
        await uow.audit.record(actor_id=None, action="a.lost", target_type="t", target_id="3")
    async with backend.uow() as uow:
        await uow.users.delete(ana.id)
        await uow.commit()
    async with backend.uow() as uow:
        every = await uow.audit.list(offset=0, limit=10, action=None)
        ones = await uow.audit.list(offset=0, limit=10, action="a.one")
    assert [(e.action, e.target_id) for e in every.items] == [("a.two", "2"), ("a.one", "1")]
    assert every.total == 2
    assert every.items[0].details == {"k": [1]}
    assert ([e.actor_id for e in ones.items], ones.total) == ([None], 1)
