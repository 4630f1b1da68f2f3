"""The endpoint guard on real connections: the OpenAI and google-genai SDKs against the local
fake server, with the guard refusing or allowing 127.0.0.1, and a scripted resolver standing
in for a DNS server that rebinds a public-looking name to it.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing

import pytest

from coagent.adapters.llm.endpoints import EndpointGuard
from coagent.adapters.llm.registry import ProviderRegistry
from coagent.application.llm.call_model import CallModel, ModelChoice, RetryPolicy
from coagent.application.ports.llm import (
    ChatMessage,
    Completion,
    LLMProvider,
    LLMRequest,
    ProviderEndpointRefused,
    StreamEvent,
)
from tests.fakes.security import FakeSecretBox
from tests.integration.fake_llm_server import (
    FakeLLMServer,
    Reply,
    Seen,
    gemini_chunks,
    gemini_response,
    openai_chunks,
    openai_completion,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

KEY = "sk-endpoint-test-DO-NOT-LEAK-0000"
REQUEST = LLMRequest(
    model="m", messages=(ChatMessage(role="user", content="Hi"),), max_tokens=20, timeout=5.0
)
REBOUND = "llm.example.test"  # looks public; the scripted DNS answers 127.0.0.1


class Resolver:
    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        return self.answers[host]


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    def answer(seen: Seen) -> Reply:
        if "generateContent" in seen.path or "streamGenerateContent" in seen.path:
            if "stream" in seen.path.lower():
                return Reply(sse=gemini_chunks(("fine",)))
            return Reply(json=gemini_response("fine"))
        if seen.body and seen.body.get("stream"):
            return Reply(sse=openai_chunks(("fine",)))
        return Reply(json=openai_completion("fine"))

    async with FakeLLMServer(default=answer) as fake:
        yield fake


def _port(server: FakeLLMServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _base_url(provider: str, host: str, port: int) -> str:
    return f"http://{host}:{port}" + ("/v1" if provider == "openai" else "")


async def _call(provider: LLMProvider, streaming: bool) -> Completion:
    if not streaming:
        return await provider.complete(REQUEST)
    events: list[StreamEvent] = []
    async with aclosing(provider.stream(REQUEST)) as stream:
        events = [event async for event in stream]
    last = events[-1]
    assert isinstance(last, Completion)
    return last


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_loopback_is_refused_before_anything_is_sent(
    server: FakeLLMServer, provider: str, streaming: bool
) -> None:
    registry = ProviderRegistry(guard=EndpointGuard())  # the server default: nothing allowed
    try:
        client = registry.get(
            provider=provider, api_key=KEY, base_url=_base_url(provider, "127.0.0.1", _port(server))
        )
        with pytest.raises(ProviderEndpointRefused, match="LLM_ALLOWED_HOSTS") as caught:
            await _call(client, streaming)
    finally:
        await registry.aclose()
    assert server.seen == []  # not one byte, so never the key
    assert "DO-NOT-LEAK" not in repr(caught.value) + str(caught.value)


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_a_name_rebound_to_loopback_is_refused_at_the_connection(
    server: FakeLLMServer, provider: str, streaming: bool
) -> None:
    dns = Resolver({REBOUND: ["127.0.0.1"]})
    guard = EndpointGuard(resolve=dns)
    base_url = _base_url(provider, REBOUND, _port(server))
    guard.check_base_url(base_url)  # the text passes: only the resolved address tells
    registry = ProviderRegistry(guard=guard)
    try:
        client = registry.get(provider=provider, api_key=KEY, base_url=base_url)
        with pytest.raises(ProviderEndpointRefused):
            await _call(client, streaming)
    finally:
        await registry.aclose()
    assert server.seen == []
    assert dns.asked == [REBOUND]


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_an_allowed_range_connects_to_the_address_it_checked(
    server: FakeLLMServer, provider: str, streaming: bool
) -> None:
    dns = Resolver({REBOUND: ["127.0.0.1"]})
    registry = ProviderRegistry(guard=EndpointGuard(["127.0.0.0/8"], resolve=dns))
    try:
        client = registry.get(
            provider=provider, api_key=KEY, base_url=_base_url(provider, REBOUND, _port(server))
        )
        completion = await _call(client, streaming)
    finally:
        await registry.aclose()
    assert completion.text == "fine"
    assert len(server.seen) == 1
    assert server.seen[0].headers["host"] == f"{REBOUND}:{_port(server)}"  # the name is kept
    assert dns.asked == [REBOUND]  # resolved by the guard, once


async def test_a_refusal_is_not_retried_and_no_other_key_is_tried(server: FakeLLMServer) -> None:
    dns = Resolver({REBOUND: ["127.0.0.1"]})
    registry = ProviderRegistry(guard=EndpointGuard(resolve=dns))
    box = FakeSecretBox(["server-key"])
    calls = CallModel(
        providers=registry,
        secrets=box,
        policy=RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.02),
    )
    choice = ModelChoice(
        provider="openai", model="m", base_url=_base_url("openai", REBOUND, _port(server))
    )
    try:
        with pytest.raises(ProviderEndpointRefused):
            await calls.complete(choice, [box.encrypt(KEY), box.encrypt(KEY + "2")], REQUEST)
    finally:
        await registry.aclose()
    assert dns.asked == [REBOUND]  # one attempt
    assert server.seen == []


async def test_environment_proxies_are_ignored(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would make the connection past the guard: the clients never use one."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://10.255.255.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    registry = ProviderRegistry(guard=EndpointGuard(["127.0.0.0/8"]))
    try:
        for provider in ("openai", "gemini"):
            client = registry.get(
                provider=provider,
                api_key=KEY,
                base_url=_base_url(provider, "127.0.0.1", _port(server)),
            )
            assert (await client.complete(REQUEST)).text == "fine"
    finally:
        await registry.aclose()
    assert len(server.seen) == 2
