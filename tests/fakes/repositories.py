"""In-memory persistence: repositories and a unit of work with real transaction semantics.

`InMemoryStore` holds the committed state. Each `InMemoryUnitOfWork` reads the latest
committed state (like READ COMMITTED) through its own overlay of pending changes; `commit()`
applies the overlay to the store, and leaving the block without committing discards it. So a
change is visible to other units of work only once committed.

What the database would also do, and the fakes do too:

- unique email and username (`Conflict`), as the real repository translates them;
- `get_for_update` holds a per-session row lock until commit or the end of the block;
- `SystemState.claim` succeeds for one unit of work at a time and once ever after commit;
- deleting a user cascades to its sessions (as owner or impersonator), its avatar, its
  course memberships and its room assignments, and sets `owner_id` of the courses it owned to
  None; purging a session sets `original_session_id` of the sessions pointing at it to None;
- deleting a course cascades to its memberships, its rooms and its announcements, deleting
  a room to its assignments; removing a member also removes the user's assignments to the
  course's rooms; deleting a user sets `author_id` of its announcements to None;
- a course, membership, room or announcement pointing at a missing row is refused
  (`ValueError`, a foreign-key violation: a bug in the caller), an assignment to a missing
  room or user is `NotFound`, as the real repository translates it;
- a room is restricted when it has at least one assignment (computed on read, never stored).

Every repository call is an await point (`anyio.lowlevel.checkpoint`), so concurrent use
cases really interleave. Deleting a user sets `actor_id` of its audit events to None when the
deletion commits (ON DELETE SET NULL, as in the database); nothing else rewrites them.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic, Self, TypeVar
from uuid import UUID, uuid4

import anyio
import anyio.lowlevel

from coagent.application.ports.agents import AgentConfigRepository
from coagent.application.ports.chat import EncodedPage, MessageRepository, PageKey
from coagent.application.ports.proposals import ProposalRepository
from coagent.application.ports.repositories import (
    AnnouncementRepository,
    AuditEntry,
    AuditLog,
    AvatarRepository,
    CourseRepository,
    CoursesOf,
    CourseStanding,
    Page,
    RoomRepository,
    RoomStanding,
    SessionRepository,
    StoredImage,
    SystemState,
    UserRepository,
)
from coagent.application.ports.turns import AgentTurnRepository
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.session import AuthSession
from coagent.domain.accounts.user import User
from coagent.domain.chat.message import Message
from coagent.domain.courses.announcement import Announcement
from coagent.domain.courses.course import Course, Member
from coagent.domain.courses.policy import CourseRole
from coagent.domain.courses.room import Room
from coagent.domain.errors import Conflict, NotFound
from tests.fakes.agents import InMemoryAgentConfigRepository
from tests.fakes.chat import InMemoryMessageRepository
from tests.fakes.proposals import InMemoryProposalRepository
from tests.fakes.turns import InMemoryAgentTurnRepository

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    actor_id: UUID | None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any] = field(default_factory=dict)
    id: UUID = field(default_factory=uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class InMemoryStore:
    """The committed state shared by every unit of work of one factory."""

    def __init__(self) -> None:
        self.users: dict[UUID, User] = {}
        self.sessions: dict[UUID, AuthSession] = {}
        self.avatars: dict[UUID, StoredImage] = {}
        self.audit: list[AuditEvent] = []
        self.system: set[str] = set()
        # Stored without `owner_name` (a join, not a column); keyed (course_id, user_id).
        self.courses: dict[UUID, Course] = {}
        self.memberships: dict[tuple[UUID, UUID], CourseRole] = {}
        # Stored with `is_restricted` False (computed from the assignments on read).
        self.rooms: dict[UUID, Room] = {}
        # Keyed (room_id, user_id); the value is always True (a set, as an overlay needs).
        self.room_assignments: dict[tuple[UUID, UUID], bool] = {}
        self.announcements: dict[UUID, Announcement] = {}
        # Agent configurations (stored without their mask), keys by (config, type), versions.
        self.agent_configs: dict[UUID, Any] = {}
        self.agent_keys: dict[tuple[UUID, Any], Any] = {}
        self.agent_versions: dict[UUID, Any] = {}
        self.messages: dict[UUID, Message] = {}
        self.room_seqs: dict[UUID, int] = {}
        self.agent_turns: dict[UUID, Any] = {}
        self.room_leases: dict[UUID, Any] = {}
        # Running turns asked to stop (interrupt policy): the `cancel_requested` column.
        self.turn_cancels: dict[UUID, UUID | None] = {}
        self.agent_proposals: dict[UUID, Any] = {}
        # agent_room_considered (room → seq) and agent_tool_call ((turn, key) → (tool, result)).
        self.considered: dict[UUID, int] = {}
        self.tool_calls: dict[tuple[UUID, str], Any] = {}
        self.commits = 0
        self.pending_claims: set[str] = set()
        self._row_locks: dict[UUID, anyio.Lock] = {}

    def row_lock(self, key: UUID) -> anyio.Lock:
        return self._row_locks.setdefault(key, anyio.Lock())

    def actions(self) -> list[str]:
        """The committed audit actions, in order."""
        return [event.action for event in self.audit]


class _Overlay(Generic[K, V]):
    """Pending writes over a committed table; `None` marks a deletion."""

    def __init__(self, committed: dict[K, V]) -> None:
        self._committed = committed
        self._changes: dict[K, V | None] = {}

    def get(self, key: K) -> V | None:
        if key in self._changes:
            return self._changes[key]
        return self._committed.get(key)

    def put(self, key: K, value: V) -> None:
        self._changes[key] = value

    def delete(self, key: K) -> None:
        self._changes[key] = None

    def items(self) -> Iterator[tuple[K, V]]:
        merged = {**self._committed, **self._changes}
        return ((key, value) for key, value in merged.items() if value is not None)

    def values(self) -> list[V]:
        return [value for _, value in self.items()]

    def apply(self) -> None:
        for key, value in self._changes.items():
            if value is None:
                self._committed.pop(key, None)
            else:
                self._committed[key] = value
        self._changes.clear()

    def discard(self) -> None:
        self._changes.clear()


def _contains(needle: str, *haystacks: str | None) -> bool:
    needle = needle.lower()
    return any(needle in value.lower() for value in haystacks if value)


def _starts_with(prefix: str, email: str, username: str | None, name: str | None) -> bool:
    prefix = prefix.lower()
    words = (name or "").lower().split(" ")
    return any(
        value.lower().startswith(prefix) for value in (email, username or "", *words) if value
    )


class InMemoryUserRepository:
    def __init__(self, users: _Overlay[UUID, User], cascade: Callable[[UUID], None]) -> None:
        self._users = users
        self._cascade = cascade

    async def get(self, user_id: UUID) -> User | None:
        await anyio.lowlevel.checkpoint()
        return self._users.get(user_id)

    async def get_by_login(self, login: str) -> User | None:
        await anyio.lowlevel.checkpoint()
        field_name = "email" if "@" in login else "username"
        return next((u for u in self._users.values() if getattr(u, field_name) == login), None)

    async def email_or_username_taken(
        self, *, email: str | None, username: str | None, except_id: UUID | None = None
    ) -> bool:
        await anyio.lowlevel.checkpoint()
        return self._taken(email=email, username=username, except_id=except_id)

    async def add(self, user: User) -> None:
        await anyio.lowlevel.checkpoint()
        if self._users.get(user.id) is not None:
            raise Conflict("A user with this id already exists")
        self._check_unique(user)
        self._users.put(user.id, user)

    async def update(self, user: User) -> None:
        await anyio.lowlevel.checkpoint()
        if self._users.get(user.id) is None:
            return  # like UPDATE ... WHERE id = :id on a missing row
        self._check_unique(user)
        self._users.put(user.id, user)

    async def delete(self, user_id: UUID) -> None:
        await anyio.lowlevel.checkpoint()
        if self._users.get(user_id) is not None:
            self._users.delete(user_id)
            self._cascade(user_id)

    async def list(self, *, offset: int, limit: int, search: str | None) -> Page[User]:
        await anyio.lowlevel.checkpoint()
        users = sorted(self._users.values(), key=lambda u: (u.created_at, u.id))
        if search:
            users = [u for u in users if _contains(search, u.email, u.username, u.full_name)]
        return Page(items=users[offset : offset + limit], total=len(users))

    async def search(self, query: str, *, limit: int) -> Sequence[User]:
        await anyio.lowlevel.checkpoint()
        found = [
            u
            for u in self._users.values()
            if u.is_active and _starts_with(query, u.email, u.username, u.full_name)
        ]
        return sorted(found, key=lambda u: u.email)[:limit]

    async def exists_with_role(self, role: Role) -> bool:
        await anyio.lowlevel.checkpoint()
        return any(u.role is role for u in self._users.values())

    def _taken(self, *, email: str | None, username: str | None, except_id: UUID | None) -> bool:
        return any(
            u.id != except_id
            and ((email and u.email == email) or (username and u.username == username))
            for u in self._users.values()
        )

    def _check_unique(self, user: User) -> None:
        if self._taken(email=user.email, username=user.username, except_id=user.id):
            raise Conflict("A user with this email or username already exists")


class InMemorySessionRepository:
    def __init__(self, sessions: _Overlay[UUID, AuthSession], uow: "InMemoryUnitOfWork") -> None:
        self._sessions = sessions
        self._uow = uow

    async def add(self, session: AuthSession) -> None:
        await anyio.lowlevel.checkpoint()
        if self._sessions.get(session.id) is not None:
            raise ValueError(f"Session {session.id} already exists")
        self._sessions.put(session.id, session)

    async def get_for_update(self, session_id: UUID) -> AuthSession | None:
        await self._uow.lock_row(session_id)
        return self._sessions.get(session_id)

    async def get(self, session_id: UUID) -> AuthSession | None:
        await anyio.lowlevel.checkpoint()
        return self._sessions.get(session_id)

    async def rotate(self, session_id: UUID, *, new_jti: str) -> None:
        await anyio.lowlevel.checkpoint()
        session = self._sessions.get(session_id)
        if session is not None:
            self._sessions.put(session_id, replace(session, refresh_jti=new_jti))

    async def revoke(self, session_id: UUID, at: datetime) -> None:
        await anyio.lowlevel.checkpoint()
        session = self._sessions.get(session_id)
        if session is not None and session.revoked_at is None:
            self._sessions.put(session_id, replace(session, revoked_at=at))

    async def revoke_all_for_user(self, user_id: UUID, at: datetime) -> Sequence[UUID]:
        await anyio.lowlevel.checkpoint()
        live = [
            s
            for s in self._sessions.values()
            if user_id in (s.user_id, s.impersonator_id)
            and s.revoked_at is None
            and s.expires_at > at
        ]
        for session in live:
            self._sessions.put(session.id, replace(session, revoked_at=at))
        return [session.id for session in live]

    async def purge(self, *, expired_before: datetime) -> int:
        await anyio.lowlevel.checkpoint()
        doomed = {
            s.id
            for s in self._sessions.values()
            if s.expires_at < expired_before
            or (s.revoked_at is not None and s.revoked_at < expired_before)
        }
        self.delete_where(lambda s: s.id in doomed)
        return len(doomed)

    def delete_where(self, predicate: Callable[[AuthSession], bool]) -> None:
        """Delete matching sessions; SET NULL the `original_session_id` pointing at them."""
        doomed = {s.id for s in self._sessions.values() if predicate(s)}
        for session_id in doomed:
            self._sessions.delete(session_id)
        for session in self._sessions.values():
            if session.original_session_id in doomed:
                self._sessions.put(session.id, replace(session, original_session_id=None))


class InMemoryAuditLog:
    def __init__(self, committed: list[AuditEvent] | None = None) -> None:
        self.pending: list[AuditEvent] = []
        self._committed = committed if committed is not None else []

    async def record(
        self,
        *,
        actor_id: UUID | None,
        action: str,
        target_type: str,
        target_id: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        await anyio.lowlevel.checkpoint()
        self.pending.append(
            AuditEvent(
                actor_id=actor_id,
                action=action,
                target_type=target_type,
                target_id=target_id,
                details=dict(details or {}),
            )
        )

    async def list(self, *, offset: int, limit: int, action: str | None) -> Page[AuditEntry]:
        """Committed events only, newest (last committed) first."""
        await anyio.lowlevel.checkpoint()
        events = [e for e in reversed(self._committed) if action is None or e.action == action]
        return Page(
            items=[
                AuditEntry(
                    id=e.id,
                    created_at=e.created_at,
                    actor_id=e.actor_id,
                    action=e.action,
                    target_type=e.target_type,
                    target_id=e.target_id,
                    details=dict(e.details),
                )
                for e in events[offset : offset + limit]
            ],
            total=len(events),
        )


class InMemoryAvatarRepository:
    def __init__(self, avatars: _Overlay[UUID, StoredImage]) -> None:
        self._avatars = avatars

    async def put(self, user_id: UUID, image: StoredImage) -> None:
        await anyio.lowlevel.checkpoint()
        if any(
            owner != user_id and stored.file_name == image.file_name
            for owner, stored in self._avatars.items()
        ):
            raise Conflict("Avatar file name already in use")
        self._avatars.put(user_id, image)

    async def get_by_file_name(self, file_name: str) -> StoredImage | None:
        await anyio.lowlevel.checkpoint()
        return next((i for i in self._avatars.values() if i.file_name == file_name), None)


def _owner_name(user: User | None) -> str | None:
    # The domain's public_name, like the SQL repository: never an email.
    return user.public_name if user is not None else None


def _member_name(user: User) -> str:
    # The domain's display_name, as the SQL repository orders members.
    return user.display_name


_ROLE_RANK = {CourseRole.TEACHER: 0, CourseRole.TA: 1, CourseRole.STUDENT: 2}


class InMemoryCourseRepository:
    def __init__(
        self,
        courses: _Overlay[UUID, Course],
        memberships: _Overlay[tuple[UUID, UUID], CourseRole],
        users: _Overlay[UUID, User],
        cascade: Callable[[UUID], None],
        member_removed: Callable[[UUID, UUID], None],
    ) -> None:
        self._courses = courses
        self._memberships = memberships
        self._users = users
        self._cascade = cascade
        self._member_removed = member_removed

    async def add(self, course: Course) -> None:
        await anyio.lowlevel.checkpoint()
        if self._courses.get(course.id) is not None:
            raise ValueError(f"Course {course.id} already exists")
        if course.owner_id is not None and self._users.get(course.owner_id) is None:
            raise ValueError(f"Course owner {course.owner_id} does not exist")
        self._courses.put(course.id, replace(course, owner_name=None))

    async def get(self, course_id: UUID) -> Course | None:
        await anyio.lowlevel.checkpoint()
        course = self._courses.get(course_id)
        return self._with_owner_name(course) if course is not None else None

    async def role_of(self, course_id: UUID, user_id: UUID) -> CourseRole | None:
        await anyio.lowlevel.checkpoint()
        return self._memberships.get((course_id, user_id))

    async def update(self, course: Course) -> None:
        await anyio.lowlevel.checkpoint()
        stored = self._courses.get(course.id)
        if stored is None:
            return  # like UPDATE ... WHERE id = :id on a missing row
        # The SQL repository writes these three columns only.
        self._courses.put(
            course.id,
            replace(
                stored,
                title=course.title,
                description=course.description,
                updated_at=course.updated_at,
            ),
        )

    async def delete(self, course_id: UUID) -> None:
        await anyio.lowlevel.checkpoint()
        if self._courses.get(course_id) is None:
            return
        self._courses.delete(course_id)
        for key, _ in list(self._memberships.items()):
            if key[0] == course_id:
                self._memberships.delete(key)
        self._cascade(course_id)

    async def list_for(self, user_id: UUID | None, *, offset: int, limit: int) -> Page[Course]:
        await anyio.lowlevel.checkpoint()
        courses = [
            c
            for c in self._courses.values()
            if user_id is None or self._memberships.get((c.id, user_id)) is not None
        ]
        courses.sort(key=lambda c: (c.created_at, c.id), reverse=True)
        page = [self._with_owner_name(c) for c in courses[offset : offset + limit]]
        return Page(items=page, total=len(courses))

    async def standing(self, course_id: UUID, user_id: UUID) -> CourseStanding:
        await anyio.lowlevel.checkpoint()
        course = self._courses.get(course_id)
        return CourseStanding(
            actor=self._users.get(user_id),
            course=self._with_owner_name(course) if course is not None else None,
            course_role=self._memberships.get((course_id, user_id)),
        )

    async def visible_to(self, actor_id: UUID, *, offset: int, limit: int) -> CoursesOf:
        actor = self._users.get(actor_id)
        if actor is None or not actor.is_active:
            return CoursesOf(actor=actor, page=Page(items=[], total=0))
        scope = None if actor.role.is_admin else actor.id
        return CoursesOf(actor=actor, page=await self.list_for(scope, offset=offset, limit=limit))

    async def add_member(self, course_id: UUID, user_id: UUID, role: CourseRole) -> bool:
        await anyio.lowlevel.checkpoint()
        if self._courses.get(course_id) is None or self._users.get(user_id) is None:
            raise ValueError(f"No course {course_id} or no user {user_id} to enroll")
        if self._memberships.get((course_id, user_id)) is not None:
            return False
        self._memberships.put((course_id, user_id), CourseRole(role))
        return True

    async def set_member_role(self, course_id: UUID, user_id: UUID, role: CourseRole) -> None:
        await anyio.lowlevel.checkpoint()
        if self._memberships.get((course_id, user_id)) is not None:
            self._memberships.put((course_id, user_id), CourseRole(role))

    async def remove_member(self, course_id: UUID, user_id: UUID) -> None:
        await anyio.lowlevel.checkpoint()
        # Like the SQL repository: the room assignments go first, member or not.
        self._member_removed(course_id, user_id)
        if self._memberships.get((course_id, user_id)) is not None:
            self._memberships.delete((course_id, user_id))

    async def members(self, course_id: UUID) -> Sequence[Member]:
        await anyio.lowlevel.checkpoint()
        course = self._courses.get(course_id)
        if course is None:
            return []
        rows: list[tuple[CourseRole, User]] = []
        for (member_course, user_id), role in self._memberships.items():
            user = self._users.get(user_id)
            if member_course == course_id and user is not None:
                rows.append((role, user))
        rows.sort(key=lambda row: (_ROLE_RANK[row[0]], _member_name(row[1]).lower(), row[1].id))
        return [
            Member(
                user_id=user.id,
                email=user.email,
                full_name=user.full_name,
                avatar_url=user.avatar_url,
                role=role,
                is_owner=course.owner_id == user.id,
            )
            for role, user in rows
        ]

    def user_deleted(self, user_id: UUID) -> None:
        """ON DELETE CASCADE of memberships, ON DELETE SET NULL of course owners."""
        for key, _ in list(self._memberships.items()):
            if key[1] == user_id:
                self._memberships.delete(key)
        for course in self._courses.values():
            if course.owner_id == user_id:
                self._courses.put(course.id, replace(course, owner_id=None))

    def _with_owner_name(self, course: Course) -> Course:
        owner = self._users.get(course.owner_id) if course.owner_id is not None else None
        return replace(course, owner_name=_owner_name(owner))


class InMemoryRoomRepository:
    def __init__(
        self,
        rooms: _Overlay[UUID, Room],
        assignments: _Overlay[tuple[UUID, UUID], bool],
        courses: _Overlay[UUID, Course],
        users: _Overlay[UUID, User],
        memberships: _Overlay[tuple[UUID, UUID], CourseRole],
        seqs: _Overlay[UUID, int],
    ) -> None:
        self._rooms = rooms
        self._seqs = seqs
        self._assignments = assignments
        self._courses = courses
        self._users = users
        self._memberships = memberships
        # Set by the unit of work: what ON DELETE CASCADE removes with a room.
        self.on_delete: Callable[[UUID], None] = lambda _room_id: None

    async def add(self, room: Room) -> None:
        await anyio.lowlevel.checkpoint()
        if self._rooms.get(room.id) is not None:
            raise ValueError(f"Room {room.id} already exists")
        if self._courses.get(room.course_id) is None:
            raise ValueError(f"Room course {room.course_id} does not exist")
        self._rooms.put(room.id, replace(room, is_restricted=False))

    async def standing(self, room_id: UUID, user_id: UUID) -> RoomStanding:
        await anyio.lowlevel.checkpoint()
        actor, stored = self._users.get(user_id), self._rooms.get(room_id)
        if actor is None or stored is None:
            return RoomStanding(actor=actor, room=None)
        room = self._with_restriction(stored)
        course = self._courses.get(room.course_id)
        return RoomStanding(
            actor=actor,
            room=room,
            course_role=self._memberships.get((room.course_id, user_id)),
            is_owner=course is not None and course.owner_id == user_id,
            assigned=(
                self._assignments.get((room_id, user_id)) is not None
                if room.is_restricted
                else None
            ),
            last_seq=self._seqs.get(room_id) or 0,
        )

    async def standing_with_page(
        self, room_id: UUID, user_id: UUID, page: PageKey, *, unless_seen: int
    ) -> tuple[RoomStanding, EncodedPage | None]:
        return await self.standing(room_id, user_id), None  # this store does not encode

    async def get(self, room_id: UUID) -> Room | None:
        await anyio.lowlevel.checkpoint()
        room = self._rooms.get(room_id)
        return self._with_restriction(room) if room is not None else None

    async def update(self, room: Room) -> None:
        await anyio.lowlevel.checkpoint()
        stored = self._rooms.get(room.id)
        if stored is None:
            return  # like UPDATE ... WHERE id = :id on a missing row
        # The SQL repository writes these columns only (never course_id nor created_at).
        self._rooms.put(
            room.id,
            replace(
                stored,
                name=room.name,
                description=room.description,
                ai_mode=room.ai_mode,
                ai_frequency=room.ai_frequency,
                is_ai_active=room.is_ai_active,
                is_analytics_active=room.is_analytics_active,
                approval_mode=room.approval_mode,
                updated_at=room.updated_at,
            ),
        )

    async def delete(self, room_id: UUID) -> None:
        await anyio.lowlevel.checkpoint()
        self.on_delete(room_id)
        self.delete_where(lambda room: room.id == room_id)

    async def list_in(self, course_id: UUID, *, visible_to: UUID | None) -> Sequence[Room]:
        await anyio.lowlevel.checkpoint()
        rooms = [
            self._with_restriction(room)
            for room in self._rooms.values()
            if room.course_id == course_id
        ]
        if visible_to is not None:
            rooms = [
                room
                for room in rooms
                if not room.is_restricted
                or self._assignments.get((room.id, visible_to)) is not None
            ]
        return sorted(rooms, key=lambda room: (room.created_at, room.id))

    async def is_assigned(self, room_id: UUID, user_id: UUID) -> bool:
        await anyio.lowlevel.checkpoint()
        return self._assignments.get((room_id, user_id)) is not None

    async def assign(self, room_id: UUID, user_id: UUID) -> bool:
        await anyio.lowlevel.checkpoint()
        if self._assignments.get((room_id, user_id)) is not None:
            return False
        if self._rooms.get(room_id) is None or self._users.get(user_id) is None:
            raise NotFound("User or room not found")
        self._assignments.put((room_id, user_id), value=True)
        return True

    def delete_where(self, predicate: Callable[[Room], bool]) -> None:
        """Delete matching rooms with their assignments (ON DELETE CASCADE)."""
        doomed = {room.id for room in self._rooms.values() if predicate(room)}
        for room_id in doomed:
            self._rooms.delete(room_id)
        for key, _ in list(self._assignments.items()):
            if key[0] in doomed:
                self._assignments.delete(key)

    def course_deleted(self, course_id: UUID) -> None:
        self.delete_where(lambda room: room.course_id == course_id)

    def user_deleted(self, user_id: UUID) -> None:
        for key, _ in list(self._assignments.items()):
            if key[1] == user_id:
                self._assignments.delete(key)

    def member_removed(self, course_id: UUID, user_id: UUID) -> None:
        """Drop the user's assignments to the rooms of the course."""
        for (room_id, assignee), _ in list(self._assignments.items()):
            room = self._rooms.get(room_id)
            if assignee == user_id and room is not None and room.course_id == course_id:
                self._assignments.delete((room_id, assignee))

    def _with_restriction(self, room: Room) -> Room:
        restricted = any(key[0] == room.id for key, _ in self._assignments.items())
        return replace(room, is_restricted=restricted)


