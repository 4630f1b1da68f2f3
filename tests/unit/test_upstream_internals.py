"""Four places lean on a dependency's internals, because nothing documented does the job in
the pinned versions (`pyproject.toml` bounds them). Each test below hashes the source of the
upstream code we copy or patch; an upgrade that changes it fails here, saying what to
re-check, instead of failing quietly in production.

- `coagent.adapters.http.app._fix_options_allow`: Litestar 2 builds a path's automatic
  OPTIONS handler from its first handler only (litestar#4169, fixed in v3), and the fix
  rewrites the route the handler's closure holds.
- `coagent.main.workers.SocketPerWorker`: uvicorn's supervisor has no socket per worker; three
  of its `Multiprocess` methods are copied and changed.
- `coagent.adapters.llm.endpoints.GuardedTransport`: httpx's transport takes no network
  backend; the guarded one sets the private `_pool` that its methods use.
- `coagent.adapters.persistence.rows.fetch_in_transaction`: SQLAlchemy's asyncpg adapter
  begins its transaction lazily (`_started`, `_start_transaction`); a statement run on the
  driver first begins it the same way, so the session's commit or rollback ends it.
"""

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from litestar.routes.http import HTTPRoute
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from uvicorn.supervisors.multiprocess import Multiprocess, Process

OPTIONS = (
    "litestar changed how a route builds its OPTIONS handler: check whether Allow now lists "
    "every method (then delete _fix_options_allow in coagent.adapters.http.app), or adapt the "
    "closure rewrite, then update this hash"
)
WORKERS = (
    "uvicorn changed its multiprocess supervisor: re-apply its change to the copies in "
    "coagent.main.workers.SocketPerWorker (or use a socket-per-worker option if it has one), "
    "then update this hash"
)
TRANSPORT = (
    "httpx2 changed AsyncHTTPTransport: check that its methods still use only self._pool as "
    "coagent.adapters.llm.endpoints.GuardedTransport sets it (or use a documented network "
    "backend option if it has one), then update this hash"
)
TRANSACTION = (
    "SQLAlchemy changed how its asyncpg adapter begins, commits or rolls back a transaction: "
    "check that _started and _start_transaction still mean what "
    "coagent.adapters.persistence.rows.fetch_in_transaction relies on (the test "
    "test_the_turn_path_writes_belong_to_the_unit_of_work shows it), then update this hash"
)

UPSTREAM: list[tuple[Callable[..., Any], str, str]] = [
    (HTTPRoute.__init__, "666b113de165056a", OPTIONS),
    (HTTPRoute.create_options_handler, "c8a231f56864c591", OPTIONS),
    (Multiprocess.__init__, "5e0f105cb4a381b5", WORKERS),
    (Multiprocess.init_processes, "6c69f2a36bf55750", WORKERS),
    (Multiprocess.keep_subprocess_alive, "3ba4980aa33bcecd", WORKERS),
    (Multiprocess.restart_all, "438dec6d95be9fcd", WORKERS),
    (Process.__init__, "a8c85f799aae5b2c", WORKERS),
    (httpx2.AsyncHTTPTransport.__init__, "ed8da41b7119c7ad", TRANSPORT),
    (httpx2.AsyncHTTPTransport.handle_async_request, "98fe49895e684a49", TRANSPORT),
    (httpx2.AsyncHTTPTransport.aclose, "cef6e5ca8a3e8501", TRANSPORT),
    (httpx2.AsyncHTTPTransport.__aenter__, "e3a390f38d2970cb", TRANSPORT),
    (httpx2.AsyncHTTPTransport.__aexit__, "895cd70762f1a39b", TRANSPORT),
    (AsyncAdapt_asyncpg_connection._start_transaction, "b8699e2bdfcd9e38", TRANSACTION),
    (AsyncAdapt_asyncpg_connection.commit, "9e602c45d62de510", TRANSACTION),
    (AsyncAdapt_asyncpg_connection.rollback, "1b293443389a60ab", TRANSACTION),
]


@pytest.mark.parametrize(
    ("function", "expected", "what_to_check"),
    UPSTREAM,
    ids=[function.__qualname__ for function, _, _ in UPSTREAM],
)
def test_upstream_code_we_rely_on_is_unchanged(
    function: Callable[..., Any], expected: str, what_to_check: str
) -> None:
    digest = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]
    assert digest == expected, f"{function.__module__}.{function.__qualname__}: {what_to_check}"


def test_the_options_handler_closes_over_its_route() -> None:
    # What _fix_options_allow rewrites: the route held in the handler function's closure.
    from litestar import Litestar, get, post  # noqa: PLC0415

    @get("/thing", sync_to_thread=False)
    def read() -> None: ...

    @post("/thing", sync_to_thread=False)
    def write() -> None: ...

    app = Litestar([read, write])
    options = [
        handler
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if handler.handler_name == "options_handler"
    ]
    assert options, OPTIONS
    cells = [cell.cell_contents for cell in options[0].fn.__closure__ or ()]
    assert any(isinstance(content, HTTPRoute) for content in cells), OPTIONS


def test_the_guarded_transport_replaces_the_pool_its_methods_use() -> None:
    from coagent.adapters.llm.endpoints import EndpointGuard  # noqa: PLC0415

    transport = EndpointGuard().transport()
    assert type(transport._pool._network_backend).__name__ == "_GuardedBackend", TRANSPORT
    for method in ("handle_async_request", "aclose", "__aenter__", "__aexit__"):
        assert "self._pool" in inspect.getsource(getattr(httpx2.AsyncHTTPTransport, method)), (
            TRANSPORT
        )
