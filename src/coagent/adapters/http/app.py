"""Assembles the Litestar application from use cases the composition root built."""

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIResponse,
    SecurityScheme,
)
from litestar.response import Redirect
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, HTTPScope
from swagger_ui_bundle import swagger_ui_path

from coagent.adapters.http.accounts.avatars import read_avatar
from coagent.adapters.http.accounts.login import LoginController
from coagent.adapters.http.accounts.users import UsersController
from coagent.adapters.http.admin.controller import AdminController
from coagent.adapters.http.agents.controller import AgentConfigController, AgentsController
from coagent.adapters.http.analytics.controller import AnalyticsController, JobsController
from coagent.adapters.http.auth import provide_optional_principal, provide_principal
from coagent.adapters.http.bodies import strict_json_body, takes_json_body
from coagent.adapters.http.chat.controller import ChatController
from coagent.adapters.http.chat.event_schemas import add_event_schemas
from coagent.adapters.http.chat.socket import chat_socket
from coagent.adapters.http.config import HttpConfig
from coagent.adapters.http.courses.announcements import AnnouncementsController
from coagent.adapters.http.courses.controller import CoursesController
from coagent.adapters.http.courses.rooms import RoomsController
from coagent.adapters.http.csrf import CsrfMiddleware
from coagent.adapters.http.deps import ServiceRegistry
from coagent.adapters.http.health import health, ready
from coagent.adapters.http.meta import list_timezones
from coagent.adapters.http.metrics import CountedLitestar, read_metrics
from coagent.adapters.http.observe import after_each_request
from coagent.adapters.http.problems import EXCEPTION_HANDLERS
from coagent.adapters.http.proposals.controller import ProposalsController
from coagent.adapters.http.proxy import ProxyHeadersMiddleware
from coagent.adapters.http.request_id import current_request_id, request_ids
from coagent.adapters.http.struct_schemas import complete_struct_schemas
from coagent.adapters.http.turns.controller import TurnsController
from coagent.application.accounts.authenticate import Authenticate

access_logger = logging.getLogger("coagent.access")

SECURITY_HEADERS = [
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="no-referrer"),
    ResponseHeader(name="X-Frame-Options", value="DENY"),
]


def _access_log(app: ASGIApp) -> ASGIApp:
    """One line per request: method, path (never the query string), route template, status,
    milliseconds.
    """

    def log(scope: HTTPScope, status: int, seconds: float) -> None:
        access_logger.info(
            "request",
            extra={
                "method": scope.get("method"),
                "path": scope.get("path"),
                # The matched route template (set by routing): /api/v1/rooms/{room_id}
                "route": scope.get("path_template"),
                "status": status,
                "ms": round(seconds * 1000, 2),
                "request_id": current_request_id(),
            },
        )

    return after_each_request(app, log)


