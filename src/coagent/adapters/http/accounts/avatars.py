"""Serving avatars: the stored type only, never sniffable, never active content."""

from typing import Annotated

from litestar import Response, get
from litestar.params import PathParameter

from coagent.adapters.http.accounts.services import Accounts, AccountServices
from coagent.adapters.http.deps import services_of
from coagent.adapters.http.problems import problems
from coagent.application.accounts.get_avatar import GetAvatarCommand


@get(
    "/static/avatars/{file_name:str}",
    operation_id="avatars_read",
    tags=["users"],
    responses=problems(404),
    media_type="image/*",
    dependencies={"accounts": services_of(AccountServices, signed_in=False)},
)
async def read_avatar(
    # The server names the files `<hex>.<ext>`; other characters (NUL, slashes) never match.
    file_name: Annotated[str, PathParameter(pattern=r"^[A-Za-z0-9._-]{1,255}$")],
    accounts: Accounts,
) -> Response[bytes]:
    image = await accounts.get_avatar.execute(GetAvatarCommand(file_name=file_name))
    return Response(
        image.data,
        media_type=image.content_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "public, max-age=31536000, immutable",
            "Content-Disposition": f'inline; filename="{image.file_name}"',
        },
    )
