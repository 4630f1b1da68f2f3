"""The openai adapter with the real OpenAI SDK against a local fake server."""

import logging
import traceback
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from coagent.adapters.llm.endpoints import LOOPBACK, EndpointGuard
from coagent.adapters.llm.registry import ProviderRegistry
from coagent.application.llm.call_model import CallModel, ModelChoice, RetryPolicy
from coagent.application.ports.llm import (
    ChatMessage,
    Completion,
    LLMProvider,
    LLMRequest,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from tests.fakes.security import FakeSecretBox
from tests.integration.fake_llm_server import (
    FakeLLMServer,
    Reply,
    openai_chunks,
    openai_completion,
    openai_error,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

KEY = "sk-test-9f8e7d6c5b4a-DO-NOT-LEAK"
TOOL = ToolSpec(
    name="update_trigger",
    description="Change when the agent speaks",
    parameters={
        "type": "object",
        "properties": {"value": {"type": "integer"}},
        "required": ["value"],
    },
)
REQUEST = LLMRequest(
    model="gpt-fake",
    messages=(
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Hi there", name="Alice"),
    ),
    max_tokens=50,
    timeout=2.0,
)


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
async def registry() -> AsyncIterator[ProviderRegistry]:
    # The fake server listens on 127.0.0.1: allowed, as in the embedded default.
    providers = ProviderRegistry(max_clients=4, guard=EndpointGuard(LOOPBACK))
    yield providers
    await providers.aclose()


def openai(registry: ProviderRegistry, server: FakeLLMServer, key: str = KEY) -> LLMProvider:
    return registry.get(provider="openai", api_key=key, base_url=f"{server.url}/v1")


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    async with aclosing(stream) as events:  # type: ignore[type-var]
        return [event async for event in events]


def call_model(registry: ProviderRegistry, box: FakeSecretBox) -> CallModel:
    return CallModel(
        providers=registry,
        secrets=box,
        policy=RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05),
    )


def assert_no_key(error: BaseException, key: str = KEY) -> None:
    text = "".join(traceback.format_exception(error)) + repr(error) + str(error)
    assert key not in text
    assert "DO-NOT-LEAK" not in text


async def test_complete_sends_the_conversation_and_reads_the_answer(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(json=openai_completion("Hello Alice", usage=(11, 2))))

    result = await openai(registry, server).complete(REQUEST)

    assert result == Completion(
        text="Hello Alice",
        tool_calls=(),
        finish_reason="stop",
        usage=Usage(input_tokens=11, output_tokens=2),
        provider="openai",
        model="gpt-fake",
    )
    (seen,) = server.seen
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.body["model"] == "gpt-fake"
    assert seen.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi there", "name": "Alice"},
    ]
    # A compatible server (base_url set) gets max_tokens; unset temperature is not sent.
    assert seen.body["max_tokens"] == 50
    assert "temperature" not in seen.body
    assert "stream" not in seen.body or seen.body["stream"] is False


HISTORY = LLMRequest(
    model="gpt-fake",
    messages=(
        ChatMessage(role="system", content='Be brief. Caf\u00e9 \u2014 "quoted"'),
        ChatMessage(role="user", content="Hi there", name="Alice"),
        ChatMessage(role="user", content="And me", name="Bob Smith"),  # not a valid name
        ChatMessage(role="assistant", content="Hello!"),
        ChatMessage(
            role="assistant",
            content="",
            tool_calls=(ToolCall(id="call_a", name="update_trigger", arguments={"value": 30}),),
        ),
        ChatMessage(role="tool", content="ok", tool_call_id="call_a"),
    ),
    tools=(TOOL,),
    max_tokens=300,
    temperature=0.7,
    timeout=7.5,
)
HISTORY_MESSAGES = (
    '[{"role":"system","content":"Be brief. Caf\u00e9 \u2014 \\"quoted\\""},'
    '{"role":"user","content":"Hi there","name":"Alice"},'
    '{"role":"user","content":"And me"},'
    '{"role":"assistant","content":"Hello!"},'
    '{"role":"assistant","content":"","tool_calls":[{"id":"call_a","type":"function",'
    '"function":{"name":"update_trigger","arguments":"{\\"value\\": 30}"}}]},'
    '{"role":"tool","content":"ok","tool_call_id":"call_a"}]'
)
HISTORY_TOOLS = (
    '[{"type":"function","function":{"name":"update_trigger",'
    '"description":"Change when the agent speaks","parameters":{"type":"object",'
    '"properties":{"value":{"type":"integer"}},"required":["value"]}}}]'
)


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_the_request_is_exactly_what_the_sdk_create_sends(
    server: FakeLLMServer, registry: ProviderRegistry, streaming: bool
) -> None:
    # The adapter posts a plain JSON body (not through `create`, whose typed transform costs
    # CPU per message): the same bytes, key order and headers as `create` sent.
    provider = openai(registry, server)
    if streaming:
        server.then(Reply(sse=openai_chunks(["ok"])))
        await collect(provider.stream(HISTORY))
    else:
        server.then(Reply(json=openai_completion("ok")))
        await provider.complete(HISTORY)

    (seen,) = server.seen
    options = '"stream_options":{"include_usage":true},' if streaming else ""
    assert seen.raw.decode() == (
        f'{{"model":"gpt-fake","stream":{"true" if streaming else "false"},'
        f'"messages":{HISTORY_MESSAGES},"max_tokens":300,{options}'
        f'"temperature":0.7,"tools":{HISTORY_TOOLS}}}'
    )
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["x-stainless-retry-count"] == "0"
    # The timeout is the request's, in the options, not in the body.
    assert seen.headers["x-stainless-read-timeout"] == "7.5"


