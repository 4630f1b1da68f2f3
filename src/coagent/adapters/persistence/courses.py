"""SQLAlchemy course repository."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import (
    and_,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from coagent.adapters.persistence._models import (
    CourseMembershipModel,
    CourseModel,
    RoomAssignmentModel,
    RoomModel,
    UserModel,
)
from coagent.adapters.persistence.names import display_name_sql, public_name_sql
from coagent.adapters.persistence.rows import DriverStatement, fetch_rows
from coagent.application.ports.repositories import CoursesOf, CourseStanding, Page
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.courses.course import Course, Member
from coagent.domain.courses.policy import CourseRole
from coagent.domain.errors import NotFound

# Shown to every member: never an email address.
_OWNER_NAME = public_name_sql(UserModel.full_name, UserModel.username)


def _course(row: CourseModel, owner_name: str | None) -> Course:
    return Course(
        id=row.id,
        title=row.title,
        description=row.description,
        owner_id=row.owner_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        owner_name=owner_name,
    )


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
_COURSE_FIELDS = ("id", "title", "description", "owner_id", "created_at", "updated_at")
_USERS = len(_USER_FIELDS)
_ROLE = _USER_FIELDS.index("role")
_COURSES_END = _USERS + len(_COURSE_FIELDS)


def _visible_query(*, every_course: bool) -> Any:
    """The account (:actor_id) and a page of courses, one row per course (one row with NULL
    course columns when there is none; no row when there is no such account or the page is
    past the end): the courses it belongs to, or with `every_course` all of them (for an
    admin). Built once, run on the driver (rows.py): the course list is read on every
    dashboard.
    """
    user = UserModel.__table__
    course, member = CourseModel.__table__, CourseMembershipModel.__table__
    owner = aliased(UserModel, name="owner")
    actor_id: Any = bindparam("actor_id")
    courses = select(
        *(course.c[name] for name in _COURSE_FIELDS),
        public_name_sql(owner.full_name, owner.username).label("owner_name"),
    ).select_from(course.outerjoin(owner, owner.id == course.c.owner_id))
    if not every_course:
        # In the derived table's WHERE, so PostgreSQL plans a semi-join on the account's
        # memberships (in the outer join's ON it would test every course).
        courses = courses.where(
            course.c.id.in_(select(member.c.course_id).where(member.c.user_id == actor_id))
        )
    visible = courses.subquery("visible")
    return (
        select(
            *(user.c[name] for name in _USER_FIELDS),
            *(visible.c[name] for name in _COURSE_FIELDS),
            visible.c.owner_name,
            func.count(visible.c.id).over(),
        )
        .select_from(user.outerjoin(visible, user.c.is_active.is_(True)))
        .where(user.c.id == actor_id)
        .order_by(visible.c.created_at.desc(), visible.c.id.desc())
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    )


_MEMBER_COURSES = DriverStatement(_visible_query(every_course=False))
_EVERY_COURSE = DriverStatement(_visible_query(every_course=True))


def _standing_query() -> Any:
    """User, course (with its owner's name) and membership role for (:user_id, :course_id)
    in one row; no row when there is no such user. Authorizes every course-scoped read.
    """
    user, course = UserModel.__table__, CourseModel.__table__
    member = CourseMembershipModel.__table__
    owner = aliased(UserModel, name="owner")
    user_id: Any = bindparam("user_id")
    course_id: Any = bindparam("course_id")
    return (
        select(
            *(user.c[name] for name in _USER_FIELDS),
            *(course.c[name] for name in _COURSE_FIELDS),
            public_name_sql(owner.full_name, owner.username),
            member.c.role,
        )
        .select_from(
            user.outerjoin(course, course.c.id == course_id)
            .outerjoin(owner, owner.id == course.c.owner_id)
            .outerjoin(member, and_(member.c.course_id == course.c.id, member.c.user_id == user_id))
        )
        .where(user.c.id == user_id)
    )


_STANDING = DriverStatement(_standing_query())
_USER = DriverStatement(
    select(*(UserModel.__table__.c[name] for name in _USER_FIELDS)).where(
        UserModel.__table__.c.id == bindparam("actor_id")
    )
)


def _user(row: Sequence[Any]) -> User:
    user = dict(zip(_USER_FIELDS, row[:_USERS], strict=True))
    return User(**user | {"role": Role(user["role"])})


def _course_of(row: Sequence[Any]) -> Course:
    course = dict(zip(_COURSE_FIELDS, row[_USERS:_COURSES_END], strict=True))
    return Course(**course, owner_name=row[_COURSES_END])


class SqlAlchemyCourseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, course: Course) -> None:
        self._session.add(
            CourseModel(
                id=course.id,
                title=course.title,
                description=course.description,
                owner_id=course.owner_id,
                created_at=course.created_at,
                updated_at=course.updated_at,
            )
        )
        await self._session.flush()

    async def get(self, course_id: UUID) -> Course | None:
        row = (
            await self._session.execute(
                select(CourseModel, _OWNER_NAME)
                .outerjoin(UserModel, UserModel.id == CourseModel.owner_id)
                .where(CourseModel.id == course_id)
            )
        ).first()
        return _course(row[0], row[1]) if row else None

    async def role_of(self, course_id: UUID, user_id: UUID) -> CourseRole | None:
        role = await self._session.scalar(
            select(CourseMembershipModel.role).where(
                CourseMembershipModel.course_id == course_id,
                CourseMembershipModel.user_id == user_id,
            )
        )
        return CourseRole(role) if role else None

    async def update(self, course: Course) -> None:
        await self._session.execute(
            update(CourseModel)
            .where(CourseModel.id == course.id)
            .values(
                title=course.title, description=course.description, updated_at=course.updated_at
            )
        )

    async def delete(self, course_id: UUID) -> None:
        # Memberships (and everything else in the course) go by ON DELETE CASCADE.
        await self._session.execute(delete(CourseModel).where(CourseModel.id == course_id))

    async def list_for(self, user_id: UUID | None, *, offset: int, limit: int) -> Page[Course]:
        query = select(CourseModel, _OWNER_NAME, func.count().over()).outerjoin(
            UserModel, UserModel.id == CourseModel.owner_id
        )
        if user_id is not None:
            query = query.where(
                CourseModel.id.in_(
                    select(CourseMembershipModel.course_id).where(
                        CourseMembershipModel.user_id == user_id
                    )
                )
            )
        rows = (
            await self._session.execute(
                query.order_by(CourseModel.created_at.desc(), CourseModel.id.desc())
                .offset(offset)
                .limit(limit)
            )
        ).all()
        total = int(rows[0][2]) if rows else 0
        if not rows and offset:
            count = select(func.count()).select_from(query.subquery())
            total = int(await self._session.scalar(count) or 0)
        return Page(items=[_course(row[0], row[1]) for row in rows], total=total)

    async def standing(self, course_id: UUID, user_id: UUID) -> CourseStanding:
        params = {"user_id": user_id, "course_id": course_id}
        rows = await fetch_rows(self._session, _STANDING, params)
        if not rows:
            return CourseStanding(actor=None, course=None)
        row = rows[0]
        actor = _user(row)
        if row[_USERS] is None:
            return CourseStanding(actor=actor, course=None)
        role = row[_COURSES_END + 1]
        return CourseStanding(
            actor=actor, course=_course_of(row), course_role=CourseRole(role) if role else None
        )

    async def visible_to(self, actor_id: UUID, *, offset: int, limit: int) -> CoursesOf:
        params = {"actor_id": actor_id, "offset": offset, "limit": limit}
        rows = await fetch_rows(self._session, _MEMBER_COURSES, params)
        if rows and Role(rows[0][_ROLE]).is_admin:  # rare: admins list every course
            rows = await fetch_rows(self._session, _EVERY_COURSE, params)
        if rows:
            actor = _user(rows[0])
            if rows[0][_USERS] is None:  # a course id is never NULL: the account may list none
                return CoursesOf(actor=actor, page=Page(items=[], total=0))
            items = [_course_of(row) for row in rows]
            return CoursesOf(actor=actor, page=Page(items=items, total=int(rows[0][-1])))
        # No such account, or a page past the end (rare): the account, then the count.
        found = await fetch_rows(self._session, _USER, {"actor_id": actor_id})
        if not found:
            return CoursesOf(actor=None, page=Page(items=[], total=0))
        actor = _user(found[0])
        if not actor.is_active:
            return CoursesOf(actor=actor, page=Page(items=[], total=0))
        scope = None if actor.role.is_admin else actor.id
        return CoursesOf(actor=actor, page=await self.list_for(scope, offset=offset, limit=limit))

    async def add_member(self, course_id: UUID, user_id: UUID, role: CourseRole) -> bool:
        if await self.role_of(course_id, user_id) is not None:
            return False
        try:
            async with self._session.begin_nested():
                self._session.add(
                    CourseMembershipModel(course_id=course_id, user_id=user_id, role=role.value)
                )
        except IntegrityError as error:
            if await self.role_of(course_id, user_id) is not None:
                return False  # enrolled meanwhile by someone else
            raise NotFound("User or course not found") from error  # deleted meanwhile
        return True

    async def set_member_role(self, course_id: UUID, user_id: UUID, role: CourseRole) -> None:
        await self._session.execute(
            update(CourseMembershipModel)
            .where(
                CourseMembershipModel.course_id == course_id,
                CourseMembershipModel.user_id == user_id,
            )
            .values(role=role.value)
        )

    async def remove_member(self, course_id: UUID, user_id: UUID) -> None:
        # Room access ends with the membership (re-enrolling does not bring it back).
        await self._session.execute(
            delete(RoomAssignmentModel).where(
                RoomAssignmentModel.user_id == user_id,
                RoomAssignmentModel.room_id.in_(
                    select(RoomModel.id).where(RoomModel.course_id == course_id)
                ),
            )
        )
        await self._session.execute(
            delete(CourseMembershipModel).where(
                CourseMembershipModel.course_id == course_id,
                CourseMembershipModel.user_id == user_id,
            )
        )

    async def members(self, course_id: UUID) -> Sequence[Member]:
        rows = await fetch_rows(self._session, _MEMBERS, {"course_id": course_id})
        return [
            Member(
                user_id=user_id,
                email=email,
                full_name=full_name,
                avatar_url=avatar_url,
                role=CourseRole(role),
                is_owner=owner_id == user_id,
            )
            for user_id, email, full_name, avatar_url, role, owner_id in rows
        ]


def _members_query() -> Any:
    """A course's members, teachers first, then by name: run on the driver (rows.py)."""
    # Inline literals (no bind parameters besides :course_id): compiled once for the driver.
    rank = case(
        *(
            (CourseMembershipModel.role == literal_column(f"'{role}'"), literal_column(str(n)))
            for n, role in enumerate(("teacher", "ta", "student"))
        )
    )
    return (
        select(
            UserModel.id,
            UserModel.email,
            UserModel.full_name,
            UserModel.avatar_url,
            CourseMembershipModel.role,
            CourseModel.owner_id,
        )
        .join(UserModel, UserModel.id == CourseMembershipModel.user_id)
        .join(CourseModel, CourseModel.id == CourseMembershipModel.course_id)
        .where(CourseMembershipModel.course_id == bindparam("course_id"))
        .order_by(
            rank,
            func.lower(display_name_sql(UserModel.full_name, UserModel.username, UserModel.email)),
            UserModel.id,
        )
    )


_MEMBERS = DriverStatement(_members_query())
