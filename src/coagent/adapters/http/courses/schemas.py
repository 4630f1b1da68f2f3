"""Wire formats of the courses API (the original's field names)."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import Body

from coagent.adapters.http.accounts.schemas import Email
from coagent.domain.courses.course import Course, Member
from coagent.domain.courses.policy import CourseRole

NO_NUL = r"^[^\x00]*$"
Title = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$")
]
Description = Annotated[str, msgspec.Meta(max_length=20_000, pattern=NO_NUL)]

# Enrollment and room assignment name a user the way the original web client does: it sends
# both fields, `null` for the one it does not know, and both ids for a picked search hit.
USER_REFERENCE_RULE = (
    "Name the user by `user_id`, by `user_email`, or by both; `null` counts as absent. "
    "When both are given, `user_id` is used and `user_email` must be that user's address: "
    "422 when they name different users or when neither is given."
)


def user_reference_any_of(name: str) -> list[Schema]:
    """The two alternatives of an enroll/assign body, titled `<name>ByUserId` and
    `<name>ByEmail` so generated SDKs name their models; `struct_schemas` copies the
    body's other properties (`role`, the nullable other field) into each alternative, so
    either model carries the whole body.
    """
    return [
        Schema(
            title=f"{name}ByUserId",
            required=["user_id"],
            properties={"user_id": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.UUID)},
        ),
        Schema(
            title=f"{name}ByEmail",
            required=["user_email"],
            properties={"user_email": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.EMAIL)},
        ),
    ]


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
    """Who to enroll: `user_id`, `user_email`, or both when they name the same user."""

    user_email: Email | msgspec.UnsetType | None = msgspec.UNSET
    user_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    role: CourseRole = CourseRole.STUDENT


EnrollBody = Annotated[
    EnrollRequest,
    Body(
        media_type=RequestEncodingType.JSON,
        schema_extra={
            "description": USER_REFERENCE_RULE,
            "any_of": user_reference_any_of("Enroll"),
        },
    ),
]
"""The body of `enroll`, with what its schema cannot say by itself."""


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