async def test_base_url_with_a_path_prefix_is_honoured(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(json=openai_completion()))
    provider = registry.get(provider="openai", api_key=KEY, base_url=f"{server.url}/gateway/v1")

    await provider.complete(REQUEST)

    assert server.seen[0].path == "/gateway/v1/chat/completions"


async def test_a_local_server_needs_no_key(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(json=openai_completion("local")))
    provider = registry.get(provider="openai", api_key=None, base_url=f"{server.url}/v1")

    assert (await provider.complete(REQUEST)).text == "local"


async def test_stream_yields_chunks_in_order_then_usage(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(sse=openai_chunks(["Hel", "lo", " Alice"], usage=(9, 3))))

    events = await collect(openai(registry, server).stream(REQUEST))

    assert events[:-1] == [TextDelta(text="Hel"), TextDelta(text="lo"), TextDelta(text=" Alice")]
    final = events[-1]
    assert isinstance(final, Completion)
    assert (final.text, final.finish_reason) == ("Hello Alice", "stop")
    assert final.usage == Usage(input_tokens=9, output_tokens=3)
    body = server.seen[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_tool_calls_are_parsed_and_tools_sent(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(
        Reply(
            json=openai_completion(
                None,
                tool_calls=[("call_a", "update_trigger", '{"value": 30}')],
                finish="tool_calls",
            )
        )
    )
    request = LLMRequest(model="gpt-fake", messages=REQUEST.messages, tools=(TOOL,))

    result = await openai(registry, server).complete(request)

    assert result.text == ""
    assert result.tool_calls == (
        ToolCall(id="call_a", name="update_trigger", arguments={"value": 30}),
    )
    assert result.finish_reason == "tool_calls"
    assert server.seen[0].body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "update_trigger",
                "description": "Change when the agent speaks",
                "parameters": dict(TOOL.parameters),
            },
        }
    ]


async def test_streamed_tool_calls_are_assembled_from_fragments(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    fragments = [
        (0, "call_a", "update_trigger", ""),
        (0, None, None, '{"val'),
        (0, None, None, 'ue": 45}'),
        (1, "call_b", "update_trigger", '{"value": 1}'),
    ]
    server.then(Reply(sse=openai_chunks([], tool_calls=fragments, finish="tool_calls")))
    request = LLMRequest(model="gpt-fake", messages=REQUEST.messages, tools=(TOOL,))

    events = await collect(openai(registry, server).stream(request))

    (final,) = events
    assert isinstance(final, Completion)
    assert final.tool_calls == (
        ToolCall(id="call_a", name="update_trigger", arguments={"value": 45}),
        ToolCall(id="call_b", name="update_trigger", arguments={"value": 1}),
    )


async def test_a_tool_loop_turn_is_sent_back_in_openai_shape(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(json=openai_completion("done")))
    call = ToolCall(id="call_a", name="update_trigger", arguments={"value": 30})
    request = LLMRequest(
        model="gpt-fake",
        messages=(
            *REQUEST.messages,
            ChatMessage(role="assistant", content="", tool_calls=(call,)),
            ChatMessage(role="tool", content="ok", tool_call_id="call_a"),
        ),
        tools=(TOOL,),
    )

    await openai(registry, server).complete(request)

    sent = server.seen[0].body["messages"]
    assert sent[2]["tool_calls"] == [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "update_trigger", "arguments": '{"value": 30}'},
        }
    ]
    assert sent[3] == {"role": "tool", "content": "ok", "tool_call_id": "call_a"}


