"""RecoverLostKicks: the scheduler's step for kicks lost while the task queue was down.

A human message is committed before its `agents.consider_message` kick is sent, and a peer
proposal before its `agents.decide_proposal` kick: a kick lost in between (Redis down) would
leave the message unanswered, or the proposal undecided until it expires. Every consider
raises the room's considered seq (`mark_considered`); each tick finds, in one statement for
all rooms, rooms whose first message above it is older than `grace`, and kicks their human
messages again (those newer than `horizon`: an older one is not answered that late). Likewise
pending proposals that ask the teacher agent and are still undecided after `grace`. Both
kicks are idempotent (the turn's identity is unique; a decision is a conditional update),
so a kick that was only slow costs a duplicate job, never a second reply or decision.
"""

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from coagent.application.ports.clock import Clock
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.turns import TurnKicker

BATCH = 100
# A consider normally runs within milliseconds of the send; a decision within one model call.
MESSAGE_GRACE = timedelta(seconds=5)
MESSAGE_HORIZON = timedelta(minutes=5)
PROPOSAL_GRACE = timedelta(seconds=30)


async def mark_considered(uow: UnitOfWorkFactory, *, room_id: UUID, seq: int) -> None:
    """Record that the agents considered the room's messages up to `seq` (ConsiderMessage
    calls it once it has decided).
    """
    async with uow() as unit:
        await unit.turns.mark_considered(room_id, seq)
        await unit.commit()


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoverLostKicksCommand:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Recovered:
    messages: int
    proposals: int


class RecoverLostKicks:
    """Safe anywhere, any number of times. The same message or proposal is kicked again at
    most every `grace` by one scheduler (a slow queue is not flooded with duplicates).
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        kicker: TurnKicker,
        message_grace: timedelta = MESSAGE_GRACE,
        message_horizon: timedelta = MESSAGE_HORIZON,
        proposal_grace: timedelta = PROPOSAL_GRACE,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._kicker = kicker
        self._message_grace = message_grace
        self._horizon = message_horizon
        self._proposal_grace = proposal_grace
        self._kicked: dict[Hashable, datetime] = {}

    async def execute(self, command: RecoverLostKicksCommand) -> Recovered:
        now = self._clock.now()
        self._forget(now)
        messages = await self._messages(now)
        proposals = await self._proposals(now)
        return Recovered(messages=messages, proposals=proposals)

    async def _messages(self, now: datetime) -> int:
        async with self._uow() as uow:
            rooms = await uow.turns.unconsidered(before=now - self._message_grace, limit=BATCH)
        kicked = 0
        for room in rooms:
            async with self._uow() as uow:
                seqs = await uow.turns.human_seqs(
                    room.room_id,
                    after_seq=room.considered_seq,
                    up_to_seq=room.last_seq,
                    since=now - self._horizon,
                )
                if not seqs:  # agent messages only, or too old to answer now
                    await uow.turns.mark_considered(room.room_id, room.last_seq)
                    await uow.commit()
                    continue
            for seq in seqs:
                if self._due(("message", room.room_id, seq), now, self._message_grace):
                    await self._kicker.consider_message(room.room_id, seq)
                    kicked += 1
        return kicked

    async def _proposals(self, now: datetime) -> int:
        async with self._uow() as uow:
            ids = await uow.proposals.undecided(
                before=now - self._proposal_grace, now=now, limit=BATCH
            )
        kicked = 0
        for proposal_id in ids:
            if self._due(("proposal", proposal_id), now, self._proposal_grace):
                await self._kicker.decide_proposal(proposal_id)
                kicked += 1
        return kicked

    def _due(self, key: Hashable, now: datetime, every: timedelta) -> bool:
        last = self._kicked.get(key)
        if last is not None and now - last < every:
            return False
        self._kicked[key] = now
        return True

    def _forget(self, now: datetime) -> None:
        longest = max(self._message_grace, self._proposal_grace)
        for key in [k for k, at in self._kicked.items() if now - at >= longest]:
            del self._kicked[key]
