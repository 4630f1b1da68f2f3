"""Wire formats of the courses API (the original's field names)."""

from datetime import datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

import msgspec
from litestar.openapi.spec import Schema

from coagent.adapters.http.accounts.schemas import Email
from coagent.domain.courses.course import Course, Member
from coagent.domain.courses.policy import CourseRole

NO_NUL = r"^[^\x00]*$"
Title = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$")
]
Description = Annotated[str, msgspec.Meta(max_length=20_000, pattern=NO_NUL)]


class CourseRead(msgspec.Struct):
    id: UUID
    title: str
    description: str | None
    owner_id: UUID | None
    owner_name: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, course: Course) -> "CourseRead":
        return cls(
            id=course.id,
            title=course.title,
            description=course.description,
            owner_id=course.owner_id,
            owner_name=course.owner_name,
            created_at=course.created_at,
            updated_at=course.updated_at,
        )


class CourseCreate(msgspec.Struct):
    title: Title
    description: Description | None = None


class CourseUpdate(msgspec.Struct):
    title: Title | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET


class EnrollRequest(msgspec.Struct):
    """Exactly one of `user_email` and `user_id`."""

    # What the generated schema cannot say by itself (applied by the app's OpenAPI pass).
    __openapi_extra__: ClassVar[dict[str, Any]] = {
        "one_of": [Schema(required=["user_id"]), Schema(required=["user_email"])]
    }

    user_email: Email | msgspec.UnsetType = msgspec.UNSET
    user_id: UUID | msgspec.UnsetType = msgspec.UNSET
    role: CourseRole = CourseRole.STUDENT


class MemberRoleUpdate(msgspec.Struct):
    role: CourseRole


class CourseMember(msgspec.Struct):
    """A member; `email` is null unless you are course staff."""

    user_id: UUID
    email: str | None
    full_name: str | None
    avatar_url: str | None
    role: CourseRole
    is_owner: bool

    @classmethod
    def of(cls, member: Member) -> "CourseMember":
        return cls(
            user_id=member.user_id,
            email=member.email or None,
            full_name=member.full_name,
            avatar_url=member.avatar_url,
            role=member.role,
            is_owner=member.is_owner,
        )
