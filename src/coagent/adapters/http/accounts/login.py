"""/api/v1/login: sessions for browsers (cookies) and programs (bearer tokens)."""

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import PermissionDeniedException
from litestar.openapi.spec import OpenAPIMediaType, Operation, Reference, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import FromPath

from coagent.adapters.http.accounts.schemas import (
    NO_NUL,
    LoginJson,
    Notice,
    RefreshJson,
    SessionInfo,
    TokenResponse,
    UserRead,
)
from coagent.adapters.http.accounts.services import Accounts, AccountServices
from coagent.adapters.http.auth import (
    REFRESH_COOKIE,
    SECURITY,
    clear_session_cookies,
    session_cookies,
)
from coagent.adapters.http.deps import Config, Current, MaybePrincipal, services_of
from coagent.adapters.http.problems import Problem, problem_response, problems
from coagent.application.accounts.get_current_user import GetCurrentUserCommand
from coagent.application.accounts.impersonate import ImpersonateCommand
from coagent.application.accounts.log_in import LogInCommand
from coagent.application.accounts.log_out import LogOutCommand
from coagent.application.accounts.log_out_everywhere import LogOutEverywhereCommand
from coagent.application.accounts.refresh_session import RefreshSessionCommand
from coagent.application.accounts.sessions import IssuedTokens
from coagent.application.accounts.stop_impersonating import StopImpersonatingCommand
from coagent.domain.errors import InvalidInput, NotAuthenticated

_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
_MAX_CREDENTIAL_BODY = 8 * 1024


def _schema(properties: dict[str, Schema | Reference], required: list[str]) -> Schema:
    return Schema(type=OpenAPIType.OBJECT, properties=properties, required=required)


_STRING = Schema(type=OpenAPIType.STRING, max_length=1024, pattern=NO_NUL)
# As LoginJson validates it: an email or a username.
_LOGIN_NAME = Schema(type=OpenAPIType.STRING, max_length=320, pattern=NO_NUL)
_LOGIN_SCHEMA = _schema({"username": _LOGIN_NAME, "password": _STRING}, ["username", "password"])
_REFRESH_SCHEMA = _schema({"refresh_token": _STRING}, [])


@dataclass
class _LoginOperation(Operation):
    """Documents the password grant as JSON. The same fields as a form
    (application/x-www-form-urlencoded or multipart, what OAuth2 and the original web client
    send) are accepted too, but only said in the description: a required body with two media
    types makes openapi-python-client emit a module that fails at import.
    """

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            content={_JSON: OpenAPIMediaType(schema=_LOGIN_SCHEMA)},
            description=(
                "The credentials as JSON, or the same fields as an "
                "application/x-www-form-urlencoded form (OAuth2 password grant)."
            ),
        )


@dataclass
class _RefreshOperation(Operation):
    request_body: Any = field(
        default_factory=lambda: RequestBody(
            required=False,
            content={
                _JSON: OpenAPIMediaType(schema=_REFRESH_SCHEMA),
                _FORM: OpenAPIMediaType(schema=_REFRESH_SCHEMA),
            },
            description="Optional: the refresh token, when not sent as the refresh cookie.",
        )
    )


async def _credentials_body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Form or JSON body as a dict; anything else is a 422."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if len(raw) > _MAX_CREDENTIAL_BODY:
        raise InvalidInput("Request body is too large")
    if content_type in {_FORM, "multipart/form-data"}:
        try:
            form = await request.form()
        except (UnicodeDecodeError, LookupError) as error:  # a part not in its charset
            raise InvalidInput("The form's fields must be UTF-8 text") from error
        return {key: value for key, value in form.items() if isinstance(value, str)}
    if content_type == _JSON or (content_type == "" and raw.lstrip().startswith(b"{")):
        try:
            decoded = msgspec.json.decode(raw) if raw.strip() else {}
        except msgspec.DecodeError as error:
            raise InvalidInput("Body is not valid JSON") from error
        if not isinstance(decoded, dict):
            raise InvalidInput("Body must be a JSON object")
        return decoded
    if not raw.strip():
        return {}
    raise InvalidInput("Send the credentials as a form or as JSON")


