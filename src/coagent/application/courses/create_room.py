"""CreateRoom: a new room in a course."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.courses.access import (
    authorize,
)
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.courses.policy import Action
from coagent.domain.courses.room import AiMode, ApprovalMode, Room, check_room


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
