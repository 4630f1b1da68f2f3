"""The CSRF rule (Fetch Metadata, then Origin / Referer) behind the proxy-header middleware.

The matrix models what a browser sends for a write from a page, in every deployment: the page
(ours, an allowlisted one, a foreign site, a foreign sibling subdomain, a sandboxed frame),
a browser with or without Fetch Metadata, `Origin` sent or not, `Referer` sent or not, and how
the request reaches us (directly; through a trusted proxy that forwards the host, one that
keeps `Host`, one that rewrites `Host` without forwarding it; through an untrusted peer that
claims a forwarded host), with or without a forged `X-Forwarded-Host` naming the page's own
host that a proxy kept in front of its own entry. Each case runs the real middleware chain:
proxy headers, then the rule.
"""

import itertools
from typing import Any

import pytest

from coagent.adapters.http.csrf import CsrfMiddleware, normalized_origin, trusted_origin
from coagent.adapters.http.proxy import FORWARDED_HOST, ProxyHeadersMiddleware, TrustedProxies

pytestmark = pytest.mark.anyio

PUBLIC = "api.example.org"  # the host browsers address
BACKEND = "10.0.0.9:8000"  # our address as a Host-rewriting proxy names it
PROXY = "10.0.0.2"
ALLOWED = ("https://app.example",)
TRUSTED = ("127.0.0.1", "::1", "10.0.0.0/24")

PAGES = {
    "own": "http://api.example.org",
    "allowed": "https://app.example",
    "foreign": "https://evil.example",
    "sibling": "http://evil.example.org",  # same site as ours, not allowlisted
    "sandboxed": None,  # an opaque origin: `Origin: null`
}
# What a browser's Fetch Metadata says about each page writing to http://api.example.org.
SITE = {
    "own": "same-origin",
    "allowed": "cross-site",
    "foreign": "cross-site",
    "sibling": "same-site",
    "sandboxed": "cross-site",
}
DEPLOYMENTS = (
    "direct",
    "trusted-proxy-forwarding-host",
    "trusted-proxy-keeping-host",
    "trusted-proxy-rewriting-host",
    "untrusted-peer-forwarding-host",
)


def _request(
    page: str, fetch_metadata: bool, origin: bool, referer: bool, deployment: str, forged: bool
) -> dict[str, Any]:
    """The ASGI scope of a write from `page` reaching us through `deployment`."""
    headers: list[tuple[bytes, bytes]] = [(b"cookie", b"access_token=x")]
    page_origin = PAGES[page]
    if fetch_metadata:
        headers.append((b"sec-fetch-site", SITE[page].encode()))
    if origin:
        headers.append((b"origin", (page_origin or "null").encode()))
    if referer and page_origin:  # an opaque origin has no referrer to send
        headers.append((b"referer", f"{page_origin}/courses/1?tab=members".encode()))
    peer = "198.51.100.7"  # the browser itself
    host = PUBLIC
    if deployment != "direct":
        peer = PROXY if deployment.startswith("trusted") else "198.51.100.8"
        if deployment != "trusted-proxy-keeping-host":
            host = BACKEND
        page_host = (page_origin or "https://evil.example").split("://", 1)[1]
        forwarded = [page_host.encode()] if forged else []
        if deployment != "trusted-proxy-rewriting-host":
            forwarded.append(PUBLIC.encode())
        if forwarded:
            headers.append((b"x-forwarded-host", b", ".join(forwarded)))
        headers.append((b"x-forwarded-for", b"198.51.100.7"))
    headers.append((b"host", host.encode()))
    return {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/login/access-token",
        "headers": headers,
        "client": (peer, 50000),
    }


