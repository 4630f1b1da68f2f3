"""OfflineProvider: deterministic, labelled, streamed in several chunks, tool calls on cue."""

from contextlib import aclosing

import pytest

from coagent.adapters.llm.offline import OFFLINE_LABEL, OfflineProvider
from coagent.application.ports.llm import (
    ChatMessage,
    Completion,
    LLMRequest,
    StreamEvent,
    TextDelta,
    ToolSpec,
)

pytestmark = pytest.mark.anyio

TOOL = ToolSpec(
    name="update_trigger",
    description="Change when the agent speaks",
    parameters={
        "type": "object",
        "properties": {
            "target_agent": {"type": "string", "enum": ["teacher", "student"]},
            "trigger_type": {"type": "string", "default": "silence"},
            "value": {"type": "number", "minimum": 10},
            "note": {"type": "string"},
        },
        "required": ["target_agent", "trigger_type", "value"],
    },
)


def request(*messages: ChatMessage, tools: tuple[ToolSpec, ...] = ()) -> LLMRequest:
    return LLMRequest(model="offline-demo", messages=messages, tools=tools)


def user(text: str, name: str | None = None) -> ChatMessage:
    return ChatMessage(role="user", content=text, name=name)


async def events_of(req: LLMRequest) -> list[StreamEvent]:
    async with aclosing(OfflineProvider().stream(req)) as stream:
        return [event async for event in stream]


async def test_the_reply_is_labelled_and_derived_from_the_conversation() -> None:
    result = await OfflineProvider().complete(request(user("What is photosynthesis?", "Bo")))

    assert result.text.startswith(OFFLINE_LABEL)
    assert "Bo," in result.text
    assert "What is photosynthesis?" in result.text
    assert (result.provider, result.model, result.finish_reason) == (
        "offline",
        "offline-demo",
        "stop",
    )
    assert result.usage is not None
    assert result.usage.output_tokens == len(result.text.split())


async def test_the_same_conversation_gives_the_same_reply_and_another_a_different_one() -> None:
    provider = OfflineProvider()
    first = await provider.complete(request(user("hello")))
    again = await provider.complete(request(user("hello")))
    other = await provider.complete(request(user("goodbye")))

    assert first == again
    assert first.text != other.text


async def test_a_stream_comes_in_several_chunks_that_add_up() -> None:
    events = await events_of(request(user("Tell me something about cells, please")))

    *deltas, final = events
    assert len(deltas) > 3
    assert all(isinstance(d, TextDelta) for d in deltas)
    assert isinstance(final, Completion)
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == final.text


async def test_a_named_tool_is_called_with_arguments_from_its_schema() -> None:
    result = await OfflineProvider().complete(
        request(user("please update_trigger now"), tools=(TOOL,))
    )

    assert result.text == ""
    assert result.finish_reason == "tool_calls"
    (call,) = result.tool_calls
    assert call.name == "update_trigger"
    assert dict(call.arguments) == {
        "target_agent": "teacher",
        "trigger_type": "silence",
        "value": 10,
    }


async def test_tools_not_named_are_not_called_and_a_tool_result_is_acknowledged() -> None:
    plain = await OfflineProvider().complete(request(user("hello"), tools=(TOOL,)))
    after_tool = await OfflineProvider().complete(
        request(
            user("update_trigger"),
            ChatMessage(role="tool", content="trigger updated", tool_call_id="offline_x"),
            tools=(TOOL,),
        )
    )

    assert plain.tool_calls == ()
    assert after_tool.tool_calls == ()
    assert after_tool.text == f"{OFFLINE_LABEL} The tool answered: trigger updated"


async def test_an_empty_conversation_still_answers() -> None:
    result = await OfflineProvider().complete(request())

    assert result.text.startswith(OFFLINE_LABEL)
