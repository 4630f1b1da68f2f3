"""OfflineProvider: no network, no key; a deterministic reply for zero-setup runs and demos.

Every reply starts with `OFFLINE_LABEL`, so nobody mistakes it for a model's answer. When
the request offers tools and the last user turn names one, the reply is a call to that tool
with arguments built from the schema (defaults, first enum value, minimum), which lets the
tool loop be exercised offline too.
"""

import asyncio
import hashlib
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from coagent.application.ports.llm import (
    ChatMessage,
    Completion,
    LLMRequest,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)

NAME = "offline"
OFFLINE_LABEL = "[offline reply]"
_WORDS_PER_CHUNK = 4
_SNIPPET = 120


class OfflineProvider:
    name = NAME
    is_offline = True

    def __repr__(self) -> str:
        return "OfflineProvider()"

    async def aclose(self) -> None:
        return None

    async def complete(self, request: LLMRequest) -> Completion:
        return _answer(request)

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamEvent, None]:
        completion = _answer(request)
        words = completion.text.split(" ")
        for start in range(0, len(words), _WORDS_PER_CHUNK):
            chunk = " ".join(words[start : start + _WORDS_PER_CHUNK])
            yield TextDelta(text=chunk if start == 0 else " " + chunk)
            await asyncio.sleep(0)  # let other tasks run, as a real stream would
        yield completion


def _answer(request: LLMRequest) -> Completion:
    last = request.messages[-1] if request.messages else None
    call = _tool_call(request.tools, last)
    text = "" if call else _reply(request.messages, last)
    words_in = sum(len(m.content.split()) for m in request.messages)
    return Completion(
        text=text,
        tool_calls=(call,) if call else (),
        finish_reason="tool_calls" if call else "stop",
        usage=Usage(input_tokens=words_in, output_tokens=len(text.split())),
        provider=NAME,
        model=request.model,
    )


def _reply(messages: tuple[ChatMessage, ...], last: ChatMessage | None) -> str:
    if last is None:
        return f"{OFFLINE_LABEL} There is nothing to answer yet."
    if last.role == "tool":
        return f"{OFFLINE_LABEL} The tool answered: {_snippet(last.content)}"
    users = [m for m in messages if m.role == "user"]
    speaker = f"{last.name}, " if last.name else ""
    digest = hashlib.sha256(last.content.encode()).hexdigest()[:8]
    return (
        f"{OFFLINE_LABEL} {speaker}I read your message ({len(last.content.split())} words, "
        f"{len(users)} user turns so far): “{_snippet(last.content)}”. No language model was "
        f"called; configure a provider to get real answers. (ref {digest})"
    )


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET else flat[: _SNIPPET - 1] + "…"


def _tool_call(tools: tuple[ToolSpec, ...], last: ChatMessage | None) -> ToolCall | None:
    if last is None or last.role != "user":
        return None
    for tool in tools:
        if tool.name in last.content:
            return ToolCall(
                id=f"offline_{tool.name}", name=tool.name, arguments=_arguments(tool.parameters)
            )
    return None


def _arguments(schema: Mapping[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    return {
        name: _value(properties.get(name) or {}) for name in schema.get("required") or properties
    }


def _value(schema: Mapping[str, Any]) -> Any:
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind in {"number", "integer"}:
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "object":
        return _arguments(schema)
    if kind == "array":
        return []
    return ""