async def test_malformed_tool_arguments_are_a_provider_error(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(json=openai_completion(None, tool_calls=[("c", "update_trigger", "{oops")])))

    with pytest.raises(ProviderUnavailable, match="malformed"):
        await openai(registry, server).complete(REQUEST)


@pytest.mark.parametrize("status", [401, 403])
async def test_a_rejected_key_is_an_auth_error_without_the_key(
    server: FakeLLMServer, registry: ProviderRegistry, status: int
) -> None:
    server.then(openai_error(status, f"Incorrect API key provided: {KEY}", "invalid_api_key"))

    with pytest.raises(ProviderAuthError) as caught:
        await openai(registry, server).complete(REQUEST)

    assert caught.value.detail == f"openai rejected the API key (HTTP {status})"
    assert_no_key(caught.value)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ProviderBadRequest),
        (404, ProviderBadRequest),
        (422, ProviderBadRequest),
        (500, ProviderUnavailable),
        (502, ProviderUnavailable),
        (503, ProviderUnavailable),
    ],
)
async def test_status_codes_map_to_typed_errors(
    server: FakeLLMServer, registry: ProviderRegistry, status: int, error: type[ProviderError]
) -> None:
    server.then(openai_error(status, f"echo {KEY}"))

    with pytest.raises(error) as caught:
        await openai(registry, server).complete(REQUEST)
    assert_no_key(caught.value)


