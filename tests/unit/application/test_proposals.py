"""Proposal use cases with fakes: the peer agent's draft becomes a proposal (never streamed,
never a message), the teacher decides first, the teacher agent's structured decision in each
approval mode (junk and failures never approve), staff decisions, expiry.
"""

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from coagent.application.llm.call_model import CallModel, RetryPolicy
from coagent.application.ports.agent_events import (
    AgentDecisionTrace,
    AgentProposalTrace,
    AgentTurnTrace,
)
from coagent.application.ports.llm import Completion, ProviderUnavailable, ToolCall
from coagent.application.proposals.agent_decide import (
    AgentDecideProposal,
    AgentDecideProposalCommand,
)
from coagent.application.proposals.decide_proposal import DecideProposal, DecideProposalCommand
from coagent.application.proposals.expire_proposals import (
    ExpireProposals,
    ExpireProposalsCommand,
)
from coagent.application.proposals.list_proposals import ListProposals, ListProposalsCommand
from coagent.application.turns.run_turns import RunTurns, RunTurnsCommand
from coagent.domain.agents.config import AgentType
from coagent.domain.agents.proposal import UNREADABLE, ProposalStatus
from coagent.domain.courses.room import AiMode, ApprovalMode
from coagent.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.fakes.llm import ScriptedProviders
from tests.fakes.security import FakeSecretBox
from tests.unit.application.test_agent_turns import World, make_world, streamed

pytestmark = pytest.mark.anyio


def _call_model(world: World) -> CallModel:
    return CallModel(
        providers=ScriptedProviders(world.llm),
        secrets=FakeSecretBox(["k"]),
        policy=RetryPolicy(max_retries=0),
        jitter=lambda: 0.0,
    )


def _runner(world: World) -> RunTurns:
    return RunTurns(
        uow=world.uow,
        clock=world.clock,
        ids=world.ids,
        call_model=_call_model(world),
        stream=world.stream,
        publisher=world.publisher,
        lease_seconds=15,
        llm_timeout=5,
        kicker=world.kicker,
        proposal_ttl=600,
    )


def _agent(world: World) -> AgentDecideProposal:
    return AgentDecideProposal(
        uow=world.uow,
        clock=world.clock,
        ids=world.ids,
        call_model=_call_model(world),
        publisher=world.publisher,
        stream=world.stream,
        llm_timeout=5,
    )


def _staff(world: World) -> DecideProposal:
    return DecideProposal(
        uow=world.uow,
        clock=world.clock,
        ids=world.ids,
        publisher=world.publisher,
        stream=world.stream,
        max_length=100,
    )


def _answer(text: str = "", *calls: ToolCall) -> Completion:
    return Completion(
        text=text,
        tool_calls=calls,
        finish_reason="tool_calls" if calls else "stop",
        usage=None,
        provider="openai",
        model="scripted-model",
    )


async def _peer_world(mode: ApprovalMode = ApprovalMode.AGENT, **room: Any) -> World:
    world = await make_world()
    peer = replace(world.config, id=world.ids.new_id(), type=AgentType.STUDENT, name="Buddy")
    async with world.uow() as uow:
        await uow.agent_configs.add(peer)
        await uow.commit()
    await world.set_room(ai_mode=AiMode.BOTH, approval_mode=mode, **room)
    return world


def _proposals(world: World) -> list[Any]:
    return sorted(world.uow.store.agent_proposals.values(), key=lambda p: p.created_at)


async def _proposed(world: World, draft: str = "Maybe both sides are right?") -> Any:
    considered = await world.say("@peer what do you think?")
    assert considered.status is not None
    world.llm.then(streamed(draft))
    await _runner(world).execute(RunTurnsCommand(room_id=world.room.id))
    [proposal] = _proposals(world)
    return proposal


async def test_the_peers_draft_becomes_a_pending_proposal_never_streamed_or_posted() -> None:
    world = await _peer_world()
    proposal = await _proposed(world)
    assert (proposal.status, proposal.content) == (
        ProposalStatus.PENDING,
        "Maybe both sides are right?",
    )
    assert proposal.expires_at == proposal.created_at + timedelta(seconds=600)
    [turn] = world.turns()
    assert (turn.agent_type, turn.status, proposal.turn_id) == ("student", "succeeded", turn.id)
    assert world.agent_messages() == []
    assert world.publisher.messages == []
    assert world.stream.named("delta") == []  # a draft is never streamed to the room
    events = [call["event"] for call in world.stream.named("trace")]
    assert [type(e) for e in events] == [AgentTurnTrace, AgentProposalTrace]
    assert events[1].proposal_id == proposal.id
    assert world.kicker.decisions == [proposal.id]  # the teacher agent decides next


async def test_in_human_mode_no_agent_decision_is_kicked() -> None:
    world = await _peer_world(ApprovalMode.HUMAN)
    await _proposed(world)
    assert world.kicker.decisions == []


