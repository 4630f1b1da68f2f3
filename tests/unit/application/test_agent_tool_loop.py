"""The tool loop of RunTurns on fakes, with a scripted LLM: a valid call's result is fed back
and the final text posted; invalid arguments get an error result the model corrects;
exhaustion fails the turn with nothing posted; the bounds staff set hold; a configuration that
does not list the tool is not offered it; text streamed before a tool call is withdrawn.
"""

import json
from dataclasses import replace
from typing import Any

import pytest

from coagent.application.llm.call_model import CallModel, RetryPolicy
from coagent.application.ports.agent_events import AgentError, AgentToolTrace
from coagent.application.ports.llm import Completion, TextDelta, ToolCall, Usage
from coagent.application.turns.run_turns import RunTurns, RunTurnsCommand
from coagent.application.turns.tools import AUDIT_ACTION, TurnTools
from coagent.domain.agents.config import AgentConfig
from coagent.domain.agents.tools import Bound
from coagent.domain.agents.trigger import Trigger, TriggerType
from coagent.domain.agents.turn import TurnStatus
from tests.fakes.llm import ScriptedProviders
from tests.fakes.security import FakeSecretBox
from tests.unit.application.test_agent_turns import World, make_world

pytestmark = pytest.mark.anyio

BOUNDS = {TriggerType.MESSAGE_COUNT: Bound(low=3, high=20)}


def calls(*calls: ToolCall, text: str = "") -> list[Any]:
    pieces = [TextDelta(text=text)] if text else []
    return [
        *pieces,
        Completion(
            text=text,
            tool_calls=calls,
            finish_reason="tool_calls",
            usage=Usage(input_tokens=5, output_tokens=2),
            provider="openai",
            model="scripted-model",
        ),
    ]


def answer(text: str) -> list[Any]:
    return [
        TextDelta(text=text),
        Completion(
            text=text,
            tool_calls=(),
            finish_reason="stop",
            usage=Usage(input_tokens=9, output_tokens=3),
            provider="openai",
            model="scripted-model",
        ),
    ]


def update(value: Any, *, call_id: str = "call_1", **extra: Any) -> ToolCall:
    arguments = {"target_agent": "teacher", "trigger_type": "message_count", "value": value}
    return ToolCall(id=call_id, name="update_trigger", arguments={**arguments, **extra})


def runner(world: World, *, max_tool_steps: int = 4, **extra: Any) -> RunTurns:
    return RunTurns(
        uow=world.uow,
        clock=world.clock,
        ids=world.ids,
        call_model=CallModel(
            providers=ScriptedProviders(world.llm),
            secrets=FakeSecretBox(["k"]),
            policy=RetryPolicy(max_retries=0),
            jitter=lambda: 0.0,
        ),
        stream=world.stream,
        publisher=world.publisher,
        lease_seconds=15,
        llm_timeout=5,
        tools=TurnTools(uow=world.uow, clock=world.clock, ids=world.ids),
        max_tool_steps=max_tool_steps,
        **extra,
    )


async def tooled_world(**changes: Any) -> World:
    world = await make_world()
    config = replace(
        world.config, **{"tools": ("update_trigger",), "tool_bounds": BOUNDS, **changes}
    )
    async with world.uow() as uow:
        await uow.agent_configs.update(config)
        await uow.commit()
    world.config = config
    await world.say("@teacher please talk less often")
    return world


def stored_config(world: World) -> AgentConfig:
    config: AgentConfig = world.uow.store.agent_configs[world.config.id]
    return config


def tool_traces(world: World) -> list[AgentToolTrace]:
    return [
        call["event"]
        for call in world.stream.named("trace")
        if isinstance(call["event"], AgentToolTrace)
    ]


def fed_back(world: World, request: int) -> list[dict[str, Any]]:
    """The tool results the model was sent in its `request`-th call."""
    messages = world.llm.requests[request].messages
    return [json.loads(m.content) for m in messages if m.role == "tool"]


async def run(world: World, **options: Any) -> None:
    await runner(world, **options).execute(RunTurnsCommand(room_id=world.room.id))


