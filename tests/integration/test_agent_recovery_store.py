"""The recovery part of the SQL agent stores (migration 0011) on PostgreSQL and SQLite: the
per-room considered seq and the one-statement scan for unconsidered messages, undecided
proposals, tool calls recorded once per turn, and the agent's name stored on its messages.
"""

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from coagent.application.ports.proposals import Decision
from coagent.domain.agents.proposal import ProposalStatus
from coagent.domain.courses.room import AiMode, ApprovalMode
from tests.integration.conftest import Database, new_id, utcnow
from tests.integration.test_agent_turns_store import (
    USAGE,
    _add,
    _post,
    _reply,
    _start,
    _turn,
    _world,
)
from tests.integration.test_proposals_store import _proposal, _proposed

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SOON = timedelta(seconds=5)


async def test_unconsidered_rooms_are_found_in_one_scan_and_marking_only_raises(
    database: Database,
) -> None:
    world = await _world(database)
    other = await _world(database)
    for content in ("one", "two"):
        await _post(database, world, content)
    await _post(database, world, "a reply", agent="teacher")
    await _post(database, other, "elsewhere")
    async with database.uow() as uow:
        assert await uow.turns.unconsidered(before=utcnow() - SOON, limit=10) == []  # too new
        found = await uow.turns.unconsidered(before=utcnow() + SOON, limit=10)
        assert {(u.room_id, u.considered_seq, u.last_seq) for u in found} == {
            (world.room.id, 0, 3),
            (other.room.id, 0, 1),
        }
        since = utcnow() - SOON
        assert await uow.turns.human_seqs(world.room.id, after_seq=0, up_to_seq=3, since=since) == [
            1,
            2,
        ]
        assert await uow.turns.human_seqs(world.room.id, after_seq=1, up_to_seq=3, since=since) == [
            2
        ]
        assert (
            await uow.turns.human_seqs(
                world.room.id, after_seq=0, up_to_seq=3, since=utcnow() + SOON
            )
            == []
        )
        await uow.turns.mark_considered(world.room.id, 2)
        await uow.turns.mark_considered(world.room.id, 1)  # a late job never lowers it
        await uow.turns.mark_considered(other.room.id, 1)
        await uow.commit()
    async with database.uow() as uow:
        [left] = await uow.turns.unconsidered(before=utcnow() + SOON, limit=10)
        assert (left.room_id, left.considered_seq, left.last_seq) == (world.room.id, 2, 3)
        await uow.turns.mark_considered(world.room.id, 3)
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.turns.unconsidered(before=utcnow() + SOON, limit=10) == []
    # A room with its AI off is not scanned.
    await _post(database, world, "four")
    async with database.uow() as uow:
        assert len(await uow.turns.unconsidered(before=utcnow() + SOON, limit=10)) == 1
        await uow.rooms.update(replace(world.room, ai_mode=AiMode.OFF))
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.turns.unconsidered(before=utcnow() + SOON, limit=10) == []


async def test_a_tool_call_is_recorded_once_per_turn_even_when_recorded_at_once(
    database: Database,
) -> None:
    world = await _world(database)
    turn = _turn(world)
    await _add(database, turn)
    result = {"ok": True, "trigger": {"type": "message_count", "value": 5}}

    async def record(key: str) -> bool:
        async with database.uow() as uow:
            recorded = await uow.turns.record_tool_call(
                turn.id, key, tool="update_trigger", result=result, now=utcnow()
            )
            if recorded:
                await uow.commit()
        return recorded

    assert sorted(await asyncio.gather(record("k1"), record("k1"))) == [False, True]
    assert not await record("k1")
    assert await record("k2")  # another call of the same turn
    async with database.uow() as uow:
        assert await uow.turns.tool_result(turn.id, "k1") == result
        assert await uow.turns.tool_result(turn.id, "k3") is None
        assert await uow.turns.tool_result(new_id(), "k1") is None
    assert await database.scalar("SELECT count(*) FROM agent_tool_call") == 2


async def test_undecided_proposals_are_those_that_wait_for_the_teacher_agent(
    database: Database,
) -> None:
    world = await _world(database)
    waiting = await _proposed(database, world, "msg:1")
    screened = await _proposed(database, world, "msg:2")
    expired = await _proposed(database, world, "msg:3", ttl=1)
    decided = await _proposed(database, world, "msg:4")
    async with database.uow() as uow:
        assert await uow.proposals.screen(screened.id, reason="fine", now=utcnow())
        rejected = Decision(
            status=ProposalStatus.REJECTED,
            decided_by=None,
            decided_by_agent=True,
            reason="no",
            now=utcnow(),
        )
        assert await uow.proposals.decide(decided.id, rejected) is not None
        await uow.commit()
    later = utcnow() + timedelta(seconds=2)
    async with database.uow() as uow:
        assert await uow.proposals.undecided(before=utcnow() - SOON, now=later, limit=10) == []
        assert await uow.proposals.undecided(before=later, now=later, limit=10) == [waiting.id]
        assert expired.id not in await uow.proposals.undecided(before=later, now=later, limit=10)
        await uow.rooms.update(replace(world.room, approval_mode=ApprovalMode.HUMAN))
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.proposals.undecided(before=later, now=later, limit=10) == []


async def test_agent_messages_keep_the_name_they_were_written_under(database: Database) -> None:
    world = await _world(database)
    await _post(database, world, "@teacher hi")
    await _post(database, world, "an old reply", agent="teacher")  # before the column
    turn = _turn(world)
    await _add(database, turn)
    token = new_id()
    assert await _start(database, turn, token, utcnow())
    async with database.uow() as uow:
        reply = replace(_reply(world, "named"), sender_name="Prof")
        assert await uow.turns.complete(turn.id, token, reply=reply, usage=USAGE) == 3
        await uow.commit()
    # The peer's draft carries its name to the message its approval posts.
    peer_turn = _turn(world, "msg:9", agent_type="student")
    await _add(database, peer_turn)
    peer_token = new_id()
    assert await _start(database, peer_turn, peer_token, utcnow())
    proposal = replace(_proposal(world, peer_turn.id), sender_name="Buddy")
    async with database.uow() as uow:
        assert await uow.proposals.propose(peer_turn.id, peer_token, proposal=proposal, usage=USAGE)
        await uow.commit()
    async with database.uow() as uow:
        stored = await uow.proposals.get(proposal.id)
        assert stored is not None
        assert stored.sender_name == "Buddy"
        approve = Decision(
            status=ProposalStatus.APPROVED,
            decided_by=None,
            decided_by_agent=True,
            reason="ok",
            now=utcnow(),
            message_id=new_id(),
        )
        decided = await uow.proposals.decide(proposal.id, approve)
        await uow.commit()
    assert decided is not None
    assert decided.proposal.sender_name == "Buddy"
    async with database.uow() as uow:
        page = await uow.messages.page(world.room.id, limit=10)
        at = await uow.turns.message_at(world.room.id, 3)
    assert [(m.sender_name, m.agent_type) for m in page] == [
        ("Ana", None),
        ("Teacher AI", "teacher"),
        ("Prof", "teacher"),
        ("Buddy", "student"),
    ]
    assert at is not None
    assert at.sender_name == "Prof"
