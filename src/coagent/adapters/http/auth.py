"""Who is calling: the access token from `Authorization: Bearer` or the HttpOnly cookie."""

from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie

from coagent.adapters.http.config import HttpConfig
from coagent.adapters.http.deps import Authenticator
from coagent.application.accounts.authenticate import Principal
from coagent.application.accounts.sessions import IssuedTokens
from coagent.domain.errors import NotAuthenticated

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
IMPERSONATING_COOKIE = "is_impersonating"
# The refresh cookie goes only to the login endpoints that use it (refresh, logout, stop, and
# test-token, which answers 401 rather than 403 when it is present).
REFRESH_COOKIE_PATH = "/api/v1/login"

SECURITY: list[dict[str, list[str]]] = [{"BearerToken": []}, {"AccessCookie": []}]


def bearer_token(request: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization")
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def access_token(request: Request[Any, Any, Any]) -> str | None:
    return bearer_token(request) or request.cookies.get(ACCESS_COOKIE) or None


async def provide_principal(
    request: Request[Any, Any, Any], authenticate: Authenticator
) -> Principal:
    token = access_token(request)
    if not token:
        raise NotAuthenticated("Not authenticated")
    principal: Principal = await authenticate.execute(token)
    return principal


async def provide_optional_principal(
    request: Request[Any, Any, Any], authenticate: Authenticator
) -> Principal | None:
    token = access_token(request)
    if not token:
        return None
    try:
        principal: Principal = await authenticate.execute(token)
    except NotAuthenticated:
        return None
    return principal


def session_cookies(config: HttpConfig, issued: IssuedTokens) -> list[Cookie]:
    common: dict[str, Any] = {"httponly": True, "samesite": "lax", "secure": config.secure_cookies}
    cookies = [
        Cookie(
            key=ACCESS_COOKIE,
            value=issued.access_token,
            max_age=issued.access_expires_in,
            path="/",
            **common,
        ),
        Cookie(
            key=REFRESH_COOKIE,
            value=issued.refresh_token,
            max_age=issued.refresh_expires_in,
            path=REFRESH_COOKIE_PATH,
            **common,
        ),
    ]
    if issued.impersonator_id is not None:
        # Readable by the SPA on purpose: it shows a banner while impersonating.
        cookies.append(
            Cookie(
                key=IMPERSONATING_COOKIE,
                value="true",
                max_age=issued.refresh_expires_in,
                path="/",
                httponly=False,
                samesite="lax",
                secure=config.secure_cookies,
            )
        )
    else:
        cookies.append(expired_cookie(IMPERSONATING_COOKIE, "/", config))
    return cookies


def expired_cookie(key: str, path: str, config: HttpConfig) -> Cookie:
    return Cookie(
        key=key,
        value="",
        max_age=0,
        expires=0,
        path=path,
        httponly=key != IMPERSONATING_COOKIE,
        samesite="lax",
        secure=config.secure_cookies,
    )


def clear_session_cookies(response: Response[Any], config: HttpConfig) -> None:
    for key, path in (
        (ACCESS_COOKIE, "/"),
        (REFRESH_COOKIE, REFRESH_COOKIE_PATH),
        (IMPERSONATING_COOKIE, "/"),
        ("original_access_token", "/"),  # the original system's cookie, if a client still has it
    ):
        response.set_cookie(expired_cookie(key, path, config))
