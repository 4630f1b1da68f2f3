"""ConsiderMessage: after a human message is committed, does the teacher agent answer it
(or, when it does not, the peer agent)?
"""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.ports.agent_events import AgentStream
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.limits import RateLimiter
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.turns import TurnKicker
from coagent.application.turns.common import (
    LIMIT_WINDOW,
    TurnLimits,
    TurnQueuing,
    admit,
    roll_for,
    trace_skipped,
)
from coagent.application.turns.interrupt import interrupt_running
from coagent.application.turns.recover_kicks import mark_considered
from coagent.application.turns.run_turns import RunTurns, RunTurnsCommand
from coagent.domain.agents.config import AgentType
from coagent.domain.agents.decision import (
    HumanMessage,
    RoomActivity,
    TurnKind,
    decide_on_message,
)
from coagent.domain.agents.tools import InterruptPolicy
from coagent.domain.agents.turn import AgentTurn, TurnStatus, message_key, short_reason
from coagent.domain.courses.room import AiMode

MENTION_LIMITED = "agent_rate_limited"
NO_ACTIVITY = RoomActivity(
    human_messages_since_agent=0,
    last_agent_message_at=None,
    first_human_since_agent_at=None,
    last_message_at=None,
    last_human_message_at=None,
    last_any_agent_message_at=None,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsiderMessageCommand:
    room_id: UUID
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Considered:
    """`turn_id` of the turn this message caused (None: the agent stays silent);
    `reason` why (or why not).
    """

    turn_id: UUID | None
    status: TurnStatus | None
    reason: str


class ConsiderMessage(TurnQueuing):
    """Runs on a task worker (in-process when embedded), once or more per human message:
    every run decides the same (the roll comes from the message), and the turn's identity
    (`msg:<seq>`) is unique, so duplicates and retries add nothing.

    With `runner`, a queued turn is run by this same call (`RunTurns` takes the room's lease
    or, when another runner holds it, leaves the turn to that runner, which looks at the queue
    again before it lets the room go): no second task is enqueued, which saves the kick's
    round trip on the way to the first token (P6). Without it the room's runner is kicked.
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        kicker: TurnKicker,
        stream: AgentStream,
        limiter: RateLimiter,
        limits: TurnLimits,
        runner: RunTurns | None = None,
    ) -> None:
        super().__init__(uow=uow, clock=clock, ids=ids, kicker=kicker, stream=stream, limits=limits)
        self._runner = runner
        self._limiter = limiter

    async def execute(self, command: ConsiderMessageCommand) -> Considered:
        """The teacher agent decides first; the peer (student) agent is considered only
        when the teacher does not speak (its turn, queued or skipped, is the answer). Then
        the room's considered seq is raised (the scheduler re-kicks what stays below it), and
        a queued turn is run or kicked.
        """
        considered = await self._decide(command)
        await mark_considered(self._uow, room_id=command.room_id, seq=command.seq)
        if considered.status is TurnStatus.QUEUED:
            # Also when a duplicate job found the turn there already: its kick may have been
            # lost.
            if self._runner is not None:
                await self._runner.execute(RunTurnsCommand(room_id=command.room_id))
            else:
                await self._kicker.run_turns(command.room_id)
        return considered

    async def _decide(self, command: ConsiderMessageCommand) -> Considered:
        teacher = await self._consider(command, AgentType.TEACHER)
        if teacher.status is not None:
            return teacher
        peer = await self._consider(command, AgentType.STUDENT)
        return peer if peer.status is not None else teacher

    async def _consider(self, command: ConsiderMessageCommand, agent_type: AgentType) -> Considered:
        agent = agent_type.value
        now = self._clock.now()
        async with self._uow() as uow:
            # One read (the send-to-first-token path, P6).
            inputs = await uow.turns.decision_inputs(
                command.room_id, agent, command.seq, turns_since=now - LIMIT_WINDOW
            )
            room, config, message = inputs.room, inputs.config, inputs.message
            if room is None or room.ai_mode is AiMode.OFF or not room.is_ai_active:
                return Considered(turn_id=None, status=None, reason="the room's AI is off")
            if config is None:
                return Considered(turn_id=None, status=None, reason="no active configuration")
            if message is None or message.agent_type is not None:
                return Considered(turn_id=None, status=None, reason="not a human message")
            await interrupt_running(uow, config, room_id=room.id, agent_type=agent, seq=message.seq)
            activity = inputs.activity or NO_ACTIVITY
            decision = decide_on_message(
                room=room,
                config=config,
                activity=activity,
                message=HumanMessage(
                    seq=message.seq, content=message.content, sender_name=message.sender_name
                ),
                now=now,
                roll=roll_for(message.id, config.id),
            )
            if not decision.speak or decision.kind is None:
                return Considered(turn_id=None, status=None, reason=decision.reason)
            if decision.kind is TurnKind.MENTION and message.sender_id is not None:
                wait = await self._limiter.hit(
                    f"agent-mention:{room.id}:{message.sender_id}",
                    limit=self._limits.mentions_per_user,
                    window_seconds=self._limits.mention_window_seconds,
                )
                if wait > 0:
                    await self._stream.notify_user(
                        room_id=room.id,
                        user_id=message.sender_id,
                        code=MENTION_LIMITED,
                        detail=f"Too many mentions of the agent; try again in {wait:.0f} s",
                    )
                    return Considered(turn_id=None, status=None, reason="mention limit")
            turn = await admit(
                uow,
                AgentTurn(
                    id=self._ids.new_id(),
                    room_id=room.id,
                    agent_type=agent,
                    config_id=config.id,
                    config_revision=config.revision,
                    kind=decision.kind,
                    trigger_key=message_key(message.seq),
                    reason=short_reason(decision.reason),
                    caused_by_seq=message.seq,
                    requested_by=None,
                    status=TurnStatus.QUEUED,
                    created_at=now,
                ),
                limit=self._limits.turns_per_minute,
                now=now,
                recent=inputs.recent_turns,
            )
            inserted = await uow.turns.add(turn)
            if agent_type is AgentType.TEACHER and inputs.peer_policy is InterruptPolicy.INTERRUPT:
                # The peer is not considered for a message the teacher answers, but a draft
                # it is still writing does not see it either: under its own `interrupt`
                # policy that draft is stopped too (and written again seeing the message).
                await uow.turns.request_cancel(
                    room.id, agent_type=AgentType.STUDENT.value, before_seq=message.seq
                )
            await uow.commit()
        if turn.status is TurnStatus.SKIPPED:
            if inserted:
                await trace_skipped(self._stream, turn)
            return Considered(turn_id=turn.id, status=turn.status, reason=turn.reason)
        return Considered(
            turn_id=turn.id if inserted else None, status=turn.status, reason=turn.reason
        )
