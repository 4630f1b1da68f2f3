"""Wire formats of the accounts API (the original's field names, no secrets)."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from coagent.domain.accounts.credentials import PASSWORD_MAX_LENGTH
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User

Password = Annotated[str, msgspec.Meta(max_length=PASSWORD_MAX_LENGTH)]
Name = Annotated[str, msgspec.Meta(max_length=200)]
Username = Annotated[str, msgspec.Meta(max_length=63)]
Email = Annotated[str, msgspec.Meta(max_length=320)]


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
    password: Password
    username: Username | None = None
    full_name: Name | None = None
    role: Role = Role.GUEST
    is_active: bool = True


class UserUpdate(msgspec.Struct):
    """Only the fields sent change. `current_password` is needed to change your own password."""

    full_name: Name | msgspec.UnsetType | None = msgspec.UNSET
    username: Username | msgspec.UnsetType | None = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET
    password: Password | msgspec.UnsetType = msgspec.UNSET
    current_password: Password | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class LoginJson(msgspec.Struct):
    username: Annotated[str, msgspec.Meta(max_length=320)]
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


class Message(msgspec.Struct):
    message: str