async def test_a_valid_call_is_run_its_result_fed_back_and_the_final_text_posted() -> None:
    world = await tooled_world()
    revision = stored_config(world).revision
    world.llm.then(calls(update(5)), answer("Done: every 5 messages."))
    await run(world)

    [turn] = world.turns()
    assert turn.status is TurnStatus.SUCCEEDED
    [message] = world.agent_messages()
    assert message.content == "Done: every 5 messages."
    # offered the tool, then sent the assistant's call and the result
    first, second = world.llm.requests
    assert [tool.name for tool in first.tools] == ["update_trigger"]
    assistant, result = second.messages[-2:]
    assert (assistant.role, assistant.tool_calls) == ("assistant", (update(5),))
    assert (result.role, result.tool_call_id, result.name) == ("tool", "call_1", "update_trigger")
    assert json.loads(result.content) == {
        "ok": True,
        "target_agent": "teacher",
        "trigger": {"type": "message_count", "value": 5},
    }
    # the active configuration changed, with a version, a revision and an audit entry
    config = stored_config(world)
    assert config.trigger == Trigger(type=TriggerType.MESSAGE_COUNT, value=5)
    assert config.revision == revision + 1
    assert config.updated_at == world.clock.now()
    [version] = world.uow.store.agent_versions.values()
    assert version.config_id == config.id
    assert version.snapshot.trigger == config.trigger
    assert str(turn.id) in version.version_label
    [event] = [e for e in world.uow.store.audit if e.action == AUDIT_ACTION]
    assert event.details["turn_id"] == str(turn.id)
    assert event.details["after"] == {"type": "message_count", "value": 5}
    assert event.details["before"] == {"type": "mention", "value": None}
    # staff trace
    [trace] = tool_traces(world)
    assert (trace.tool, trace.turn_id, trace.room_id) == ("update_trigger", turn.id, world.room.id)
    assert trace.arguments == {
        "target_agent": "teacher",
        "trigger_type": "message_count",
        "value": 5,
    }
    assert trace.result["ok"] is True


async def test_invalid_arguments_get_an_error_result_the_model_corrects() -> None:
    world = await tooled_world()
    world.llm.then(
        calls(update("five")),
        calls(update(6, call_id="call_2", room="debate")),
        calls(update(6, call_id="call_3")),
        answer("Fixed."),
    )
    await run(world)

    assert [m.content for m in world.agent_messages()] == ["Fixed."]
    assert fed_back(world, 1)[-1] == {
        "ok": False,
        "error": "invalid arguments: value must be a number",
    }
    assert fed_back(world, 2)[-1] == {
        "ok": False,
        "error": "invalid arguments: unknown argument(s) room",
    }
    assert fed_back(world, 3)[-1]["ok"] is True
    assert stored_config(world).trigger == Trigger(type=TriggerType.MESSAGE_COUNT, value=6)
    assert len(world.uow.store.agent_versions) == 1  # only the valid call changed anything
    traces = tool_traces(world)
    assert [t.arguments is None for t in traces] == [True, True, False]


async def test_an_exhausted_loop_fails_the_turn_and_posts_nothing() -> None:
    world = await tooled_world()
    world.llm.then(*(calls(update(4 + n, call_id=f"c{n}")) for n in range(3)))
    await run(world, max_tool_steps=2)

    [turn] = world.turns()
    assert (turn.status, turn.error_code) == (TurnStatus.FAILED, "tool_loop_exhausted")
    assert world.agent_messages() == []
    assert world.publisher.messages == []
    assert len(world.llm.requests) == 3  # two rounds of tools, then one call too many
    assert world.llm.pending == 0
    [error] = [
        c["event"] for c in world.stream.named("trace") if isinstance(c["event"], AgentError)
    ]
    assert error.code == "tool_loop_exhausted"


async def test_a_value_out_of_the_staff_bounds_is_refused_with_the_bounds() -> None:
    world = await tooled_world()
    before = stored_config(world)
    world.llm.then(calls(update(50)), answer("I may not go that far."))
    await run(world)

    assert fed_back(world, 1) == [
        {"ok": False, "error": "out_of_bounds", "allowed": {"min": 3, "max": 20}}
    ]
    assert stored_config(world) == before  # no change, no revision
    assert world.uow.store.agent_versions == {}
    assert AUDIT_ACTION not in world.uow.store.actions()
    [trace] = tool_traces(world)
    assert trace.arguments == {
        "target_agent": "teacher",
        "trigger_type": "message_count",
        "value": 50,
    }
    assert [m.content for m in world.agent_messages()] == ["I may not go that far."]


async def test_without_staff_bounds_the_triggers_own_bounds_hold() -> None:
    world = await tooled_world(tool_bounds={})
    world.llm.then(calls(update(1001)), calls(update(1000, call_id="c2")), answer("ok"))
    await run(world)
    assert fed_back(world, 1)[-1]["allowed"] == {"min": 1, "max": 1000}
    assert stored_config(world).trigger == Trigger(type=TriggerType.MESSAGE_COUNT, value=1000)


async def test_a_configuration_without_the_tool_is_not_offered_it() -> None:
    world = await tooled_world(tools=())
    # a model that calls it anyway: nothing runs, its text is the reply
    world.llm.then(calls(update(5), text="Sure."))
    await run(world)

    [request] = world.llm.requests
    assert request.tools == ()
    assert stored_config(world).trigger == Trigger(type=TriggerType.MENTION)
    assert tool_traces(world) == []
    assert [m.content for m in world.agent_messages()] == ["Sure."]


