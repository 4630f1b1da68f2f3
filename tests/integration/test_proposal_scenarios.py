"""Proposals on the real stack: PostgreSQL, Redis, `coagent worker` and `coagent scheduler`
processes, the `openai` SDK against the scripted server (the fixtures and helpers of
test_agent_scenarios). The peer agent's draft streams from the server, becomes a proposal on
a worker, the teacher agent's decision call (a `decide` tool call) runs as its own task, and
the approved proposal is posted exactly once; in `human` mode staff approve; two workers and
duplicated jobs still give one message.
"""

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from coagent.adapters.worker.tasks import CONSIDER_MESSAGE, DECIDE_PROPOSAL, RUN_TURNS
from coagent.application.proposals.decide_proposal import DecideProposalCommand
from coagent.domain.agents.config import AgentType
from coagent.domain.agents.proposal import ProposalStatus
from coagent.domain.agents.trigger import Trigger, TriggerType
from coagent.domain.courses.room import AiMode, ApprovalMode
from tests.integration import test_agent_scenarios as scenarios
from tests.integration.conftest import UserFactory, new_id
from tests.integration.fake_llm_server import Reply, openai_completion
from tests.integration.test_agent_scenarios import (
    Stack,
    Web,
    _agent_messages,
    _reply,
    _room,
    _say,
    _turns,
    _until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.anyio]

# The scenario fixtures: a stack of this module's own (database, worker, scheduler).
stack = scenarios.stack
web = scenarios.web


def _decision(decision: str, reason: str) -> Reply:
    arguments = json.dumps({"decision": decision, "reason": reason})
    return Reply(json=openai_completion(None, tool_calls=[("call_1", "decide", arguments)]))


async def _peer_room(web: Web, stack: Stack, mode: ApprovalMode) -> Web:
    # The teacher speaks only at its 50th message: every `@peer` message is the peer's.
    await _room(web, stack, Trigger(type=TriggerType.MESSAGE_COUNT, value=50), ai_mode=AiMode.BOTH)
    async with web.container.uow() as uow:
        teacher = await uow.agent_configs.active_for(web.room.course_id, AgentType.TEACHER)
        assert teacher is not None
        peer = replace(
            teacher,
            id=new_id(),
            type=AgentType.STUDENT,
            name="Buddy",
            trigger=Trigger(type=TriggerType.MENTION),
        )
        await uow.agent_configs.add(peer)
        web.room = replace(web.room, approval_mode=mode)
        await uow.rooms.update(web.room)
        await uow.commit()
    return web


async def _proposals(web: Web) -> list[Any]:
    async with web.container.uow() as uow:
        page = await uow.proposals.page(web.room.id, status=None, offset=0, limit=50)
    return list(page.items)


def _student_saw_nothing_of_it(web: Web, *secrets: str) -> None:
    kinds = {json.loads(frame)["type"] for frame in web.student.frames}
    assert not {kind for kind in kinds if kind.startswith("agent.")}, kinds
    assert "message.delta" not in kinds
    for secret in secrets:
        assert all(secret not in frame for frame in web.student.frames)


async def test_agent_mode_end_to_end_one_message(stack: Stack, web: Web) -> None:
    stack.llm.script(_reply("Counter-example: ", "a rubric."), _decision("approve", "on topic"))
    await _peer_room(web, stack, ApprovalMode.AGENT)
    await _say(web, "@peer can you think of a counter-example?")

    async def ran() -> bool:
        return any(t.status.value not in {"queued", "running"} for t in await _turns(web))

    await _until(ran, stack)
    turns = await _turns(web)
    assert [(t.agent_type, t.status.value, t.error_code) for t in turns] == [
        ("student", "succeeded", None)
    ], stack.log()

    async def posted() -> bool:
        return len(await _agent_messages(web)) == 1

    await _until(posted, stack)
    [message] = await _agent_messages(web)
    [proposal] = await _proposals(web)
    assert (message.agent_type, message.content) == ("student", "Counter-example: a rubric.")
    assert (proposal.status, proposal.decided_by_agent, proposal.reason) == (
        ProposalStatus.APPROVED,
        True,
        "on topic",
    )
    assert (proposal.message_id, message.turn_id) == (message.id, proposal.turn_id)
    assert stack.llm.calls == 2
    decide_call = stack.llm.server.seen[1].body
    assert decide_call.get("stream") is not True
    assert [tool["function"]["name"] for tool in decide_call["tools"]] == ["decide"]

    async def delivered() -> bool:
        return any(e["id"] == str(message.id) for e in web.student.events("message"))

    await _until(delivered, stack, within=10)
    staff_kinds = [json.loads(frame)["type"] for frame in web.staff.frames]
    assert {"agent.turn", "agent.proposal", "agent.decision"} <= set(staff_kinds)
    _student_saw_nothing_of_it(web, "on topic")


async def test_agent_mode_a_rejection_posts_nothing(stack: Stack, web: Web) -> None:
    stack.llm.script(_reply("The answer is 42."), _decision("reject", "gives it away"))
    await _peer_room(web, stack, ApprovalMode.AGENT)
    await _say(web, "@peer what's the answer?")

    async def decided() -> bool:
        return any(p.status is not ProposalStatus.PENDING for p in await _proposals(web))

    await _until(decided, stack)
    [proposal] = await _proposals(web)
    assert (proposal.status, proposal.reason) == (ProposalStatus.REJECTED, "gives it away")
    await asyncio.sleep(0.5)
    assert await _agent_messages(web) == []
    _student_saw_nothing_of_it(web, "The answer is 42.", "gives it away")


async def test_human_mode_staff_approve_and_two_workers_post_it_once(
    stack: Stack, web: Web
) -> None:
    stack.start("worker-b", "worker")
    try:
        stack.llm.script(_reply("What about fairness?"))
        await _peer_room(web, stack, ApprovalMode.HUMAN)
        seq = await _say(web, "@peer any thoughts?")
        for _ in range(2):  # the same jobs again, on both workers
            await web.broker.find_task(CONSIDER_MESSAGE).kiq(str(web.room.id), seq)
            await web.broker.find_task(RUN_TURNS).kiq(str(web.room.id))

        async def proposed() -> bool:
            return len(await _proposals(web)) >= 1

        await _until(proposed, stack)
        [proposal] = await _proposals(web)
        assert proposal.status is ProposalStatus.PENDING
        # A stray decision job in human mode does nothing (no call).
        await web.broker.find_task(DECIDE_PROPOSAL).kiq(str(proposal.id))
        staff = UserFactory.build()
        async with web.container.uow() as uow:
            await uow.users.add(staff)
            await uow.courses.add_member(web.room.course_id, staff.id, _ta())
            await uow.commit()
        decide = web.container.agents_runtime.proposals.decide
        results = await asyncio.gather(
            *(
                decide.execute(
                    DecideProposalCommand(actor_id=staff.id, proposal_id=proposal.id, approve=True)
                )
                for _ in range(2)
            ),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["Conflict", "Proposal"]
        await asyncio.sleep(1)  # give a duplicate every chance to show up
        [message] = await _agent_messages(web)
        assert (message.agent_type, message.content) == ("student", "What about fairness?")
        assert len(await _proposals(web)) == 1
        assert stack.llm.calls == 1
    finally:
        stack.stop("worker-b")


def _ta() -> Any:
    from coagent.domain.courses.policy import CourseRole  # noqa: PLC0415

    return CourseRole.TA
