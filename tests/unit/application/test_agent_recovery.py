"""Kicks lost while the task queue is down, on fakes: a queue that drops the first enqueue;
the scheduler's RecoverLostKicks finds the human message no agent considered (and the
proposal nobody decided) and kicks it again, once per grace period; the turn's unique
identity and the decision's conditional update keep it to one reply and one decision. Also
the agent's name on its messages (the configuration's, as it was at the time of the turn).
"""

import json
from dataclasses import replace
from datetime import timedelta
from uuid import UUID

import pytest

from coagent.application.ports.llm import ToolCall
from coagent.application.proposals.agent_decide import AgentDecideProposalCommand
from coagent.application.turns.consider_message import ConsiderMessageCommand
from coagent.application.turns.recover_kicks import (
    MESSAGE_GRACE,
    MESSAGE_HORIZON,
    PROPOSAL_GRACE,
    RecoverLostKicks,
    RecoverLostKicksCommand,
)
from coagent.application.turns.run_turns import RunTurnsCommand
from coagent.domain.agents.proposal import ProposalStatus
from coagent.domain.agents.turn import TurnStatus
from coagent.domain.courses.room import AiMode, ApprovalMode
from tests.unit.application.test_agent_turns import World, make_world, streamed
from tests.unit.application.test_proposals import _agent, _answer, _peer_world, _runner

pytestmark = pytest.mark.anyio