async def test_the_teacher_decides_first_and_the_peer_only_when_it_stays_silent() -> None:
    world = await _peer_world()
    teacher = await world.say("@teacher and @peer?")
    assert teacher.status is not None
    assert [t.agent_type for t in world.turns()] == ["teacher"]
    await world.say("@peer only")
    assert [t.agent_type for t in world.turns()] == ["teacher", "student"]


async def test_the_peer_never_speaks_outside_both_rooms() -> None:
    world = await _peer_world()
    await world.set_room(ai_mode=AiMode.TEACHER_ONLY)
    considered = await world.say("@peer hello?")
    assert (considered.status, world.turns()) == (None, [])


async def test_a_queued_peer_turn_is_skipped_when_the_room_leaves_both() -> None:
    world = await _peer_world()
    await world.say("@peer hello?")
    await world.set_room(ai_mode=AiMode.TEACHER_ONLY)
    await _runner(world).execute(RunTurnsCommand(room_id=world.room.id))
    assert [t.status for t in world.turns()] == ["skipped"]
    assert _proposals(world) == []
    assert world.llm.requests == []


APPROVE = json.dumps({"decision": "approve", "reason": "on topic"})


@pytest.mark.parametrize(
    ("answer", "status", "reason"),
    [
        (_answer(APPROVE), ProposalStatus.APPROVED, "on topic"),
        (
            _answer(
                "",
                ToolCall(id="1", name="decide", arguments={"decision": "approve", "reason": "ok"}),
            ),
            ProposalStatus.APPROVED,
            "ok",
        ),
        (
            _answer('{"decision": "reject", "reason": "spoiler"}'),
            ProposalStatus.REJECTED,
            "spoiler",
        ),
        (_answer("YES"), ProposalStatus.REJECTED, UNREADABLE),
        (_answer("NO, yesterday it was fine"), ProposalStatus.REJECTED, UNREADABLE),
        (_answer(""), ProposalStatus.REJECTED, UNREADABLE),
        (
            _answer(
                "",
                ToolCall(
                    id="1",
                    name="decide",
                    arguments={"decision": "approve", "reason": "ok", "post_now": True},
                ),
            ),
            ProposalStatus.REJECTED,
            UNREADABLE,
        ),
        (
            _answer("", ToolCall(id="1", name="decide", arguments={"decision": "approve"})),
            ProposalStatus.REJECTED,
            UNREADABLE,
        ),
        (
            _answer(
                "", ToolCall(id="1", name="other", arguments={"decision": "approve", "reason": ""})
            ),
            ProposalStatus.REJECTED,
            UNREADABLE,
        ),
        (
            ProviderUnavailable("down"),
            ProposalStatus.REJECTED,
            "decision failed: provider_unavailable",
        ),
    ],
)
async def test_agent_mode_only_a_valid_approve_posts(answer: Any, status: Any, reason: str) -> None:
    world = await _peer_world()
    proposal = await _proposed(world)
    world.llm.then(answer)
    await _agent(world).execute(AgentDecideProposalCommand(proposal_id=proposal.id))
    [decided] = _proposals(world)
    assert (decided.status, decided.reason, decided.decided_by_agent) == (status, reason, True)
    request = world.llm.requests[-1]
    assert [tool.name for tool in request.tools] == ["decide"]
    assert "<draft>\nMaybe both sides are right?\n</draft>" in request.messages[-1].content
    messages = world.agent_messages()
    if status is ProposalStatus.APPROVED:
        assert [(m.agent_type, m.turn_id, m.content) for m in messages] == [
            ("student", proposal.turn_id, proposal.content)
        ]
        assert [m.id for m in world.publisher.messages] == [messages[0].id]
    else:
        assert messages == []
        assert world.publisher.messages == []
    [trace] = [
        c["event"]
        for c in world.stream.named("trace")
        if isinstance(c["event"], AgentDecisionTrace)
    ]
    assert trace.decision == ("approve" if status is ProposalStatus.APPROVED else "reject")
    assert world.uow.store.actions()[-1] == f"agent_proposal.{status.value}"


