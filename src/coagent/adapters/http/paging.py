"""Paging headers for list endpoints (which stay plain JSON arrays)."""

from typing import Any
from urllib.parse import urlencode

from litestar import Request


def paging_headers(
    request: Request[Any, Any, Any], offset: int, limit: int, total: int
) -> dict[str, str]:
    """`X-Total-Count`, and a `Link` header with the next and previous pages."""
    headers = {"X-Total-Count": str(total)}
    links = []
    base = request.url.path
    kept = [
        (key, value)
        for key, value in request.query_params.multi_items()
        if key not in {"skip", "offset", "limit"}
    ]

    def page(start: int) -> str:
        # Percent-encoded: the client's own values must not break (or inject into) the header.
        return f"{base}?{urlencode([('offset', start), ('limit', limit), *kept])}"

    if offset + limit < total:
        links.append(f'<{page(offset + limit)}>; rel="next"')
    if offset > 0:
        links.append(f'<{page(max(0, offset - limit))}>; rel="prev"')
    if links:
        headers["Link"] = ", ".join(links)
    return headers