@get("/api/v1/openapi.json", include_in_schema=False, sync_to_thread=False)
def openapi_json(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The OpenAPI document at the original system's address."""
    return Response(request.app.openapi_schema.to_schema(), media_type=MediaType.JSON)


@get(["/docs", "/"], include_in_schema=False, sync_to_thread=False)
def docs_redirect() -> Redirect:
    return Redirect("/api/v1/docs")


def _declare_unsupported_media_type(app: Litestar) -> None:
    """Operations taking a JSON body answer 415 to another Content-Type (bodies.py): say so
    in the document, with the problem body of their 422.
    """
    operations = {
        operation.operation_id: operation
        for item in (app.openapi_schema.paths or {}).values()
        for operation in (item.post, item.put, item.patch, item.delete)
        if operation is not None
    }
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            operation = operations.get(handler.operation_id)  # type: ignore[arg-type]
            if operation is None or not takes_json_body(handler) or not operation.responses:
                continue
            problem = operation.responses.get("422")
            if isinstance(problem, OpenAPIResponse) and "415" not in operation.responses:
                operation.responses["415"] = replace(
                    problem, description="The body is not JSON: send Content-Type application/json"
                )


def _fix_options_allow(app: Litestar) -> None:
    """Litestar 2 builds the automatic OPTIONS handler of a path with its first handler only,
    so `Allow` omits the methods registered later (litestar#4169, fixed in v3 only). Point
    each automatic handler at the complete method set of its route.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.http_methods != {"OPTIONS"} or handler.handler_name != "options_handler":
                continue
            for cell in getattr(handler.fn, "__closure__", None) or ():
                if isinstance(cell.cell_contents, HTTPRoute):
                    cell.cell_contents.methods = route.methods


# The API reference UI (Swagger UI 5, OpenAPI 3.1) from the files the pinned
# `swagger-ui-bundle-v2` package ships: /docs works offline and does not change under us (a
# CDN's `@latest` did both).
DOCS_ASSETS = "/api/v1/docs/assets"
DOCS_UI = SwaggerRenderPlugin(
    path="/",
    js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
    css_url=f"{DOCS_ASSETS}/swagger-ui.css",
    standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
    favicon=f"<link rel='icon' type='image/png' href='{DOCS_ASSETS}/favicon-32x32.png'>",
)
docs_assets = create_static_files_router(
    path=DOCS_ASSETS,
    directories=[swagger_ui_path],
    name="docs_assets",
    include_in_schema=False,
    cache_control=CacheControlHeader(max_age=86400),
)


# Bodies of 1 KiB or more are compressed for clients that accept it: brotli when the client
# sends `br` (browsers, axios), else gzip; WebSocket frames never (HTTP scopes only). The
# fastest levels: a 100-message history page (63.6 KB) takes ~0.3 ms of CPU to 4-5 KB (level
# 9 gzip, Litestar's default, took 2.6 ms). Avatars are images, compressed already.
# docs/benchmarks.md, "Database-backed reads".
COMPRESSION = CompressionConfig(
    backend="brotli",
    minimum_size=1024,
    exclude=["^/static/avatars/"],
    brotli_quality=1,
    brotli_gzip_fallback=True,
    gzip_compress_level=1,
)


def build_app(
    *,
    services: Iterable[object],
    authenticate: Authenticate,
    config: HttpConfig,
    lifespan: Sequence[Callable[[Litestar], AbstractAsyncContextManager[None]]] = (),
    debug: bool = False,
) -> Litestar:
    middleware: list[Any] = [
        DefineMiddleware(ProxyHeadersMiddleware, trusted=config.forwarded_allow_ips),
        DefineMiddleware(CsrfMiddleware, allowed_origins=config.allowed_origins),
    ]
    if config.access_log:
        middleware.insert(0, _access_log)
    middleware.insert(0, request_ids)  # outermost: the access log line carries the id
    app = CountedLitestar(
        route_handlers=[
            LoginController,
            UsersController,
            CoursesController,
            RoomsController,
            AnnouncementsController,
            AdminController,
            AgentsController,
            AgentConfigController,
            AnalyticsController,
            JobsController,
            ChatController,
            TurnsController,
            ProposalsController,
            chat_socket,
            read_avatar,
            health,
            ready,
            read_metrics,
            list_timezones,
            openapi_json,
            docs_redirect,
            docs_assets,
        ],
        dependencies={
            "authenticate": Provide(lambda: authenticate, use_cache=True, sync_to_thread=False),
            "config": Provide(lambda: config, use_cache=True, sync_to_thread=False),
            "current": Provide(provide_principal),
            "principal": Provide(provide_optional_principal),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=middleware,
        cors_config=CORSConfig(
            allow_origins=list(config.allowed_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "Prefer",
                "X-Request-ID",
            ],
            expose_headers=[
                "X-Total-Count",
                "Link",
                "Retry-After",
                "Idempotent-Replayed",
                "X-Request-ID",
                "Location",
                "Preference-Applied",
            ],
        )
        if config.allowed_origins
        else None,
        response_headers=SECURITY_HEADERS,
        openapi_config=OpenAPIConfig(
            title=config.title,
            version=config.version,
            path="/api/v1/docs",
            render_plugins=[DOCS_UI],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="JWT",
                        description="The `access_token` from /api/v1/login/access-token",
                    ),
                    "AccessCookie": SecurityScheme(
                        type="apiKey",
                        name="access_token",
                        security_scheme_in="cookie",
                        description="The HttpOnly cookie set at login (browsers)",
                    ),
                }
            ),
            use_handler_docstrings=False,
        ),
        compression_config=COMPRESSION,
        lifespan=list(lifespan),
        before_request=strict_json_body,
        request_max_body_size=1024 * 1024,
        debug=debug,
        logging_config=None,  # the composition root configures logging
    )
    complete_struct_schemas(app)
    # Each controller takes its own context's services from here (deps.services_of).
    app.state.services = ServiceRegistry(services)
    add_event_schemas(app)
    _declare_unsupported_media_type(app)
    _fix_options_allow(app)
    return app
