"""Issue 17 (tools half) on the real stack: PostgreSQL, Redis, `coagent worker` and
`coagent scheduler` processes, the openai SDK against the scripted server. The tool loop
(a streamed tool call, its result fed back, the final text) and the interrupt policy against
`queue` with a human message arriving while the reply streams: exactly one reply in each.
"""

import json
from dataclasses import replace
from typing import Any

import pytest

from coagent.domain.agents.config import AgentType
from coagent.domain.agents.tools import Bound, InterruptPolicy
from coagent.domain.agents.trigger import Trigger, TriggerType
from tests.integration import test_agent_scenarios as scenarios
from tests.integration.fake_llm_server import Reply, openai_chunks
from tests.integration.test_agent_scenarios import (
    Stack,
    Web,
    _agent_messages,
    _reply,
    _room,
    _say,
    _settled,
    _turns,
    _until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.anyio]

# The scenario suite's fixtures: a stack of its own for this module (processes, database).
stack = scenarios.stack
web = scenarios.web


async def _configure(web: Web, **changes: Any) -> None:
    async with web.container.uow() as uow:
        config = await uow.agent_configs.active_for(web.room.course_id, AgentType.TEACHER)
        assert config is not None
        await uow.agent_configs.update(replace(config, **changes))
        await uow.commit()


async def test_a_streamed_tool_call_is_run_fed_back_and_the_final_text_posted(
    stack: Stack, web: Web
) -> None:
    arguments = json.dumps(
        {"target_agent": "teacher", "trigger_type": "message_count", "value": 50}
    )
    stack.llm.script(
        Reply(
            sse=openai_chunks(
                ["Let me "],
                tool_calls=[
                    (0, "call_a", "update_trigger", arguments[:20]),
                    (0, None, None, arguments[20:]),
                ],
                finish="tool_calls",
            )
        ),
        Reply(
            sse=openai_chunks(
                [],
                tool_calls=[
                    (0, "call_b", "update_trigger", arguments.replace("50", "8")),
                ],
                finish="tool_calls",
            )
        ),
        _reply("I will speak ", "every 8 messages."),
    )
    await _room(web, stack, Trigger(type=TriggerType.MENTION))
    await _configure(
        web,
        tools=("update_trigger",),
        tool_bounds={TriggerType.MESSAGE_COUNT: Bound(low=3, high=20)},
    )
    await _say(web, "@teacher please speak less often")

    async def replied() -> bool:
        return len(await _agent_messages(web)) == 1

    await _until(replied, stack)
    await _until(lambda: _settled(web), stack)
    [message] = await _agent_messages(web)
    assert message.content == "I will speak every 8 messages."
    assert stack.llm.calls == 3
    offered = stack.llm.server.seen[0].body["tools"]
    assert [tool["function"]["name"] for tool in offered] == ["update_trigger"]
    # the refusal, then the success, each fed back as a tool message answering its call
    refused = stack.llm.server.seen[1].body["messages"][-1]
    assert refused["role"] == "tool"
    assert refused["tool_call_id"] == "call_a"
    assert json.loads(refused["content"]) == {
        "ok": False,
        "error": "out_of_bounds",
        "allowed": {"min": 3, "max": 20},
    }
    done = stack.llm.server.seen[2].body["messages"][-1]
    assert json.loads(done["content"])["ok"] is True
    async with web.container.uow() as uow:
        config = await uow.agent_configs.active_for(web.room.course_id, AgentType.TEACHER)
    assert config is not None
    assert config.trigger == Trigger(type=TriggerType.MESSAGE_COUNT, value=8)

    # staff saw both calls; the student saw neither, and the text before the call withdrawn
    async def traced() -> bool:
        return len(web.staff.events("agent.tool")) == 2

    await _until(traced, stack, within=10)
    assert web.student.events("agent.tool") == []
    assert [e["result"]["ok"] for e in web.staff.events("agent.tool")] == [False, True]
    assert [e["reason"] for e in web.student.events("message.aborted")] == ["tool call"]


@pytest.mark.parametrize("policy", [InterruptPolicy.INTERRUPT, InterruptPolicy.QUEUE])
async def test_a_message_arriving_mid_stream_gives_exactly_one_reply_at_a_time(
    stack: Stack, web: Web, policy: InterruptPolicy
) -> None:
    first = (
        # interrupt: the server stalls after the first delta until the worker hangs up
        Reply(sse=openai_chunks(["Half an ", "answer."]), stall_after=2)
        if policy is InterruptPolicy.INTERRUPT
        # queue: a slow but complete stream
        else Reply(sse=openai_chunks(["A slow ", "answer."]), gap=1.0)
    )
    stack.llm.script(first, _reply("One answer ", "to both."))
    await _room(web, stack, Trigger(type=TriggerType.MENTION))
    await _configure(web, interrupt_policy=policy)
    await _say(web, "@teacher what is a virtue?")

    async def streaming() -> bool:
        return bool(web.student.events("message.delta"))

    await _until(streaming, stack)
    await _say(web, "@teacher and courage?")

    async def done() -> bool:
        return stack.llm.calls == 2 and await _settled(web)

    await _until(done, stack)
    messages = await _agent_messages(web)
    turns = sorted(await _turns(web), key=lambda t: t.created_at)
    if policy is InterruptPolicy.INTERRUPT:
        [message] = messages
        assert message.content == "One answer to both."
        assert [t.status.value for t in turns] == ["succeeded", "merged"]
        assert message.turn_id == turns[0].id
        # the answering call saw both messages
        lines = [m["content"] for m in stack.llm.server.seen[1].body["messages"]]
        assert any("virtue" in line for line in lines)
        assert any("courage" in line for line in lines)

        async def withdrawn() -> bool:
            return bool(web.student.events("message.aborted"))

        await _until(withdrawn, stack, within=10)
        assert [e["reason"] for e in web.student.events("message.aborted")] == ["interrupted"]
    else:
        assert [m.content for m in sorted(messages, key=lambda m: m.seq)] == [
            "A slow answer.",
            "One answer to both.",
        ]
        assert [t.status.value for t in turns] == ["succeeded", "succeeded"]
        # never overlapping: the second started after the first finished
        assert turns[0].finished_at is not None
        assert turns[1].started_at is not None
        assert turns[1].started_at >= turns[0].finished_at
        assert web.student.events("message.aborted") == []
