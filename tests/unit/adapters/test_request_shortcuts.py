"""Per-request work the read endpoints skip (issue 20), without skipping a check.

- The body check reads no body that the request does not announce (HTTP/1: no
  Content-Length, no Transfer-Encoding), and still reads and refuses one that it does.
- Paging and history links name the path as the client addressed it, mount prefix included,
  without building the request's whole URL.
"""

from typing import Any

import pytest
from litestar import Litestar, Request, get
from litestar.testing import TestClient

from coagent.adapters.http.bodies import strict_json_body
from coagent.adapters.http.paging import paging_headers, request_path

pytestmark = pytest.mark.anyio


@get("/items", sync_to_thread=False)
def items(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {"path": request_path(request), "url_path": request.url.path} | paging_headers(
        request, 2, 2, 10
    )


def _app() -> Litestar:
    return Litestar([items], before_request=strict_json_body)


async def _call(app: Litestar, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, int]:
    """(status, how many times the app asked for the request body)."""
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/items",
        "raw_path": b"/items",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    return sent[0]["status"], asked


async def test_a_request_that_announces_no_body_is_not_read() -> None:
    app = _app()
    async with app.lifespan():
        status, asked = await _call(app, [], b"")
    assert (status, asked) == (200, 0)


@pytest.mark.parametrize(
    "framing",
    [
        [(b"content-length", b"%d")],
        [(b"transfer-encoding", b"chunked")],
    ],
    ids=["content-length", "chunked"],
)
async def test_an_announced_body_is_still_read_and_refused_when_unreadable(
    framing: list[tuple[bytes, bytes]],
) -> None:
    body = b"[" * 1000 + b"]" * 1000  # nests deeper than any operation takes
    headers = [(name, value.replace(b"%d", str(len(body)).encode())) for name, value in framing]
    app = _app()
    async with app.lifespan():
        status, asked = await _call(app, [(b"content-type", b"application/json"), *headers], body)
    assert asked >= 1
    assert status == 400


def test_links_name_the_path_under_the_mount_prefix() -> None:
    with TestClient(_app(), root_path="/prefix") as client:
        answer = client.get("/items", params={"limit": 2, "offset": 2, "q": "x"}).json()
    assert answer["path"] == answer["url_path"] == "/prefix/items"
    assert answer["Link"] == (
        '</prefix/items?offset=4&limit=2&q=x>; rel="next", '
        '</prefix/items?offset=0&limit=2&q=x>; rel="prev"'
    )
    assert answer["X-Total-Count"] == "10"


def test_a_single_page_has_a_count_and_no_links() -> None:
    @get("/one", sync_to_thread=False)
    def one(request: Request[Any, Any, Any]) -> dict[str, str]:
        return paging_headers(request, 0, 50, 5)

    with TestClient(Litestar([one])) as client:
        assert client.get("/one").json() == {"X-Total-Count": "5"}