class InMemoryAnnouncementRepository:
    def __init__(
        self,
        announcements: _Overlay[UUID, Announcement],
        courses: _Overlay[UUID, Course],
        users: _Overlay[UUID, User],
    ) -> None:
        self._announcements = announcements
        self._courses = courses
        self._users = users

    async def add(self, announcement: Announcement) -> None:
        await anyio.lowlevel.checkpoint()
        if self._announcements.get(announcement.id) is not None:
            raise ValueError(f"Announcement {announcement.id} already exists")
        if self._courses.get(announcement.course_id) is None:
            raise ValueError(f"Announcement course {announcement.course_id} does not exist")
        if announcement.author_id is not None and self._users.get(announcement.author_id) is None:
            raise ValueError(f"Announcement author {announcement.author_id} does not exist")
        self._announcements.put(announcement.id, announcement)

    async def get(self, announcement_id: UUID) -> Announcement | None:
        await anyio.lowlevel.checkpoint()
        return self._announcements.get(announcement_id)

    async def update(self, announcement: Announcement) -> None:
        await anyio.lowlevel.checkpoint()
        stored = self._announcements.get(announcement.id)
        if stored is None:
            return  # like UPDATE ... WHERE id = :id on a missing row
        # The SQL repository writes these three columns only.
        self._announcements.put(
            announcement.id,
            replace(
                stored,
                title=announcement.title,
                content=announcement.content,
                updated_at=announcement.updated_at,
            ),
        )

    async def delete(self, announcement_id: UUID) -> None:
        await anyio.lowlevel.checkpoint()
        if self._announcements.get(announcement_id) is not None:
            self._announcements.delete(announcement_id)

    async def list_in(self, course_id: UUID, *, offset: int, limit: int) -> Page[Announcement]:
        await anyio.lowlevel.checkpoint()
        found = [a for a in self._announcements.values() if a.course_id == course_id]
        found.sort(key=lambda a: (a.created_at, a.id), reverse=True)
        return Page(items=found[offset : offset + limit], total=len(found))

    def course_deleted(self, course_id: UUID) -> None:
        """ON DELETE CASCADE."""
        for announcement in self._announcements.values():
            if announcement.course_id == course_id:
                self._announcements.delete(announcement.id)

    def user_deleted(self, user_id: UUID) -> None:
        """ON DELETE SET NULL of the author."""
        for announcement in self._announcements.values():
            if announcement.author_id == user_id:
                self._announcements.put(announcement.id, replace(announcement, author_id=None))


