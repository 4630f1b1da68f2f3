"""Paging for list endpoints (which stay plain JSON arrays): the query parameters most of them
share, and the response with its `X-Total-Count` and `Link` headers.
"""

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Protocol, TypeVar
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.params import QueryParameter

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
R = TypeVar("R")

# How many rows a page skips.
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000)]
# A page's size, 1 to 200 (an endpoint with another bound declares its own).
Limit = Annotated[int, QueryParameter(ge=1, le=200)]


class PageOf(Protocol[T_co]):
    """A use case's page: `Page`, `TurnPage`, `ProposalPage`, ..."""

    @property
    def items(self) -> Sequence[T_co]: ...

    @property
    def total(self) -> int: ...


def paged(
    request: Request[Any, Any, Any],
    page: PageOf[T],
    offset: int,
    limit: int,
    read: Callable[[T], R],
) -> Response[list[R]]:
    """The page's items, each through `read`, with the paging headers."""
    return Response(
        [read(item) for item in page.items],
        headers=paging_headers(request, offset, limit, page.total),
    )


def request_path(request: Request[Any, Any, Any]) -> str:
    """The path the client asked for, as `request.url.path` gives it, without building the
    whole URL (host, query and all: tens of microseconds a request; docs/benchmarks.md).
    """
    scope = request.scope
    return scope.get("root_path", "") + scope["path"]


def paging_headers(
    request: Request[Any, Any, Any], offset: int, limit: int, total: int
) -> dict[str, str]:
    """`X-Total-Count`, and a `Link` header with the next and previous pages."""
    headers = {"X-Total-Count": str(total)}
    has_next, has_prev = offset + limit < total, offset > 0
    if not (has_next or has_prev):
        return headers
    links = []
    base = request_path(request)
    kept = [
        (key, value)
        for key, value in request.query_params.multi_items()
        if key not in {"skip", "offset", "limit"}
    ]

    def page(start: int) -> str:
        # Percent-encoded: the client's own values must not break (or inject into) the header.
        return f"{base}?{urlencode([('offset', start), ('limit', limit), *kept])}"

    if has_next:
        links.append(f'<{page(offset + limit)}>; rel="next"')
    if has_prev:
        links.append(f'<{page(max(0, offset - limit))}>; rel="prev"')
    headers["Link"] = ", ".join(links)
    return headers
