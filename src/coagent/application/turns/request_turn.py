"""RequestTurn: course staff make the room's teacher agent speak now."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import authorize_room
from coagent.application.turns.common import TurnQueuing, admit, trace_skipped
from coagent.domain.agents.config import AgentType
from coagent.domain.agents.decision import TurnKind
from coagent.domain.agents.turn import AgentTurn, TurnStatus, request_key, short_reason
from coagent.domain.courses.policy import Action
from coagent.domain.courses.room import AiMode
from coagent.domain.errors import Conflict

AI_OFF = "The room's AI is off or paused; turn it on first"
NO_CONFIG = "The course has no active teacher agent configuration"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestTurnCommand:
    actor_id: UUID
    room_id: UUID


class RequestTurn(TurnQueuing):
    """Staff of the course (TA and above, admins); students Forbidden, others NotFound.
    Conflict when the room's AI is off or paused, or no teacher configuration is active.
    The turn is queued (or skipped, recorded, when the room is at its per-minute limit).
    """

    async def execute(self, command: RequestTurnCommand) -> AgentTurn:
        async with self._uow() as uow:
            actor, room = await authorize_room(
                uow, command.actor_id, command.room_id, Action.AGENT_TURN_REQUEST
            )
            if room.ai_mode is AiMode.OFF or not room.is_ai_active:
                raise Conflict(AI_OFF)
            config = await uow.agent_configs.active_for(room.course_id, AgentType.TEACHER)
            if config is None:
                raise Conflict(NO_CONFIG)
            now, turn_id = self._clock.now(), self._ids.new_id()
            turn = await admit(
                uow,
                AgentTurn(
                    id=turn_id,
                    room_id=room.id,
                    agent_type=AgentType.TEACHER.value,
                    config_id=config.id,
                    config_revision=config.revision,
                    kind=TurnKind.REQUEST,
                    trigger_key=request_key(turn_id),
                    reason=short_reason(f"requested by {actor.display_name}"),
                    caused_by_seq=None,
                    requested_by=actor.id,
                    status=TurnStatus.QUEUED,
                    created_at=now,
                ),
                limit=self._limits.turns_per_minute,
                now=now,
            )
            await uow.turns.add(turn)
            await uow.commit()
        if turn.status is TurnStatus.SKIPPED:
            await trace_skipped(self._stream, turn)
        else:
            await self._kicker.run_turns(room.id)
        return turn
