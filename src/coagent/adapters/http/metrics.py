"""GET /metrics (Prometheus text format) and the HTTP request instrument.

Who may read it (`METRICS_TOKEN`): with a token set, a caller sending it as a bearer token,
from anywhere (401 otherwise); without one, only callers on this host (loopback, as the
client address reads after trusted proxy headers), and 404 for everyone else, as if there
were no such page. The page is not in the OpenAPI document (it is not JSON).
"""

from typing import Any, cast

from litestar import Litestar, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.types import (
    ASGIApp,
    HTTPScope,
    LifeSpanReceive,
    LifeSpanScope,
    LifeSpanSend,
    Receive,
    Scope,
    Send,
)

from coagent.adapters.http.deps import Config
from coagent.adapters.http.observe import after_each_request
from coagent.adapters.observability import metrics
from coagent.domain.errors import NotAuthenticated


@get("/metrics", include_in_schema=False, sync_to_thread=True)
def read_metrics(request: Request[Any, Any, Any], config: Config) -> Response[bytes]:
    token = config.metrics_token
    if token is None:
        if not metrics.is_loopback(request.client.host if request.client else None):
            raise NotFoundException()
    elif not metrics.bearer_matches(request.headers.get("authorization"), token):
        raise NotAuthenticated("Send the metrics token as a bearer token")
    return Response(
        metrics.render(),
        media_type=metrics.CONTENT_TYPE,
        headers={"Cache-Control": "no-store"},
    )


class CountedLitestar(Litestar):
    """Litestar whose ASGI entry point counts every HTTP request, routing included, so
    requests no route answered are counted too (as `unmatched`): the route label is the
    template routing set in the scope. Overriding the application's public `__call__` needs
    nothing of Litestar's internals (its middleware runs only for matched routes).
    """

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        counted = after_each_request(cast("ASGIApp", super().__call__), _observe)
        await counted(cast("Scope", scope), cast("Receive", receive), cast("Send", send))


def _observe(scope: HTTPScope, status: int, seconds: float) -> None:
    metrics.observe_request(
        scope.get("method", ""), scope.get("path_template") or None, status, seconds
    )