async def test_agent_then_human_screening_leaves_it_to_staff_and_a_failure_too() -> None:
    world = await _peer_world(ApprovalMode.AGENT_THEN_HUMAN)
    proposal = await _proposed(world)
    world.llm.then(ProviderUnavailable("down"))
    failed = await _agent(world).execute(AgentDecideProposalCommand(proposal_id=proposal.id))
    assert failed.outcome == "failed-pending"
    assert _proposals(world)[0].status is ProposalStatus.PENDING
    world.llm.then(_answer(APPROVE))
    screened = await _agent(world).execute(AgentDecideProposalCommand(proposal_id=proposal.id))
    assert screened.outcome == "screened"
    [stored] = _proposals(world)
    assert (stored.status, stored.screened_by_agent) == (ProposalStatus.PENDING, True)
    assert world.agent_messages() == []
    # A duplicate job finds it screened: no second call.
    calls = len(world.llm.requests)
    again = await _agent(world).execute(AgentDecideProposalCommand(proposal_id=proposal.id))
    assert (again.outcome, len(world.llm.requests)) == ("skipped", calls)
    # Staff confirm.
    decided = await _staff(world).execute(
        DecideProposalCommand(actor_id=world.ta.id, proposal_id=proposal.id, approve=True)
    )
    assert (decided.status, decided.decided_by) == (ProposalStatus.APPROVED, world.ta.id)
    assert len(world.agent_messages()) == 1


async def test_agent_then_human_a_rejection_ends_it() -> None:
    world = await _peer_world(ApprovalMode.AGENT_THEN_HUMAN)
    proposal = await _proposed(world)
    world.llm.then(_answer('{"decision": "reject", "reason": "rude"}'))
    await _agent(world).execute(AgentDecideProposalCommand(proposal_id=proposal.id))
    assert _proposals(world)[0].status is ProposalStatus.REJECTED
    with pytest.raises(Conflict):
        await _staff(world).execute(
            DecideProposalCommand(actor_id=world.ta.id, proposal_id=proposal.id, approve=True)
        )
    assert world.agent_messages() == []


async def test_human_mode_the_agent_task_does_nothing() -> None:
    world = await _peer_world(ApprovalMode.HUMAN)
    proposal = await _proposed(world)
    calls = len(world.llm.requests)
    done = await _agent(world).execute(AgentDecideProposalCommand(proposal_id=proposal.id))
    assert (done.outcome, len(world.llm.requests)) == ("skipped", calls)


async def test_staff_decisions_by_caller_and_state() -> None:
    world = await _peer_world(ApprovalMode.HUMAN)
    proposal = await _proposed(world)
    staff = _staff(world)
    with pytest.raises(Forbidden):
        await staff.execute(
            DecideProposalCommand(actor_id=world.ana.id, proposal_id=proposal.id, approve=True)
        )
    with pytest.raises(NotFound):
        await staff.execute(
            DecideProposalCommand(actor_id=world.outsider.id, proposal_id=proposal.id, approve=True)
        )
    with pytest.raises(NotFound):
        await staff.execute(
            DecideProposalCommand(
                actor_id=world.ta.id, proposal_id=world.ids.new_id(), approve=True
            )
        )
    with pytest.raises(InvalidInput):
        await staff.execute(
            DecideProposalCommand(
                actor_id=world.ta.id, proposal_id=proposal.id, approve=True, content=" "
            )
        )
    assert world.uow.store.actions() == []  # nothing decided, nothing audited
    edited = await staff.execute(
        DecideProposalCommand(
            actor_id=world.ta.id, proposal_id=proposal.id, approve=True, content="Better."
        )
    )
    assert (edited.status, edited.content) == (ProposalStatus.EDITED, "Better.")
    assert [m.content for m in world.agent_messages()] == ["Better."]
    for approve in (True, False):
        with pytest.raises(Conflict):
            await staff.execute(
                DecideProposalCommand(
                    actor_id=world.ta.id, proposal_id=proposal.id, approve=approve
                )
            )
    assert world.uow.store.actions() == ["agent_proposal.edited"]
    page = await ListProposals(uow=world.uow).execute(
        ListProposalsCommand(actor_id=world.ta.id, room_id=world.room.id)
    )
    assert [p.id for p in page.items] == [proposal.id]
    with pytest.raises(Forbidden):
        await ListProposals(uow=world.uow).execute(
            ListProposalsCommand(actor_id=world.ana.id, room_id=world.room.id)
        )


async def test_a_pending_proposal_expires_and_is_never_posted_late() -> None:
    world = await _peer_world(ApprovalMode.HUMAN)
    proposal = await _proposed(world)
    expire = ExpireProposals(uow=world.uow, clock=world.clock, stream=world.stream)
    assert await expire.execute(ExpireProposalsCommand()) == 0
    world.clock.advance(seconds=600)
    # Past its time but before the tick: a decision already refuses it.
    with pytest.raises(Conflict):
        await _staff(world).execute(
            DecideProposalCommand(actor_id=world.ta.id, proposal_id=proposal.id, approve=True)
        )
    assert await expire.execute(ExpireProposalsCommand()) == 1
    assert await expire.execute(ExpireProposalsCommand()) == 0
    assert _proposals(world)[0].status is ProposalStatus.EXPIRED
    assert world.agent_messages() == []
    assert world.uow.store.actions() == ["agent_proposal.expired"]
    trace = world.stream.named("trace")[-1]["event"]
    assert (trace.decision, trace.proposal_id) == ("expire", proposal.id)
