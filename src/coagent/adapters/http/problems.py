"""Every error leaves as an RFC 9457 problem document with a `detail`."""

import logging
import math
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from coagent.adapters.http.request_id import choose_request_id, current_request_id
from coagent.application.ports.llm import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from coagent.domain.errors import (
    CoagentError,
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
    Unavailable,
)

logger = logging.getLogger("coagent.http")

PROBLEM_JSON = "application/problem+json"

STATUS_BY_ERROR: dict[type[CoagentError], int] = {
    InvalidCredentials: 400,
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    TooManyAttempts: 429,
    # Our own dependency is saturated (no database connection came free): retry shortly.
    Unavailable: 503,
    # An LLM provider failed: our gateway problem, never the caller's.
    ProviderError: 502,
    ProviderAuthError: 502,
    ProviderBadRequest: 502,
    ProviderRateLimited: 503,
    ProviderUnavailable: 503,
    ProviderTimeout: 504,
}


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details."""

    title: str
    status: int
    detail: str
    type: str
    errors: list[dict[str, Any]] | None = None
    # RFC 6749 error code, on the token endpoints.
    error: str | None = None
    # On a 500: the id of the request (also in `X-Request-ID`), which the log line of the
    # error carries too.
    request_id: str | None = None


def problem_response(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    error: str | None = None,
    request_id: str | None = None,
) -> Response[Problem]:
    return Response(
        Problem(
            title=HTTPStatus(status).phrase,
            status=status,
            detail=detail,
            type="about:blank",
            errors=errors,
            error=error,
            request_id=request_id,
        ),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def status_of(error: CoagentError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[kind]
    return 400


def handle_domain_error(_: Request[Any, Any, Any], error: CoagentError) -> Response[Problem]:
    headers = None
    if isinstance(error, InvalidCredentials):
        return problem_response(400, error.detail, error="invalid_grant")
    if isinstance(error, TooManyAttempts | Unavailable):
        headers = {"Retry-After": str(error.retry_after)}
    elif isinstance(error, ProviderRateLimited) and error.retry_after is not None:
        headers = {"Retry-After": str(max(1, math.ceil(error.retry_after)))}
    elif isinstance(error, NotAuthenticated):
        headers = {"WWW-Authenticate": 'Bearer realm="coagent"'}
    return problem_response(status_of(error), error.detail, headers=headers)


def handle_validation_error(
    _: Request[Any, Any, Any], error: ValidationException
) -> Response[Problem]:
    extra = error.extra if isinstance(error.extra, list) else None
    errors = [
        {k: v for k, v in item.items() if k in {"message", "key", "source"}}
        for item in (extra or [])
        if isinstance(item, dict)
    ]
    # Litestar says which parameter is missing only in its detail, with the path and query
    # string after it (never echoed): name it in `errors` like any other invalid parameter.
    missing = _MISSING_PARAMETER.match(str(error.detail or ""))
    if missing and not errors:
        source, name = missing.groups()
        errors = [{"message": "Field required", "key": name, "source": source}]
    return problem_response(422, "Request is not valid", errors=errors or None)


_MISSING_PARAMETER = re.compile(
    r"^Missing required (query|header|cookie|path) parameter '([^']{1,200})' for path "
)


def handle_http_error(_: Request[Any, Any, Any], error: HTTPException) -> Response[Problem]:
    status = error.status_code
    detail = error.detail if status < 500 else HTTPStatus(status).phrase
    return problem_response(status, detail or HTTPStatus(status).phrase, headers=error.headers)


def handle_unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    """A 500 whose body names the request id, and nothing else of the error; the log line has
    the traceback under the same id (the log formatter drops query strings, SQL parameters
    and anything shaped like a secret).
    """
    request_id = current_request_id() or choose_request_id(None)
    logger.error(
        "unhandled error",
        extra={
            "method": request.method,
            "path": request.url.path,
            "error": type(error).__name__,
            "request_id": request_id,
        },
        exc_info=error,
    )
    return problem_response(
        HTTP_500_INTERNAL_SERVER_ERROR,
        f"Internal server error (request id {request_id})",
        request_id=request_id,
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    CoagentError: handle_domain_error,
    ValidationException: handle_validation_error,
    HTTPException: handle_http_error,
    Exception: handle_unexpected,
}

_DESCRIPTIONS = {
    400: "Bad request: malformed syntax or body (at login: invalid_grant)",
    401: "Not authenticated: missing, expired, revoked or invalid token",
    403: "Not allowed",
    404: "Not found, or not visible to you",
    409: "Conflict with the current state",
    413: "Request body too large",
    422: "Request is not valid",
    429: "Too many attempts; see Retry-After",
    502: "The language model provider failed (rejected key or request)",
    503: "A dependency is busy or unavailable (the database, Redis, a provider); see Retry-After",
    504: "The language model provider timed out",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem responses an operation may give.

    400 and 422 are always listed: a body that cannot be parsed is a 400 problem document,
    and Litestar would otherwise document its own 400 schema, which this app never sends.
    So is 503: any operation may find no free database connection within DB_POOL_TIMEOUT.
    """
    every: Sequence[int] = sorted({*statuses, 400, 422, 503})
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in every
    }


__all__ = ["EXCEPTION_HANDLERS", "MediaType", "Problem", "problem_response", "problems"]
