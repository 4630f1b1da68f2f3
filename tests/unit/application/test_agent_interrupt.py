"""The interrupt policy on fakes: a human message arriving while a reply streams. `interrupt`
withdraws the partial reply and one turn answers both messages; `queue` lets the reply finish
and the next turn answer the new message. Never two overlapping replies.
"""

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import replace
from typing import Any

import pytest

from coagent.application.llm.call_model import CallModel, RetryPolicy
from coagent.application.ports.llm import LLMRequest, StreamEvent, TextDelta
from coagent.application.turns.run_turns import RunTurns, RunTurnsCommand
from coagent.domain.agents.config import AgentType
from coagent.domain.agents.tools import InterruptPolicy
from coagent.domain.agents.turn import TurnStatus
from coagent.domain.courses.room import AiMode, ApprovalMode
from tests.fakes.llm import ScriptedLLM, ScriptedProviders, reply
from tests.fakes.security import FakeSecretBox
from tests.unit.application.test_agent_turns import World, make_world

pytestmark = pytest.mark.anyio


class StallingLLM(ScriptedLLM):
    """The first stream sends one delta and then waits for `release`; later calls follow
    the script. `streaming` is set once the first delta is out; `active` counts streams in
    progress, `most_active` the most at once (overlapping replies would make it 2).
    """

    def __init__(self) -> None:
        super().__init__(default=reply("Both answered."))
        self.streaming = asyncio.Event()
        self.release = asyncio.Event()
        self.active = 0
        self.most_active = 0
        self.first_cancelled = False

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamEvent, None]:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            if len(self.requests) == 0:
                self.requests.append(request)
                yield TextDelta(text="Partial ")
                self.streaming.set()
                try:
                    await self.release.wait()
                except asyncio.CancelledError:
                    self.first_cancelled = True
                    raise
                yield reply("Partial answer to the first.")
                return
            async for event in super().stream(request):
                yield event
        finally:
            self.active -= 1


def runner(world: World, llm: StallingLLM) -> RunTurns:
    return RunTurns(
        uow=world.uow,
        clock=world.clock,
        ids=world.ids,
        call_model=CallModel(
            providers=ScriptedProviders(llm),
            secrets=FakeSecretBox(["k"]),
            policy=RetryPolicy(max_retries=0),
            jitter=lambda: 0.0,
        ),
        stream=world.stream,
        publisher=world.publisher,
        lease_seconds=15,
        llm_timeout=5,
        cancel_poll_seconds=0.01,
    )


async def world_with(policy: InterruptPolicy) -> World:
    world = await make_world()
    config = replace(world.config, interrupt_policy=policy)
    async with world.uow() as uow:
        await uow.agent_configs.update(config)
        await uow.commit()
    return world


async def first_reply_streaming(world: World, llm: StallingLLM) -> "asyncio.Task[Any]":
    await world.say("@teacher what is a virtue?")
    task = asyncio.create_task(runner(world, llm).execute(RunTurnsCommand(room_id=world.room.id)))
    await asyncio.wait_for(llm.streaming.wait(), 5)
    return task


def human_lines(request: LLMRequest) -> list[str]:
    return [m.content for m in request.messages if m.role == "user"]


async def test_interrupt_withdraws_the_partial_reply_and_answers_both_messages_once() -> None:
    world = await world_with(InterruptPolicy.INTERRUPT)
    llm = StallingLLM()
    task = await first_reply_streaming(world, llm)

    await world.say("@teacher and what is courage?")
    ran = await asyncio.wait_for(task, 5)

    assert llm.first_cancelled  # the provider's stream was closed, not left running
    [aborted] = world.stream.named("aborted")
    assert aborted["reason"] == "interrupted"
    [message] = world.agent_messages()
    assert message.content == "Both answered."
    assert [m.id for m in world.publisher.messages] == [message.id]
    first, second = world.turns()
    assert (first.status, first.attempts, first.seen_up_to_seq) == (TurnStatus.SUCCEEDED, 2, 2)
    assert (second.status, second.merged_into) == (TurnStatus.MERGED, first.id)
    assert message.turn_id == first.id
    # the answering call saw both messages; no two streams at once
    again = llm.requests[-1]
    assert any("virtue" in line for line in human_lines(again))
    assert any("courage" in line for line in human_lines(again))
    assert llm.most_active == 1
    assert ran.ran == 2  # the interrupted run and the run that answered


