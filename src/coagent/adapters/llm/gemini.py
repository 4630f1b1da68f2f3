"""GeminiProvider: the Gemini API through google-genai, on our own httpx2 client.

google-genai would use aiohttp when importable, and its aiohttp path sleeps 1-10 s and retries
by itself on connection errors; an explicit httpx2 client keeps every retry in `CallModel`.
"""

import asyncio
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import httpx2
from google import genai
from google.genai import errors, types

from coagent.adapters.llm.common import MALFORMED, bad_response, error_for_status, parse_seconds
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

NAME = "gemini"
REFUSED = (
    f"{NAME}: the base_url host is, or resolves to, an address calls may not go to "
    "(loopback, private, link-local...); nothing was sent. An operator may allow it with "
    "LLM_ALLOWED_HOSTS"
)


class GeminiProvider:
    """One pooled google-genai client (and its httpx2 connection pool, whose connections go
    through the `guard`; default: internal addresses refused).
    """

    name = NAME
    is_offline = False

    def __init__(
        self, *, api_key: str, base_url: str | None, guard: EndpointGuard | None = None
    ) -> None:
        self._http = (guard or EndpointGuard()).client()
        self._base_url = base_url
        self._client = genai.Client(
            api_key=api_key,
            http_options=types.HttpOptions(base_url=base_url, httpx_async_client=self._http),
        )

    def __repr__(self) -> str:
        return f"GeminiProvider(base_url={self._base_url!r})"

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        self._client.close()
        await self._http.aclose()

    async def complete(self, request: LLMRequest) -> Completion:
        contents, config = _contents(request.messages), _config(request)
        try:
            async with asyncio.timeout(request.timeout):
                response = await self._client.aio.models.generate_content(
                    model=request.model, contents=contents, config=config
                )
        except TimeoutError:
            raise ProviderTimeout(f"{NAME} timed out after {request.timeout:g} s") from None
        except (errors.APIError, httpx2.HTTPError) as error:
            raise _translate(error) from None
        except MALFORMED:  # an HTML page or a body that is not JSON (the SDK's ValueError)
            raise bad_response(NAME) from None
        assembly = _Assembly(model=request.model)
        try:
            assembly.add(response)
        except MALFORMED:
            raise bad_response(NAME) from None
        return assembly.completion()

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamEvent, None]:
        contents, config = _contents(request.messages), _config(request)
        assembly = _Assembly(model=request.model)
        try:
            chunks = await self._client.aio.models.generate_content_stream(
                model=request.model, contents=contents, config=config
            )
            async for chunk in chunks:
                text = assembly.add(chunk)
                if text:
                    yield TextDelta(text=text)
        except (errors.APIError, httpx2.HTTPError) as error:
            raise _translate(error) from None
        except MALFORMED:  # the SDK's UnknownApiResponseError is a ValueError
            raise bad_response(NAME, "a malformed stream") from None
        yield assembly.completion()


class _Assembly:
    """Collects text, function calls, finish reason and usage over one or more responses."""

    def __init__(self, *, model: str) -> None:
        self._model = model
        self._text: list[str] = []
        self._calls: list[ToolCall] = []
        self._finish: str | None = None
        self._usage: Usage | None = None

    def add(self, response: types.GenerateContentResponse) -> str:
        """Raises `ValueError` for a body with none of a response's parts (JSON, but not
        Gemini's: the SDK reads any object as an empty response).
        """
        if not isinstance(response, types.GenerateContentResponse) or (
            response.candidates is None
            and response.prompt_feedback is None
            and response.usage_metadata is None
        ):
            raise ValueError("not a GenerateContentResponse")
        self._model = response.model_version or self._model
        if (meta := response.usage_metadata) is not None:
            self._usage = Usage(
                input_tokens=meta.prompt_token_count or 0,
                output_tokens=meta.candidates_token_count or 0,
            )
        if not response.candidates:
            return ""
        candidate = response.candidates[0]
        if candidate.finish_reason is not None:
            self._finish = str(candidate.finish_reason.value)
        text: list[str] = []
        for part in candidate.content.parts or () if candidate.content else ():
            if part.function_call is not None and part.function_call.name:
                call = part.function_call
                index = len(self._calls)
                self._calls.append(
                    ToolCall(
                        id=call.id or f"call_{index}_{call.name}",
                        name=call.name or "",
                        arguments=dict(call.args or {}),
                    )
                )
            elif part.text and not part.thought:
                text.append(part.text)
        self._text.extend(text)
        return "".join(text)

    def completion(self) -> Completion:
        return Completion(
            text="".join(self._text),
            tool_calls=tuple(self._calls),
            finish_reason=self._finish,
            usage=self._usage,
            provider=NAME,
            model=self._model,
        )


