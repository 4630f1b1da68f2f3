"""ProviderRegistry: one pooled client per (provider, key, base URL), bounded, closed on exit.

The least recently used client is evicted past `max_clients`; it is closed once its in-flight
calls finish, so an eviction never cuts a running generation. Pool entries are keyed by a hash
of the key, and nothing here prints a key.
"""

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Protocol

from coagent.adapters.llm.endpoints import EndpointGuard
from coagent.adapters.llm.gemini import GeminiProvider
from coagent.adapters.llm.offline import OfflineProvider
from coagent.adapters.llm.openai import OpenAIProvider
from coagent.adapters.observability import metrics
from coagent.application.ports.llm import (
    Completion,
    LLMProvider,
    LLMRequest,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderBadResponse,
    ProviderEndpointRefused,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    StreamEvent,
)
from coagent.domain.errors import InvalidInput

# Local OpenAI-compatible servers (Ollama, vLLM) ignore the key, but the SDK insists on one.
PLACEHOLDER_KEY = "no-key"


class PooledProvider(LLMProvider, Protocol):
    async def aclose(self) -> None: ...


Factory = Callable[[str, str | None], PooledProvider]


def default_factories(guard: EndpointGuard) -> dict[str, Factory]:
    """The real providers, each connecting only where `guard` allows."""

    def _openai(api_key: str, base_url: str | None) -> PooledProvider:
        return OpenAIProvider(api_key=api_key, base_url=base_url, guard=guard)

    def _gemini(api_key: str, base_url: str | None) -> PooledProvider:
        return GeminiProvider(api_key=api_key, base_url=base_url, guard=guard)

    return {"openai": _openai, "gemini": _gemini}


class ProviderRegistry:
    """`guard`: where provider connections may go (default: internal addresses refused)."""

    def __init__(
        self,
        *,
        max_clients: int = 64,
        factories: dict[str, Factory] | None = None,
        guard: EndpointGuard | None = None,
    ) -> None:
        if max_clients < 1:
            raise ValueError("max_clients must be at least 1")
        self._max = max_clients
        self._factories = (
            default_factories(guard or EndpointGuard()) if factories is None else factories
        )
        self._offline = OfflineProvider()
        self._pool: OrderedDict[tuple[str, bytes, str | None], _Lease] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"ProviderRegistry(clients={len(self._pool)}, max_clients={self._max})"

    @property
    def size(self) -> int:
        return len(self._pool)

    def uses_keys(self, provider: str) -> bool:
        return provider != "offline"

    def get(self, *, provider: str, api_key: str | None, base_url: str | None) -> LLMProvider:
        if provider == "offline":
            return self._offline
        factory = self._factories.get(provider)
        if factory is None:
            known = ", ".join(sorted([*self._factories, "offline"]))
            raise InvalidInput(f"Unknown provider {provider!r}; use one of: {known}")
        if not api_key:
            if provider != "openai" or base_url is None:
                raise InvalidInput(f"Provider {provider!r} needs an API key; none is configured")
            api_key = PLACEHOLDER_KEY
        if self._closed:
            raise RuntimeError("The provider registry is closed")
        slot = (provider, hashlib.sha256(api_key.encode()).digest(), base_url or None)
        lease = self._pool.get(slot)
        if lease is not None:
            self._pool.move_to_end(slot)
            return lease
        lease = _Lease(factory(api_key, base_url or None), self._close_later)
        self._pool[slot] = lease
        while len(self._pool) > self._max:
            _, evicted = self._pool.popitem(last=False)
            evicted.retire()
        return lease

    async def aclose(self) -> None:
        self._closed = True
        leases = list(self._pool.values())
        self._pool.clear()
        for lease in leases:
            lease.retire()
        await asyncio.gather(*self._closing, return_exceptions=True)

    def _close_later(self, provider: PooledProvider) -> None:
        task = asyncio.get_running_loop().create_task(provider.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


class _Lease:
    """A pooled provider that counts its in-flight calls, so it is closed only when idle."""

    def __init__(self, provider: PooledProvider, close: Callable[[PooledProvider], None]) -> None:
        self._provider = provider
        self._close = close
        self._active = 0
        self._retired = False
        self.name = provider.name
        self.is_offline = provider.is_offline

    def __repr__(self) -> str:
        return f"_Lease({self._provider!r}, active={self._active})"

    def retire(self) -> None:
        self._retired = True
        if self._active == 0:
            self._close(self._provider)

    async def complete(self, request: LLMRequest) -> Completion:
        self._active += 1
        started = time.perf_counter()
        completion: Completion | None = None
        outcome = "cancelled"
        try:
            completion = await self._provider.complete(request)
            outcome = "ok"
        except Exception as error:
            outcome = outcome_of(error)
            raise
        finally:
            self._release()
            _observe(self.name, request.model, outcome, started, completion)
        return completion

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamEvent, None]:
        self._active += 1
        started = time.perf_counter()
        completion: Completion | None = None
        outcome = "cancelled"  # also when the caller stops reading early
        try:
            async with aclosing(self._provider.stream(request)) as events:
                async for event in events:
                    if isinstance(event, Completion):
                        completion, outcome = event, "ok"
                    yield event
        except Exception as error:
            outcome = outcome_of(error)
            raise
        finally:
            self._release()
            _observe(self.name, request.model, outcome, started, completion)

    def _release(self) -> None:
        self._active -= 1
        if self._retired and self._active == 0:
            self._close(self._provider)


# A fixed label set for the `outcome` of a provider call attempt.
_OUTCOMES: tuple[tuple[type[ProviderError], str], ...] = (
    (ProviderAuthError, "auth_error"),
    (ProviderRateLimited, "rate_limited"),
    (ProviderTimeout, "timeout"),
    (ProviderUnavailable, "unavailable"),
    (ProviderBadRequest, "bad_request"),
    (ProviderBadResponse, "bad_response"),
    (ProviderEndpointRefused, "endpoint_refused"),
)


def outcome_of(error: Exception) -> str:
    for kind, outcome in _OUTCOMES:
        if isinstance(error, kind):
            return outcome
    return "error"


def _observe(
    provider: str, model: str, outcome: str, started: float, completion: Completion | None
) -> None:
    usage = completion.usage if completion is not None else None
    metrics.llm_called(
        provider=provider,
        model=model,
        outcome=outcome,
        seconds=time.perf_counter() - started,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
    )
