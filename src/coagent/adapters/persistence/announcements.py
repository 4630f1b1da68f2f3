"""SQLAlchemy announcement repository."""

from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from coagent.adapters.persistence._models import AnnouncementModel
from coagent.adapters.persistence.rows import DriverStatement, fetch_rows
from coagent.application.ports.repositories import Page
from coagent.domain.courses.announcement import Announcement


def _announcement(row: AnnouncementModel) -> Announcement:
    return Announcement(
        id=row.id,
        course_id=row.course_id,
        author_id=row.author_id,
        title=row.title,
        content=row.content,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


_FIELDS = ("id", "course_id", "author_id", "title", "content", "created_at", "updated_at")


def _list_query() -> Any:
    """A course's page of announcements with the total: run on the driver (rows.py)."""
    table: Any = AnnouncementModel.__table__
    return (
        select(*(table.c[name] for name in _FIELDS), func.count().over())
        .where(table.c.course_id == bindparam("course_id"))
        .order_by(table.c.created_at.desc(), table.c.id.desc())
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    )


_LIST = DriverStatement(_list_query())


class SqlAlchemyAnnouncementRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, announcement: Announcement) -> None:
        self._session.add(
            AnnouncementModel(
                id=announcement.id,
                course_id=announcement.course_id,
                author_id=announcement.author_id,
                title=announcement.title,
                content=announcement.content,
                created_at=announcement.created_at,
                updated_at=announcement.updated_at,
            )
        )
        await self._session.flush()

    async def get(self, announcement_id: UUID) -> Announcement | None:
        row = await self._session.get(AnnouncementModel, announcement_id)
        return _announcement(row) if row else None

    async def update(self, announcement: Announcement) -> None:
        await self._session.execute(
            update(AnnouncementModel)
            .where(AnnouncementModel.id == announcement.id)
            .values(
                title=announcement.title,
                content=announcement.content,
                updated_at=announcement.updated_at,
            )
        )

    async def delete(self, announcement_id: UUID) -> None:
        await self._session.execute(
            delete(AnnouncementModel).where(AnnouncementModel.id == announcement_id)
        )

    async def list_in(self, course_id: UUID, *, offset: int, limit: int) -> Page[Announcement]:
        params = {"course_id": course_id, "offset": offset, "limit": limit}
        rows = await fetch_rows(self._session, _LIST, params)
        total = int(rows[0][-1]) if rows else 0
        if not rows and offset:
            total = int(
                await self._session.scalar(
                    select(func.count()).where(AnnouncementModel.course_id == course_id)
                )
                or 0
            )
        items = [Announcement(**dict(zip(_FIELDS, row[:-1], strict=True))) for row in rows]
        return Page(items=items, total=total)
