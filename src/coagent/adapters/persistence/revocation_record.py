"""RevocationRecord on `auth_session.revoked_at` (docs/adr/0007)."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coagent.adapters.persistence.engine import busy_database_is_unavailable
from coagent.adapters.persistence.models import AuthSessionModel


class SqlRevocationRecord:
    """One short read per call, outside any unit of work (nothing is written)."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def is_revoked(self, session_id: UUID) -> bool:
        async with busy_database_is_unavailable(), self._session_factory() as session:
            found = (
                await session.execute(
                    select(AuthSessionModel.revoked_at).where(AuthSessionModel.id == session_id)
                )
            ).first()
        return found is None or found[0] is not None

    async def revoked_since(self, since: datetime) -> Sequence[tuple[UUID, datetime]]:
        async with busy_database_is_unavailable(), self._session_factory() as session:
            rows = await session.execute(
                select(AuthSessionModel.id, AuthSessionModel.revoked_at).where(
                    AuthSessionModel.revoked_at >= since
                )
            )
            return [(row[0], row[1]) for row in rows if row[1] is not None]
