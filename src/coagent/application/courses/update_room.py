"""UpdateRoom: a room's name, description and AI settings."""

from dataclasses import dataclass, replace
from uuid import UUID

from coagent.application.courses.access import (
    authorize_room,
)
from coagent.application.partial import KEEP, Keep
from coagent.application.ports.clock import Clock
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.courses.policy import Action
from coagent.domain.courses.room import AiMode, ApprovalMode, Room, check_room


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRoomCommand:
    """`KEEP` leaves a field as it is; `description` None or "" clears it."""

    actor_id: UUID
    room_id: UUID
    name: str | Keep = KEEP
    description: str | Keep | None = KEEP
    ai_mode: AiMode | Keep = KEEP
    ai_frequency: float | Keep = KEEP
    is_ai_active: bool | Keep = KEEP
    is_analytics_active: bool | Keep = KEEP
    approval_mode: ApprovalMode | Keep = KEEP


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
                if (value := getattr(command, name)) is not KEEP
            }
            if not isinstance(command.description, Keep):
                changes["description"] = command.description or None
            updated = replace(room, **changes, updated_at=self._clock.now())
            check_room(updated.name, updated.ai_frequency)
            updated = replace(updated, name=updated.name.strip())
            await uow.rooms.update(updated)
            await uow.commit()
        return updated
