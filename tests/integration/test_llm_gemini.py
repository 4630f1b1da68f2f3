"""The gemini adapter with the real google-genai SDK against a local fake server."""

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
    gemini_chunks,
    gemini_error,
    gemini_response,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

KEY = "AIza-test-1234567890-DO-NOT-LEAK"
MODEL = "gemini-fake"
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
    model=MODEL,
    messages=(
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Hi there", name="Alice"),
    ),
    max_tokens=50,
    timeout=2.0,
)
RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.02s"}


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


def gemini(registry: ProviderRegistry, server: FakeLLMServer, key: str = KEY) -> LLMProvider:
    return registry.get(provider="gemini", api_key=key, base_url=server.url)


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    async with aclosing(stream) as events:  # type: ignore[type-var]
        return [event async for event in events]


def call_model(registry: ProviderRegistry, box: FakeSecretBox) -> CallModel:
    return CallModel(
        providers=registry,
        secrets=box,
        policy=RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05),
    )


def choice(server: FakeLLMServer) -> ModelChoice:
    return ModelChoice(provider="gemini", model=MODEL, base_url=server.url)


def assert_no_key(error: BaseException) -> None:
    text = "".join(traceback.format_exception(error)) + repr(error) + str(error)
    assert "DO-NOT-LEAK" not in text


async def test_complete_sends_system_instruction_and_contents(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(json=gemini_response("Hello Alice", usage=(11, 2))))

    result = await gemini(registry, server).complete(REQUEST)

    assert result == Completion(
        text="Hello Alice",
        tool_calls=(),
        finish_reason="STOP",
        usage=Usage(input_tokens=11, output_tokens=2),
        provider="gemini",
        model="gemini-fake",
    )
    (seen,) = server.seen
    assert (seen.method, seen.path) == ("POST", f"/v1/models/{MODEL}:generateContent")
    assert seen.headers["x-goog-api-key"] == KEY
    assert seen.body["contents"] == [{"role": "user", "parts": [{"text": "Hi there"}]}]
    assert seen.body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert seen.body["generationConfig"]["maxOutputTokens"] == 50


async def test_base_url_with_a_path_prefix_is_honoured(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(json=gemini_response()))
    provider = registry.get(provider="gemini", api_key=KEY, base_url=f"{server.url}/proxy/")

    await provider.complete(REQUEST)

    assert server.seen[0].path == f"/proxy/v1/models/{MODEL}:generateContent"


async def test_stream_yields_chunks_in_order_then_usage(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(sse=gemini_chunks(["Hel", "lo", " Alice"], usage=(9, 3))))

    events = await collect(gemini(registry, server).stream(REQUEST))

    assert events[:-1] == [TextDelta(text="Hel"), TextDelta(text="lo"), TextDelta(text=" Alice")]
    final = events[-1]
    assert isinstance(final, Completion)
    assert (final.text, final.finish_reason) == ("Hello Alice", "STOP")
    assert final.usage == Usage(input_tokens=9, output_tokens=3)
    seen = server.seen[0]
    assert seen.path == f"/v1/models/{MODEL}:streamGenerateContent"
    assert seen.query == {"alt": ["sse"]}