class DroppingQueue:
    """A `TurnKicker` whose queue loses the first enqueue of each task name (Redis down),
    then runs `consider_message` and `decide_proposal` jobs at once, like a worker would.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.dropped: list[tuple[str, object]] = []
        self.ran: list[tuple[str, object]] = []

    def _lost(self, name: str, argument: object) -> bool:
        if any(kind == name for kind, _ in self.dropped):
            self.ran.append((name, argument))
            return False
        self.dropped.append((name, argument))
        return True

    async def consider_message(self, room_id: UUID, seq: int) -> None:
        if not self._lost("consider", seq):
            await self.world.consider().execute(ConsiderMessageCommand(room_id=room_id, seq=seq))

    async def run_turns(self, room_id: UUID) -> None:
        self.ran.append(("run", room_id))

    async def decide_proposal(self, proposal_id: UUID) -> None:
        if not self._lost("decide", proposal_id):
            await _agent(self.world).execute(AgentDecideProposalCommand(proposal_id=proposal_id))


def recovery(world: World, queue: DroppingQueue) -> RecoverLostKicks:
    return RecoverLostKicks(uow=world.uow, clock=world.clock, kicker=queue)


async def tick(recover: RecoverLostKicks) -> tuple[int, int]:
    done = await recover.execute(RecoverLostKicksCommand())
    return done.messages, done.proposals


PAST = timedelta(seconds=1)


async def test_a_message_whose_consider_kick_was_lost_is_kicked_again_once() -> None:
    world = await make_world()
    queue = DroppingQueue(world)
    recover = recovery(world, queue)  # one per scheduler, kept across ticks
    world.kicker = queue  # type: ignore[assignment]
    seq = await world.post("@teacher are you there?")
    await queue.consider_message(world.room.id, seq)  # PostMessage's kick: lost
    assert world.turns() == []

    assert await tick(recover) == (0, 0)  # within the grace: maybe only slow
    world.clock.advance(MESSAGE_GRACE + PAST)
    assert await tick(recover) == (1, 0)
    [turn] = world.turns()
    assert (turn.status, turn.caused_by_seq) == (TurnStatus.QUEUED, seq)
    assert queue.ran == [("consider", seq), ("run", world.room.id)]

    # Considered now: the next ticks kick nothing, and a duplicate kick adds no turn.
    world.clock.advance(MESSAGE_GRACE * 3)
    assert await tick(recover) == (0, 0)
    await queue.consider_message(world.room.id, seq)
    assert len(world.turns()) == 1
    # The reply (an agent message above the considered seq) is passed over, not kicked.
    world.llm.then(streamed("Yes."))
    await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    world.clock.advance(MESSAGE_GRACE + PAST)
    assert await tick(recover) == (0, 0)
    assert world.uow.store.considered[world.room.id] == seq + 1
    assert [m.content for m in world.agent_messages()] == ["Yes."]


async def test_a_slow_kick_is_kicked_again_at_most_once_per_grace() -> None:
    world = await make_world()
    queue = DroppingQueue(world)
    recover = recovery(world, queue)  # one per scheduler, kept across ticks
    queue.dropped = [("consider", 0)]  # the queue works; this job is only slow
    slow: list[int] = []

    async def never_runs(room_id: UUID, seq: int) -> None:
        slow.append(seq)

    queue.consider_message = never_runs  # type: ignore[method-assign]
    seq = await world.post("@teacher hello?")
    world.clock.advance(MESSAGE_GRACE + PAST)
    assert await tick(recover) == (1, 0)
    world.clock.advance(seconds=1)
    assert await tick(recover) == (0, 0)
    world.clock.advance(MESSAGE_GRACE)
    assert await tick(recover) == (1, 0)
    assert slow == [seq, seq]


async def test_old_unconsidered_messages_and_rooms_with_ai_off_are_not_answered_late() -> None:
    world = await make_world()
    queue = DroppingQueue(world)
    recover = recovery(world, queue)  # one per scheduler, kept across ticks
    queue.dropped = [("consider", 0)]
    await world.post("@teacher long ago")
    world.clock.advance(MESSAGE_HORIZON + PAST)
    assert await tick(recover) == (0, 0)
    assert world.turns() == []
    assert world.uow.store.considered[world.room.id] == 1  # passed over for good

    await world.set_room(ai_mode=AiMode.OFF)
    await world.post("@teacher now?")
    world.clock.advance(MESSAGE_GRACE + PAST)
    assert await tick(recover) == (0, 0)
    assert world.turns() == []


async def test_a_proposal_whose_decision_kick_was_lost_is_decided_once() -> None:
    world = await _peer_world()
    queue = DroppingQueue(world)
    recover = recovery(world, queue)  # one per scheduler, kept across ticks
    world.kicker = queue  # type: ignore[assignment]
    await world.say("@peer what do you think?")
    world.llm.then(streamed("Maybe both?"))
    await _runner(world).execute(RunTurnsCommand(room_id=world.room.id))  # decide kick: lost
    [proposal] = world.uow.store.agent_proposals.values()
    assert proposal.status is ProposalStatus.PENDING
    assert [kind for kind, _ in queue.dropped] == ["decide"]

    world.clock.advance(PROPOSAL_GRACE)
    assert (await tick(recover))[1] == 0
    world.clock.advance(PAST)
    approve = _answer("", ToolCall(id="c", name="decide", arguments=_approve()))
    world.llm.then(approve)
    assert (await tick(recover))[1] == 1
    [decided] = world.uow.store.agent_proposals.values()
    assert (decided.status, decided.decided_by_agent) == (ProposalStatus.APPROVED, True)
    # decided: never kicked again, and deciding once more decides nothing
    world.clock.advance(PROPOSAL_GRACE)
    assert (await tick(recover))[1] == 0
    world.llm.then(approve)
    again = await _agent(world).execute(AgentDecideProposalCommand(proposal_id=decided.id))
    assert again.outcome == "skipped"
    assert [m.content for m in world.agent_messages()] == ["Maybe both?"]
    assert len(world.publisher.messages) == 1


@pytest.mark.parametrize("mode", [ApprovalMode.HUMAN, ApprovalMode.AGENT_THEN_HUMAN])
async def test_proposals_left_to_staff_are_never_kicked_to_the_agent(mode: ApprovalMode) -> None:
    world = await _peer_world(mode)
    queue = DroppingQueue(world)
    recover = recovery(world, queue)  # one per scheduler, kept across ticks
    queue.dropped = [("decide", None)]  # the queue works
    await world.say("@peer what do you think?")
    world.llm.then(streamed("Maybe both?"))
    await _runner(world).execute(RunTurnsCommand(room_id=world.room.id))
    [proposal] = world.uow.store.agent_proposals.values()
    if mode is ApprovalMode.AGENT_THEN_HUMAN:  # screened by the agent: staff confirm
        world.uow.store.agent_proposals[proposal.id] = replace(proposal, screened_by_agent=True)
    world.clock.advance(PROPOSAL_GRACE + PAST)
    assert (await tick(recover))[1] == 0
    # past its expiry nothing is kicked either
    world.uow.store.agent_proposals[proposal.id] = replace(
        proposal, screened_by_agent=False, expires_at=world.clock.now()
    )
    await world.set_room(approval_mode=ApprovalMode.AGENT)
    assert (await tick(recover))[1] == 0


async def test_an_agent_message_carries_its_configurations_name_at_the_time_of_the_turn() -> None:
    world = await make_world()
    await world.say("@teacher hi")
    world.llm.then(streamed("Hello."))
    await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    [published] = world.publisher.messages
    assert published.sender_name == "Prof Bot"
    # renamed afterwards: the history keeps the name the message was written under
    async with world.uow() as uow:
        await uow.agent_configs.update(replace(world.config, name="Dr Owl"))
        await uow.commit()
    async with world.uow() as uow:
        [_, reply] = await uow.messages.page(world.room.id, limit=10)
    assert (reply.sender_name, reply.agent_type) == ("Prof Bot", "teacher")


async def test_an_approved_proposal_is_posted_under_the_peers_name() -> None:
    world = await _peer_world(ApprovalMode.AGENT)
    await world.say("@peer what do you think?")
    world.llm.then(streamed("Maybe both?"))
    await _runner(world).execute(RunTurnsCommand(room_id=world.room.id))
    [proposal] = world.uow.store.agent_proposals.values()
    assert proposal.sender_name == "Buddy"
    world.llm.then(_answer("", ToolCall(id="c", name="decide", arguments=_approve())))
    await _agent(world).execute(AgentDecideProposalCommand(proposal_id=proposal.id))
    [published] = world.publisher.messages
    assert (published.sender_name, published.agent_type) == ("Buddy", "student")
    async with world.uow() as uow:
        page = await uow.messages.page(world.room.id, limit=10)
    assert page[-1].sender_name == "Buddy"


def _approve() -> dict[str, str]:
    return json.loads('{"decision": "approve", "reason": "Helpful."}')  # type: ignore[no-any-return]
