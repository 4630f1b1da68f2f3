"""ReclaimTurns: the scheduler's recovery step (a worker killed mid-turn, a lost kick)."""

from dataclasses import dataclass

from coagent.application.ports.agent_events import AgentError, AgentStream
from coagent.application.ports.clock import Clock
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.turns import TurnKicker
from coagent.domain.agents.turn import MAX_ATTEMPTS, TurnError

BATCH = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class ReclaimTurnsCommand:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Reclaimed:
    requeued: int
    abandoned: int
    kicked: int


class ReclaimTurns:
    """Running turns whose lease expired go back to the queue (or fail `abandoned` once
    started `MAX_ATTEMPTS` times); every room with queued turns and no live lease gets a
    runner kicked. Safe to run anywhere, any number of times: each step is a conditional
    update, and a kick to a held room does nothing.
    """

    def __init__(
        self, *, uow: UnitOfWorkFactory, clock: Clock, kicker: TurnKicker, stream: AgentStream
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._kicker = kicker
        self._stream = stream

    async def execute(self, command: ReclaimTurnsCommand) -> Reclaimed:
        now = self._clock.now()
        requeued = abandoned = 0
        async with self._uow() as uow:
            expired = await uow.turns.expired(now, limit=BATCH)
            for turn in expired:
                if turn.lease_token is None:  # pragma: no cover - running turns have one
                    continue
                if turn.attempts >= MAX_ATTEMPTS:
                    code = TurnError.ABANDONED.value
                    if await uow.turns.fail(
                        turn.id, turn.lease_token, error_code=code, usage=None, now=now
                    ):
                        abandoned += 1
                        await uow.commit()
                        await self._stream.trace(
                            AgentError(
                                room_id=turn.room_id,
                                turn_id=turn.id,
                                agent_type=turn.agent_type,
                                code=code,
                                detail=f"Given up after {turn.attempts} attempts",
                            )
                        )
                elif await uow.turns.requeue(turn.id, turn.lease_token):
                    requeued += 1
            await uow.commit()
            rooms = await uow.turns.rooms_to_run(now, limit=BATCH)
        for room_id in rooms:
            await self._kicker.run_turns(room_id)
        return Reclaimed(requeued=requeued, abandoned=abandoned, kicked=len(rooms))