async def test_queue_lets_the_reply_finish_and_answers_the_new_message_next() -> None:
    world = await world_with(InterruptPolicy.QUEUE)
    llm = StallingLLM()
    task = await first_reply_streaming(world, llm)

    await world.say("@teacher and what is courage?")
    await asyncio.sleep(0.05)  # several cancel-poll periods: nothing may stop the reply
    assert world.stream.named("aborted") == []
    llm.release.set()
    await asyncio.wait_for(task, 5)

    assert not llm.first_cancelled
    assert [m.content for m in world.agent_messages()] == [
        "Partial answer to the first.",
        "Both answered.",
    ]
    assert world.stream.named("aborted") == []
    first, second = world.turns()
    assert (first.status, first.attempts) == (TurnStatus.SUCCEEDED, 1)
    assert second.status is TurnStatus.SUCCEEDED
    assert llm.most_active == 1


async def test_a_message_the_running_turn_already_sees_interrupts_nothing() -> None:
    world = await world_with(InterruptPolicy.INTERRUPT)
    llm = StallingLLM()
    task = await first_reply_streaming(world, llm)
    [turn] = world.turns()
    async with world.uow() as uow:
        # as a late or duplicated job for the message the turn answers would ask
        assert (
            await uow.turns.request_cancel(world.room.id, agent_type="teacher", before_seq=1) == 0
        )
        assert (
            await uow.turns.request_cancel(world.room.id, agent_type="student", before_seq=9) == 0
        )
        assert (
            await uow.turns.request_cancel(world.room.id, agent_type="teacher", before_seq=2) == 1
        )
        assert (
            await uow.turns.request_cancel(world.room.id, agent_type="teacher", before_seq=3) == 0
        )
        # left uncommitted: the turn is never asked
    llm.release.set()
    await asyncio.wait_for(task, 5)
    assert world.stream.named("aborted") == []
    assert world.turns()[0].id == turn.id
    assert [m.content for m in world.agent_messages()] == ["Partial answer to the first."]


async def peer_world_with(policy: InterruptPolicy) -> World:
    """A `both` room whose peer agent (`@peer`) has `policy`; the teacher's is `queue`."""
    world = await make_world()
    peer = replace(
        world.config,
        id=world.ids.new_id(),
        type=AgentType.STUDENT,
        name="Buddy",
        interrupt_policy=policy,
    )
    async with world.uow() as uow:
        await uow.agent_configs.add(peer)
        await uow.commit()
    await world.set_room(ai_mode=AiMode.BOTH, approval_mode=ApprovalMode.HUMAN)
    return world


@pytest.mark.parametrize("policy", [InterruptPolicy.INTERRUPT, InterruptPolicy.QUEUE])
async def test_the_peers_own_policy_holds_when_the_teacher_answers_the_new_message(
    policy: InterruptPolicy,
) -> None:
    world = await peer_world_with(policy)
    llm = StallingLLM()
    await world.say("@peer what do you think?")
    task = asyncio.create_task(runner(world, llm).execute(RunTurnsCommand(room_id=world.room.id)))
    await asyncio.wait_for(llm.streaming.wait(), 5)

    teacher = await world.say("@teacher and what is courage?")  # the teacher answers this one
    assert teacher.status is TurnStatus.QUEUED
    if policy is InterruptPolicy.QUEUE:
        await asyncio.sleep(0.05)  # several cancel-poll periods: nothing may stop the draft
        llm.release.set()
    await asyncio.wait_for(task, 5)

    peer, answer = world.turns()
    assert (peer.agent_type, answer.agent_type) == ("student", "teacher")
    assert answer.status is TurnStatus.SUCCEEDED
    [proposal] = world.uow.store.agent_proposals.values()
    if policy is InterruptPolicy.INTERRUPT:
        assert llm.first_cancelled
        # the draft was written again, seeing the message the teacher answers
        assert (peer.status, peer.attempts, peer.seen_up_to_seq) == (TurnStatus.SUCCEEDED, 2, 2)
        assert proposal.content == "Both answered."
        assert any("courage" in line for line in human_lines(llm.requests[1]))
    else:
        assert not llm.first_cancelled
        assert (peer.status, peer.attempts, peer.seen_up_to_seq) == (TurnStatus.SUCCEEDED, 1, 1)
        assert proposal.content == "Partial answer to the first."
    assert llm.most_active == 1