async def _through_proxy_middleware(scope: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(inner: Any, _receive: Any, _send: Any) -> None:
        seen.update(inner)

    await ProxyHeadersMiddleware(app, trusted=TRUSTED)(scope, None, None)  # type: ignore[arg-type]
    return seen


CASES = [
    pytest.param(*case, id="-".join(str(part) for part in case))
    for case in itertools.product(
        PAGES, (True, False), (True, False), (True, False), DEPLOYMENTS, (False, True)
    )
    # A forged header needs a proxy that keeps it in front of its own entry.
    if not (case[5] and case[4] in {"direct", "trusted-proxy-rewriting-host"})
]


@pytest.mark.parametrize(
    ("page", "fetch_metadata", "origin", "referer", "deployment", "forged"), CASES
)
async def test_the_matrix(
    page: str, fetch_metadata: bool, origin: bool, referer: bool, deployment: str, forged: bool
) -> None:
    scope = await _through_proxy_middleware(
        _request(page, fetch_metadata, origin, referer, deployment, forged)
    )
    allowed = trusted_origin(scope, ALLOWED)  # type: ignore[arg-type]

    says_where = fetch_metadata or origin or (referer and PAGES[page] is not None)
    if not says_where:
        # No Fetch Metadata, no Origin, no Referer: what curl sends. Every browser since 2019
        # sends at least `Origin` on a cross-site write, and the cookies are SameSite=Lax.
        assert allowed
    elif page in {"foreign", "sibling", "sandboxed"}:
        assert not allowed  # a foreign page is refused, whatever else is true
    elif page == "allowed":
        # Fetch Metadata says cross-site: the page must name itself (every browser that sends
        # Fetch Metadata also sends `Origin` on a write).
        assert allowed is bool(origin or referer)
    elif fetch_metadata:
        assert allowed  # our own page, as the browser itself says
    else:
        # Our own page in a browser without Fetch Metadata: `Origin` must match the host we
        # were addressed by, which a proxy that rewrites `Host` hides unless it is trusted and
        # forwards the host (else: ALLOWED_ORIGINS).
        hidden = deployment in {"trusted-proxy-rewriting-host", "untrusted-peer-forwarding-host"}
        assert allowed is not hidden


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"sec-fetch-site": "same-origin", "origin": "https://evil.example"}, True),
        ({"sec-fetch-site": "none"}, True),
        ({"sec-fetch-site": "cross-site", "origin": "http://api.example.org"}, False),
        ({"sec-fetch-site": "cross-site", "origin": "https://app.example"}, True),
        ({"sec-fetch-site": "same-site", "origin": "http://evil.example.org"}, False),
        ({"sec-fetch-site": "same-site"}, False),
        ({"sec-fetch-site": "same-site", "referer": "https://app.example/x"}, True),
        ({"sec-fetch-site": "SAME-ORIGIN"}, True),
        ({"sec-fetch-site": "bogus", "origin": "https://evil.example"}, False),
        ({"sec-fetch-site": "bogus", "origin": "http://api.example.org"}, True),
        ({"origin": "http://API.example.org:80"}, True),
        ({"origin": "https://api.example.org"}, False),  # another scheme is another origin
        ({"origin": "http://api.example.org:8080"}, False),
        ({"origin": "http://api.example.org.evil.example"}, False),
        ({"origin": "null", "referer": "http://api.example.org/"}, False),
        ({"origin": "not a url"}, False),
        ({"origin": "file://"}, False),
        ({"referer": "http://api.example.org/page"}, True),
        ({"referer": "https://evil.example/http://api.example.org"}, False),
        ({"referer": "http://[::1"}, False),
        ({"origin": "https://APP.example/"}, True),
        ({}, True),
    ],
)
def test_single_rules(headers: dict[str, str], expected: bool) -> None:
    scope = {
        "type": "http",
        "scheme": "http",
        "headers": [(b"host", PUBLIC.encode())]
        + [(name.encode(), value.encode()) for name, value in headers.items()],
    }
    assert trusted_origin(scope, ALLOWED) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "host", ["api.example.org@evil.example", "evil.example/api.example.org", "evil.example#x"]
)
def test_a_host_header_with_more_than_a_host_names_nobody(host: str) -> None:
    scope = {
        "type": "http",
        "scheme": "http",
        "headers": [(b"host", host.encode()), (b"origin", b"http://evil.example")],
    }
    assert not trusted_origin(scope, ALLOWED)  # type: ignore[arg-type]