class InMemorySystemState:
    """One-time markers. A key claimed by an open unit of work is refused to the others."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.claimed: set[str] = set()

    async def claim(self, key: str) -> bool:
        await anyio.lowlevel.checkpoint()
        if key in self._store.system or key in self._store.pending_claims:
            return False
        self._store.pending_claims.add(key)
        self.claimed.add(key)
        return True

    def apply(self) -> None:
        self._store.system |= self.claimed
        self.discard()

    def discard(self) -> None:
        self._store.pending_claims -= self.claimed
        self.claimed.clear()


class InMemoryUnitOfWork:
    """One transaction over an `InMemoryStore`. Single use, like a database session."""

    # Declared as the ports, like the real unit of work, so it matches the Protocol.
    users: UserRepository
    sessions: SessionRepository
    audit: AuditLog
    avatars: AvatarRepository
    system: SystemState
    courses: CourseRepository
    rooms: RoomRepository
    announcements: AnnouncementRepository
    agent_configs: AgentConfigRepository
    messages: MessageRepository
    turns: AgentTurnRepository
    proposals: ProposalRepository

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._active = False
        self._used = False
        self._locks: dict[UUID, anyio.Lock] = {}
        # Users deleted in this unit of work: their audit events lose the actor at commit.
        self._deleted_users: set[UUID] = set()

    async def __aenter__(self) -> Self:
        if self._used:
            raise RuntimeError("A unit of work is used for one block only")
        self._used = self._active = True
        self._user_rows = _Overlay(self._store.users)
        self._session_rows = _Overlay(self._store.sessions)
        self._avatar_rows = _Overlay(self._store.avatars)
        self._course_rows = _Overlay(self._store.courses)
        self._membership_rows = _Overlay(self._store.memberships)
        self._room_rows = _Overlay(self._store.rooms)
        self._assignment_rows = _Overlay(self._store.room_assignments)
        self._announcement_rows = _Overlay(self._store.announcements)
        self._agent_rows = (
            _Overlay(self._store.agent_configs),
            _Overlay(self._store.agent_keys),
            _Overlay(self._store.agent_versions),
        )
        self._agent_repo = InMemoryAgentConfigRepository(
            *self._agent_rows,
            lambda course_id: self._course_rows.get(course_id) is not None,
            self.lock_row,
        )
        self._message_rows = (
            _Overlay(self._store.messages),
            _Overlay(self._store.room_seqs),
            _Overlay(self._store.agent_turns),
            _Overlay(self._store.room_leases),
            _Overlay(self._store.turn_cancels),
            _Overlay(self._store.agent_proposals),
            _Overlay(self._store.considered),
            _Overlay(self._store.tool_calls),
        )
        self._room_repo = InMemoryRoomRepository(
            self._room_rows,
            self._assignment_rows,
            self._course_rows,
            self._user_rows,
            self._membership_rows,
            self._message_rows[1],
        )
        self._message_repo = InMemoryMessageRepository(
            self._message_rows[0], self._room_rows, self._user_rows, self._message_rows[1]
        )
        self._room_repo.on_delete = self._message_repo.room_deleted
        self._message_repo.commit = self.commit
        self.turns = InMemoryAgentTurnRepository(
            self._message_rows[2],
            self._message_rows[3],
            self._message_repo,
            self._message_rows[0],
            self._message_rows[1],
            self._room_rows,
            self._agent_rows[0],
            self._message_rows[4],
            considered=self._message_rows[6],
            tool_calls=self._message_rows[7],
            courses=self._course_rows,
        )
        self.proposals = InMemoryProposalRepository(
            self._message_rows[5],
            self._message_rows[2],
            self._message_rows[0],
            self._message_rows[1],
            rooms=self._room_rows,
        )
        self._announcement_repo = InMemoryAnnouncementRepository(
            self._announcement_rows, self._course_rows, self._user_rows
        )
        self._course_repo = InMemoryCourseRepository(
            self._course_rows,
            self._membership_rows,
            self._user_rows,
            self._cascade_course_delete,
            self._room_repo.member_removed,
        )
        self._session_repo = InMemorySessionRepository(self._session_rows, self)
        self._audit_log = InMemoryAuditLog(self._store.audit)
        self._system_state = InMemorySystemState(self._store)
        self.users = InMemoryUserRepository(self._user_rows, self._cascade_user_delete)
        self.sessions = self._session_repo
        self.audit = self._audit_log
        self.avatars = InMemoryAvatarRepository(self._avatar_rows)
        self.system = self._system_state
        self.courses = self._course_repo
        self.rooms = self._room_repo
        self.announcements = self._announcement_repo
        self.agent_configs = self._agent_repo
        self.messages = self._message_repo
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Anything not committed is rolled back.
        self._rollback()
        self._active = False

    async def commit(self) -> None:
        if not self._active:
            raise RuntimeError("commit() outside the unit of work's block")
        await anyio.lowlevel.checkpoint()
        self._user_rows.apply()
        self._session_rows.apply()
        self._avatar_rows.apply()
        self._course_rows.apply()
        self._membership_rows.apply()
        self._room_rows.apply()
        self._assignment_rows.apply()
        self._announcement_rows.apply()
        for agent_rows in self._agent_rows:
            agent_rows.apply()
        for message_rows in self._message_rows:
            message_rows.apply()
        self._store.audit.extend(self._audit_log.pending)
        self._audit_log.pending.clear()
        if self._deleted_users:
            self._store.audit[:] = [
                replace(e, actor_id=None) if e.actor_id in self._deleted_users else e
                for e in self._store.audit
            ]
            self._deleted_users.clear()
        self._system_state.apply()
        self._store.commits += 1
        self._release_locks()

    async def lock_row(self, key: UUID) -> None:
        if key in self._locks:
            await anyio.lowlevel.checkpoint()
            return
        lock = self._store.row_lock(key)
        await lock.acquire()
        self._locks[key] = lock

    def _rollback(self) -> None:
        self._user_rows.discard()
        self._session_rows.discard()
        self._avatar_rows.discard()
        self._course_rows.discard()
        self._membership_rows.discard()
        self._room_rows.discard()
        self._assignment_rows.discard()
        self._announcement_rows.discard()
        for agent_rows in self._agent_rows:
            agent_rows.discard()
        for message_rows in self._message_rows:
            message_rows.discard()
        self._audit_log.pending.clear()
        self._deleted_users.clear()
        self._system_state.discard()
        self._release_locks()

    def _release_locks(self) -> None:
        for lock in self._locks.values():
            lock.release()
        self._locks.clear()

    def _cascade_user_delete(self, user_id: UUID) -> None:
        self._deleted_users.add(user_id)
        self._session_repo.delete_where(lambda s: user_id in (s.user_id, s.impersonator_id))
        if self._avatar_rows.get(user_id) is not None:
            self._avatar_rows.delete(user_id)
        self._course_repo.user_deleted(user_id)
        self._room_repo.user_deleted(user_id)
        self._announcement_repo.user_deleted(user_id)
        self._agent_repo.user_deleted(user_id)
        self._message_repo.user_deleted(user_id)

    def _cascade_course_delete(self, course_id: UUID) -> None:
        for room in self._room_rows.values():
            if room.course_id == course_id:
                self._message_repo.room_deleted(room.id)
        self._room_repo.course_deleted(course_id)
        self._announcement_repo.course_deleted(course_id)
        self._agent_repo.course_deleted(course_id)


class InMemoryUnitOfWorkFactory:
    """Opens units of work over one shared store (created if not given)."""

    def __init__(self, store: InMemoryStore | None = None) -> None:
        self.store = store or InMemoryStore()

    def __call__(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store)