def _config(request: LLMRequest) -> types.GenerateContentConfig:
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    tools = (
        [
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name=tool.name,
                        description=tool.description,
                        parameters_json_schema=dict(tool.parameters),
                    )
                    for tool in request.tools
                ]
            )
        ]
        if request.tools
        else None
    )
    return types.GenerateContentConfig(
        system_instruction=system or None,
        max_output_tokens=request.max_tokens,
        temperature=request.temperature,
        tools=tools,  # type: ignore[arg-type]  # list[Tool] is one arm of the SDK's union
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        automatic_continuation=False,
        http_options=types.HttpOptions(timeout=int(request.timeout * 1000)),
    )


def _contents(messages: Iterable[ChatMessage]) -> list[types.Content]:
    """User and model turns; tool results answer the call they name. Consecutive turns of one
    role are merged (Gemini expects alternation). Gemini has no speaker names: they are dropped.
    """
    names: dict[str, str] = {}
    contents: list[types.Content] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "model" if message.role == "assistant" else "user"
        parts = list(_parts(message, names))
        if contents and contents[-1].role == role:
            (contents[-1].parts or []).extend(parts)
        else:
            contents.append(types.Content(role=role, parts=parts))
    return contents


def _parts(message: ChatMessage, names: dict[str, str]) -> Iterable[types.Part]:
    if message.role == "tool":
        call_id = message.tool_call_id or ""
        yield types.Part(
            function_response=types.FunctionResponse(
                id=call_id or None,
                name=names.get(call_id) or message.name or "tool",
                response={"result": message.content},
            )
        )
        return
    if message.content:
        yield types.Part(text=message.content)
    for call in message.tool_calls:
        names[call.id] = call.name
        yield types.Part(
            function_call=types.FunctionCall(id=call.id, name=call.name, args=dict(call.arguments))
        )


def _translate(error: Exception) -> ProviderError:
    """SDK error to typed error; never copies the SDK message (it quotes the provider body)."""
    if refused_by_guard(error):
        return ProviderEndpointRefused(REFUSED)
    if isinstance(error, httpx2.TimeoutException):
        return ProviderTimeout(f"{NAME} timed out")
    if isinstance(error, errors.APIError):
        if error.code == 400 and _invalid_key(error.details):
            # Gemini answers a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
            return error_for_status(NAME, 401, None)
        return error_for_status(NAME, error.code, _retry_delay(error))
    return ProviderUnavailable(f"{NAME} could not be reached")


def _invalid_key(details: Any) -> bool:
    return "API_KEY_INVALID" in repr(details)


def _retry_delay(error: errors.APIError) -> float | None:
    """Seconds from a RetryInfo detail ("retryDelay": "30s") or a Retry-After header."""
    body = error.details.get("error", error.details) if isinstance(error.details, dict) else {}
    for detail in body.get("details", ()) if isinstance(body, dict) else ():
        if isinstance(detail, dict) and "retryDelay" in detail:
            return parse_seconds(str(detail["retryDelay"]))
    headers = getattr(error.response, "headers", None)
    return parse_seconds(headers.get("retry-after")) if headers is not None else None
