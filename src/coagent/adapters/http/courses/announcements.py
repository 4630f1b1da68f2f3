"""/api/v1/announcements: course announcements, delivered live to connected members."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter

from coagent.adapters.http.auth import SECURITY
from coagent.adapters.http.bodies import unset_keeps
from coagent.adapters.http.courses.schemas import Title
from coagent.adapters.http.courses.services import Announcements, AnnouncementServices
from coagent.adapters.http.deps import Current, services_of
from coagent.adapters.http.paging import Limit, Offset, paged
from coagent.adapters.http.problems import problems
from coagent.application.courses.delete_announcement import DeleteAnnouncementCommand
from coagent.application.courses.edit_announcement import EditAnnouncementCommand
from coagent.application.courses.list_announcements import ListAnnouncementsCommand
from coagent.application.courses.post_announcement import PostAnnouncementCommand
from coagent.domain.courses.announcement import Announcement

Content = Annotated[
    str, msgspec.Meta(min_length=1, max_length=20_000, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$")
]


class AnnouncementRead(msgspec.Struct):
    id: UUID
    title: str
    content: str
    course_id: UUID
    author_id: UUID | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, announcement: Announcement) -> "AnnouncementRead":
        return cls(
            id=announcement.id,
            title=announcement.title,
            content=announcement.content,
            course_id=announcement.course_id,
            author_id=announcement.author_id,
            created_at=announcement.created_at,
            updated_at=announcement.updated_at,
        )


class AnnouncementCreate(msgspec.Struct):
    title: Title
    content: Content
    course_id: UUID


class AnnouncementUpdate(msgspec.Struct):
    """Only the fields sent change."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    content: Content | msgspec.UnsetType = msgspec.UNSET


class AnnouncementsController(Controller):
    path = "/api/v1/announcements"
    tags = ["announcements"]
    security = SECURITY
    dependencies = {"announcements": services_of(AnnouncementServices)}

    @post(
        "/",
        operation_id="announcements_create",
        description="Course staff (TA and above) and admins; pushed live to the course.",
        responses=problems(401, 403, 404),
    )
    async def create(
        self, data: JSONBody[AnnouncementCreate], announcements: Announcements, current: Current
    ) -> AnnouncementRead:
        announcement = await announcements.post.execute(
            PostAnnouncementCommand(
                actor_id=current.user_id,
                course_id=data.course_id,
                title=data.title,
                content=data.content,
            )
        )
        return AnnouncementRead.of(announcement)

    @get(
        "/",
        operation_id="announcements_list",
        description="Members and admins; newest first, paged (`X-Total-Count`, `Link`).",
        responses=problems(401, 404),
    )
    async def list_announcements(
        self,
        request: Request[Any, Any, Any],
        announcements: Announcements,
        current: Current,
        course_id: Annotated[UUID, QueryParameter()],
        offset: Offset = 0,
        limit: Limit = 100,
    ) -> Response[list[AnnouncementRead]]:
        page = await announcements.list.execute(
            ListAnnouncementsCommand(
                actor_id=current.user_id, course_id=course_id, offset=offset, limit=limit
            )
        )
        return paged(request, page, offset, limit, AnnouncementRead.of)

    @put(
        "/{announcement_id:uuid}",
        operation_id="announcements_update",
        description="Course staff and admins; only the fields sent change.",
        responses=problems(401, 403, 404),
    )
    async def update(
        self,
        announcement_id: FromPath[UUID],
        data: JSONBody[AnnouncementUpdate],
        announcements: Announcements,
        current: Current,
    ) -> AnnouncementRead:
        announcement = await announcements.edit.execute(
            EditAnnouncementCommand(
                actor_id=current.user_id,
                announcement_id=announcement_id,
                title=unset_keeps(data.title),
                content=unset_keeps(data.content),
            )
        )
        return AnnouncementRead.of(announcement)

    @delete(
        "/{announcement_id:uuid}",
        operation_id="announcements_delete",
        description="Course staff and admins.",
        responses=problems(401, 403, 404),
    )
    async def remove(
        self, announcement_id: FromPath[UUID], announcements: Announcements, current: Current
    ) -> None:
        await announcements.delete.execute(
            DeleteAnnouncementCommand(actor_id=current.user_id, announcement_id=announcement_id)
        )
