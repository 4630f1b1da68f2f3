"""Explicit conversions between rows and domain entities."""

from coagent.adapters.persistence._models import AuthSessionModel, UserModel
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.session import AuthSession
from coagent.domain.accounts.user import User


def user_from_row(row: UserModel) -> User:
    return User(
        id=row.id,
        email=row.email,
        username=row.username,
        full_name=row.full_name,
        role=Role(row.role),
        is_active=row.is_active,
        password_hash=row.password_hash,
        avatar_url=row.avatar_url,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def user_values(user: User) -> dict[str, object]:
    return {
        "email": user.email,
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role.value,
        "is_active": user.is_active,
        "password_hash": user.password_hash,
        "avatar_url": user.avatar_url,
        "updated_at": user.updated_at,
    }


def session_from_row(row: AuthSessionModel) -> AuthSession:
    return AuthSession(
        id=row.id,
        user_id=row.user_id,
        refresh_jti=row.refresh_jti,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        impersonator_id=row.impersonator_id,
        original_session_id=row.original_session_id,
    )
