"""OpenAIProvider: Chat Completions through the OpenAI SDK, for OpenAI and every compatible
server (Ollama, vLLM, LiteLLM, gateways) via `base_url`.
"""

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import httpx2
import openai
from openai import AsyncOpenAI, RequestOptions
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam

from coagent.adapters.llm.common import (
    MALFORMED,
    bad_response,
    error_for_status,
    parse_arguments,
    parse_seconds,
)
from coagent.adapters.llm.endpoints import EndpointGuard, refused_by_guard
from coagent.application.ports.llm import (
    ChatMessage,
    Completion,
    LLMRequest,
    ProviderEndpointRefused,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
)

NAME = "openai"
_PATH = "/chat/completions"
# OpenAI accepts a message `name` only in this shape; other display names are dropped (the
# prompt builder writes names that matter into the content).
_VALID_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
REFUSED = (
    f"{NAME}: the base_url host is, or resolves to, an address calls may not go to "
    "(loopback, private, link-local...); nothing was sent. An operator may allow it with "
    "LLM_ALLOWED_HOSTS"
)


class OpenAIProvider:
    """One pooled `AsyncOpenAI` client. The SDK's own retries are off: `CallModel` retries.
    Its connections go through the `guard` (default: internal addresses refused).
    """

    name = NAME
    is_offline = False

    def __init__(
        self, *, api_key: str, base_url: str | None, guard: EndpointGuard | None = None
    ) -> None:
        http = openai.DefaultAsyncHttpxClient(
            transport=(guard or EndpointGuard()).transport(openai.DEFAULT_CONNECTION_LIMITS),
            trust_env=False,
        )
        self._client = AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, http_client=http
        )
        # The official API wants max_completion_tokens; compatible servers know max_tokens.
        self._compatible = base_url is not None

    def __repr__(self) -> str:
        return f"OpenAIProvider(base_url={str(self._client.base_url)!r})"

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, request: LLMRequest) -> Completion:
        try:
            async with asyncio.timeout(request.timeout):
                response = await self._client.post(
                    _PATH,
                    cast_to=ChatCompletion,
                    body=self._body(request, stream=False),
                    options=_options(request),
                )
        except TimeoutError:
            raise ProviderTimeout(f"{NAME} timed out after {request.timeout:g} s") from None
        except openai.OpenAIError as error:
            raise _translate(error) from None
        except MALFORMED:  # a JSON content type on a body that is not JSON
            raise bad_response(NAME) from None
        # Another content type (an HTML error page) comes back as text, not a completion.
        if not isinstance(response, ChatCompletion):
            raise bad_response(NAME)
        try:
            return _completion(response, request)
        except MALFORMED:  # JSON, but not of a completion's shape
            raise bad_response(NAME) from None

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamEvent, None]:
        try:
            chunks = await self._client.post(
                _PATH,
                cast_to=ChatCompletion,
                body=self._body(request, stream=True),
                options=_options(request),
                stream=True,
                stream_cls=openai.AsyncStream[ChatCompletionChunk],
            )
        except openai.OpenAIError as error:
            raise _translate(error) from None
        except MALFORMED:
            raise bad_response(NAME) from None
        if not chunks.response.headers.get("content-type", "").startswith("text/event-stream"):
            # The SDK would read an HTML page as an empty stream: an empty answer.
            await chunks.close()
            raise bad_response(NAME, "something other than an event stream")
        assembly = _Assembly(model=request.model)
        received = False
        try:
            async with chunks:
                async for chunk in chunks:
                    received = True
                    text = assembly.add(chunk)
                    if text:
                        yield TextDelta(text=text)
        except openai.OpenAIError as error:
            raise _translate(error) from None
        except httpx2.TimeoutException:
            raise ProviderTimeout(f"{NAME} stream stalled past {request.timeout:g} s") from None
        except httpx2.TransportError:
            raise ProviderUnavailable(f"{NAME} stream was cut off") from None
        except MALFORMED:  # an event that is not JSON, or not of a chunk's shape
            raise bad_response(NAME, "a malformed event stream") from None
        if not received:
            raise bad_response(NAME, "an event stream without a single event")
        yield assembly.completion()

    def _body(self, request: LLMRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body `chat.completions.create` would send, keys in its order, built as plain
        JSON: `create` re-walks its arguments against the typed params (the SDK's transform),
        about 0.15 ms of CPU per message on every call, for a body that needs no change.
        """
        body: dict[str, Any] = {
            "model": request.model,
            "stream": stream,
            "messages": [_message(message) for message in request.messages],
            ("max_tokens" if self._compatible else "max_completion_tokens"): request.max_tokens,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": dict(tool.parameters),
                    },
                }
                for tool in request.tools
            ]
        return body


def _completion(response: ChatCompletion, request: LLMRequest) -> Completion:
    if not response.choices:
        raise ProviderUnavailable(f"{NAME} returned no choices")
    choice = response.choices[0]
    calls = tuple(
        ToolCall(
            id=call.id,
            name=call.function.name,
            arguments=parse_arguments(NAME, call.function.arguments),
        )
        for call in choice.message.tool_calls or ()
        if call.type == "function"
    )
    usage = response.usage
    return Completion(
        text=choice.message.content or "",
        tool_calls=calls,
        finish_reason=choice.finish_reason,
        usage=Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens)
        if usage
        else None,
        provider=NAME,
        model=response.model or request.model,
    )


class _Assembly:
    """Collects a stream's text, tool-call fragments (by index), finish reason and usage."""

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._text: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._finish: str | None = None
        self._usage: Usage | None = None

    def add(self, chunk: ChatCompletionChunk) -> str:
        self._model = chunk.model or self._model
        if chunk.usage is not None:
            self._usage = Usage(
                input_tokens=chunk.usage.prompt_tokens,
                output_tokens=chunk.usage.completion_tokens,
            )
        if not chunk.choices:
            return ""
        choice = chunk.choices[0]
        self._finish = choice.finish_reason or self._finish
        for fragment in choice.delta.tool_calls or ():
            call = self._calls.setdefault(fragment.index, {"id": "", "name": "", "args": []})
            call["id"] = fragment.id or call["id"]
            if fragment.function is not None:
                call["name"] += fragment.function.name or ""
                call["args"].append(fragment.function.arguments or "")
        text = choice.delta.content or ""
        self._text.append(text)
        return text

    def completion(self) -> Completion:
        calls = tuple(
            ToolCall(
                id=call["id"] or f"call_{index}",
                name=call["name"],
                arguments=parse_arguments(NAME, "".join(call["args"])),
            )
            for index, call in sorted(self._calls.items())
        )
        return Completion(
            text="".join(self._text),
            tool_calls=calls,
            finish_reason=self._finish,
            usage=self._usage,
            provider=NAME,
            model=self._model,
        )


def _message(message: ChatMessage) -> ChatCompletionMessageParam:
    result: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name and _VALID_NAME.match(message.name) and message.role in {"user", "assistant"}:
        result["name"] = message.name
    if message.role == "tool":
        result["tool_call_id"] = message.tool_call_id or ""
    if message.tool_calls:
        result["tool_calls"] = list(_tool_calls(message.tool_calls))
    return result  # type: ignore[return-value]  # a TypedDict union built field by field


def _tool_calls(calls: Iterable[ToolCall]) -> Iterable[dict[str, Any]]:
    for call in calls:
        yield {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))},
        }


def _options(request: LLMRequest) -> RequestOptions:
    """As `create` makes them: the per-request timeout (not a body field) and bearer auth only
    (the client's default security would also fall back to an admin key).
    """
    return {"timeout": request.timeout, "security": {"bearer_auth": True}}


def _translate(error: openai.OpenAIError) -> ProviderError:
    """SDK error to typed error; never copies the SDK message (it quotes the provider body)."""
    if refused_by_guard(error):
        return ProviderEndpointRefused(REFUSED)
    if isinstance(error, openai.APITimeoutError):
        return ProviderTimeout(f"{NAME} timed out")
    if isinstance(error, openai.APIConnectionError):
        return ProviderUnavailable(f"{NAME} could not be reached")
    if isinstance(error, openai.APIStatusError):
        headers = error.response.headers
        retry_after = parse_seconds(headers.get("retry-after"))
        if retry_after is None and (ms := parse_seconds(headers.get("retry-after-ms"))):
            retry_after = ms / 1000
        return error_for_status(NAME, error.status_code, retry_after)
    return ProviderUnavailable(f"{NAME} failed ({type(error).__name__})")
