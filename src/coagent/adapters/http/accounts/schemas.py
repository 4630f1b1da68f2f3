"""Wire formats of the accounts API (the original's field names, no secrets)."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from litestar.datastructures import UploadFile

from coagent.domain.accounts.credentials import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User

# The schemas say exactly what the domain accepts, so a client (or a generated SDK) can tell a
# valid request before sending it. The domain strips surrounding whitespace, so the patterns
# allow it; no text may hold NUL, which PostgreSQL cannot store or compare.
NO_NUL = r"^[^\x00]*$"
# Python's whitespace (what str.strip() removes), spelled out: `\s` means something else in
# each regex dialect (ECMA in clients, ASCII-only in some validators).
WS = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# A password someone logs in with: only ever compared with a hash.
Password = Annotated[str, msgspec.Meta(max_length=PASSWORD_MAX_LENGTH, pattern=NO_NUL)]
# A password being set: 8 to 1024 characters, not all whitespace.
NewPassword = Annotated[
    str,
    msgspec.Meta(
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        pattern=f"^[^\\x00]*[^\\x00{WS}][^\\x00]*$",
    ),
]
Name = Annotated[str, msgspec.Meta(max_length=200, pattern=NO_NUL)]
# 2-63 of a-z 0-9 . _ - (stored lower-case), starting with a letter or digit; "" for none.
Username = Annotated[
    str,
    msgspec.Meta(max_length=63, pattern=f"^([{WS}]*[A-Za-z0-9][A-Za-z0-9._-]{{1,62}}[{WS}]*)?$"),
]
# Stored lower-case; U+0130 is the one character whose lower case is longer.
_EMAIL_PART = f"[^@{WS}\\x00\\u0130]"
Email = Annotated[
    str,
    msgspec.Meta(
        max_length=320, pattern=f"^[{WS}]*{_EMAIL_PART}{{1,64}}@{_EMAIL_PART}{{1,255}}[{WS}]*$"
    ),
]
LoginName = Annotated[str, msgspec.Meta(max_length=320, pattern=NO_NUL)]
# A search term: at least 2 characters once surrounding whitespace is stripped.
SEARCH_TERM = f"^[{WS}]*[^{WS}\\x00][^\\x00]*[^{WS}\\x00][{WS}]*$"


class UserRead(msgspec.Struct):
    id: UUID
    email: str
    username: str | None
    full_name: str | None
    role: Role
    avatar_url: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> "UserRead":
        return cls(
            id=user.id,
            email=user.email,
            username=user.username,
            full_name=user.full_name,
            role=user.role,
            avatar_url=user.avatar_url,
            is_active=user.is_active,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


class UserCreate(msgspec.Struct, forbid_unknown_fields=False):
    email: Email
    password: NewPassword
    username: Username | None = None
    full_name: Name | None = None
    role: Role = Role.GUEST
    is_active: bool = True


class UserUpdate(msgspec.Struct):
    """Only the fields sent change. `current_password` is needed to change your own password."""

    full_name: Name | msgspec.UnsetType | None = msgspec.UNSET
    username: Username | msgspec.UnsetType | None = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET
    password: NewPassword | msgspec.UnsetType = msgspec.UNSET
    current_password: Password | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class LoginJson(msgspec.Struct):
    username: LoginName
    password: Password


class RefreshJson(msgspec.Struct):
    refresh_token: str | None = None
    grant_type: Literal["refresh_token"] | None = None


class TokenResponse(msgspec.Struct):
    """RFC 6749 token response; the same tokens are also set as HttpOnly cookies."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret


class SessionInfo(msgspec.Struct):
    user_id: UUID
    session_id: UUID
    role: Role
    expires_at: datetime
    impersonator_id: UUID | None = None


class AvatarUpload(msgspec.Struct):
    """The multipart form of an avatar upload (the original's field name)."""

    file: UploadFile


class Notice(msgspec.Struct):
    """A one-line answer for people: `{"message": "..."}` (the original's shape)."""

    message: str
