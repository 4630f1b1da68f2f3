"""JSON bodies held to the types the OpenAPI document gives them, for every handler."""

import weakref
from collections.abc import Callable
from typing import Any, TypeVar, overload

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler

from coagent.adapters.http.auth import access_token
from coagent.adapters.http.input_guard import (
    is_json_content,
    refuse_nul_at,
    refuse_nul_text,
    refuse_unreadable_json,
    refuse_unreadable_query,
)
from coagent.application.partial import KEEP, Keep

T = TypeVar("T")
U = TypeVar("U")
_NOT_JSON = object()
# Per handler object (weakly: tests build many apps). `handler_id` would do as a key but is
# rebuilt on every call from the handler's layers (~10 us a request).
_body_types: "weakref.WeakKeyDictionary[HTTPRouteHandler, Any]" = weakref.WeakKeyDictionary()


def takes_json_body(handler: HTTPRouteHandler) -> bool:
    """Whether the handler's `data` is a JSON body (so another Content-Type is a 415)."""
    field = handler.parsed_fn_signature.parameters.get("data")
    kwarg = field.kwarg_definition if field is not None else None
    return kwarg is not None and getattr(kwarg, "media_type", None) == RequestEncodingType.JSON


def _json_body_type(request: Request[Any, Any, Any]) -> Any:
    """The struct a handler takes as its JSON `data`, or _NOT_JSON (cached per handler)."""
    handler = request.route_handler
    try:
        found = _body_types.get(handler)
    except TypeError:  # Litestar's own handlers (OPTIONS) take no weak reference
        return _body_type_of(handler)
    if found is None:
        found = _body_types[handler] = _body_type_of(handler)
    return found


def _body_type_of(handler: HTTPRouteHandler) -> Any:
    field = handler.parsed_fn_signature.parameters.get("data")
    json_type = field.annotation if field is not None and takes_json_body(handler) else None
    return _NOT_JSON if json_type is None else json_type


def _announces_no_body(request: Request[Any, Any, Any]) -> bool:
    """An HTTP/1 request without Content-Length or Transfer-Encoding has no body (RFC 9112
    6.3), so there is nothing to read or check (a GET, most often).
    """
    if request.scope.get("http_version", "1.1") not in {"1.1", "1.0"}:
        return False
    headers = request.headers
    length = headers.get("content-length")
    return (length is None or length == "0") and "transfer-encoding" not in headers


async def strict_json_body(request: Request[Any, Any, Any]) -> None:
    """`before_request` hook: refuse (422) a JSON body only lenient conversion would accept.

    Litestar converts request data with `strict=False`, which suits query strings but also takes
    `0` or `"true"` for a boolean and `"5"` for a number in a JSON body, against the schema.
    A protected operation called without any token is left to authentication (401 first).
    Also refuses a repeated query parameter: every parameter we declare is a single value, and
    Litestar would silently pick one of the copies; and input no operation can take (see
    input_guard): a query string or JSON body that is not UTF-8 or nests too deep, and a NUL in
    any text of the query or of the body as the handler takes it. A body with a Content-Type
    other than JSON sent to a JSON operation is a 415.
    """
    refuse_unreadable_query(request.scope.get("query_string", b""))
    keys = [key for key, _ in request.query_params.multi_items()]
    if len(keys) != len(set(keys)):
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        raise ValidationException(
            "Request is not valid",
            extra=[{"message": "Parameter is repeated", "key": repeated[0], "source": "query"}],
        )
    body_type = _json_body_type(request)
    content_type = request.headers.get("content-type", "")
    if body_type is _NOT_JSON and content_type.startswith("multipart/"):
        if not request.route_handler.security or access_token(request) is not None:
            await _refuse_unreadable_form(request)
        return
    if request.route_handler.security and access_token(request) is None:
        return
    if _announces_no_body(request):
        return
    body = await request.body()
    if (
        body_type is not _NOT_JSON
        and body
        and content_type
        and not is_json_content(content_type, b"")
    ):
        # A form or text body sent to a JSON operation (e.g. `curl -d` without a JSON
        # Content-Type): say so instead of parsing it as JSON. No Content-Type is accepted.
        raise HTTPException(
            status_code=415, detail="This operation takes application/json; send that Content-Type"
        )
    if body and (body_type is not _NOT_JSON or is_json_content(content_type, body)):
        refuse_unreadable_json(body)
    if body_type is _NOT_JSON:
        return
    try:
        decoded = msgspec.json.decode(body, type=body_type)
    except msgspec.ValidationError as error:
        decoded = _with_integral_floats(body, body_type)
        if decoded is _NOT_JSON:
            refuse_nul_at(body, str(error))
            raise ValidationException(
                "Request is not valid", extra=[{"message": str(error), "source": "body"}]
            ) from error
    except msgspec.DecodeError:
        return  # not JSON at all: Litestar's own parsing answers 400
    refuse_nul_text(decoded)


async def _refuse_unreadable_form(request: Request[Any, Any, Any]) -> None:
    """Parse a multipart body once (the handler reuses it): a text field that is not in its
    charset is a 422 here, where Litestar's parser would raise UnicodeDecodeError (a 500).
    """
    await request.body()  # kept: handlers that read the raw body too (the login) still can
    try:
        await request.form()
    except (UnicodeDecodeError, LookupError) as error:
        raise ValidationException(
            "Request is not valid",
            extra=[{"message": "A form field is not text in its charset", "source": "body"}],
        ) from error


def _with_integral_floats(body: bytes, body_type: Any) -> Any:
    """The body decoded once numbers such as `30.0` count as integers, as JSON Schema counts
    them (an `integer` is any number without a fractional part), or _NOT_JSON when it is
    still not valid; Litestar's own conversion then reads them as ints.
    """

    def integral(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {key: integral(item) for key, item in value.items()}
        if isinstance(value, list):
            return [integral(item) for item in value]
        return value

    try:
        return msgspec.convert(integral(msgspec.json.decode(body)), type=body_type)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return _NOT_JSON


def sent(value: T | msgspec.UnsetType) -> T | None:
    """An optional argument (not an update field): None when the client did not send it."""
    return None if value is msgspec.UNSET else value


@overload
def unset_keeps(value: T | msgspec.UnsetType) -> T | Keep: ...


@overload
def unset_keeps(value: T | msgspec.UnsetType, convert: Callable[[T], U]) -> U | Keep: ...


def unset_keeps(value: Any | msgspec.UnsetType, convert: Callable[[Any], Any] | None = None) -> Any:
    """A partial-update field as the use cases take it (`coagent.application.partial`): KEEP
    when the client did not send it, else the value sent (null included), through `convert`.
    """
    if value is msgspec.UNSET:
        return KEEP
    return value if convert is None else convert(value)
