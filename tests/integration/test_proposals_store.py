"""The SQL proposal store on PostgreSQL and SQLite: a proposal only under the turn's live
lease (one per turn), a decision only from pending and before expiry (two deciders at once:
one wins), one message per approved proposal, the staff list and the expiry scan.
"""

import asyncio
from dataclasses import replace
from datetime import timedelta
from uuid import UUID

import pytest
from sqlalchemy.exc import IntegrityError

from coagent.application.ports.proposals import Decision
from coagent.domain.agents.config import AgentType
from coagent.domain.agents.proposal import Proposal, ProposalStatus
from coagent.domain.agents.trigger import Trigger, TriggerType
from coagent.domain.agents.turn import TurnStatus
from coagent.domain.courses.room import AiMode, ApprovalMode
from tests.integration.conftest import Database, new_id, utcnow
from tests.integration.test_agent_turns_store import (
    USAGE,
    World,
    _add,
    _post,
    _start,
    _turn,
    _world,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def _proposal(
    world: World, turn_id: UUID, *, ttl: float = 600, text: str = "I think so"
) -> Proposal:
    now = utcnow()
    return Proposal(
        id=new_id(),
        room_id=world.room.id,
        turn_id=turn_id,
        content=text,
        status=ProposalStatus.PENDING,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )


async def _proposed(database: Database, world: World, key: str = "msg:1", **kw: float) -> Proposal:
    turn = _turn(world, key, agent_type="student")
    await _add(database, turn)
    token = new_id()
    assert await _start(database, turn, token, utcnow())
    proposal = _proposal(world, turn.id, **kw)
    async with database.uow() as uow:
        assert await uow.proposals.propose(turn.id, token, proposal=proposal, usage=USAGE)
        await uow.commit()
    return proposal


def _approve(by: UUID | None, *, content: str | None = None) -> Decision:
    return Decision(
        status=ProposalStatus.EDITED if content else ProposalStatus.APPROVED,
        decided_by=by,
        decided_by_agent=by is None,
        reason=None,
        now=utcnow(),
        content=content,
        message_id=new_id(),
    )


async def test_a_proposal_is_stored_only_under_the_turns_lease(database: Database) -> None:
    world = await _world(database)
    await _post(database, world, "hi")
    turn = _turn(world, agent_type="student")
    await _add(database, turn)
    token = new_id()
    await _start(database, turn, token, utcnow())
    async with database.uow() as uow:  # a stale token: nothing written
        assert not await uow.proposals.propose(
            turn.id, new_id(), proposal=_proposal(world, turn.id), usage=USAGE
        )
        await uow.commit()
    assert await database.scalar("SELECT count(*) FROM agent_proposal") == 0
    proposal = _proposal(world, turn.id)
    async with database.uow() as uow:
        assert await uow.proposals.propose(turn.id, token, proposal=proposal, usage=USAGE)
        await uow.commit()
    async with database.uow() as uow:  # the turn is not running any more
        assert not await uow.proposals.propose(
            turn.id, token, proposal=_proposal(world, turn.id), usage=USAGE
        )
        stored_turn = await uow.turns.get(turn.id)
        stored = await uow.proposals.get(proposal.id)
    assert stored_turn is not None
    assert stored_turn.status is TurnStatus.SUCCEEDED
    assert stored_turn.message_id is None  # a proposal, not a message
    assert stored is not None
    assert (stored.status, stored.content, stored.message_id) == (
        ProposalStatus.PENDING,
        "I think so",
        None,
    )
    assert await database.scalar("SELECT count(*) FROM message WHERE agent_type IS NOT NULL") == 0
    # The database refuses a second proposal for the turn.
    async with database.uow() as uow:
        session = uow._session  # type: ignore[attr-defined]
        from coagent.adapters.persistence.models import AgentProposalModel  # noqa: PLC0415

        session.add(
            AgentProposalModel(
                id=new_id(),
                room_id=world.room.id,
                turn_id=turn.id,
                content="x",
                status="pending",
                expires_at=utcnow(),
                decided_by_agent=False,
                screened_by_agent=False,
            )
        )
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_an_approval_posts_one_message_and_a_second_decision_finds_it_decided(
    database: Database,
) -> None:
    world = await _world(database)
    await _post(database, world, "hi")
    proposal = await _proposed(database, world)
    async with database.uow() as uow:
        decided = await uow.proposals.decide(proposal.id, _approve(world.user_id))
        await uow.commit()
    assert decided is not None
    assert decided.seq == 2
    assert decided.proposal.status is ProposalStatus.APPROVED
    assert decided.proposal.decided_by == world.user_id
    for second in (
        _approve(world.user_id),
        Decision(
            status=ProposalStatus.REJECTED,
            decided_by=world.user_id,
            decided_by_agent=False,
            reason="no",
            now=utcnow(),
        ),
    ):
        async with database.uow() as uow:
            assert await uow.proposals.decide(proposal.id, second) is None
            await uow.commit()
    async with database.uow() as uow:
        stored = await uow.proposals.get(proposal.id)
        page = await uow.messages.page(world.room.id, limit=10)
    assert stored is not None
    assert stored.message_id == decided.proposal.message_id == page[-1].id
    assert (page[-1].agent_type, page[-1].turn_id, page[-1].content) == (
        "student",
        proposal.turn_id,
        "I think so",
    )
    assert len(page) == 2


async def test_two_deciders_at_once_one_message(database: Database) -> None:
    world = await _world(database)
    proposal = await _proposed(database, world)

    async def approve() -> bool:
        async with database.uow() as uow:
            decided = await uow.proposals.decide(proposal.id, _approve(world.user_id))
            await uow.commit()
        return decided is not None

    results = await asyncio.gather(approve(), approve(), approve())
    assert sorted(results) == [False, False, True]
    assert await database.scalar("SELECT count(*) FROM message") == 1


async def test_edit_posts_the_staff_text_and_reject_posts_nothing(database: Database) -> None:
    world = await _world(database)
    edited = await _proposed(database, world, "msg:1")
    rejected = await _proposed(database, world, "msg:2")
    async with database.uow() as uow:
        done = await uow.proposals.decide(edited.id, _approve(world.user_id, content="Better."))
        gone = await uow.proposals.decide(
            rejected.id,
            Decision(
                status=ProposalStatus.REJECTED,
                decided_by=None,
                decided_by_agent=True,
                reason="off topic",
                now=utcnow(),
                message_id=new_id(),  # ignored: a rejection posts nothing
            ),
        )
        await uow.commit()
    assert done is not None
    assert gone is not None
    assert (done.proposal.status, done.proposal.content) == (ProposalStatus.EDITED, "Better.")
    assert (gone.proposal.status, gone.proposal.reason, gone.seq) == (
        ProposalStatus.REJECTED,
        "off topic",
        None,
    )
    assert gone.proposal.decided_by_agent
    assert await database.rows("SELECT content FROM message") == [("Better.",)]


async def test_expiry_moves_only_due_pending_proposals_and_an_expired_one_is_never_posted(
    database: Database,
) -> None:
    world = await _world(database)
    due = await _proposed(database, world, "msg:1", ttl=-1)
    live = await _proposed(database, world, "msg:2", ttl=600)
    async with database.uow() as uow:  # past its time, even before the scan: not approvable
        assert await uow.proposals.decide(due.id, _approve(world.user_id)) is None
        expired = await uow.proposals.expire(utcnow(), limit=10)
        await uow.commit()
    assert [p.id for p in expired] == [due.id]
    assert expired[0].status is ProposalStatus.EXPIRED
    async with database.uow() as uow:
        assert await uow.proposals.expire(utcnow(), limit=10) == []
        page = await uow.proposals.page(world.room.id, status=None, offset=0, limit=10)
        pending = await uow.proposals.page(
            world.room.id, status=ProposalStatus.PENDING, offset=0, limit=1
        )
        second = await uow.proposals.page(world.room.id, status=None, offset=1, limit=1)
    assert [p.id for p in page.items] == [live.id, due.id]  # newest first
    assert page.total == 2
    assert ([p.id for p in pending.items], pending.total) == ([live.id], 1)
    assert [p.id for p in second.items] == [due.id]
    assert await database.scalar("SELECT count(*) FROM message") == 0
    # Read on the driver (rows.py), mapped by position: every field as `get` maps it; a
    # page past the end still counts.
    async with database.uow() as uow:
        assert list(page.items) == [await uow.proposals.get(p.id) for p in (live, due)]
        beyond = await uow.proposals.page(
            world.room.id, status=ProposalStatus.EXPIRED, offset=5, limit=1
        )
    assert page.items[1].status is ProposalStatus.EXPIRED
    assert (list(beyond.items), beyond.total) == ([], 1)


async def test_screening_keeps_a_proposal_pending(database: Database) -> None:
    world = await _world(database)
    proposal = await _proposed(database, world)
    async with database.uow() as uow:
        assert await uow.proposals.screen(proposal.id, reason="fine", now=utcnow())
        await uow.commit()
    async with database.uow() as uow:
        stored = await uow.proposals.get(proposal.id)
    assert stored is not None
    assert (stored.status, stored.screened_by_agent, stored.reason) == (
        ProposalStatus.PENDING,
        True,
        "fine",
    )


async def test_the_peers_time_trigger_is_a_candidate_only_in_both_rooms(database: Database) -> None:
    world = await _world(database, Trigger(type=TriggerType.MESSAGE_COUNT, value=3))
    peer = replace(
        world.config,
        id=new_id(),
        type=AgentType.STUDENT,
        name="Buddy",
        trigger=Trigger(type=TriggerType.SILENCE, value=60),
    )
    async with database.uow() as uow:
        await uow.agent_configs.add(peer)
        await uow.commit()
    async with database.uow() as uow:  # a teacher_only room: the peer never speaks there
        assert await uow.turns.time_candidates(limit=10) == []
        await uow.rooms.update(replace(world.room, ai_mode=AiMode.BOTH))
        await uow.commit()
    async with database.uow() as uow:
        found = await uow.turns.time_candidates(limit=10)
    assert [(c.room.id, c.config.id, c.config.type) for c in found] == [
        (world.room.id, peer.id, AgentType.STUDENT)
    ]
    assert found[0].room.approval_mode is ApprovalMode.AGENT
