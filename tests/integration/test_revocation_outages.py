"""The revocation list against a real Redis that loses its contents or goes away, backed by
the real database record (docs/adr/0007).
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from coagent.adapters.persistence.revocation_record import SqlRevocationRecord
from coagent.adapters.redis_circuit import RedisCircuit
from coagent.adapters.security.redis_stores import COMPLETE, RedisRevocationList
from coagent.main.compose.infra import create_redis
from tests.fakes.revocations import FakeRevocationRecord
from tests.integration.conftest import Database, UserFactory, new_session, utcnow
from tests.integration.private_redis import PrivateRedis, private_redis

__all__ = ["private_redis"]  # the fixture

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

TTL = timedelta(minutes=10)


@pytest.fixture
async def client(redis_url: str, anyio_backend: str) -> AsyncIterator[Redis]:
    redis = create_redis(redis_url)
    try:
        yield redis
    finally:
        await redis.aclose()


def key(session_id: uuid.UUID) -> str:
    return f"coagent:revoked:{session_id}"


# -- the database record ------------------------------------------------------------------------


async def test_the_record_knows_live_revoked_and_unknown_sessions(database: Database) -> None:
    user = UserFactory.build()
    now = utcnow()
    live = new_session(user.id)
    revoked = new_session(user.id, revoked_at=now - timedelta(minutes=1))
    long_ago = new_session(user.id, revoked_at=now - timedelta(hours=2))
    async with database.uow() as uow:
        await uow.users.add(user)
        for session in (live, revoked, long_ago):
            await uow.sessions.add(session)
        await uow.commit()
    record = SqlRevocationRecord(database.sessions)

    assert not await record.is_revoked(live.id)
    assert await record.is_revoked(revoked.id)
    assert await record.is_revoked(uuid.uuid4())  # purged or never existed: not honoured
    since = await record.revoked_since(now - timedelta(minutes=10))
    assert [sid for sid, _ in since] == [revoked.id]
    assert abs((since[0][1] - revoked.revoked_at).total_seconds()) < 0.001  # type: ignore[operator]


# -- the list on a Redis that restarts -----------------------------------------------------------


async def test_in_the_normal_case_no_check_asks_the_database(client: Redis) -> None:
    record = FakeRevocationRecord()
    await client.set(COMPLETE, b"1")
    revocations = RedisRevocationList(client, record=record, access_ttl=TTL, recheck_after=0)
    revoked, live = uuid.uuid4(), uuid.uuid4()
    await revocations.revoke([revoked], until=utcnow() + TTL)

    answers = [await revocations.is_revoked(sid) for sid in (revoked, live, revoked, live)]

    assert answers == [True, False, True, False]
    assert (record.lookups, record.rebuilds) == (0, 0)


async def test_an_emptied_redis_is_rebuilt_once_from_the_record(client: Redis) -> None:
    record = FakeRevocationRecord()
    now = utcnow()
    recent, old, live = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    record.revoked = {recent: now - timedelta(minutes=2), old: now - timedelta(hours=1)}
    record.live = {live}
    revocations = RedisRevocationList(client, record=record, access_ttl=TTL, recheck_after=0)

    # Many requests find the list incomplete at once: one rebuild serves them all.
    answers = await asyncio.gather(*(revocations.is_revoked(sid) for sid in [recent, live] * 10))

    assert answers == [True, False] * 10
    assert record.rebuilds == 1
    assert await client.exists(COMPLETE)
    assert await client.ttl(COMPLETE) == -1  # only a restart or a flush removes it
    # Lives until revoked_at + the access TTL (+ a minute of slack), not a fresh full TTL.
    assert 8 * 60 < await client.ttl(key(recent)) <= 9 * 60
    assert not await client.exists(key(old))  # its tokens have all expired
    lookups = record.lookups
    assert await revocations.is_revoked(recent)
    assert not await revocations.is_revoked(live)
    assert (record.lookups, record.rebuilds) == (lookups, 1)  # back to Redis only


async def test_a_revocation_forgotten_by_a_restart_is_not_forgotten(client: Redis) -> None:
    record = FakeRevocationRecord()
    revocations = RedisRevocationList(client, record=record, access_ttl=TTL, recheck_after=0)
    sid = uuid.uuid4()
    record.live.add(sid)
    assert not await revocations.is_revoked(sid)
    record.revoked[sid] = utcnow()  # logout: committed, then announced
    await revocations.revoke([sid], until=utcnow() + TTL)
    assert await revocations.is_revoked(sid)

    await client.flushdb()  # what a restart of a non-persistent Redis leaves

    assert await revocations.is_revoked(sid)
    assert await client.exists(key(sid))


async def test_a_failed_rebuild_falls_back_to_the_record(client: Redis) -> None:
    class BrokenRebuild(FakeRevocationRecord):
        async def revoked_since(self, since):  # type: ignore[no-untyped-def]
            raise RuntimeError("the database hiccuped")

    record = BrokenRebuild()
    sid = uuid.uuid4()
    record.revoked[sid] = utcnow()
    revocations = RedisRevocationList(client, record=record, access_ttl=TTL)

    assert await revocations.is_revoked(sid)
    assert record.lookups == 1
    assert not await client.exists(COMPLETE)  # never marked complete without the rebuild


# -- the list while Redis is down ---------------------------------------------------------------


async def test_while_redis_is_down_the_record_answers_and_revocations_wait(
    private_redis: PrivateRedis,
) -> None:
    redis = create_redis(private_redis.url)
    circuit = RedisCircuit(probe=redis.ping, cool_off=0.05)
    record = FakeRevocationRecord()
    revocations = RedisRevocationList(
        redis, record=record, access_ttl=TTL, circuit=circuit, recheck_after=0
    )
    live, revoked = uuid.uuid4(), uuid.uuid4()
    record.live = {live, revoked}
    try:
        assert not await revocations.is_revoked(live)
        private_redis.stop()

        record.revoked[revoked] = utcnow()
        await revocations.revoke([revoked], until=utcnow() + TTL)  # does not raise

        assert circuit.is_open
        assert await revocations.is_revoked(revoked)
        assert not await revocations.is_revoked(live)
        private_redis.start()
        await asyncio.wait_for(circuit.wait_closed(), 10)
        assert await revocations.is_revoked(revoked)
        assert not await revocations.is_revoked(live)  # reaches Redis (rebuilds, too)
        # Written as soon as a check reached Redis again (the rebuild would have found it too).
        assert await redis.exists(key(revoked))
    finally:
        await circuit.aclose()
        await redis.aclose()


async def test_a_revocation_that_missed_redis_is_written_when_it_answers_again(
    private_redis: PrivateRedis, client: Redis
) -> None:
    """A short blip (no restart): the list is still marked complete, so only this process's
    own retry can put the revocation there for the others.
    """
    redis = create_redis(private_redis.url)
    circuit = RedisCircuit(probe=redis.ping, cool_off=0.05)
    record = FakeRevocationRecord()
    here = RedisRevocationList(redis, record=record, access_ttl=TTL, circuit=circuit)
    sid = uuid.uuid4()
    record.live.add(sid)
    try:
        assert not await here.is_revoked(sid)  # rebuilds: the list is marked complete
        private_redis.stop()
        record.revoked[sid] = utcnow()
        await here.revoke([sid], until=utcnow() + TTL)
        private_redis.start()
        await redis.set(COMPLETE, b"1")  # as if Redis had kept its data through the blip
        await asyncio.wait_for(circuit.wait_closed(), 10)
        assert await here.is_revoked(sid)  # known here, whatever Redis says

        await here.is_revoked(uuid.uuid4())  # any check that reaches Redis writes what waits

        elsewhere = RedisRevocationList(redis, record=FakeRevocationRecord(), access_ttl=TTL)
        assert await elsewhere.is_revoked(sid)
        assert 0 < await redis.pttl(key(sid)) <= TTL.total_seconds() * 1000
    finally:
        await circuit.aclose()
        await redis.aclose()
