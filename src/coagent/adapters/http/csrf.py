"""CSRF defence for cookie-authenticated requests, in the OWASP CSRF cheat sheet's order.

1. Fetch Metadata. `Sec-Fetch-Site` is set by the browser and no page can forge it:
   `same-origin` and `none` (typed by the user) pass; `same-site` (a sibling subdomain) and
   `cross-site` pass only when the page's `Origin` is in ALLOWED_ORIGINS (an allowlisted
   front end on another site logs in here and then uses bearer tokens: our SameSite=Lax
   cookies never travel cross-site). This comes first because a proxy in front of us may
   rewrite `Host` (the original web client's dev server does), after which `Origin` no longer
   matches it although the browser saw a single origin.
2. Without Fetch Metadata (older browsers), `Origin`, else the origin of `Referer`, must be our
   own origin or one of ALLOWED_ORIGINS. Our own origin is the scheme and `Host` the client
   used, plus the host a trusted proxy forwarded (`X-Forwarded-Host` / `Forwarded: host=`, see
   `proxy.py`). `Origin: null` (sandboxed frames, some redirects) is refused.
3. A request with none of these headers is not from a browser, so not a CSRF vector (no
   browser leaves all three out of a cross-site write; the SameSite=Lax cookies are a second
   line for the ones that predate them).

`trusted_origin` is the one rule: the middleware applies it to unsafe HTTP requests that carry
no `Authorization` header, and the chat socket to cookie-authenticated handshakes.
"""

from collections.abc import Iterable
from functools import lru_cache
from typing import Any, cast
from urllib.parse import urlsplit

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from coagent.adapters.http.proxy import FORWARDED_HOST

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HEADERS = (b"sec-fetch-site", b"origin", b"referer", b"host")
_NOT_IN_HOST = frozenset("@/?#\\ ")


def normalized_origin(value: str) -> str | None:
    """`scheme://host[:port]` of an origin or URL, lower-case, without a default port; None
    when it is not an http(s) origin.
    """
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return (
        f"{scheme}://{host}"
        if port in {None, _DEFAULT_PORTS[scheme]}
        else f"{scheme}://{host}:{port}"
    )


def own_origins(scope: Scope, host: str) -> set[str]:
    """This server's origins as the client addressed it (HTTP or WebSocket scope): `Host`, and
    the host a trusted proxy forwarded.
    """
    scheme = "https" if scope.get("scheme") in {"https", "wss"} else "http"
    hosts = [host, cast("dict[str, Any]", scope).get(FORWARDED_HOST) or ""]
    return {
        origin
        for name in hosts
        if name
        and not _NOT_IN_HOST.intersection(name)  # "ours.example@evil.example" names evil
        and (origin := normalized_origin(f"{scheme}://{name}")) is not None
    }


class OriginPolicy:
    """Whether a cookie-authenticated request comes from a page allowed to act for the user."""

    def __init__(self, allowed_origins: Iterable[str]) -> None:
        self.allowed = frozenset(
            origin for item in allowed_origins if (origin := normalized_origin(item)) is not None
        )

    def permits(self, scope: Scope) -> bool:
        headers: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name not in _HEADERS:
                continue
            text = value.decode("latin-1").strip()
            if headers.setdefault(name, text) != text:
                return False  # two different values: no browser sends that
        site = headers.get(b"sec-fetch-site", "").lower()
        if site in {"same-origin", "none"}:
            return True
        origin = headers.get(b"origin", "")
        referer = headers.get(b"referer", "")
        if origin == "null":
            return False
        source = origin or referer
        if site in {"same-site", "cross-site"}:
            return normalized_origin(source) in self.allowed if source else False
        if not source:
            return True  # no browser metadata at all: not a browser
        sender = normalized_origin(source)
        if sender is None:
            return False
        return sender in self.allowed or sender in own_origins(scope, headers.get(b"host", ""))


@lru_cache(maxsize=8)
def _policy(allowed_origins: tuple[str, ...]) -> OriginPolicy:
    return OriginPolicy(allowed_origins)


def trusted_origin(scope: Scope, allowed_origins: tuple[str, ...]) -> bool:
    """The CSRF rule (see the module docstring) for this request or WebSocket handshake."""
    return _policy(allowed_origins).permits(scope)


class CsrfMiddleware:
    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = tuple(allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == ScopeType.HTTP
            and scope["method"] not in SAFE_METHODS
            and not any(name == b"authorization" for name, _ in scope["headers"])
            and not trusted_origin(scope, self.allowed)
        ):
            await _forbid(send)
            return
        await self.app(scope, receive, send)


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