def _token_response(config: Config, issued: IssuedTokens) -> Response[TokenResponse]:
    return Response(
        TokenResponse(
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            expires_in=issued.access_expires_in,
        ),
        cookies=session_cookies(config, issued),
        headers={"Cache-Control": "no-store"},
    )


def _unauthenticated(config: Config, detail: str) -> Response[Problem]:
    response = problem_response(401, detail, headers={"WWW-Authenticate": 'Bearer realm="coagent"'})
    clear_session_cookies(response, config)
    return response


class LoginController(Controller):
    path = "/api/v1/login"
    tags = ["login"]
    dependencies = {"accounts": services_of(AccountServices, signed_in=False)}

    @post(
        "/access-token",
        operation_id="login_access_token",
        operation_class=_LoginOperation,
        summary="Log in (OAuth2 password grant)",
        description=(
            "Accepts `username` (email or username) and `password` as a form or JSON. Sets the "
            "HttpOnly `access_token` and `refresh_token` cookies and returns the same tokens for "
            "non-browser clients. Unknown account and wrong password get the same 400 answer."
        ),
        responses=problems(400, 403, 429),
        status_code=200,
    )
    async def access_token(
        self, request: Request[Any, Any, Any], accounts: Accounts, config: Config
    ) -> Response[TokenResponse]:
        body = await _credentials_body(request)
        try:
            credentials = msgspec.convert(body, LoginJson, strict=False)
        except msgspec.ValidationError as error:
            raise InvalidInput(f"Invalid credentials body: {error}") from error
        issued = await accounts.log_in.execute(
            LogInCommand(
                login=credentials.username,
                password=credentials.password,
                client_address=request.client.host if request.client else "unknown",
            )
        )
        return _token_response(config, issued)

    @post(
        "/refresh",
        operation_id="login_refresh",
        operation_class=_RefreshOperation,
        summary="Rotate the refresh token",
        description=(
            "Uses the `refresh_token` cookie (or `refresh_token` in the body). Each refresh "
            "token works once; reusing one revokes the whole session. A failed refresh "
            "(missing, expired, revoked, reused or invalid token) answers 401 and clears the "
            "session cookies."
        ),
        responses=problems(401, 403),
        status_code=200,
    )
    async def refresh(
        self, request: Request[Any, Any, Any], accounts: Accounts, config: Config
    ) -> Response[Any]:
        body = await _credentials_body(request)
        try:
            sent = msgspec.convert(body, RefreshJson)
        except msgspec.ValidationError as error:
            raise InvalidInput(f"Invalid refresh body: {error}") from error
        token = sent.refresh_token or request.cookies.get(REFRESH_COOKIE)
        if not token:
            return _unauthenticated(config, "No refresh token")
        try:
            issued = await accounts.refresh.execute(RefreshSessionCommand(refresh_token=token))
        except NotAuthenticated as error:
            return _unauthenticated(config, error.detail)
        return _token_response(config, issued)

    @post(
        "/logout",
        operation_id="login_logout",
        summary="Log out",
        description="Revokes this session at once and clears the cookies. Always succeeds.",
        responses=problems(403),
        status_code=200,
    )
    async def logout(
        self,
        request: Request[Any, Any, Any],
        accounts: Accounts,
        config: Config,
        principal: MaybePrincipal,
    ) -> Response[Notice]:
        session_id = principal.session_id if principal else None
        await accounts.log_out.execute(
            LogOutCommand(session_id=session_id, refresh_token=request.cookies.get(REFRESH_COOKIE))
        )
        response = Response(Notice(message="Logged out successfully"))
        clear_session_cookies(response, config)
        return response

    @post(
        "/logout-all",
        operation_id="login_logout_all",
        summary="Log out everywhere",
        description="Revokes every session of your account, this one included.",
        responses=problems(401, 403),
        status_code=200,
        security=SECURITY,
    )
    async def logout_all(
        self, accounts: Accounts, config: Config, current: Current
    ) -> Response[Notice]:
        user_id = current.impersonator_id or current.user_id
        if current.impersonator_id is not None:
            raise PermissionDeniedException("Stop impersonating first")
        count = await accounts.log_out_everywhere.execute(LogOutEverywhereCommand(user_id=user_id))
        response = Response(Notice(message=f"Revoked {count} session(s)"))
        clear_session_cookies(response, config)
        return response

    @post(
        "/test-token",
        operation_id="login_test_token",
        summary="Who am I (the original web client's session check)",
        description=(
            "Returns your account. When the access token is missing, expired, revoked or "
            "invalid, the answer depends on the `refresh_token` cookie (its path covers this "
            "endpoint): **401 when the cookie is present**, so the original web client "
            "refreshes (`POST /login/refresh`) and calls this again, and **403 when it is "
            "absent**. That client answers a 401 by refreshing and reloading its login page, "
            "which calls this again: without a refresh cookie a 401 would loop for ever, so "
            "there is none (a failed refresh clears the cookie). Every other endpoint answers "
            "401."
        ),
        responses=problems(401, 403),
        status_code=200,
        security=SECURITY,
    )
    async def test_token(
        self, request: Request[Any, Any, Any], accounts: Accounts, principal: MaybePrincipal
    ) -> UserRead:
        try:
            if principal is None:
                raise NotAuthenticated("Not authenticated")
            user = await accounts.current_user.execute(
                GetCurrentUserCommand(actor_id=principal.user_id)
            )
        except NotAuthenticated as error:
            if request.cookies.get(REFRESH_COOKIE):
                raise  # 401: the client refreshes, then asks again
            raise PermissionDeniedException(error.detail) from error
        return UserRead.of(user)

    @get(
        "/session",
        operation_id="login_session",
        summary="The current session, read from the token alone (no database)",
        responses=problems(401),
        security=SECURITY,
    )
    async def session(self, current: Current) -> SessionInfo:
        return SessionInfo(
            user_id=current.user_id,
            session_id=current.session_id,
            role=current.role,
            expires_at=current.expires_at,
            impersonator_id=current.impersonator_id,
        )

    @post(
        "/impersonate/{user_id:uuid}",
        operation_id="login_impersonate",
        summary="Act as another user (super_admin only)",
        description=(
            "Opens a time-limited session as the target and sets its cookies plus the "
            "readable `is_impersonating=true` cookie. Never of another super_admin or an inactive "
            "account. Audit-logged."
        ),
        responses=problems(401, 403, 404),
        status_code=200,
        security=SECURITY,
    )
    async def impersonate(
        self,
        user_id: FromPath[UUID],
        accounts: Accounts,
        config: Config,
        current: Current,
    ) -> Response[TokenResponse]:
        issued = await accounts.impersonate.execute(
            ImpersonateCommand(
                actor_id=current.user_id, actor_session_id=current.session_id, target_id=user_id
            )
        )
        return _token_response(config, issued)

    @post(
        "/stop-impersonate",
        operation_id="login_stop_impersonate",
        summary="Return to your own session",
        description=(
            "Ends the impersonation session and restores the original one, only if it is still "
            "valid; otherwise answers 401 and clears the cookies."
        ),
        responses=problems(401, 403, 409),
        status_code=200,
        security=SECURITY,
    )
    async def stop_impersonate(
        self, accounts: Accounts, config: Config, current: Current
    ) -> Response[Any]:
        try:
            issued = await accounts.stop_impersonating.execute(
                StopImpersonatingCommand(session_id=current.session_id)
            )
        except NotAuthenticated as error:
            return _unauthenticated(config, error.detail)
        return _token_response(config, issued)
