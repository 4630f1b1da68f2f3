"""/api/v1/courses: courses and their members."""

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter

from coagent.adapters.http.accounts.schemas import Notice
from coagent.adapters.http.auth import SECURITY
from coagent.adapters.http.bodies import sent, unset_keeps
from coagent.adapters.http.courses.schemas import (
    CourseCreate,
    CourseMember,
    CourseRead,
    CourseUpdate,
    EnrollBody,
    MemberRoleUpdate,
)
from coagent.adapters.http.courses.services import Courses, CourseServices
from coagent.adapters.http.deps import Current, services_of
from coagent.adapters.http.paging import Limit, Offset, paged
from coagent.adapters.http.problems import problems
from coagent.application.courses.change_member import ChangeMemberCommand
from coagent.application.courses.create_course import CreateCourseCommand
from coagent.application.courses.delete_course import DeleteCourseCommand
from coagent.application.courses.enroll_member import EnrollMemberCommand
from coagent.application.courses.get_course import GetCourseCommand
from coagent.application.courses.list_courses import ListCoursesCommand
from coagent.application.courses.list_members import ListMembersCommand
from coagent.application.courses.update_course import UpdateCourseCommand

CourseId = FromPath[UUID]


class CoursesController(Controller):
    path = "/api/v1/courses"
    tags = ["courses"]
    security = SECURITY
    dependencies = {"courses": services_of(CourseServices)}

    @post(
        "/",
        operation_id="courses_create",
        description="Global teachers and above; you own the course and teach in it.",
        responses=problems(401, 403),
    )
    async def create_course(
        self, data: JSONBody[CourseCreate], courses: Courses, current: Current
    ) -> CourseRead:
        course = await courses.create.execute(
            CreateCourseCommand(
                actor_id=current.user_id, title=data.title, description=data.description
            )
        )
        return CourseRead.of(course)

    @get(
        "/",
        operation_id="courses_list",
        description="Your courses (admins: all), newest first; `X-Total-Count` and `Link` page it.",
        responses=problems(401),
    )
    async def list_courses(
        self,
        request: Request[Any, Any, Any],
        courses: Courses,
        current: Current,
        skip: Offset = 0,
        offset: Annotated[
            int | None,
            QueryParameter(ge=0, le=1_000_000, schema_extra={"minimum": 0, "maximum": 1_000_000}),
        ] = None,
        limit: Limit = 100,
    ) -> Response[list[CourseRead]]:
        start = offset if offset is not None else skip
        page = await courses.list.execute(
            ListCoursesCommand(actor_id=current.user_id, offset=start, limit=limit)
        )
        return paged(request, page, start, limit, CourseRead.of)

    @get("/{course_id:uuid}", operation_id="courses_read", responses=problems(401, 404))
    async def read_course(
        self, course_id: CourseId, courses: Courses, current: Current
    ) -> CourseRead:
        course = await courses.get.execute(
            GetCourseCommand(actor_id=current.user_id, course_id=course_id)
        )
        return CourseRead.of(course)

    @put(
        "/{course_id:uuid}",
        operation_id="courses_update",
        description="The owner, co-teachers and admins. Only the fields sent change.",
        responses=problems(401, 403, 404),
    )
    async def update_course(
        self,
        course_id: CourseId,
        data: JSONBody[CourseUpdate],
        courses: Courses,
        current: Current,
    ) -> CourseRead:
        course = await courses.update.execute(
            UpdateCourseCommand(
                actor_id=current.user_id,
                course_id=course_id,
                title=unset_keeps(data.title),
                description=unset_keeps(data.description),
            )
        )
        return CourseRead.of(course)

    @delete(
        "/{course_id:uuid}",
        operation_id="courses_delete",
        description="The owner and admins; everything in the course is deleted with it.",
        responses=problems(401, 403, 404),
        status_code=200,
    )
    async def delete_course(
        self, course_id: CourseId, courses: Courses, current: Current
    ) -> CourseRead:
        course = await courses.delete.execute(
            DeleteCourseCommand(actor_id=current.user_id, course_id=course_id)
        )
        return CourseRead.of(course)

    @post(
        "/{course_id:uuid}/enroll",
        operation_id="courses_enroll",
        description=(
            "TAs enroll students, co-teachers also TAs, the owner and admins anyone. "
            "Enrolling a member again changes nothing."
        ),
        responses=problems(401, 403, 404),
        status_code=200,
    )
    async def enroll(
        self,
        course_id: CourseId,
        data: EnrollBody,
        courses: Courses,
        current: Current,
    ) -> Notice:
        enrollment = await courses.enroll.execute(
            EnrollMemberCommand(
                actor_id=current.user_id,
                course_id=course_id,
                role=data.role,
                user_id=sent(data.user_id),
                user_email=sent(data.user_email),
            )
        )
        if not enrollment.created:
            return Notice(message="User already enrolled")
        return Notice(message=f"User {enrollment.user.display_name} enrolled as {enrollment.role}")

    @get(
        "/{course_id:uuid}/members",
        operation_id="courses_members",
        description="Members and admins; emails only for course staff.",
        responses=problems(401, 404),
    )
    async def members(
        self, course_id: CourseId, courses: Courses, current: Current
    ) -> list[CourseMember]:
        members = await courses.members.execute(
            ListMembersCommand(actor_id=current.user_id, course_id=course_id)
        )
        return [CourseMember.of(member) for member in members]

    @put(
        "/{course_id:uuid}/members/{user_id:uuid}",
        operation_id="courses_update_member",
        description="Change a member's course role (never the owner's).",
        responses=problems(401, 403, 404, 409),
    )
    async def update_member(
        self,
        course_id: CourseId,
        user_id: FromPath[UUID],
        data: JSONBody[MemberRoleUpdate],
        courses: Courses,
        current: Current,
    ) -> Notice:
        await courses.change_member.execute(
            ChangeMemberCommand(
                actor_id=current.user_id, course_id=course_id, user_id=user_id, role=data.role
            )
        )
        return Notice(message="Role updated")

    @delete(
        "/{course_id:uuid}/members/{user_id:uuid}",
        operation_id="courses_remove_member",
        description="Remove a member (never the owner).",
        responses=problems(401, 403, 404, 409),
        status_code=200,
    )
    async def remove_member(
        self,
        course_id: CourseId,
        user_id: FromPath[UUID],
        courses: Courses,
        current: Current,
    ) -> Notice:
        await courses.change_member.execute(
            ChangeMemberCommand(actor_id=current.user_id, course_id=course_id, user_id=user_id)
        )
        return Notice(message="User removed from course")
