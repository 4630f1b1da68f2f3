"""A scripted HTTP/1.1 server speaking just enough of the OpenAI and Gemini APIs for the real
SDKs: JSON answers, SSE streams (chunked, keep-alive), status errors, and slow answers.

Plain asyncio, started inside the test's event loop on 127.0.0.1 and a free port. Each request
takes the next scripted `Reply` (or `default`, a reply or a function of the request), and is
recorded in `seen`. Also used by `bench/llm_overhead.py` with a fixed-latency default.
"""

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """`json` answers with a body; `sse` streams frames (a dict is JSON, a str is sent as is);
    `text` is sent as is, as `content_type` (an HTML error page, a truncated body).
    `delay` waits before the status line, `gap` between frames; `stall_after` frames into a
    stream the server stops sending and holds the connection until it is closed (a provider
    that hangs mid-answer).
    """

    status: int = 200
    json: Any = None
    sse: Sequence[Any] | None = None
    text: str | None = None
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    gap: float = 0.0
    stall_after: int | None = None


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: Any
    raw: bytes = b""  # the body as it came over the wire


Default = Reply | Callable[[Seen], Reply] | None


class FakeLLMServer:
    def __init__(self, *replies: Reply, default: Default = None) -> None:
        self.script: deque[Reply] = deque(replies)
        self.default = default
        self.seen: list[Seen] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def then(self, *replies: Reply) -> "FakeLLMServer":
        self.script.extend(replies)
        return self

    @property
    def calls(self) -> int:
        """How many requests the server has answered (or is answering)."""
        return len(self.seen)

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> "FakeLLMServer":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=512)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    def _reply_for(self, seen: Seen) -> Reply:
        if self.script:
            return self.script.popleft()
        if isinstance(self.default, Reply):
            return self.default
        if self.default is not None:
            return self.default(seen)
        return Reply(status=500, json={"error": {"message": "nothing scripted"}})

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                seen = await _read_request(reader)
                if seen is None:
                    return
                self.seen.append(seen)
                await _write_reply(writer, self._reply_for(seen))
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Seen | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    parts = urlsplit(target)
    body = json.loads(raw) if raw else None
    return Seen(method, parts.path, parse_qs(parts.query), headers, body, raw)


async def _write_reply(writer: asyncio.StreamWriter, reply: Reply) -> None:
    if reply.delay:
        await asyncio.sleep(reply.delay)
    headers = {"connection": "keep-alive", **reply.headers}
    if reply.text is not None:
        raw = reply.text.encode()
        headers |= {"content-type": reply.content_type, "content-length": str(len(raw))}
        writer.write(_head(reply.status, headers) + raw)
        await writer.drain()
        return
    if reply.sse is None:
        body = json.dumps(reply.json if reply.json is not None else {}).encode()
        headers |= {"content-type": "application/json", "content-length": str(len(body))}
        writer.write(_head(reply.status, headers) + body)
        await writer.drain()
        return
    headers |= {"content-type": "text/event-stream", "transfer-encoding": "chunked"}
    writer.write(_head(reply.status, headers))
    for index, frame in enumerate(reply.sse):
        if index == reply.stall_after:
            await asyncio.Event().wait()  # until the connection is closed
        if index and reply.gap:
            await asyncio.sleep(reply.gap)
        data = frame if isinstance(frame, str) else json.dumps(frame)
        payload = f"data: {data}\r\n\r\n".encode()
        writer.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- OpenAI Chat Completions payloads ---------------------------------------------------------


def openai_completion(
    text: str | None = "Hello!",
    *,
    tool_calls: Iterable[tuple[str, str, str]] = (),
    model: str = "gpt-fake",
    finish: str = "stop",
    usage: tuple[int, int] = (7, 3),
) -> dict[str, Any]:
    """A `chat.completion`; `tool_calls` are `(id, name, arguments_json)`."""
    calls = [
        {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
        for cid, name, args in tool_calls
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }


def openai_chunks(
    texts: Iterable[str] = ("Hel", "lo", "!"),
    *,
    tool_calls: Iterable[tuple[int, str | None, str | None, str]] = (),
    model: str = "gpt-fake",
    finish: str = "stop",
    usage: tuple[int, int] | None = (7, 3),
) -> list[Any]:
    """SSE frames: a role chunk, text deltas, tool-call fragments `(index, id, name, args)`,
    the finish chunk, the usage chunk (empty `choices`) and `[DONE]`.
    """

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    frames: list[Any] = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": text}) for text in texts]
    for index, cid, name, args in tool_calls:
        function: dict[str, Any] = {"arguments": args}
        if name is not None:
            function["name"] = name
        call: dict[str, Any] = {"index": index, "function": function}
        if cid is not None:
            call |= {"id": cid, "type": "function"}
        frames.append(chunk({"tool_calls": [call]}))
    frames.append(chunk({}, finish))
    if usage is not None:
        frames.append(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": usage[0],
                    "completion_tokens": usage[1],
                    "total_tokens": sum(usage),
                },
            }
        )
    frames.append("[DONE]")
    return frames


def openai_error(status: int, message: str, kind: str = "invalid_request_error") -> Reply:
    return Reply(status=status, json={"error": {"message": message, "type": kind, "code": None}})


# --- Gemini generateContent payloads ----------------------------------------------------------


def gemini_response(
    text: str | None = "Hello!",
    *,
    calls: Iterable[tuple[str, dict[str, Any]]] = (),
    finish: str | None = "STOP",
    usage: tuple[int, int] | None = (7, 3),
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    parts += [{"functionCall": {"name": name, "args": args}} for name, args in calls]
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    response: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-fake"}
    if usage is not None:
        response["usageMetadata"] = {
            "promptTokenCount": usage[0],
            "candidatesTokenCount": usage[1],
            "totalTokenCount": sum(usage),
        }
    return response


def gemini_chunks(
    texts: Sequence[str] = ("Hel", "lo", "!"),
    *,
    calls: Iterable[tuple[str, dict[str, Any]]] = (),
    usage: tuple[int, int] = (7, 3),
) -> list[Any]:
    """One frame per text, function calls in the last frame with finishReason and usage."""
    frames: list[Any] = [gemini_response(t, finish=None, usage=None) for t in texts[:-1]]
    frames.append(gemini_response(texts[-1] if texts else None, calls=calls, usage=usage))
    return frames


def gemini_error(
    status: int, message: str, state: str, details: Sequence[dict[str, Any]] = ()
) -> Reply:
    error = {"code": status, "message": message, "status": state, "details": list(details)}
    return Reply(status=status, json={"error": error})
