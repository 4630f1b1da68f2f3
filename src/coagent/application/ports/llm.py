"""The LLM provider port: role-structured conversations in, completions or streams out.

Adapters (openai, gemini, offline) translate every SDK failure into one of the typed
`ProviderError`s below, so callers never see SDK exceptions and never turn an error into
content. No error `detail` ever holds an API key or a raw provider response body.
"""

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from coagent.domain.errors import CoagentError

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A function call the model asked for; `arguments` is the parsed JSON object."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatMessage:
    """One turn. `name` is the speaker's display name; `tool_call_id` answers a tool call;
    `tool_calls` are the calls an assistant turn made (replayed in a tool loop).
    """

    role: Role
    content: str
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec:
    """A function the model may call; `parameters` is a JSON schema object."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LLMRequest:
    """Everything one provider call needs; `timeout` (seconds) bounds each attempt."""

    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 1024
    timeout: float = 60.0
    temperature: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """A finished answer. In a stream it is the last event, with tool calls assembled."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str | None
    usage: Usage | None
    provider: str
    model: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDelta:
    """A piece of streamed text, in order."""

    text: str


StreamEvent = TextDelta | Completion


class ProviderError(CoagentError):
    """The provider call failed. `detail` is safe to show: no key, no raw provider body."""


class ProviderAuthError(ProviderError):
    """The key was rejected (401/403): try another key, never retry this one."""


class ProviderRateLimited(ProviderError):
    """429 or quota exhausted; `retry_after` (seconds) when the provider said so."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    """No (complete) answer within the request's timeout: transient."""


class ProviderUnavailable(ProviderError):
    """Connection failure or a 5xx: transient."""


class ProviderBadRequest(ProviderError):
    """The provider refused the request itself (unknown model, bad schema): never retried."""


class ProviderBadResponse(ProviderError):
    """The provider answered something that is not an API response (an HTML error page, a
    body that is not JSON or not of the expected shape, a stream that is not one): never
    retried, since a misconfigured endpoint would answer the same again.
    """


class ProviderEndpointRefused(ProviderError):
    """The endpoint's host is, or resolves to, an address calls may not go to (loopback,
    private, link-local, unspecified, multicast) and `LLM_ALLOWED_HOSTS` does not allow it.
    Nothing was sent (no key left the process); never retried.
    """


class LLMProvider(Protocol):
    """One provider bound to one key (or none) and one endpoint."""

    name: str
    is_offline: bool

    async def complete(self, request: LLMRequest) -> Completion:
        """Raises a `ProviderError` on any failure; never returns an error as text."""
        ...

    def stream(self, request: LLMRequest) -> AsyncGenerator[StreamEvent, None]:
        """`TextDelta`s in order, then exactly one `Completion` (full text, tool calls, usage).
        Raises a `ProviderError` on any failure, possibly after some deltas. A generator, so
        a caller stopping early can `aclose()` it and free the connection at once.
        """
        ...


class EndpointPolicy(Protocol):
    """Where provider calls may go. The adapter checks every connection again, resolved."""

    def check_base_url(self, base_url: str) -> None:
        """Raises `InvalidInput` when the URL's host, as written, is an address calls may not
        go to (loopback, private, link-local...) and the operator did not allow it.
        """
        ...


class LLMProviders(Protocol):
    """Hands out providers with pooled clients (one per provider, key and base URL)."""

    def uses_keys(self, provider: str) -> bool:
        """False for providers that never need a key (offline): callers skip decrypting."""
        ...

    def get(self, *, provider: str, api_key: str | None, base_url: str | None) -> LLMProvider:
        """Raises `InvalidInput` for an unknown provider, or when it needs a key and none is
        given (the openai provider with a `base_url` accepts no key: local servers need none).
        """
        ...

    async def aclose(self) -> None: ...
