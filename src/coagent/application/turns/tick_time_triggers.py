"""TickTimeTriggers: the scheduler's time triggers (`time_interval`, `silence`)."""

from dataclasses import dataclass

from coagent.application.turns.common import TurnQueuing, admit, trace_skipped
from coagent.domain.agents.decision import decide_on_time
from coagent.domain.agents.turn import AgentTurn, TurnStatus, short_reason, time_key

BATCH = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class TickTimeTriggersCommand:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticked:
    checked: int
    queued: int


class TickTimeTriggers(TurnQueuing):
    """For each room whose active teacher configuration has a time trigger (read with its
    activity, one statement for all rooms), the decision rule says whether one is due; a
    due trigger becomes a turn keyed by its due time, so two ticks (or two schedulers)
    never make two turns of it.
    """

    async def execute(self, command: TickTimeTriggersCommand) -> Ticked:
        async with self._uow() as uow:
            candidates = await uow.turns.time_candidates(limit=BATCH)
        queued = 0
        for candidate in candidates:
            room, config = candidate.room, candidate.config
            now = self._clock.now()
            async with self._uow() as uow:
                activity = candidate.activity or await uow.turns.activity(
                    room.id, config.type.value
                )
                due = decide_on_time(room=room, config=config, activity=activity, now=now)
                if due is None:
                    continue
                turn = await admit(
                    uow,
                    AgentTurn(
                        id=self._ids.new_id(),
                        room_id=room.id,
                        agent_type=config.type.value,
                        config_id=config.id,
                        config_revision=config.revision,
                        kind=due.kind,
                        trigger_key=time_key(due.kind, due.due_at),
                        reason=short_reason(due.reason),
                        caused_by_seq=None,
                        requested_by=None,
                        status=TurnStatus.QUEUED,
                        created_at=now,
                    ),
                    limit=self._limits.turns_per_minute,
                    now=now,
                )
                inserted = await uow.turns.add(turn)
                await uow.commit()
            if not inserted:
                continue
            if turn.status is TurnStatus.SKIPPED:
                await trace_skipped(self._stream, turn)
                continue
            queued += 1
            await self._kicker.run_turns(room.id)
        return Ticked(checked=len(candidates), queued=queued)
