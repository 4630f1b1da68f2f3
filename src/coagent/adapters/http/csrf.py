"""CSRF defence for cookie-authenticated requests: Fetch Metadata, with Origin as fallback.

A request that carries `Authorization` is not cookie-authenticated and passes. Otherwise an
unsafe request from a browser must come from our own origin or one in ALLOWED_ORIGINS.
"""

from collections.abc import Iterable
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfMiddleware:
    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] not in SAFE_METHODS:
            headers = dict(scope["headers"])
            if b"authorization" not in headers and not self._trusted(scope, headers):
                await _forbid(send)
                return
        await self.app(scope, receive, send)

    def _trusted(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        origin = headers.get(b"origin", b"").decode("latin-1")
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1")
        if origin and origin != "null":
            host = headers.get(b"host", b"").decode("latin-1")
            return origin == own_origin(scope, host) or origin in self.allowed
        if site:
            return site in {"same-origin", "none"}
        # No browser metadata at all: not a browser, so not a CSRF vector.
        return not origin


def own_origin(scope: Scope, host: str) -> str:
    """This server's origin as the client addressed it (HTTP or WebSocket scope)."""
    scheme = "https" if scope.get("scheme") in {"https", "wss"} else "http"
    return f"{scheme}://{host}"


async def _forbid(send: Any) -> None:
    body = (
        b'{"title":"Forbidden","status":403,'
        b'"detail":"Cross-site request refused (origin not allowed)","type":"about:blank"}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