async def test_an_unoffered_tool_name_is_an_error_result() -> None:
    world = await tooled_world()
    world.llm.then(
        calls(ToolCall(id="x", name="delete_course", arguments={})), answer("Never mind.")
    )
    await run(world)
    assert fed_back(world, 1) == [
        {"ok": False, "error": "unknown tool 'delete_course'; tools offered: update_trigger"}
    ]
    assert [m.content for m in world.agent_messages()] == ["Never mind."]


async def test_a_target_without_an_active_configuration_is_an_error_result() -> None:
    world = await tooled_world()
    world.llm.then(calls(update(5, target_agent="student")), answer("No peer here."))
    await run(world)
    assert fed_back(world, 1) == [{"ok": False, "error": "the course has no active student agent"}]
    assert world.uow.store.agent_versions == {}


async def test_text_streamed_before_a_tool_call_is_withdrawn() -> None:
    world = await tooled_world()
    world.llm.then(calls(update(5), text="Let me check"), answer("Done."))
    await run(world)

    [aborted] = world.stream.named("aborted")
    assert aborted["reason"] == "tool call"
    deltas = world.stream.named("delta")
    assert [d["text"] for d in deltas] == ["Let me check", "Done."]
    assert deltas[0]["message_id"] == aborted["message_id"]
    [message] = world.agent_messages()
    assert message.content == "Done."
    assert message.id == deltas[1]["message_id"] != aborted["message_id"]


async def test_a_turns_usage_sums_every_step_of_the_tool_loop() -> None:
    world = await tooled_world()
    ticks = iter([100.0, 100.25, 100.75])  # started, first streamed text, done
    world.llm.then(calls(update(5)), calls(update(6, call_id="call_2")), answer("Done."))
    await runner_with_clock(world, lambda: next(ticks)).execute(
        RunTurnsCommand(room_id=world.room.id)
    )

    [turn] = world.turns()
    assert turn.status is TurnStatus.SUCCEEDED
    # two tool-call steps (5 in, 2 out each) and the answer (9 in, 3 out): not the last alone
    assert (turn.tokens_in, turn.tokens_out) == (5 + 5 + 9, 2 + 2 + 3)
    assert (turn.latency_ms, turn.first_token_ms) == (750, 250)


async def test_a_turns_first_token_time_is_its_first_streamed_text_in_any_step() -> None:
    world = await tooled_world()
    ticks = iter([10.0, 10.1, 10.5])  # started, text streamed before the call, done
    world.llm.then(calls(update(5), text="Let me see"), answer("Done."))
    await runner_with_clock(world, lambda: next(ticks, 10.5)).execute(
        RunTurnsCommand(room_id=world.room.id)
    )

    [turn] = world.turns()
    assert (turn.tokens_in, turn.tokens_out) == (14, 5)
    assert (turn.latency_ms, turn.first_token_ms) == (500, 100)


def runner_with_clock(world: World, monotonic: Any) -> RunTurns:
    return runner(world, monotonic=monotonic)


async def test_a_turn_run_again_reuses_its_recorded_tool_call_instead_of_running_it_twice() -> None:
    world = await tooled_world()
    # The first run of the turn runs the tool (say it then lost its lease before storing
    # its reply, and was reclaimed and started again).
    world.llm.then(calls(update(5)), answer("Done."))
    await run(world)
    [turn] = world.turns()
    first_result = fed_back(world, 1)[-1]
    assert stored_config(world).trigger == Trigger(type=TriggerType.MESSAGE_COUNT, value=5)
    revision = stored_config(world).revision
    assert len(world.uow.store.agent_versions) == 1

    tools = TurnTools(uow=world.uow, clock=world.clock, ids=world.ids)
    world.clock.advance(seconds=30)
    # The rerun: the model asks for the same change under a fresh call id.
    again = await tools.run(
        update(5, call_id="call_rerun"),
        config=stored_config(world),
        course_id=world.room.course_id,
        turn_id=turn.id,
    )
    assert again.result == {
        "ok": True,
        "target_agent": "teacher",
        "trigger": {"type": "message_count", "value": 5},
    }
    assert again.result == first_result
    # nothing ran a second time: no version, no audit entry, no revision, no timestamp
    assert len(world.uow.store.agent_versions) == 1
    assert len([e for e in world.uow.store.audit if e.action == AUDIT_ACTION]) == 1
    assert stored_config(world).revision == revision
    assert stored_config(world).updated_at != world.clock.now()

    # Another value is another call, even in the same turn; another turn runs its own.
    other = await tools.run(
        update(7), config=stored_config(world), course_id=world.room.course_id, turn_id=turn.id
    )
    assert other.result["ok"] is True
    assert stored_config(world).trigger == Trigger(type=TriggerType.MESSAGE_COUNT, value=7)
    again_other_turn = await tools.run(
        update(5),
        config=stored_config(world),
        course_id=world.room.course_id,
        turn_id=world.ids.new_id(),
    )
    assert again_other_turn.result["ok"] is True
    assert len(world.uow.store.agent_versions) == 3
