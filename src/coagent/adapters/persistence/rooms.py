"""SQLAlchemy room repository."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import and_, bindparam, delete, exists, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from coagent.adapters.persistence._models import (
    CourseMembershipModel,
    CourseModel,
    RoomAssignmentModel,
    RoomModel,
    UserModel,
)
from coagent.adapters.persistence.messages import ENCODED_PAGES
from coagent.adapters.persistence.rows import DriverStatement, fetch_rows, is_postgresql
from coagent.application.ports.chat import EncodedPage, PageKey
from coagent.application.ports.repositories import RoomStanding
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.courses.policy import CourseRole
from coagent.domain.courses.room import AiMode, ApprovalMode, Room
from coagent.domain.errors import NotFound

_RESTRICTED = exists().where(RoomAssignmentModel.room_id == RoomModel.id).label("restricted")


_USER_FIELDS = (
    "id",
    "email",
    "username",
    "full_name",
    "role",
    "is_active",
    "password_hash",
    "avatar_url",
    "created_at",
    "updated_at",
)
_ROOM_FIELDS = (
    "id",
    "course_id",
    "name",
    "description",
    "ai_mode",
    "ai_frequency",
    "is_ai_active",
    "is_analytics_active",
    "approval_mode",
    "created_at",
    "updated_at",
)


def _standing_query(page: Any = None) -> Any:
    """User, room, course owner, membership and assignment for (:user_id, :room_id) in one
    row; no row when there is no such user. Runs on every chat request (see rows.py). With
    `page` (a one-row select of `ENCODED_PAGES`), its columns follow.
    """
    user, room, course = UserModel.__table__, RoomModel.__table__, CourseModel.__table__
    member, assignment = CourseMembershipModel.__table__, RoomAssignmentModel.__table__
    user_id: Any = bindparam("user_id")
    room_id: Any = bindparam("room_id")
    joined = (
        user.outerjoin(room, room.c.id == room_id)
        .outerjoin(course, course.c.id == room.c.course_id)
        .outerjoin(member, and_(member.c.course_id == course.c.id, member.c.user_id == user_id))
    )
    extra: tuple[Any, ...] = ()
    if page is not None:
        encoded = page.subquery("encoded_page")
        joined = joined.join(encoded, true())
        extra = tuple(encoded.c)
    return (
        select(
            *(user.c[name] for name in _USER_FIELDS),
            *(room.c[name] for name in _ROOM_FIELDS),
            course.c.owner_id,
            member.c.role,
            room.c.last_seq,
            exists().where(assignment.c.room_id == room.c.id),
            exists().where(assignment.c.room_id == room.c.id, assignment.c.user_id == user.c.id),
            *extra,
        )
        .select_from(joined)
        .where(user.c.id == user_id)
    )


_STANDING = DriverStatement(_standing_query())
# PostgreSQL: the standing and an encoded history page in one round trip, per cursor shape.
_STANDING_WITH_PAGE = {
    shape: DriverStatement(_standing_query(page)) for shape, page in ENCODED_PAGES.items()
}
_USERS = len(_USER_FIELDS)
_ROOMS_END = _USERS + len(_ROOM_FIELDS)


def _standing(row: Sequence[Any]) -> RoomStanding:
    user = dict(zip(_USER_FIELDS, row[:_USERS], strict=True))
    actor = User(**user | {"role": Role(user["role"])})
    if row[_USERS] is None:  # no such room (a room's course always exists: it cascades)
        return RoomStanding(actor=actor, room=None)
    room = dict(zip(_ROOM_FIELDS, row[_USERS:_ROOMS_END], strict=True))
    owner_id, course_role, last_seq, restricted, assigned = row[_ROOMS_END : _ROOMS_END + 5]
    return RoomStanding(
        actor=actor,
        room=Room(
            **room
            | {
                "ai_mode": AiMode(room["ai_mode"]),
                "approval_mode": ApprovalMode(room["approval_mode"]),
                "is_restricted": restricted,
            }
        ),
        course_role=CourseRole(course_role) if course_role else None,
        is_owner=owner_id == actor.id,
        assigned=bool(assigned) if restricted else None,
        last_seq=last_seq,
    )


def _rooms_query(*, visible: bool) -> Any:
    """A course's rooms, oldest first; with `visible`, only those open to the course or
    assigned to :user_id. Run on the driver (rows.py).
    """
    room, assignment = RoomModel.__table__, RoomAssignmentModel.__table__
    restricted = exists().where(assignment.c.room_id == room.c.id)
    query = select(*(room.c[name] for name in _ROOM_FIELDS), restricted).where(
        room.c.course_id == bindparam("course_id")
    )
    if visible:
        assigned = exists().where(
            assignment.c.room_id == room.c.id, assignment.c.user_id == bindparam("user_id")
        )
        query = query.where(or_(~restricted, assigned))
    return query.order_by(room.c.created_at, room.c.id)


_ALL_ROOMS = DriverStatement(_rooms_query(visible=False))
_VISIBLE_ROOMS = DriverStatement(_rooms_query(visible=True))


def _room_of(row: Sequence[Any]) -> Room:
    room = dict(zip(_ROOM_FIELDS, row[:-1], strict=True))
    return Room(
        **room
        | {
            "ai_mode": AiMode(room["ai_mode"]),
            "approval_mode": ApprovalMode(room["approval_mode"]),
            "is_restricted": bool(row[-1]),
        }
    )


# One room with whether it is restricted (`_room_of`'s row), on the driver: the agent turn
# path reads it (P6).
_ROOM = DriverStatement(
    select(*(RoomModel.__table__.c[name] for name in _ROOM_FIELDS), _RESTRICTED).where(
        RoomModel.id == bindparam("room_id")
    )
)


def _values(room: Room) -> dict[str, Any]:
    return {
        "name": room.name,
        "description": room.description,
        "ai_mode": room.ai_mode.value,
        "ai_frequency": room.ai_frequency,
        "is_ai_active": room.is_ai_active,
        "is_analytics_active": room.is_analytics_active,
        "approval_mode": room.approval_mode.value,
        "updated_at": room.updated_at,
    }


class SqlAlchemyRoomRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, room: Room) -> None:
        self._session.add(
            RoomModel(
                id=room.id, course_id=room.course_id, created_at=room.created_at, **_values(room)
            )
        )
        await self._session.flush()

    async def get(self, room_id: UUID) -> Room | None:
        rows = await fetch_rows(self._session, _ROOM, {"room_id": room_id})
        return _room_of(rows[0]) if rows else None

    async def standing(self, room_id: UUID, user_id: UUID) -> RoomStanding:
        rows = await fetch_rows(self._session, _STANDING, {"user_id": user_id, "room_id": room_id})
        return _standing(rows[0]) if rows else RoomStanding(actor=None, room=None)

    async def standing_with_page(
        self, room_id: UUID, user_id: UUID, page: PageKey, *, unless_seen: int
    ) -> tuple[RoomStanding, EncodedPage | None]:
        if not is_postgresql(self._session):  # SQLite: the caller reads the page as messages
            return await self.standing(room_id, user_id), None
        statement = _STANDING_WITH_PAGE[(page.before_seq is not None, page.after_seq is not None)]
        params = {
            "user_id": user_id,
            "room_id": room_id,
            "seen": unless_seen,
            "limit": page.limit,
            "before": page.before_seq,
            "after": page.after_seq,
        }
        rows = await fetch_rows(self._session, statement, params)
        if not rows:
            return RoomStanding(actor=None, room=None), None
        row = rows[0]
        found = _standing(row)
        if found.room is None or found.last_seq <= unless_seen:
            return found, None
        page_json, first_seq, count = row[-3:]
        return found, EncodedPage(json=page_json.encode(), first_seq=first_seq, count=count)

    async def update(self, room: Room) -> None:
        await self._session.execute(
            update(RoomModel).where(RoomModel.id == room.id).values(**_values(room))
        )

    async def delete(self, room_id: UUID) -> None:
        await self._session.execute(delete(RoomModel).where(RoomModel.id == room_id))

    async def list_in(self, course_id: UUID, *, visible_to: UUID | None) -> Sequence[Room]:
        if visible_to is None:
            rows = await fetch_rows(self._session, _ALL_ROOMS, {"course_id": course_id})
        else:
            params = {"course_id": course_id, "user_id": visible_to}
            rows = await fetch_rows(self._session, _VISIBLE_ROOMS, params)
        return [_room_of(row) for row in rows]

    async def is_assigned(self, room_id: UUID, user_id: UUID) -> bool:
        return bool(
            await self._session.scalar(
                select(
                    exists().where(
                        RoomAssignmentModel.room_id == room_id,
                        RoomAssignmentModel.user_id == user_id,
                    )
                )
            )
        )

    async def assign(self, room_id: UUID, user_id: UUID) -> bool:
        if await self.is_assigned(room_id, user_id):
            return False
        try:
            async with self._session.begin_nested():
                self._session.add(RoomAssignmentModel(room_id=room_id, user_id=user_id))
        except IntegrityError as error:
            if await self.is_assigned(room_id, user_id):
                return False  # assigned meanwhile by someone else
            raise NotFound("User or room not found") from error
        return True