async def test_a_stream_refused_up_front_raises_the_typed_error(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(openai_error(503, "overloaded"))

    with pytest.raises(ProviderUnavailable):
        await collect(openai(registry, server).stream(REQUEST))


async def test_a_persistent_429_is_rate_limited_with_retry_after(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    limited = openai_error(429, "slow down", "rate_limit_exceeded")
    limited.headers["retry-after"] = "0.02"
    server.default = limited
    box = FakeSecretBox(["server-key"])

    with pytest.raises(ProviderRateLimited) as caught:
        await call_model(registry, box).complete(
            ModelChoice(provider="openai", model="gpt-fake", base_url=f"{server.url}/v1"),
            [box.encrypt(KEY)],
            REQUEST,
        )

    assert caught.value.retry_after == pytest.approx(0.02)
    assert len(server.seen) == 3  # the first attempt and two retries


async def test_429_is_retried_then_succeeds_streaming(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(
        openai_error(429, "slow down", "rate_limit_exceeded"),
        Reply(sse=openai_chunks(["ok"])),
    )
    box = FakeSecretBox(["server-key"])
    choice = ModelChoice(provider="openai", model="gpt-fake", base_url=f"{server.url}/v1")

    events = await collect(call_model(registry, box).stream(choice, [box.encrypt(KEY)], REQUEST))

    assert [type(e) for e in events] == [TextDelta, Completion]
    assert len(server.seen) == 2


async def test_a_rejected_key_falls_back_to_the_next_key(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(openai_error(401, "bad key"), Reply(json=openai_completion("backup")))
    box = FakeSecretBox(["server-key"])
    choice = ModelChoice(provider="openai", model="gpt-fake", base_url=f"{server.url}/v1")

    result = await call_model(registry, box).complete(
        choice, [box.encrypt("sk-revoked"), box.encrypt(KEY)], REQUEST
    )

    assert result.text == "backup"
    assert [s.headers["authorization"] for s in server.seen] == [
        "Bearer sk-revoked",
        f"Bearer {KEY}",
    ]


async def test_a_slow_answer_times_out(server: FakeLLMServer, registry: ProviderRegistry) -> None:
    server.then(Reply(json=openai_completion(), delay=1.0))
    quick = LLMRequest(model="gpt-fake", messages=REQUEST.messages, timeout=0.2)

    with pytest.raises(ProviderTimeout):
        await openai(registry, server).complete(quick)


async def test_a_slow_stream_start_times_out(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(sse=openai_chunks(["a"]), delay=1.0))
    quick = LLMRequest(model="gpt-fake", messages=REQUEST.messages, timeout=0.2)

    with pytest.raises(ProviderTimeout):
        await collect(openai(registry, server).stream(quick))


async def test_a_stalled_stream_times_out(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(sse=openai_chunks(["a", "b"]), gap=1.0))
    quick = LLMRequest(model="gpt-fake", messages=REQUEST.messages, timeout=0.2)
    seen: list[StreamEvent] = []

    with pytest.raises(ProviderTimeout):
        await drain(openai(registry, server).stream(quick), seen)
    assert seen == []  # the role chunk carries no text; the next one never came in time


async def test_an_unreachable_server_is_unavailable(registry: ProviderRegistry) -> None:
    provider = registry.get(provider="openai", api_key=KEY, base_url="http://127.0.0.1:9/v1")

    with pytest.raises(ProviderUnavailable):
        await provider.complete(REQUEST)


async def test_the_key_never_reaches_a_log_record(
    server: FakeLLMServer, registry: ProviderRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    server.then(
        openai_error(401, f"Incorrect API key provided: {KEY}"),
        openai_error(429, f"{KEY} is rate limited"),
        Reply(sse=openai_chunks(["fine"])),
    )
    box = FakeSecretBox(["server-key"])
    choice = ModelChoice(provider="openai", model="gpt-fake", base_url=f"{server.url}/v1")
    call = call_model(registry, box)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ProviderAuthError) as caught:
        await call.complete(choice, [box.encrypt(KEY)], REQUEST)
    await collect(call.stream(choice, [box.encrypt(KEY)], REQUEST))

    assert_no_key(caught.value)
    assert caplog.records, "expected the SDK and CallModel to log at DEBUG"
    for record in caplog.records:
        formatted = logging.Formatter().format(record) + repr(record.__dict__)
        assert "DO-NOT-LEAK" not in formatted, record.name


async def drain(stream: AsyncIterator[StreamEvent], seen: list[StreamEvent]) -> None:
    async with aclosing(stream) as events:  # type: ignore[type-var]
        async for event in events:
            seen.append(event)  # noqa: PERF401  # one by one: a failure keeps what came first


HTML = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
MALFORMED_BODIES = [
    Reply(text=HTML),  # an HTML error page, answered with 200
    Reply(text=HTML, content_type="application/json"),  # claims JSON, is not
    Reply(text='{"truncated": ', content_type="application/json"),
    Reply(json=[1, 2]),  # JSON, but not an object
    Reply(text='{"choices": 3}', content_type="application/json"),  # an object of another shape
]
BODY_IDS = ["html", "html-as-json", "truncated", "array", "wrong-shape"]


@pytest.mark.parametrize("reply", MALFORMED_BODIES, ids=BODY_IDS)
async def test_a_body_that_is_not_an_api_response_is_a_bad_response(
    server: FakeLLMServer, registry: ProviderRegistry, reply: Reply
) -> None:
    server.then(reply)

    with pytest.raises(ProviderBadResponse, match="openai") as caught:
        await openai(registry, server).complete(REQUEST)
    assert "502 Bad Gateway" not in str(caught.value)  # never the body itself
    assert_no_key(caught.value)


@pytest.mark.parametrize("reply", MALFORMED_BODIES, ids=BODY_IDS)
async def test_a_stream_that_is_not_an_event_stream_is_a_bad_response(
    server: FakeLLMServer, registry: ProviderRegistry, reply: Reply
) -> None:
    server.then(reply)

    with pytest.raises(ProviderBadResponse, match="openai") as caught:
        await collect(openai(registry, server).stream(REQUEST))
    assert "502 Bad Gateway" not in str(caught.value)
    assert_no_key(caught.value)


async def test_a_malformed_event_is_a_bad_response(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(sse=["{not json"]))

    with pytest.raises(ProviderBadResponse):
        await collect(openai(registry, server).stream(REQUEST))


async def test_a_bad_response_is_not_retried_and_the_provider_still_works(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    box = FakeSecretBox(["server-key"])
    calls = call_model(registry, box)
    keys = [box.encrypt(KEY)]
    server.then(Reply(text=HTML))

    with pytest.raises(ProviderBadResponse):
        await calls.complete(
            ModelChoice(provider="openai", model="gpt-fake", base_url=f"{server.url}/v1"),
            keys,
            REQUEST,
        )
    assert len(server.seen) == 1

    server.then(Reply(sse=openai_chunks(("ok",))))
    events = await collect(
        calls.stream(
            ModelChoice(provider="openai", model="gpt-fake", base_url=f"{server.url}/v1"),
            keys,
            REQUEST,
        )
    )
    assert isinstance(events[-1], Completion)
    assert events[-1].text == "ok"
