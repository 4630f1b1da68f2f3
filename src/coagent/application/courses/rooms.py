"""CreateRoom, ListRooms, GetRoom, UpdateRoom, DeleteRoom and AssignToRoom."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.accounts.actor import active, load_actor
from coagent.application.courses.access import (
    authorize,
    check_user_reference,
    course_access,
    find_active_user,
    require,
)
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.repositories import RoomStanding, UnitOfWork, UnitOfWorkFactory
from coagent.domain.accounts.user import User
from coagent.domain.courses.policy import Action, Decision, Relation, Standing, decide
from coagent.domain.courses.room import AiMode, ApprovalMode, Room, check_room
from coagent.domain.errors import NotFound

ROOM_NOT_FOUND = "Room not found"


async def authorize_room(
    uow: UnitOfWork, actor_id: UUID, room_id: UUID, action: Action
) -> tuple[User, Room]:
    """The actor as stored now and the room, if the actor may do `action` in it. One read.

    NotAuthenticated for a deleted or deactivated account (as `load_actor`); NotFound when
    the actor may not know of the room (outside the course, or a student of the course not
    assigned to a restricted room); Forbidden when they may see it but not do this.
    """
    access = await room_access(uow, actor_id, room_id, action)
    return access.actor, access.room


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomAccess:
    actor: User
    room: Room
    last_seq: int  # the room's latest committed message when the access was read
    # Course staff (TA and above, admins): may see what students may not (agent traces).
    staff: bool = False


async def room_access(uow: UnitOfWork, actor_id: UUID, room_id: UUID, action: Action) -> RoomAccess:
    """`authorize_room`, with the room's last seq from the same read."""
    return room_access_from(await uow.rooms.standing(room_id, actor_id), action)


def room_access_from(found: RoomStanding, action: Action) -> RoomAccess:
    """`room_access` decided from a standing already read."""
    actor = active(found.actor)
    if found.room is None:
        raise NotFound(ROOM_NOT_FOUND)
    standing = Standing(
        global_role=actor.role,
        course_role=found.course_role,
        is_owner=found.is_owner,
        assigned=found.assigned,
    )
    decision = decide(standing, action)
    if decision is Decision.HIDDEN or (
        decision is Decision.DENIED and decide(standing, Action.ROOM_READ) is Decision.HIDDEN
    ):
        raise NotFound(ROOM_NOT_FOUND)
    require(decision)
    return RoomAccess(
        actor=actor,
        room=found.room,
        last_seq=found.last_seq,
        staff=standing.relation >= Relation.TA,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateRoomCommand:
    actor_id: UUID
    course_id: UUID
    name: str
    description: str | None = None
    ai_mode: AiMode = AiMode.TEACHER_ONLY
    ai_frequency: float = 0.5
    is_ai_active: bool = True
    is_analytics_active: bool = False
    approval_mode: ApprovalMode = ApprovalMode.AGENT


class CreateRoom:
    """Course staff (TA and above) and admins."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def execute(self, command: CreateRoomCommand) -> Room:
        check_room(command.name, command.ai_frequency)
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            course = await authorize(uow, actor, command.course_id, Action.ROOM_CREATE)
            now = self._clock.now()
            room = Room(
                id=self._ids.new_id(),
                course_id=course.id,
                name=command.name.strip(),
                description=command.description or None,
                ai_mode=command.ai_mode,
                ai_frequency=command.ai_frequency,
                is_ai_active=command.is_ai_active,
                is_analytics_active=command.is_analytics_active,
                approval_mode=command.approval_mode,
                created_at=now,
                updated_at=now,
            )
            await uow.rooms.add(room)
            await uow.commit()
        return room


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRoomsCommand:
    actor_id: UUID
    course_id: UUID


class ListRooms:
    """Members and admins. Students see the rooms open to the whole course and the restricted
    ones they are assigned to; staff see all.
    """

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, command: ListRoomsCommand) -> Sequence[Room]:
        async with self._uow() as uow:
            access = await course_access(
                uow, command.actor_id, command.course_id, Action.COURSE_READ
            )
            sees_all = access.standing.relation >= Relation.TA
            return await uow.rooms.list_in(
                access.course.id, visible_to=None if sees_all else access.actor.id
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class GetRoomCommand:
    actor_id: UUID
    room_id: UUID


class GetRoom:
    """Whoever may read the room (see ListRooms)."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, command: GetRoomCommand) -> Room:
        async with self._uow() as uow:
            _, room = await authorize_room(uow, command.actor_id, command.room_id, Action.ROOM_READ)
            return room


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRoomCommand:
    """None leaves a field as it is; `description=""` clears it."""

    actor_id: UUID
    room_id: UUID
    name: str | None = None
    description: str | None = None
    ai_mode: AiMode | None = None
    ai_frequency: float | None = None
    is_ai_active: bool | None = None
    is_analytics_active: bool | None = None
    approval_mode: ApprovalMode | None = None


class UpdateRoom:
    """Course staff (TA and above) and admins; this is where the AI settings change."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self, command: UpdateRoomCommand) -> Room:
        async with self._uow() as uow:
            _, room = await authorize_room(
                uow, command.actor_id, command.room_id, Action.ROOM_UPDATE
            )
            changes = {
                name: value
                for name in (
                    "name",
                    "ai_mode",
                    "ai_frequency",
                    "is_ai_active",
                    "is_analytics_active",
                    "approval_mode",
                )
                if (value := getattr(command, name)) is not None
            }
            if command.description is not None:
                changes["description"] = command.description or None
            updated = replace(room, **changes, updated_at=self._clock.now())
            check_room(updated.name, updated.ai_frequency)
            updated = replace(updated, name=updated.name.strip())
            await uow.rooms.update(updated)
            await uow.commit()
        return updated


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRoomCommand:
    actor_id: UUID
    room_id: UUID


class DeleteRoom:
    """Course staff (TA and above) and admins; the room's assignments go with it. Audited."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, command: DeleteRoomCommand) -> Room:
        async with self._uow() as uow:
            actor, room = await authorize_room(
                uow, command.actor_id, command.room_id, Action.ROOM_DELETE
            )
            await uow.rooms.delete(room.id)
            await uow.audit.record(
                actor_id=actor.id,
                action="room.deleted",
                target_type="room",
                target_id=str(room.id),
                details={"course_id": str(room.course_id), "name": room.name},
            )
            await uow.commit()
        return room


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignToRoomCommand:
    actor_id: UUID
    room_id: UUID
    user_id: UUID | None = None
    user_email: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    user: User
    created: bool


class AssignToRoom:
    """Course staff (TA and above) and admins. Only members of the course can be assigned.
    A room with assigned members becomes visible, among students, to them only.
    """

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, command: AssignToRoomCommand) -> Assignment:
        check_user_reference(command.user_id, command.user_email)
        async with self._uow() as uow:
            _, room = await authorize_room(
                uow, command.actor_id, command.room_id, Action.ROOM_ASSIGN
            )
            user = await find_active_user(uow, command.user_id, command.user_email)
            if user is None or await uow.courses.role_of(room.course_id, user.id) is None:
                raise NotFound("User is not a member of this course")
            created = await uow.rooms.assign(room.id, user.id)
            await uow.commit()
        return Assignment(user=user, created=created)
