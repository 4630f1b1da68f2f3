"""One wrapper for what watches each HTTP request: the access log and the request metrics."""

import time
from collections.abc import Callable
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

# Called once each HTTP request is answered: its scope, status and seconds taken.
RequestDone = Callable[[HTTPScope, int, float], None]


def after_each_request(app: ASGIApp, done: RequestDone) -> ASGIApp:
    """`app`, calling `done` when each HTTP request ends (status 500 when `app` raised before
    it started a response); other scopes (WebSocket, lifespan) pass through untouched.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, capture)
        finally:
            done(scope, status, time.perf_counter() - started)

    return middleware
