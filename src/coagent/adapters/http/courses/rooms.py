"""/api/v1/rooms: discussion rooms of a course."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, JSONBody, QueryParameter

from coagent.adapters.http.accounts.schemas import Email, Notice
from coagent.adapters.http.auth import SECURITY
from coagent.adapters.http.bodies import sent, unset_keeps
from coagent.adapters.http.courses.schemas import (
    USER_REFERENCE_RULE,
    Description,
    user_reference_any_of,
)
from coagent.adapters.http.courses.services import Rooms, RoomServices
from coagent.adapters.http.deps import Current, services_of
from coagent.adapters.http.problems import problems
from coagent.application.courses.assign_to_room import AssignToRoomCommand
from coagent.application.courses.create_room import CreateRoomCommand
from coagent.application.courses.delete_room import DeleteRoomCommand
from coagent.application.courses.get_room import GetRoomCommand
from coagent.application.courses.list_rooms import ListRoomsCommand
from coagent.application.courses.update_room import UpdateRoomCommand
from coagent.domain.courses.room import AiMode, ApprovalMode, Room

RoomName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$")
]
Frequency = Annotated[
    float,
    # Litestar drops a zero lower bound of an optional field (RoomUpdate's): state it.
    msgspec.Meta(ge=0.0, le=1.0, extra_json_schema={"extra": {"minimum": 0.0}}),
]


class RoomRead(msgspec.Struct):
    id: UUID
    course_id: UUID
    name: str
    description: str | None
    ai_mode: AiMode
    ai_frequency: float
    is_ai_active: bool
    is_analytics_active: bool
    is_restricted: bool
    created_at: datetime
    updated_at: datetime
    approval_mode: ApprovalMode = ApprovalMode.AGENT

    @classmethod
    def of(cls, room: Room) -> "RoomRead":
        return cls(
            id=room.id,
            course_id=room.course_id,
            name=room.name,
            description=room.description,
            ai_mode=room.ai_mode,
            ai_frequency=room.ai_frequency,
            is_ai_active=room.is_ai_active,
            is_analytics_active=room.is_analytics_active,
            is_restricted=room.is_restricted,
            created_at=room.created_at,
            updated_at=room.updated_at,
            approval_mode=room.approval_mode,
        )


class RoomCreate(msgspec.Struct):
    name: RoomName
    course_id: UUID
    description: Description | None = None
    is_ai_active: bool = True
    is_analytics_active: bool = False
    ai_frequency: Frequency = 0.5
    ai_mode: AiMode = AiMode.TEACHER_ONLY
    approval_mode: ApprovalMode = ApprovalMode.AGENT


class RoomUpdate(msgspec.Struct):
    """Only the fields sent change."""

    name: RoomName | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    is_ai_active: bool | msgspec.UnsetType = msgspec.UNSET
    is_analytics_active: bool | msgspec.UnsetType = msgspec.UNSET
    ai_frequency: Frequency | msgspec.UnsetType = msgspec.UNSET
    ai_mode: AiMode | msgspec.UnsetType = msgspec.UNSET
    approval_mode: ApprovalMode | msgspec.UnsetType = msgspec.UNSET


class AssignRequest(msgspec.Struct):
    """Who to assign (`user_id`, `user_email` or both); they must be a member of the course."""

    user_email: Email | msgspec.UnsetType | None = msgspec.UNSET
    user_id: UUID | msgspec.UnsetType | None = msgspec.UNSET


AssignBody = Annotated[
    AssignRequest,
    Body(
        media_type=RequestEncodingType.JSON,
        schema_extra={
            "description": USER_REFERENCE_RULE + " The user must be a member of the course.",
            "any_of": user_reference_any_of("Assign"),
        },
    ),
]
"""The body of `assign`, with what its schema cannot say by itself."""


class RoomsController(Controller):
    path = "/api/v1/rooms"
    tags = ["rooms"]
    security = SECURITY
    dependencies = {"rooms": services_of(RoomServices)}

    @post(
        "/",
        operation_id="rooms_create",
        description="Course staff (TA and above) and admins.",
        responses=problems(401, 403, 404),
    )
    async def create_room(
        self, data: JSONBody[RoomCreate], rooms: Rooms, current: Current
    ) -> RoomRead:
        room = await rooms.create.execute(
            CreateRoomCommand(
                actor_id=current.user_id,
                course_id=data.course_id,
                name=data.name,
                description=data.description,
                ai_mode=data.ai_mode,
                ai_frequency=data.ai_frequency,
                is_ai_active=data.is_ai_active,
                is_analytics_active=data.is_analytics_active,
                approval_mode=data.approval_mode,
            )
        )
        return RoomRead.of(room)

    @get(
        "/",
        operation_id="rooms_list",
        description=(
            "Rooms of a course you belong to, oldest first. Students see rooms open to the "
            "whole course and the restricted rooms they are assigned to."
        ),
        responses=problems(401, 404),
    )
    async def list_rooms(
        self,
        rooms: Rooms,
        current: Current,
        course_id: Annotated[UUID, QueryParameter()],
    ) -> list[RoomRead]:
        listed = await rooms.list.execute(
            ListRoomsCommand(actor_id=current.user_id, course_id=course_id)
        )
        return [RoomRead.of(room) for room in listed]

    @get("/{room_id:uuid}", operation_id="rooms_read", responses=problems(401, 404))
    async def read_room(self, room_id: FromPath[UUID], rooms: Rooms, current: Current) -> RoomRead:
        room = await rooms.get.execute(GetRoomCommand(actor_id=current.user_id, room_id=room_id))
        return RoomRead.of(room)

    @put(
        "/{room_id:uuid}",
        operation_id="rooms_update",
        description="Course staff and admins; this is where the AI settings change.",
        responses=problems(401, 403, 404),
    )
    async def update_room(
        self,
        room_id: FromPath[UUID],
        data: JSONBody[RoomUpdate],
        rooms: Rooms,
        current: Current,
    ) -> RoomRead:
        room = await rooms.update.execute(
            UpdateRoomCommand(
                actor_id=current.user_id,
                room_id=room_id,
                name=unset_keeps(data.name),
                description=unset_keeps(data.description),
                ai_mode=unset_keeps(data.ai_mode),
                ai_frequency=unset_keeps(data.ai_frequency),
                is_ai_active=unset_keeps(data.is_ai_active),
                is_analytics_active=unset_keeps(data.is_analytics_active),
                approval_mode=unset_keeps(data.approval_mode),
            )
        )
        return RoomRead.of(room)

    @delete(
        "/{room_id:uuid}",
        operation_id="rooms_delete",
        description="Course staff and admins.",
        responses=problems(401, 403, 404),
    )
    async def delete_room(self, room_id: FromPath[UUID], rooms: Rooms, current: Current) -> None:
        await rooms.delete.execute(DeleteRoomCommand(actor_id=current.user_id, room_id=room_id))

    @post(
        "/{room_id:uuid}/assign",
        operation_id="rooms_assign",
        description=(
            "Course staff and admins. Once a room has assigned members, students see it only "
            "if they are among them."
        ),
        responses=problems(401, 403, 404),
        status_code=200,
    )
    async def assign(
        self,
        room_id: FromPath[UUID],
        data: AssignBody,
        rooms: Rooms,
        current: Current,
    ) -> Notice:
        assignment = await rooms.assign.execute(
            AssignToRoomCommand(
                actor_id=current.user_id,
                room_id=room_id,
                user_id=sent(data.user_id),
                user_email=sent(data.user_email),
            )
        )
        if not assignment.created:
            return Notice(message="User already assigned to room")
        return Notice(message=f"User {assignment.user.display_name} assigned to room")
