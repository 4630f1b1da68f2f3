"""A request id per HTTP request: the caller's `X-Request-ID` when sane, else a new one.

It is echoed in the `X-Request-ID` response header, written in the access log line and in the
log line of an unhandled error, and carried by the 500 problem body, so a report from a user
("request id 1f3c...") leads to the one traceback in the log.
"""

import re
import uuid
from contextvars import ContextVar
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode()
# What we repeat in our logs and headers: short, and nothing that could forge a log line.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_current: ContextVar[str | None] = ContextVar("coagent_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served in this task, if any."""
    return _current.get()


def choose_request_id(sent: bytes | None) -> str:
    if sent is not None:
        text = sent.decode("latin-1")
        if _SANE.fullmatch(text):
            return text
    return uuid.uuid4().hex


def request_ids(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: choose the id, make it current, echo it in the response headers."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        sent = next((value for key, value in scope["headers"] if key == _HEADER_KEY), None)
        request_id = choose_request_id(sent)
        token = _current.set(request_id)

        async def with_header(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (key, value)
                    for key, value in message.get("headers", [])
                    if key.lower() != _HEADER_KEY
                ]
                message = {**message, "headers": [*headers, (_HEADER_KEY, request_id.encode())]}
            await send(message)

        try:
            await app(scope, receive, with_header)
        finally:
            _current.reset(token)

    return middleware
