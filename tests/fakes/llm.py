"""Fakes for the LLM provider port: scripted outcomes per call, every request recorded."""

from collections import deque
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from typing import Any

from coagent.application.ports.llm import (
    Completion,
    LLMProvider,
    LLMRequest,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
)
from coagent.domain.errors import InvalidInput


class FakeEndpointPolicy:
    """The `EndpointPolicy` port: refuses base URLs whose host is in `refused`; records every
    URL it was asked about.
    """

    def __init__(self, *refused: str) -> None:
        self.refused = set(refused)
        self.checked: list[str] = []

    def check_base_url(self, base_url: str) -> None:
        self.checked.append(base_url)
        host = base_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        if host in self.refused:
            raise InvalidInput(f"base_url must not point to an internal address (here {host})")


# One call's outcome: a completion, an error, or a stream script (events and errors in order).
Outcome = Completion | ProviderError | Sequence[StreamEvent | ProviderError]


def reply(
    text: str = "ok",
    *,
    tool_calls: Iterable[ToolCall] = (),
    provider: str = "scripted",
    model: str = "scripted-model",
    finish_reason: str | None = "stop",
    usage: Usage | None = None,
) -> Completion:
    return Completion(
        text=text,
        tool_calls=tuple(tool_calls),
        finish_reason=finish_reason,
        usage=usage or Usage(input_tokens=1, output_tokens=len(text.split())),
        provider=provider,
        model=model,
    )


def tool_call(
    name: str, arguments: Mapping[str, Any] | None = None, id: str = "call_1"
) -> ToolCall:
    return ToolCall(id=id, name=name, arguments=dict(arguments or {}))


class ScriptedLLM:
    """Answers each call with the next scripted outcome; `default` once the script runs out
    (without one, an unscripted call fails the test). `stream` of a plain `Completion` yields
    its text as one delta, then the completion.
    """

    def __init__(
        self,
        *outcomes: Outcome,
        name: str = "scripted",
        is_offline: bool = False,
        default: Completion | None = None,
    ) -> None:
        self.name = name
        self.is_offline = is_offline
        self.default = default
        self.requests: list[LLMRequest] = []
        self.streams_closed = 0
        self._script: deque[Outcome] = deque(outcomes)

    def then(self, *outcomes: Outcome) -> "ScriptedLLM":
        self._script.extend(outcomes)
        return self

    @property
    def pending(self) -> int:
        return len(self._script)

    async def complete(self, request: LLMRequest) -> Completion:
        outcome = self._next(request)
        if isinstance(outcome, ProviderError):
            raise outcome
        if isinstance(outcome, Completion):
            return outcome
        for item in outcome:
            if isinstance(item, ProviderError):
                raise item
            if isinstance(item, Completion):
                return item
        raise AssertionError("stream script has no Completion")

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamEvent, None]:
        outcome = self._next(request)
        if isinstance(outcome, ProviderError):
            raise outcome
        items: Sequence[StreamEvent | ProviderError] = (
            [TextDelta(text=outcome.text), outcome] if isinstance(outcome, Completion) else outcome
        )
        try:
            for item in items:
                if isinstance(item, ProviderError):
                    raise item
                yield item
        finally:
            self.streams_closed += 1

    def _next(self, request: LLMRequest) -> Outcome:
        self.requests.append(request)
        if self._script:
            return self._script.popleft()
        if self.default is not None:
            return self.default
        raise AssertionError(f"ScriptedLLM {self.name!r}: no outcome scripted for this call")


class ScriptedProviders:
    """`LLMProviders` over scripted LLMs: `per_key[api_key]` when present, else `llm`.

    Knows `openai`, `gemini` and `offline`; a missing key is an `InvalidInput` except for
    offline and for openai with a base URL, as the real registry does. Every `get` is
    recorded as `(provider, api_key, base_url)`.
    """

    PROVIDERS = ("openai", "gemini", "offline")

    def __init__(
        self,
        llm: ScriptedLLM | None = None,
        *,
        per_key: Mapping[str, ScriptedLLM] | None = None,
        offline: ScriptedLLM | None = None,
    ) -> None:
        self.llm = llm or ScriptedLLM(default=reply())
        self.per_key = dict(per_key or {})
        self.offline = offline or ScriptedLLM(
            name="offline", is_offline=True, default=reply("[offline reply] ok", provider="offline")
        )
        self.gets: list[tuple[str, str | None, str | None]] = []
        self.closed = False

    def uses_keys(self, provider: str) -> bool:
        return provider != "offline"

    def get(self, *, provider: str, api_key: str | None, base_url: str | None) -> LLMProvider:
        self.gets.append((provider, api_key, base_url))
        if provider not in self.PROVIDERS:
            raise InvalidInput(f"Unknown provider {provider!r}")
        if provider == "offline":
            return self.offline
        if not api_key and (provider != "openai" or base_url is None):
            raise InvalidInput(f"Provider {provider!r} needs an API key; none is configured")
        return self.per_key.get(api_key or "", self.llm)

    async def aclose(self) -> None:
        self.closed = True
