"""/api/v1/users: profiles and account administration."""

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, JSONBody, QueryParameter

from coagent.adapters.http.accounts.schemas import (
    NO_NUL,
    SEARCH_TERM,
    AvatarUpload,
    UserCreate,
    UserRead,
    UserUpdate,
)
from coagent.adapters.http.accounts.services import Accounts, AccountServices
from coagent.adapters.http.auth import SECURITY
from coagent.adapters.http.bodies import sent, unset_keeps
from coagent.adapters.http.deps import Current, services_of
from coagent.adapters.http.paging import paged
from coagent.adapters.http.problems import problems
from coagent.application.accounts.create_user import CreateUserCommand, NewAccount
from coagent.application.accounts.delete_user import DeleteUserCommand
from coagent.application.accounts.get_current_user import GetCurrentUserCommand
from coagent.application.accounts.list_users import ListUsersCommand
from coagent.application.accounts.search_users import SearchUsersCommand
from coagent.application.accounts.set_avatar import SetAvatarCommand
from coagent.application.accounts.update_user import UpdateUserCommand
from coagent.domain.accounts.avatar import AVATAR_MAX_BYTES

Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000, description="Rows to skip")]


def _update_command(actor_id: UUID, user_id: UUID, data: UserUpdate) -> UpdateUserCommand:
    return UpdateUserCommand(
        actor_id=actor_id,
        user_id=user_id,
        full_name=unset_keeps(data.full_name),  # null clears, as ""
        username=unset_keeps(data.username),  # null clears, as ""
        email=unset_keeps(data.email),
        password=unset_keeps(data.password),
        current_password=sent(data.current_password),
        role=unset_keeps(data.role),
        is_active=unset_keeps(data.is_active),
    )


class UsersController(Controller):
    path = "/api/v1/users"
    tags = ["users"]
    security = SECURITY
    dependencies = {"accounts": services_of(AccountServices)}

    @get("/me", operation_id="users_read_me", responses=problems(401))
    async def read_me(self, accounts: Accounts, current: Current) -> UserRead:
        user = await accounts.current_user.execute(GetCurrentUserCommand(actor_id=current.user_id))
        return UserRead.of(user)

    @put(
        "/me",
        operation_id="users_update_me",
        description=(
            "Change your name, username or password (a new password needs `current_password` "
            "and ends your other sessions). Your role and active flag are not yours to change."
        ),
        responses=problems(401, 403, 409),
    )
    async def update_me(
        self,
        data: JSONBody[UserUpdate],
        accounts: Accounts,
        current: Current,
    ) -> UserRead:
        user = await accounts.update_user.execute(
            _update_command(current.user_id, current.user_id, data)
        )
        return UserRead.of(user)

    @post(
        "/me/avatar",
        operation_id="users_upload_avatar",
        description="A JPEG, PNG or WebP image of at most 2 MB, recognised by its bytes.",
        responses=problems(401, 413),
        status_code=200,
        request_max_body_size=AVATAR_MAX_BYTES + 64 * 1024,
    )
    async def upload_avatar(
        self,
        data: Annotated[AvatarUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        accounts: Accounts,
        current: Current,
    ) -> UserRead:
        content = await data.file.read(AVATAR_MAX_BYTES + 1)
        user = await accounts.set_avatar.execute(
            SetAvatarCommand(actor_id=current.user_id, data=content)
        )
        return UserRead.of(user)

    @get(
        "/",
        operation_id="users_list",
        description="Admins. Oldest first; `X-Total-Count` and `Link` headers give the paging.",
        responses=problems(401, 403),
    )
    async def list_users(
        self,
        request: Request[Any, Any, Any],
        accounts: Accounts,
        current: Current,
        skip: Offset = 0,
        # schema_extra: Litestar leaves a zero `ge` of an optional parameter out of the schema.
        offset: Annotated[
            int | None,
            QueryParameter(ge=0, le=1_000_000, schema_extra={"minimum": 0, "maximum": 1_000_000}),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        search: Annotated[str | None, QueryParameter(max_length=200, pattern=NO_NUL)] = None,
    ) -> Response[list[UserRead]]:
        start = offset if offset is not None else skip
        page = await accounts.list_users.execute(
            ListUsersCommand(actor_id=current.user_id, offset=start, limit=limit, search=search)
        )
        return paged(request, page, start, limit, UserRead.of)

    @post(
        "/",
        operation_id="users_create",
        description="Admins; only a super_admin creates admins or super_admins.",
        responses=problems(401, 403, 409),
    )
    async def create_user(
        self,
        data: JSONBody[UserCreate],
        accounts: Accounts,
        current: Current,
    ) -> UserRead:
        user = await accounts.create_user.execute(
            CreateUserCommand(
                actor_id=current.user_id,
                account=NewAccount(
                    email=data.email,
                    password=data.password,
                    username=data.username,
                    full_name=data.full_name,
                    role=data.role,
                    is_active=data.is_active,
                ),
            )
        )
        return UserRead.of(user)

    @get(
        "/search",
        operation_id="users_search",
        description=(
            "Staff (global role TA and above), to find people to enroll; at least 2 "
            "characters. Admins: active accounts whose email or username starts with `q`, or "
            "whose name has a word that does. Other staff: only the active account whose email "
            "or username is exactly `q` (any case), never an admin account; [] otherwise."
        ),
        responses=problems(401, 403),
    )
    async def search_users(
        self,
        accounts: Accounts,
        current: Current,
        q: Annotated[str, QueryParameter(min_length=2, max_length=200, pattern=SEARCH_TERM)],
        limit: Annotated[int, QueryParameter(ge=1, le=50)] = 10,
    ) -> list[UserRead]:
        users = await accounts.search_users.execute(
            SearchUsersCommand(actor_id=current.user_id, query=q, limit=limit)
        )
        return [UserRead.of(user) for user in users]

    @put(
        "/{user_id:uuid}",
        operation_id="users_update",
        description="Admins (under the account policy), or the account holder on themselves.",
        responses=problems(401, 403, 404, 409),
    )
    async def update_user(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[UserUpdate],
        accounts: Accounts,
        current: Current,
    ) -> UserRead:
        user = await accounts.update_user.execute(_update_command(current.user_id, user_id, data))
        return UserRead.of(user)

    @delete(
        "/{user_id:uuid}",
        operation_id="users_delete",
        description="Admins; never yourself; only a super_admin deletes admins.",
        responses=problems(401, 403, 404),
        status_code=200,
    )
    async def delete_user(
        self, user_id: FromPath[UUID], accounts: Accounts, current: Current
    ) -> UserRead:
        user = await accounts.delete_user.execute(
            DeleteUserCommand(actor_id=current.user_id, user_id=user_id)
        )
        return UserRead.of(user)
