"""The unit of work: one AsyncSession, one transaction, explicit commit."""

from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coagent.adapters.persistence.agents import SqlAlchemyAgentConfigRepository
from coagent.adapters.persistence.announcements import SqlAlchemyAnnouncementRepository
from coagent.adapters.persistence.courses import SqlAlchemyCourseRepository
from coagent.adapters.persistence.engine import busy
from coagent.adapters.persistence.messages import SqlAlchemyMessageRepository
from coagent.adapters.persistence.proposals import SqlAlchemyProposalRepository
from coagent.adapters.persistence.repositories import (
    SqlAlchemyAuditLog,
    SqlAlchemyAvatarRepository,
    SqlAlchemySessionRepository,
    SqlAlchemySystemState,
    SqlAlchemyUserRepository,
)
from coagent.adapters.persistence.rooms import SqlAlchemyRoomRepository
from coagent.adapters.persistence.turns import SqlAlchemyAgentTurnRepository
from coagent.application.ports.agents import AgentConfigRepository
from coagent.application.ports.chat import MessageRepository
from coagent.application.ports.proposals import ProposalRepository
from coagent.application.ports.repositories import (
    AnnouncementRepository,
    AuditLog,
    AvatarRepository,
    CourseRepository,
    RoomRepository,
    SessionRepository,
    SystemState,
    UserRepository,
)
from coagent.application.ports.turns import AgentTurnRepository


class SqlAlchemyUnitOfWork:
    users: UserRepository
    sessions: SessionRepository
    audit: AuditLog
    avatars: AvatarRepository
    system: SystemState
    courses: CourseRepository
    rooms: RoomRepository
    announcements: AnnouncementRepository
    messages: MessageRepository
    agent_configs: AgentConfigRepository
    turns: AgentTurnRepository
    proposals: ProposalRepository

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = session_factory

    async def __aenter__(self) -> Self:
        self._session = self._factory()
        self.users = SqlAlchemyUserRepository(self._session)
        self.sessions = SqlAlchemySessionRepository(self._session)
        self.audit = SqlAlchemyAuditLog(self._session)
        self.avatars = SqlAlchemyAvatarRepository(self._session)
        self.system = SqlAlchemySystemState(self._session)
        self.courses = SqlAlchemyCourseRepository(self._session)
        self.rooms = SqlAlchemyRoomRepository(self._session)
        self.announcements = SqlAlchemyAnnouncementRepository(self._session)
        self.messages = SqlAlchemyMessageRepository(self._session)
        self.agent_configs = SqlAlchemyAgentConfigRepository(self._session)
        self.turns = SqlAlchemyAgentTurnRepository(self._session)
        self.proposals = SqlAlchemyProposalRepository(self._session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Anything not committed is rolled back when the session closes. A session that never
        # began a transaction holds no connection and nothing to roll back (every read alone
        # runs on a connection of its own, rows.py): its close, ~20 us, is skipped.
        if self._session.in_transaction() or self._session.identity_map:
            await self._session.close()
        # A pool timeout (or SQLite's lock timeout) becomes Unavailable here. The session
        # checks out its connection lazily, in whichever call first needs one (a repository
        # statement, a hot read on the driver, a flush) and holds it until commit or close,
        # so the checkout can fail in any of them; SQLAlchemy has no event for a failed
        # checkout, and every use case's error leaves through this exit. The transaction
        # that wanted the connection never began: nothing of it was written, and the caller
        # may retry.
        error = exc[1] if len(exc) == 3 else None
        if isinstance(error, BaseException) and (unavailable := busy(error)) is not None:
            raise unavailable from error

    async def commit(self) -> None:
        await self._session.commit()


class SqlAlchemyUnitOfWorkFactory:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = session_factory

    def __call__(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self._factory)
