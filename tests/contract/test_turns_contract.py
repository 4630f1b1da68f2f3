"""Agent turns and proposals on every backend: the unique trigger key, the room lease (taken
over only once expired), state moves only under the caller's lease, the reclaim scans, the
turn list, and a proposal decided by one conditional update.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from coagent.application.ports.proposals import Decision
from coagent.domain.agents.proposal import ProposalStatus
from coagent.domain.agents.turn import AgentTurn, TurnStatus
from tests.contract import world as w
from tests.contract.conftest import Backend

pytestmark = pytest.mark.anyio

LEASE = w.LEASE


@dataclass
class Room:
    id: UUID
    config_id: UUID
    user_id: UUID


async def _room(backend: Backend) -> Room:
    ana = w.user(full_name="Ana")
    course = w.course(ana.id)
    room = w.room(course.id)
    config = w.config(course.id, is_active=True)
    await w.save(backend.uow, ana, course, room, config)
    return Room(id=room.id, config_id=config.id, user_id=ana.id)


async def _add(backend: Backend, turn: AgentTurn) -> bool:
    async with backend.uow() as uow:
        added = await uow.turns.add(turn)
        await uow.commit()
    return added


async def _start(backend: Backend, turn: AgentTurn, token: UUID, now: datetime) -> bool:
    async with backend.uow() as uow:
        started = await uow.turns.start(
            turn.id, lease_token=token, now=now, lease_expires_at=now + LEASE, seen_up_to_seq=1
        )
        await uow.commit()
    return started


async def test_a_trigger_key_makes_one_turn_per_room_and_agent(backend: Backend) -> None:
    room = await _room(backend)
    first = w.turn(room.id, room.config_id, "msg:1")
    assert await _add(backend, first)
    assert not await _add(backend, w.turn(room.id, room.config_id, "msg:1"))
    assert await _add(backend, w.turn(room.id, room.config_id, "msg:2"))
    assert await _add(backend, w.turn(room.id, room.config_id, "msg:1", agent_type="student"))
    async with backend.uow() as uow:
        stored = await uow.turns.get(first.id)
        page = await uow.turns.page(room.id, offset=0, limit=2)
        assert await uow.turns.get(w.new_id()) is None
        queued = await uow.turns.next_queued(room.id)
    assert stored is not None
    assert (stored.status, stored.trigger_key, stored.message_id) == (
        TurnStatus.QUEUED,
        "msg:1",
        None,
    )
    assert page.total == 3
    assert len(page.items) == 2
    assert page.items[0].created_at >= page.items[1].created_at  # newest first
    assert queued is not None
    assert queued.id == first.id


async def test_the_room_lease_has_one_holder_until_it_expires(backend: Backend) -> None:
    room = await _room(backend)
    a, b, now = w.new_id(), w.new_id(), w.tick()

    async def take(holder: UUID, at: datetime) -> bool:
        async with backend.uow() as uow:
            took = await uow.turns.take_room(room.id, holder, now=at, expires_at=at + LEASE)
            await uow.commit()
        return took

    assert await take(a, now)
    assert await take(a, now)  # the holder may take it again
    assert not await take(b, now + LEASE - timedelta(seconds=1))
    assert await take(b, now + LEASE + timedelta(seconds=1))  # expired: taken over
    async with backend.uow() as uow:
        assert not await uow.turns.renew_room(room.id, a, expires_at=now + 3 * LEASE)
        assert await uow.turns.renew_room(room.id, b, expires_at=now + 3 * LEASE)
        await uow.turns.release_room(room.id, a)  # not the holder: nothing
        await uow.commit()
    assert not await take(a, now + 2 * LEASE)  # b renewed it
    async with backend.uow() as uow:
        await uow.turns.release_room(room.id, b)
        await uow.commit()
    assert await take(a, now + 2 * LEASE)


async def test_the_room_is_released_unless_a_turn_is_queued(backend: Backend) -> None:
    room = await _room(backend)
    a, b, now = w.new_id(), w.new_id(), w.tick()

    async def take(holder: UUID) -> bool:
        async with backend.uow() as uow:
            took = await uow.turns.take_room(room.id, holder, now=now, expires_at=now + LEASE)
            await uow.commit()
        return took

    async def release(holder: UUID, until: datetime) -> bool:
        async with backend.uow() as uow:
            released = await uow.turns.release_room_unless_queued(room.id, holder, expires_at=until)
            await uow.commit()
        return released

    assert await take(a)
    assert not await release(b, now + LEASE)  # not the holder: nothing
    queued = w.turn(room.id, room.config_id)
    await _add(backend, queued)
    assert not await release(a, now + 3 * LEASE)  # a turn waits: the lease is kept, renewed
    async with backend.uow() as uow:
        # Past the first lease's end, still a's: it was renewed.
        at = now + 2 * LEASE
        assert not await uow.turns.take_room(room.id, b, now=at, expires_at=at + LEASE)
    assert await _start(backend, queued, w.new_id(), now)  # running, not queued
    assert await release(a, now + LEASE)
    assert await take(b)  # free
    assert not await release(a, now + LEASE)  # b's now


async def test_only_the_lease_holder_completes_a_turn_once(backend: Backend) -> None:
    room = await _room(backend)
    await w.post(backend.uow, w.message(room.id, room.user_id, "@teacher hi"))
    turn = w.turn(room.id, room.config_id)
    await _add(backend, turn)
    first, second, now = w.new_id(), w.new_id(), w.tick()
    assert await _start(backend, turn, first, now)
    assert not await _start(backend, turn, second, now)  # not queued any more
    async with backend.uow() as uow:
        assert not await uow.turns.requeue(turn.id, second)
        assert await uow.turns.requeue(turn.id, first)  # reclaimed
        await uow.commit()
    assert await _start(backend, turn, second, now)
    async with backend.uow() as uow:
        late = await uow.turns.complete(turn.id, first, reply=w.reply(room.id), usage=w.USAGE)
        assert late is None
        assert not await uow.turns.renew(turn.id, first, expires_at=now + 2 * LEASE)
        assert await uow.turns.renew(turn.id, second, expires_at=now + 2 * LEASE)
        reply = w.reply(room.id, "answer")
        seq = await uow.turns.complete(turn.id, second, reply=reply, usage=w.USAGE)
        await uow.commit()
    assert seq == 2
    async with backend.uow() as uow:
        again = await uow.turns.complete(turn.id, second, reply=w.reply(room.id), usage=w.USAGE)
        stored = await uow.turns.get(turn.id)
        message = await uow.turns.message_at(room.id, 2)
        assert await uow.messages.last_seq(room.id) == 2
    assert again is None
    assert stored is not None
    assert (stored.status, stored.attempts, stored.message_id) == (
        TurnStatus.SUCCEEDED,
        2,
        reply.id,
    )
    assert (stored.tokens_in, stored.tokens_out) == (3, 2)
    assert message is not None
    assert (message.content, message.agent_type, message.turn_id) == ("answer", "teacher", turn.id)


async def test_expired_leases_and_rooms_to_run(backend: Backend) -> None:
    room = await _room(backend)
    other = await _room(backend)
    running = w.turn(room.id, room.config_id, "msg:1")
    waiting = w.turn(other.id, other.config_id, "msg:1")
    skipped = w.turn(other.id, other.config_id, "msg:2")
    for turn in (running, waiting, skipped):
        await _add(backend, turn)
    now, token = w.tick(), w.new_id()
    assert await _start(backend, running, token, now)
    async with backend.uow() as uow:
        assert await uow.turns.skip(skipped.id, reason="quiet", now=now)
        assert not await uow.turns.skip(running.id, reason="quiet", now=now)
        assert await uow.turns.expired(now + LEASE - timedelta(seconds=1), limit=10) == []
        [late] = await uow.turns.expired(now + LEASE + timedelta(seconds=1), limit=10)
        assert list(await uow.turns.rooms_to_run(now, limit=10)) == [other.id]
        assert await uow.turns.take_room(other.id, token, now=now, expires_at=now + LEASE)
        assert list(await uow.turns.rooms_to_run(now, limit=10)) == []
        assert list(await uow.turns.rooms_to_run(now + 2 * LEASE, limit=10)) == [other.id]
        assert await uow.turns.count_since(other.id, now - timedelta(days=2)) == 1
        await uow.commit()
    assert (late.id, late.lease_token) == (running.id, token)


async def test_a_failed_turn_and_a_cancel_request(backend: Backend) -> None:
    room = await _room(backend)
    queued, running = w.turn(room.id, room.config_id, "a"), w.turn(room.id, room.config_id, "b")
    await _add(backend, queued)
    await _add(backend, running)
    now, token = w.tick(), w.new_id()
    assert await _start(backend, running, token, now)  # sees up to seq 1
    async with backend.uow() as uow:
        assert await uow.turns.request_cancel(room.id, agent_type="teacher", before_seq=1) == 0
        assert await uow.turns.request_cancel(room.id, agent_type="teacher", before_seq=2) == 1
        assert await uow.turns.request_cancel(room.id, agent_type="teacher", before_seq=3) == 0
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.turns.cancel_requested(running.id, token)
        assert not await uow.turns.cancel_requested(running.id, w.new_id())
        assert await uow.turns.fail(
            queued.id, None, error_code="provider_error", usage=None, now=now
        )
        assert not await uow.turns.fail(
            running.id, w.new_id(), error_code="provider_error", usage=None, now=now
        )
        assert await uow.turns.fail(
            running.id, token, error_code="provider_error", usage=w.USAGE, now=now
        )
        await uow.commit()
    async with backend.uow() as uow:
        failed = await uow.turns.get(running.id)
    assert failed is not None
    assert (failed.status, failed.error_code) == (TurnStatus.FAILED, "provider_error")


async def _proposed(backend: Backend, room: Room, key: str, ttl: float = 600) -> UUID:
    turn = w.turn(room.id, room.config_id, key, agent_type="student")
    await _add(backend, turn)
    now, token = w.tick(), w.new_id()
    assert await _start(backend, turn, token, now)
    proposal = w.proposal(room.id, turn.id, now=now, ttl=ttl)
    async with backend.uow() as uow:
        assert not await uow.proposals.propose(
            turn.id, w.new_id(), proposal=proposal, usage=w.USAGE
        )
        assert await uow.proposals.propose(turn.id, token, proposal=proposal, usage=w.USAGE)
        await uow.commit()
    return proposal.id


async def test_a_proposal_is_decided_once_and_an_approval_posts_one_message(
    backend: Backend,
) -> None:
    room = await _room(backend)
    approved = await _proposed(backend, room, "msg:1")
    rejected = await _proposed(backend, room, "msg:2")
    now = w.tick() + timedelta(seconds=1)
    approve = Decision(
        status=ProposalStatus.APPROVED,
        decided_by=room.user_id,
        decided_by_agent=False,
        reason=None,
        now=now,
        message_id=w.new_id(),
    )
    reject = Decision(
        status=ProposalStatus.REJECTED,
        decided_by=room.user_id,
        decided_by_agent=False,
        reason="no",
        now=now,
    )
    async with backend.uow() as uow:
        decided = await uow.proposals.decide(approved, approve)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.proposals.decide(approved, reject) is None  # decided already
        assert await uow.proposals.decide(w.new_id(), reject) is None
        refused = await uow.proposals.decide(rejected, reject)
        await uow.commit()
    assert decided is not None
    assert (decided.proposal.status, decided.seq) == (ProposalStatus.APPROVED, 1)
    assert decided.proposal.message_id == approve.message_id
    assert refused is not None
    assert (refused.proposal.status, refused.seq) == (ProposalStatus.REJECTED, None)
    async with backend.uow() as uow:
        page = await uow.proposals.page(room.id, status=None, offset=0, limit=10)
        pending = await uow.proposals.page(
            room.id, status=ProposalStatus.PENDING, offset=0, limit=10
        )
        [posted] = await uow.messages.page(room.id, limit=10)
    assert ([p.id for p in page.items], page.total) == ([rejected, approved], 2)
    assert pending.total == 0
    assert (posted.id, posted.content, posted.agent_type) == (
        approve.message_id,
        "I think so",
        "student",
    )


async def test_only_due_pending_proposals_expire(backend: Backend) -> None:
    room = await _room(backend)
    short = await _proposed(backend, room, "msg:1", ttl=1)
    long = await _proposed(backend, room, "msg:2", ttl=600)
    later = w.tick() + timedelta(seconds=30)
    async with backend.uow() as uow:
        moved = await uow.proposals.expire(later, limit=10)
        await uow.commit()
    assert [p.id for p in moved] == [short]
    assert moved[0].status is ProposalStatus.EXPIRED
    async with backend.uow() as uow:
        stored = await uow.proposals.get(long)
        assert await uow.proposals.expire(later, limit=10) == []
        approve_late = Decision(
            status=ProposalStatus.APPROVED,
            decided_by=room.user_id,
            decided_by_agent=False,
            reason=None,
            now=later,
            message_id=w.new_id(),
        )
        assert await uow.proposals.decide(short, approve_late) is None
    assert stored is not None
    assert stored.status is ProposalStatus.PENDING


async def test_proposal_pages_newest_first_with_a_status_filter_and_totals(
    backend: Backend,
) -> None:
    room = await _room(backend)
    other = await _room(backend)
    ids = [await _proposed(backend, room, f"msg:{i}") for i in range(4)]
    await _proposed(backend, other, "msg:0")
    reject = Decision(
        status=ProposalStatus.REJECTED,
        decided_by=room.user_id,
        decided_by_agent=True,
        reason="no",
        now=w.tick(),
    )
    async with backend.uow() as uow:
        assert await uow.proposals.decide(ids[1], reject) is not None
        await uow.commit()
    async with backend.uow() as uow:
        first = await uow.proposals.page(room.id, status=None, offset=0, limit=3)
        rest = await uow.proposals.page(room.id, status=None, offset=3, limit=3)
        pending = await uow.proposals.page(
            room.id, status=ProposalStatus.PENDING, offset=1, limit=5
        )
        rejected = await uow.proposals.page(
            room.id, status=ProposalStatus.REJECTED, offset=0, limit=5
        )
        past = await uow.proposals.page(room.id, status=None, offset=9, limit=3)
    assert ([p.id for p in first.items], first.total) == ([ids[3], ids[2], ids[1]], 4)
    assert ([p.id for p in rest.items], rest.total) == ([ids[0]], 4)
    assert ([p.id for p in pending.items], pending.total) == ([ids[2], ids[0]], 3)
    assert [(p.id, p.status, p.decided_by_agent) for p in rejected.items] == [
        (ids[1], ProposalStatus.REJECTED, True)
    ]
    assert (list(past.items), past.total) == ([], 4)