async def test_function_calls_are_parsed_and_declarations_sent(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(json=gemini_response(None, calls=[("update_trigger", {"value": 30})])))
    request = LLMRequest(model=MODEL, messages=REQUEST.messages, tools=(TOOL,))

    result = await gemini(registry, server).complete(request)

    assert result.tool_calls == (
        ToolCall(id="call_0_update_trigger", name="update_trigger", arguments={"value": 30}),
    )
    (declaration,) = server.seen[0].body["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "update_trigger"
    # The SDK sends this one field in snake case; the API's JSON parser accepts both.
    schema = declaration.get("parametersJsonSchema") or declaration["parameters_json_schema"]
    assert schema == dict(TOOL.parameters)


async def test_streamed_function_calls_arrive_in_the_completion(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    frames = gemini_chunks(["Let me change that."], calls=[("update_trigger", {"value": 45})])
    server.then(Reply(sse=frames))
    request = LLMRequest(model=MODEL, messages=REQUEST.messages, tools=(TOOL,))

    events = await collect(gemini(registry, server).stream(request))

    assert events[0] == TextDelta(text="Let me change that.")
    final = events[-1]
    assert isinstance(final, Completion)
    assert [(c.name, dict(c.arguments)) for c in final.tool_calls] == [
        ("update_trigger", {"value": 45})
    ]


async def test_a_tool_loop_turn_is_sent_back_as_function_parts(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(json=gemini_response("done")))
    call = ToolCall(id="call_0_update_trigger", name="update_trigger", arguments={"value": 30})
    request = LLMRequest(
        model=MODEL,
        messages=(
            *REQUEST.messages,
            ChatMessage(role="assistant", content="", tool_calls=(call,)),
            ChatMessage(role="tool", content="ok", tool_call_id=call.id),
        ),
    )

    await gemini(registry, server).complete(request)

    contents = server.seen[0].body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0]["functionCall"]["name"] == "update_trigger"
    response = contents[2]["parts"][0]["functionResponse"]
    assert (response["name"], response["response"]) == ("update_trigger", {"result": "ok"})


@pytest.mark.parametrize(
    "reply",
    [
        gemini_error(401, "unauthenticated", "UNAUTHENTICATED"),
        gemini_error(403, f"key {KEY} has no access", "PERMISSION_DENIED"),
        gemini_error(
            400,
            f"API key not valid: {KEY}",
            "INVALID_ARGUMENT",
            [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        ),
    ],
    ids=["401", "403", "400-api-key-invalid"],
)
async def test_a_rejected_key_is_an_auth_error_without_the_key(
    server: FakeLLMServer, registry: ProviderRegistry, reply: Reply
) -> None:
    server.then(reply)

    with pytest.raises(ProviderAuthError) as caught:
        await gemini(registry, server).complete(REQUEST)
    assert_no_key(caught.value)


@pytest.mark.parametrize(
    ("status", "state", "error"),
    [
        (400, "INVALID_ARGUMENT", ProviderBadRequest),
        (404, "NOT_FOUND", ProviderBadRequest),
        (500, "INTERNAL", ProviderUnavailable),
        (503, "UNAVAILABLE", ProviderUnavailable),
        (504, "DEADLINE_EXCEEDED", ProviderTimeout),
    ],
)
async def test_status_codes_map_to_typed_errors(
    server: FakeLLMServer,
    registry: ProviderRegistry,
    status: int,
    state: str,
    error: type[ProviderError],
) -> None:
    server.then(gemini_error(status, f"echo {KEY}", state))

    with pytest.raises(error) as caught:
        await gemini(registry, server).complete(REQUEST)
    assert_no_key(caught.value)


async def test_a_stream_refused_up_front_raises_the_typed_error(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(gemini_error(503, "overloaded", "UNAVAILABLE"))

    with pytest.raises(ProviderUnavailable):
        await collect(gemini(registry, server).stream(REQUEST))


async def test_a_persistent_429_is_rate_limited_with_the_retry_delay(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.default = gemini_error(429, "quota", "RESOURCE_EXHAUSTED", [RETRY_INFO])
    box = FakeSecretBox(["server-key"])

    with pytest.raises(ProviderRateLimited) as caught:
        await call_model(registry, box).complete(choice(server), [box.encrypt(KEY)], REQUEST)

    assert caught.value.retry_after == pytest.approx(0.02)
    assert len(server.seen) == 3


async def test_429_is_retried_then_succeeds_streaming(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(
        gemini_error(429, "quota", "RESOURCE_EXHAUSTED", [RETRY_INFO]),
        Reply(sse=gemini_chunks(["ok"])),
    )
    box = FakeSecretBox(["server-key"])

    events = await collect(
        call_model(registry, box).stream(choice(server), [box.encrypt(KEY)], REQUEST)
    )

    assert [type(e) for e in events] == [TextDelta, Completion]
    assert len(server.seen) == 2


async def test_a_rejected_key_falls_back_to_the_next_key(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(gemini_error(401, "bad", "UNAUTHENTICATED"), Reply(json=gemini_response("ok")))
    box = FakeSecretBox(["server-key"])

    result = await call_model(registry, box).complete(
        choice(server), [box.encrypt("AIza-revoked"), box.encrypt(KEY)], REQUEST
    )

    assert result.text == "ok"
    assert [s.headers["x-goog-api-key"] for s in server.seen] == ["AIza-revoked", KEY]


async def test_a_slow_answer_times_out(server: FakeLLMServer, registry: ProviderRegistry) -> None:
    server.then(Reply(json=gemini_response(), delay=1.0))
    quick = LLMRequest(model=MODEL, messages=REQUEST.messages, timeout=0.2)

    with pytest.raises(ProviderTimeout):
        await gemini(registry, server).complete(quick)


async def test_a_stalled_stream_times_out(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(sse=gemini_chunks(["a", "b"]), gap=1.0))
    quick = LLMRequest(model=MODEL, messages=REQUEST.messages, timeout=0.2)
    seen: list[StreamEvent] = []

    with pytest.raises(ProviderTimeout):
        await drain(gemini(registry, server).stream(quick), seen)
    assert seen == [TextDelta(text="a")]


async def test_an_unreachable_server_is_unavailable(registry: ProviderRegistry) -> None:
    provider = registry.get(provider="gemini", api_key=KEY, base_url="http://127.0.0.1:9")

    with pytest.raises(ProviderUnavailable):
        await provider.complete(REQUEST)


async def test_the_key_never_reaches_a_log_record(
    server: FakeLLMServer, registry: ProviderRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    server.then(
        gemini_error(401, f"bad key {KEY}", "UNAUTHENTICATED"),
        gemini_error(429, f"{KEY} quota", "RESOURCE_EXHAUSTED", [RETRY_INFO]),
        Reply(sse=gemini_chunks(["fine"])),
    )
    box = FakeSecretBox(["server-key"])
    call = call_model(registry, box)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ProviderAuthError) as caught:
        await call.complete(choice(server), [box.encrypt(KEY)], REQUEST)
    await collect(call.stream(choice(server), [box.encrypt(KEY)], REQUEST))

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
    Reply(
        text='{"candidates": null, "unexpected": 1}', content_type="application/json"
    ),  # an object of another shape
]
BODY_IDS = ["html", "html-as-json", "truncated", "array", "wrong-shape"]


@pytest.mark.parametrize("reply", MALFORMED_BODIES, ids=BODY_IDS)
async def test_a_body_that_is_not_an_api_response_is_a_bad_response(
    server: FakeLLMServer, registry: ProviderRegistry, reply: Reply
) -> None:
    server.then(reply)

    with pytest.raises(ProviderBadResponse, match="gemini") as caught:
        await gemini(registry, server).complete(REQUEST)
    assert "502 Bad Gateway" not in str(caught.value)  # never the body itself
    assert_no_key(caught.value)


@pytest.mark.parametrize("reply", MALFORMED_BODIES, ids=BODY_IDS)
async def test_a_stream_that_is_not_an_event_stream_is_a_bad_response(
    server: FakeLLMServer, registry: ProviderRegistry, reply: Reply
) -> None:
    server.then(reply)

    with pytest.raises(ProviderBadResponse, match="gemini") as caught:
        await collect(gemini(registry, server).stream(REQUEST))
    assert "502 Bad Gateway" not in str(caught.value)
    assert_no_key(caught.value)


async def test_a_malformed_event_is_a_bad_response(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    server.then(Reply(sse=["{not json"]))

    with pytest.raises(ProviderBadResponse):
        await collect(gemini(registry, server).stream(REQUEST))


async def test_a_bad_response_is_not_retried_and_the_provider_still_works(
    server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    box = FakeSecretBox(["server-key"])
    calls = call_model(registry, box)
    keys = [box.encrypt(KEY)]
    server.then(Reply(text=HTML))

    with pytest.raises(ProviderBadResponse):
        await calls.complete(choice(server), keys, REQUEST)
    assert len(server.seen) == 1

    server.then(Reply(sse=gemini_chunks(("ok",))))
    events = await collect(calls.stream(choice(server), keys, REQUEST))
    assert isinstance(events[-1], Completion)
    assert events[-1].text == "ok"
