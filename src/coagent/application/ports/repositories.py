"""Persistence ports. Implementations translate storage errors into domain errors."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, Self, TypeVar
from uuid import UUID

from coagent.application.ports.agents import AgentConfigRepository
from coagent.application.ports.chat import EncodedPage, MessageRepository, PageKey
from coagent.application.ports.proposals import ProposalRepository
from coagent.application.ports.turns import AgentTurnRepository
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.session import AuthSession
from coagent.domain.accounts.user import User
from coagent.domain.courses.announcement import Announcement
from coagent.domain.courses.course import Course, Member
from coagent.domain.courses.policy import CourseRole
from coagent.domain.courses.room import Room

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int


class UserRepository(Protocol):
    async def get(self, user_id: UUID) -> User | None: ...

    async def get_by_login(self, login: str) -> User | None:
        """Find by normalised email or username."""
        ...

    async def email_or_username_taken(
        self, *, email: str | None, username: str | None, except_id: UUID | None = None
    ) -> bool: ...

    async def add(self, user: User) -> None:
        """Insert; raises `Conflict` when the email or username is taken."""
        ...

    async def update(self, user: User) -> None:
        """Write every field; raises `Conflict` when the email or username is taken."""
        ...

    async def delete(self, user_id: UUID) -> None: ...

    async def list(self, *, offset: int, limit: int, search: str | None) -> Page[User]:
        """Ordered by creation, oldest first."""
        ...

    async def search(self, query: str, *, limit: int) -> Sequence[User]:
        """Active accounts whose email or username starts with `query`, or whose name or one
        of its words does (any case, wildcards literal), ordered by email.
        """
        ...

    async def exists_with_role(self, role: Role) -> bool: ...


class SessionRepository(Protocol):
    async def add(self, session: AuthSession) -> None: ...

    async def get_for_update(self, session_id: UUID) -> AuthSession | None:
        """Read and lock the row until the unit of work ends (refresh rotation)."""
        ...

    async def get(self, session_id: UUID) -> AuthSession | None: ...

    async def rotate(self, session_id: UUID, *, new_jti: str) -> None: ...

    async def revoke(self, session_id: UUID, at: datetime) -> None: ...

    async def revoke_all_for_user(self, user_id: UUID, at: datetime) -> Sequence[UUID]:
        """Revoke every live session of the user, and every impersonation session the user
        opened as impersonator; return their ids.
        """
        ...

    async def purge(self, *, expired_before: datetime) -> int:
        """Delete sessions that expired (or were revoked) before the given time."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    id: UUID
    created_at: datetime
    actor_id: UUID | None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]


class AuditLog(Protocol):
    async def record(
        self,
        *,
        actor_id: UUID | None,
        action: str,
        target_type: str,
        target_id: str,
        details: dict[str, Any] | None = None,
    ) -> None: ...

    async def list(self, *, offset: int, limit: int, action: str | None) -> Page[AuditEntry]:
        """Committed events, newest first; `action` keeps only events with exactly that action."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredImage:
    file_name: str
    content_type: str
    data: bytes


class AvatarRepository(Protocol):
    async def put(self, user_id: UUID, image: StoredImage) -> None:
        """Store the user's avatar, replacing the previous one."""
        ...

    async def get_by_file_name(self, file_name: str) -> StoredImage | None: ...


class SystemState(Protocol):
    async def claim(self, key: str) -> bool:
        """Atomically mark a one-time step as done; True for exactly one caller ever."""
        ...


