"""Requests that came through a reverse proxy we trust (`FORWARDED_ALLOW_IPS`).

This does what uvicorn's `--proxy-headers` did (`coagent run` turns uvicorn's own handling
off): when the direct peer is a trusted proxy, `X-Forwarded-Proto` sets the scheme and
`X-Forwarded-For` the client address (uvicorn's algorithm: the nearest address that is not a
trusted proxy). uvicorn's version overwrites the client address, after which nothing can tell
whether the peer was a proxy at all; here the check happens first, and the host the browser
addressed (`X-Forwarded-Host`, else `host=` of `Forwarded`) is kept in the scope under
`FORWARDED_HOST` for the CSRF check, which counts it as our own. From any other peer these
headers are ignored.

Of a list (one entry per proxy), the last entry counts: the one our trusted peer vouches for.
"""

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

# Scope key: the host named by a trusted proxy, lower-case ("app.example.org:8443").
FORWARDED_HOST = "coagent.forwarded_host"

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxies:
    """IP addresses and networks ("10.0.0.0/8"), or "*" for every peer (uvicorn's syntax)."""

    def __init__(self, entries: Iterable[str]) -> None:
        items = tuple(entries)
        self.everyone = "*" in items
        self._networks = tuple(
            ipaddress.ip_network(item, strict=False) for item in items if item != "*"
        )
        # Peers repeat: parsing an address costs more than the rest of the request's checks.
        self._trusts = functools.lru_cache(maxsize=4096)(self._compute)

    def __contains__(self, host: object) -> bool:
        if self.everyone:
            return True
        if not isinstance(host, str) or not host or len(host) > 64:
            return False
        return self._trusts(host)

    def _compute(self, host: str) -> bool:
        try:
            address: _Address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket reports IPv4 peers like this
        return any(address in network for network in self._networks)

    def client_of(self, forwarded_for: str) -> str | None:
        """The nearest address of an `X-Forwarded-For` chain that is not a trusted proxy."""
        hosts = [_strip_port(item.strip()) for item in forwarded_for.split(",")]
        hosts = [host for host in hosts if host]
        if not hosts:
            return None
        if self.everyone:
            return hosts[0]
        for host in reversed(hosts):
            if host not in self:
                return host
        return hosts[0]


def _strip_port(value: str) -> str:
    if value.startswith("["):  # [2001:db8::1]:4711
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:  # 192.0.2.1:4711 (a bare IPv6 address has more colons)
        return value.split(":", 1)[0]
    return value


def _last(value: str) -> str:
    return value.rsplit(",", 1)[-1].strip()


def _forwarded_pairs(value: str) -> dict[str, str]:
    """The parameters of the last element of an RFC 7239 `Forwarded` header."""
    pairs: dict[str, str] = {}
    for pair in _last(value).split(";"):
        name, _, raw = pair.partition("=")
        pairs[name.strip().lower()] = raw.strip().strip('"')
    return pairs


class ProxyHeadersMiddleware:
    def __init__(self, app: ASGIApp, trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {ScopeType.HTTP, ScopeType.WEBSOCKET}:
            client = scope.get("client")
            if client and client[0] in self.trusted:
                self._apply(cast("dict[str, Any]", scope))
        await self.app(scope, receive, send)

    def _apply(self, scope: dict[str, Any]) -> None:
        headers: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in {b"x-forwarded-proto", b"x-forwarded-for", b"x-forwarded-host"}:
                joined = headers.get(name)
                text = value.decode("latin-1")
                headers[name] = f"{joined},{text}" if joined else text
            elif name == b"forwarded":
                headers[name] = value.decode("latin-1")  # the last header line counts
        forwarded = _forwarded_pairs(headers.get(b"forwarded", ""))
        proto = _last(headers.get(b"x-forwarded-proto", "")).lower() or forwarded.get("proto", "")
        if proto in {"http", "https", "ws", "wss"}:
            secure = proto in {"https", "wss"}
            if scope["type"] == ScopeType.WEBSOCKET:
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = "https" if secure else "http"
        if b"x-forwarded-for" in headers:
            address = self.trusted.client_of(headers[b"x-forwarded-for"])
            if address:
                scope["client"] = (address, 0)
        host = _last(headers.get(b"x-forwarded-host", "")) or forwarded.get("host", "")
        if host:
            scope[FORWARDED_HOST] = host.lower()