def test_two_different_values_of_one_header_are_refused() -> None:
    scope = {
        "type": "http",
        "scheme": "http",
        "headers": [
            (b"host", PUBLIC.encode()),
            (b"origin", b"http://api.example.org"),
            (b"origin", b"https://evil.example"),
        ],
    }
    assert not trusted_origin(scope, ALLOWED)  # type: ignore[arg-type]


async def test_a_trusted_proxy_sets_scheme_client_and_forwarded_host() -> None:
    scope = await _through_proxy_middleware(
        {
            "type": "websocket",
            "scheme": "ws",
            "client": ("::ffff:10.0.0.2", 1),  # an IPv4 peer on a dual-stack socket
            "headers": [
                (b"x-forwarded-proto", b"https"),
                (b"x-forwarded-for", b"203.0.113.4, 10.0.0.3"),
                (b"x-forwarded-host", b"App.Example.org"),
            ],
        }
    )
    assert scope["scheme"] == "wss"
    assert scope["client"] == ("203.0.113.4", 0)  # the nearest untrusted address
    assert scope[FORWARDED_HOST] == "app.example.org"


async def test_the_forwarded_header_is_read_too() -> None:
    scope = await _through_proxy_middleware(
        {
            "type": "http",
            "scheme": "http",
            "client": ("127.0.0.1", 1),
            "headers": [
                (b"forwarded", b'for=192.0.2.1;host="evil.example"'),
                (b"forwarded", b"for=192.0.2.60;proto=https;host=api.example.org"),
            ],
        }
    )
    assert scope["scheme"] == "https"
    assert scope[FORWARDED_HOST] == "api.example.org"


async def test_an_untrusted_peer_changes_nothing() -> None:
    original = {
        "type": "http",
        "scheme": "http",
        "client": ("198.51.100.8", 1),
        "headers": [
            (b"x-forwarded-proto", b"https"),
            (b"x-forwarded-for", b"10.0.0.2"),
            (b"x-forwarded-host", b"api.example.org"),
        ],
    }
    scope = await _through_proxy_middleware(dict(original))
    assert scope == original


@pytest.mark.parametrize(
    ("entries", "host", "trusted"),
    [
        (("127.0.0.1", "::1"), "127.0.0.1", True),
        (("127.0.0.1", "::1"), "::1", True),
        (("127.0.0.1", "::1"), "127.0.0.2", False),
        (("10.0.0.0/8",), "10.200.3.4", True),
        (("10.0.0.0/8",), "11.0.0.1", False),
        (("fd00::/8",), "fd12::1", True),
        (("127.0.0.1",), "testclient", False),
        (("127.0.0.1",), None, False),
        (("*",), "198.51.100.1", True),
    ],
)
def test_trusted_proxies(entries: tuple[str, ...], host: str | None, trusted: bool) -> None:
    assert (host in TrustedProxies(entries)) is trusted


def test_origins_are_normalized() -> None:
    assert normalized_origin("HTTPS://App.Example:443/path?q") == "https://app.example"
    assert normalized_origin("http://[::1]:8000") == "http://[::1]:8000"
    assert normalized_origin("http://h:99999") is None
    assert normalized_origin("javascript:alert(1)") is None


async def test_the_middleware_refuses_with_a_problem_and_lets_bearer_requests_through() -> None:
    calls: list[str] = []

    async def app(scope: Any, _receive: Any, _send: Any) -> None:
        calls.append(scope["method"])

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = CsrfMiddleware(app, allowed_origins=ALLOWED)  # type: ignore[arg-type]
    foreign = [(b"host", PUBLIC.encode()), (b"origin", b"https://evil.example")]
    for method, extra in (("POST", []), ("GET", []), ("POST", [(b"authorization", b"Bearer t")])):
        scope = {"type": "http", "method": method, "scheme": "http", "headers": foreign + extra}
        await middleware(scope, None, send)  # type: ignore[arg-type]
    assert calls == ["GET", "POST"]
    assert sent[0]["status"] == 403
    assert b"origin not allowed" in sent[1]["body"]