class CourseRepository(Protocol):
    async def add(self, course: Course) -> None: ...

    async def get(self, course_id: UUID) -> Course | None: ...

    async def role_of(self, course_id: UUID, user_id: UUID) -> CourseRole | None:
        """The user's course role, or None when not a member."""
        ...

    async def update(self, course: Course) -> None: ...

    async def delete(self, course_id: UUID) -> None:
        """Delete the course with everything that belongs to it."""
        ...

    async def list_for(self, user_id: UUID | None, *, offset: int, limit: int) -> Page[Course]:
        """Courses the user belongs to (all courses for None), newest first, with owner names."""
        ...

    async def standing(self, course_id: UUID, user_id: UUID) -> "CourseStanding":
        """The user, the course and the user's membership role in it, in one read."""
        ...

    async def visible_to(self, actor_id: UUID, *, offset: int, limit: int) -> "CoursesOf":
        """The account and, in the same read, the page of courses it may list: every course
        for an admin (`Role.is_admin`), else the courses it belongs to; none for an inactive
        account. Newest first, with owner names.
        """
        ...

    async def add_member(self, course_id: UUID, user_id: UUID, role: CourseRole) -> bool:
        """Enroll; False when the user already was a member (nothing changes then)."""
        ...

    async def set_member_role(self, course_id: UUID, user_id: UUID, role: CourseRole) -> None: ...

    async def remove_member(self, course_id: UUID, user_id: UUID) -> None:
        """Remove the membership and the user's room assignments in this course."""
        ...

    async def members(self, course_id: UUID) -> Sequence[Member]:
        """Members ordered by role (teachers first), then name."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CourseStanding:
    """A user and their relation to a course, read together (one query)."""

    actor: User | None  # None: no such account
    course: Course | None  # None: no such course
    course_role: CourseRole | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CoursesOf:
    """An account and the courses it may list, read together (one query when non-empty)."""

    actor: User | None  # None: no such account
    page: Page[Course]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomStanding:
    """A user and their relation to a room's course, read together (one query)."""

    actor: User | None  # None: no such account
    room: Room | None  # None: no such room
    course_role: CourseRole | None = None
    is_owner: bool = False
    # None when the room is open to the whole course, else whether the user is assigned.
    assigned: bool | None = None
    # The room's latest committed seq when read (0 for an empty room).
    last_seq: int = 0


class RoomRepository(Protocol):
    async def add(self, room: Room) -> None: ...

    async def standing(self, room_id: UUID, user_id: UUID) -> RoomStanding:
        """The user, the room and the user's standing in it, in one read."""
        ...

    async def standing_with_page(
        self, room_id: UUID, user_id: UUID, page: PageKey, *, unless_seen: int
    ) -> tuple[RoomStanding, EncodedPage | None]:
        """`standing` and, in the same read, the history page `page` (as
        `MessageRepository.page` orders it) encoded. The page is None when the room's last
        seq is not newer than `unless_seen` (the caller holds that page) or when this store
        cannot encode pages (the caller reads them with `MessageRepository.page`). The page is
        read before the caller decides access: it must not be used when access is refused.
        """
        ...

    async def get(self, room_id: UUID) -> Room | None: ...

    async def update(self, room: Room) -> None: ...

    async def delete(self, room_id: UUID) -> None:
        """Delete the room with its assignments (and, later, its messages)."""
        ...

    async def list_in(self, course_id: UUID, *, visible_to: UUID | None) -> Sequence[Room]:
        """Rooms of a course, oldest first; with `visible_to`, only the rooms that are open to
        the whole course or assigned to that user.
        """
        ...

    async def is_assigned(self, room_id: UUID, user_id: UUID) -> bool: ...

    async def assign(self, room_id: UUID, user_id: UUID) -> bool:
        """Assign; False when the user already was (nothing changes then)."""
        ...


class AnnouncementRepository(Protocol):
    async def add(self, announcement: Announcement) -> None: ...

    async def get(self, announcement_id: UUID) -> Announcement | None: ...

    async def update(self, announcement: Announcement) -> None: ...

    async def delete(self, announcement_id: UUID) -> None: ...

    async def list_in(self, course_id: UUID, *, offset: int, limit: int) -> Page[Announcement]:
        """Newest first."""
        ...


class UnitOfWork(Protocol):
    """One transaction. Nothing is written unless `commit()` is called inside the block.

    When no database connection comes free in time, the block fails with `Unavailable`
    (the transaction never began; the caller may retry).
    """

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

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
