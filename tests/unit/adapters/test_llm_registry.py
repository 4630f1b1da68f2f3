"""ProviderRegistry: one client per (provider, key, base URL), bounded, closed when idle."""

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing

import pytest

from coagent.adapters.llm.offline import OfflineProvider
from coagent.adapters.llm.openai import OpenAIProvider
from coagent.adapters.llm.registry import PLACEHOLDER_KEY, PooledProvider, ProviderRegistry
from coagent.application.ports.llm import (
    ChatMessage,
    Completion,
    LLMRequest,
    StreamEvent,
    TextDelta,
)
from coagent.domain.errors import InvalidInput
from tests.fakes.llm import reply

pytestmark = pytest.mark.anyio

REQUEST = LLMRequest(model="m", messages=(ChatMessage(role="user", content="hi"),))


class FakeClient:
    """Stands in for an SDK-backed provider; `gate` holds a call open until set."""

    def __init__(self, key: str, base_url: str | None) -> None:
        self.name = "openai"
        self.is_offline = False
        self.key = key
        self.base_url = base_url
        self.closed = False
        self.gate = asyncio.Event()
        self.gate.set()

    async def aclose(self) -> None:
        self.closed = True

    async def complete(self, request: LLMRequest) -> Completion:
        await self.gate.wait()
        return reply("done")

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamEvent, None]:
        yield TextDelta(text="a")
        await self.gate.wait()
        yield reply("a")


class Factory:
    def __init__(self) -> None:
        self.made: list[FakeClient] = []

    def __call__(self, key: str, base_url: str | None) -> PooledProvider:
        client = FakeClient(key, base_url)
        self.made.append(client)
        return client


def registry(max_clients: int = 8) -> tuple[ProviderRegistry, Factory]:
    factory = Factory()
    return ProviderRegistry(max_clients=max_clients, factories={"openai": factory}), factory


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_one_client_per_provider_key_and_base_url() -> None:
    providers, factory = registry()

    a = providers.get(provider="openai", api_key="k1", base_url=None)
    again = providers.get(provider="openai", api_key="k1", base_url=None)
    other_key = providers.get(provider="openai", api_key="k2", base_url=None)
    other_url = providers.get(provider="openai", api_key="k1", base_url="http://local/v1")

    assert a is again
    assert len({id(a), id(other_key), id(other_url)}) == 3
    assert [(c.key, c.base_url) for c in factory.made] == [
        ("k1", None),
        ("k2", None),
        ("k1", "http://local/v1"),
    ]
    await providers.aclose()
    assert all(c.closed for c in factory.made)


async def test_the_least_recently_used_client_is_evicted_and_closed() -> None:
    providers, factory = registry(max_clients=2)
    providers.get(provider="openai", api_key="k1", base_url=None)
    providers.get(provider="openai", api_key="k2", base_url=None)
    providers.get(provider="openai", api_key="k1", base_url=None)  # k1 is now the most recent

    providers.get(provider="openai", api_key="k3", base_url=None)
    await settle()

    assert providers.size == 2
    assert [c.closed for c in factory.made] == [False, True, False]
    await providers.aclose()


async def test_an_evicted_client_in_use_is_closed_only_when_its_call_ends() -> None:
    providers, factory = registry(max_clients=1)
    busy = providers.get(provider="openai", api_key="k1", base_url=None)
    factory.made[0].gate.clear()
    call = asyncio.create_task(busy.complete(REQUEST))
    await settle()

    providers.get(provider="openai", api_key="k2", base_url=None)
    await settle()
    assert factory.made[0].closed is False

    factory.made[0].gate.set()
    assert (await call).text == "done"
    await settle()
    assert factory.made[0].closed is True
    await providers.aclose()


async def test_a_stream_keeps_its_client_open_until_closed() -> None:
    providers, factory = registry(max_clients=1)
    stream = providers.get(provider="openai", api_key="k1", base_url=None).stream(REQUEST)
    async with aclosing(stream):
        assert await anext(stream) == TextDelta(text="a")
        providers.get(provider="openai", api_key="k2", base_url=None)
        await settle()
        assert factory.made[0].closed is False
    await settle()
    assert factory.made[0].closed is True
    await providers.aclose()


async def test_unknown_provider_and_missing_keys_are_invalid_input() -> None:
    providers, _ = registry()

    with pytest.raises(InvalidInput, match="Unknown provider 'claude'"):
        providers.get(provider="claude", api_key="k", base_url=None)
    with pytest.raises(InvalidInput, match="needs an API key"):
        providers.get(provider="openai", api_key=None, base_url=None)
    with pytest.raises(InvalidInput, match="needs an API key"):
        providers.get(provider="openai", api_key="", base_url=None)
    await providers.aclose()


async def test_a_local_openai_compatible_server_gets_a_placeholder_key() -> None:
    providers, factory = registry()

    providers.get(provider="openai", api_key=None, base_url="http://127.0.0.1:11434/v1")

    assert factory.made[0].key == PLACEHOLDER_KEY
    await providers.aclose()


async def test_offline_needs_no_key_and_is_shared() -> None:
    providers, factory = registry()

    offline = providers.get(provider="offline", api_key=None, base_url=None)

    assert isinstance(offline, OfflineProvider)
    assert offline is providers.get(provider="offline", api_key="ignored", base_url=None)
    assert providers.uses_keys("offline") is False
    assert providers.uses_keys("openai") is True
    assert factory.made == []
    await providers.aclose()


async def test_a_closed_registry_hands_out_nothing() -> None:
    providers, _ = registry()
    await providers.aclose()

    with pytest.raises(RuntimeError, match="closed"):
        providers.get(provider="openai", api_key="k", base_url=None)


async def test_no_repr_shows_the_key() -> None:
    providers = ProviderRegistry()
    key = "sk-secret-in-repr-check"

    lease = providers.get(provider="openai", api_key=key, base_url="http://127.0.0.1:1/v1")
    direct = OpenAIProvider(api_key=key, base_url=None)

    for text in (repr(providers), repr(lease), repr(direct), str(vars(providers))):
        assert key not in text
    await direct.aclose()
    await providers.aclose()
