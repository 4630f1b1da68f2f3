"""SQLAlchemy implementations of the repository ports."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import delete, exists, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from coagent.adapters.persistence._models import (
    AuditEventModel,
    AuthSessionModel,
    AvatarModel,
    SystemStateModel,
    UserModel,
)
from coagent.adapters.persistence.mappers import session_from_row, user_from_row, user_values
from coagent.adapters.persistence.paging import model_page
from coagent.application.ports.repositories import AuditEntry, Page, StoredImage
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.session import AuthSession
from coagent.domain.accounts.user import User
from coagent.domain.errors import Conflict


def contains_pattern(value: str) -> str:
    """A LIKE pattern matching `value` literally anywhere (wildcards escaped)."""
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def prefix_pattern(value: str) -> str:
    """A LIKE pattern matching text that starts with `value` literally (wildcards escaped)."""
    return contains_pattern(value).removeprefix("%")


class _Users(SQLAlchemyAsyncRepository[UserModel]):
    model_type = UserModel


class SqlAlchemyUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: UUID) -> User | None:
        row = await self._session.get(UserModel, user_id)
        return user_from_row(row) if row else None

    async def get_by_login(self, login: str) -> User | None:
        column = UserModel.email if "@" in login else UserModel.username
        row = await self._session.scalar(select(UserModel).where(column == login))
        return user_from_row(row) if row else None

    async def email_or_username_taken(
        self, *, email: str | None, username: str | None, except_id: UUID | None = None
    ) -> bool:
        clauses = []
        if email:
            clauses.append(UserModel.email == email)
        if username:
            clauses.append(UserModel.username == username)
        if not clauses:
            return False
        condition = or_(*clauses)
        if except_id is not None:
            condition = condition & (UserModel.id != except_id)
        return bool(await self._session.scalar(select(exists().where(condition))))

    async def add(self, user: User) -> None:
        self._session.add(UserModel(id=user.id, created_at=user.created_at, **user_values(user)))
        await self._flush_unique()

    async def update(self, user: User) -> None:
        try:
            await self._session.execute(
                update(UserModel).where(UserModel.id == user.id).values(**user_values(user))
            )
        except IntegrityError as error:
            raise Conflict("A user with this email or username already exists") from error

    async def delete(self, user_id: UUID) -> None:
        await self._session.execute(delete(UserModel).where(UserModel.id == user_id))

    async def list(self, *, offset: int, limit: int, search: str | None) -> Page[User]:
        rows, total = await model_page(
            self._session,
            _Users,
            [self._matches(search)] if search else [],
            order_by=[(UserModel.created_at, False), (UserModel.id, False)],
            offset=offset,
            limit=limit,
        )
        return Page(items=[user_from_row(row) for row in rows], total=total)

    async def search(self, query: str, *, limit: int) -> Sequence[User]:
        rows = await self._session.scalars(
            select(UserModel)
            .where(self._starts_with(query), UserModel.is_active.is_(True))
            .order_by(UserModel.email)
            .limit(limit)
        )
        return [user_from_row(row) for row in rows]

    async def exists_with_role(self, role: Role) -> bool:
        return bool(
            await self._session.scalar(select(exists().where(UserModel.role == role.value)))
        )

    @staticmethod
    def _matches(text: str) -> Any:
        pattern = contains_pattern(text)
        return or_(
            UserModel.email.like(pattern, escape="\\"),
            UserModel.username.like(pattern, escape="\\"),
            func.lower(UserModel.full_name).like(pattern, escape="\\"),
        )

    @staticmethod
    def _starts_with(text: str) -> Any:
        """Email or username starts with `text`, or the name or one of its words does."""
        pattern = prefix_pattern(text)
        return or_(
            UserModel.email.like(pattern, escape="\\"),
            UserModel.username.like(pattern, escape="\\"),
            func.lower(UserModel.full_name).like(pattern, escape="\\"),
            func.lower(UserModel.full_name).like(f"% {pattern}", escape="\\"),
        )

    async def _flush_unique(self) -> None:
        try:
            await self._session.flush()
        except IntegrityError as error:
            raise Conflict("A user with this email or username already exists") from error


class SqlAlchemySessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, session: AuthSession) -> None:
        self._session.add(
            AuthSessionModel(
                id=session.id,
                user_id=session.user_id,
                refresh_jti=session.refresh_jti,
                created_at=session.created_at,
                updated_at=session.created_at,
                expires_at=session.expires_at,
                revoked_at=session.revoked_at,
                impersonator_id=session.impersonator_id,
                original_session_id=session.original_session_id,
            )
        )
        await self._session.flush()

    async def get(self, session_id: UUID) -> AuthSession | None:
        row = await self._session.get(AuthSessionModel, session_id)
        return session_from_row(row) if row else None

    async def get_for_update(self, session_id: UUID) -> AuthSession | None:
        row = await self._session.scalar(
            select(AuthSessionModel)
            .where(AuthSessionModel.id == session_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return session_from_row(row) if row else None

    async def rotate(self, session_id: UUID, *, new_jti: str) -> None:
        await self._session.execute(
            update(AuthSessionModel)
            .where(AuthSessionModel.id == session_id)
            .values(refresh_jti=new_jti)
        )

    async def revoke(self, session_id: UUID, at: datetime) -> None:
        await self._session.execute(
            update(AuthSessionModel)
            .where(AuthSessionModel.id == session_id, AuthSessionModel.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    async def revoke_all_for_user(self, user_id: UUID, at: datetime) -> Sequence[UUID]:
        ids = list(
            await self._session.scalars(
                select(AuthSessionModel.id).where(
                    or_(
                        AuthSessionModel.user_id == user_id,
                        AuthSessionModel.impersonator_id == user_id,
                    ),
                    AuthSessionModel.revoked_at.is_(None),
                    AuthSessionModel.expires_at > at,
                )
            )
        )
        if ids:
            await self._session.execute(
                update(AuthSessionModel).where(AuthSessionModel.id.in_(ids)).values(revoked_at=at)
            )
        return ids

    async def purge(self, *, expired_before: datetime) -> int:
        result = await self._session.execute(
            delete(AuthSessionModel).where(
                or_(
                    AuthSessionModel.expires_at < expired_before,
                    AuthSessionModel.revoked_at < expired_before,
                )
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class SqlAlchemyAuditLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(
        self,
        *,
        actor_id: UUID | None,
        action: str,
        target_type: str,
        target_id: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        self._session.add(
            AuditEventModel(
                actor_id=actor_id,
                action=action,
                target_type=target_type,
                target_id=target_id,
                details=details or {},
            )
        )

    async def list(self, *, offset: int, limit: int, action: str | None) -> Page[AuditEntry]:
        condition = AuditEventModel.action == action if action is not None else true()
        total = await self._session.scalar(
            select(func.count()).select_from(AuditEventModel).where(condition)
        )
        rows = await self._session.scalars(
            select(AuditEventModel)
            .where(condition)
            .order_by(AuditEventModel.created_at.desc(), AuditEventModel.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return Page(
            items=[
                AuditEntry(
                    id=row.id,
                    created_at=row.created_at,
                    actor_id=row.actor_id,
                    action=row.action,
                    target_type=row.target_type,
                    target_id=row.target_id,
                    details=dict(row.details or {}),
                )
                for row in rows
            ],
            total=total or 0,
        )


class SqlAlchemyAvatarRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def put(self, user_id: UUID, image: StoredImage) -> None:
        await self._session.execute(delete(AvatarModel).where(AvatarModel.user_id == user_id))
        self._session.add(
            AvatarModel(
                user_id=user_id,
                file_name=image.file_name,
                content_type=image.content_type,
                data=image.data,
            )
        )
        await self._session.flush()

    async def get_by_file_name(self, file_name: str) -> StoredImage | None:
        row = await self._session.scalar(
            select(AvatarModel).where(AvatarModel.file_name == file_name)
        )
        if row is None:
            return None
        return StoredImage(file_name=row.file_name, content_type=row.content_type, data=row.data)


class SqlAlchemySystemState:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(self, key: str) -> bool:
        try:
            async with self._session.begin_nested():
                self._session.add(SystemStateModel(key=key))
        except IntegrityError:
            return False
        return True
