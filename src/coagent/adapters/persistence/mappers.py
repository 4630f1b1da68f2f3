"""Explicit conversions between rows and domain entities."""

from coagent.adapters.persistence._models import AuthSessionModel, RoomModel, UserModel
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.session import AuthSession
from coagent.domain.accounts.user import User
from coagent.domain.courses.room import AiMode, ApprovalMode, Room


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


def room_from_row(row: RoomModel, *, restricted: bool = False) -> Room:
    return Room(
        id=row.id,
        course_id=row.course_id,
        name=row.name,
        description=row.description,
        ai_mode=AiMode(row.ai_mode),
        ai_frequency=row.ai_frequency,
        is_ai_active=row.is_ai_active,
        is_analytics_active=row.is_analytics_active,
        approval_mode=ApprovalMode(row.approval_mode),
        created_at=row.created_at,
        updated_at=row.updated_at,
        is_restricted=restricted,
    )
