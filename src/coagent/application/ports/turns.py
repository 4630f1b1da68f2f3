"""Agent-turn ports: the turn store (part of the unit of work as `turns`) and the kicker
that hands work to the task queue.

Guarantees every implementation keeps (the SQL one through the database itself):
- (room, agent type, trigger key) is unique: `add` of a second turn with the same identity
  adds nothing and returns False;
- a room lease has one holder at a time; it can be taken over only once expired;
- `complete` stores the reply and marks the turn succeeded only while the caller still
  holds the turn's lease (status running, same lease token); at most one message per turn.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from coagent.domain.agents.config import AgentConfig
from coagent.domain.agents.decision import RoomActivity
from coagent.domain.agents.tools import InterruptPolicy
from coagent.domain.agents.turn import AgentTurn
from coagent.domain.chat.message import Message
from coagent.domain.courses.room import Room


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnUsage:
    """What a finished (or failed) call cost and took."""

    provider: str | None
    model: str | None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: int | None = None
    first_token_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReply:
    """The agent message a turn stores; the store gives it the room's next seq."""

    id: UUID
    room_id: UUID
    content: str
    agent_type: str
    created_at: datetime
    # The author's name as shown (the configuration's name at the time of the turn).
    sender_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnPage:
    items: Sequence[AgentTurn]
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeCandidate:
    """A room with its AI on whose active teacher configuration has a time trigger, and the
    room's activity as that agent sees it (read with it; None: not read).
    """

    room: Room
    config: AgentConfig
    activity: RoomActivity | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionInputs:
    """What deciding on one human message reads, in one statement: the room (None: gone),
    its course's active configuration of the agent, the message (with its sender's name),
    the room's turns created since the limit window began (not skipped), only when that
    configuration's trigger is `message_count` (no other trigger reads it) the room's
    activity as the agent sees it up to the message, and the interrupt policy of the
    course's active peer (student) configuration (None: none is active), which holds for
    the message although the teacher answers it.
    """

    room: Room | None
    config: AgentConfig | None
    message: Message | None
    recent_turns: int
    activity: RoomActivity | None
    peer_policy: InterruptPolicy | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StartInputs:
    """What starting a room's oldest queued turn reads, in one statement: the turn, the room
    (None: gone), the room's last seq, the course's title and the turn's own configuration
    (None when it was deleted or is no longer active); where the store can, with that
    configuration, the room's history page up to `last_seq` (`messages.page` of its
    `context_window`) and its keys (`agent_configs.keys_of`). None: not read (the caller
    reads them).
    """

    turn: AgentTurn
    room: Room | None
    last_seq: int
    course_title: str
    config: AgentConfig | None
    history: Sequence[Message] | None = None
    keys: Sequence[str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unconsidered:
    """A room with messages above the seq its agents considered (`considered_seq`, 0: none)
    up to `last_seq`.
    """

    room_id: UUID
    considered_seq: int
    last_seq: int


class AgentTurnRepository(Protocol):
    async def add(self, turn: AgentTurn) -> bool:
        """Insert unless a turn with the same identity exists (then nothing changes): True
        when inserted.
        """
        ...

    async def get(self, turn_id: UUID) -> AgentTurn | None: ...

    async def count_since(self, room_id: UUID, since: datetime) -> int:
        """Turns of the room created at or after `since` that were not skipped."""
        ...

    async def activity(
        self, room_id: UUID, agent_type: str, *, up_to_seq: int | None = None
    ) -> RoomActivity:
        """The room's activity as `agent_type` sees it, in one read. With `up_to_seq` (a
        message being decided on, decided perhaps after later ones), the human messages
        counted are those up to it since the agent's last message or since the latest
        message an earlier turn of the agent answers (queued, running, succeeded or
        merged): a reply still being written has claimed them.
        """
        ...

    async def message_at(self, room_id: UUID, seq: int) -> Message | None: ...

    async def decision_inputs(
        self,
        room_id: UUID,
        agent_type: str,
        seq: int,
        *,
        turns_since: datetime,
    ) -> DecisionInputs:
        """One read for `ConsiderMessage`: see `DecisionInputs` (`recent_turns` counts as
        `count_since(room_id, turns_since)`; `activity` reads as `activity(room_id,
        agent_type, up_to_seq=seq)`).
        """
        ...

    async def next_to_start(self, room_id: UUID) -> StartInputs | None:
        """One read for starting the room's oldest queued turn (None: nothing queued)."""
        ...

    async def take_room(
        self, room_id: UUID, holder: UUID, *, now: datetime, expires_at: datetime
    ) -> bool:
        """Take the room's lease when it is free or expired (or already `holder`'s)."""
        ...

    async def renew_room(self, room_id: UUID, holder: UUID, *, expires_at: datetime) -> bool:
        """Extend the lease; False when `holder` no longer holds it."""
        ...

    async def release_room(self, room_id: UUID, holder: UUID) -> None: ...

    async def release_room_unless_queued(
        self, room_id: UUID, holder: UUID, *, expires_at: datetime
    ) -> bool:
        """Release `holder`'s lease unless a turn of the room is queued: True when released;
        False when one is queued (the lease kept, renewed to `expires_at`) or `holder` no
        longer holds it. The lease is locked before the queue is looked at, so a turn queued
        meanwhile is never stranded: this look sees it, or its runner's `take_room` waits
        for the caller's transaction and then finds the room free.
        """
        ...

    async def next_queued(self, room_id: UUID) -> AgentTurn | None:
        """The room's oldest queued turn."""
        ...

    async def start(
        self,
        turn_id: UUID,
        *,
        lease_token: UUID,
        now: datetime,
        lease_expires_at: datetime,
        seen_up_to_seq: int,
    ) -> bool:
        """Queued → running under a fresh lease token, attempts + 1; False when it was not
        queued.
        """
        ...

    async def merge_seen(
        self, *, room_id: UUID, agent_type: str, into: UUID, up_to_seq: int, now: datetime
    ) -> int:
        """Mark `merged` into `into` every other queued turn of the agent in the room whose
        causing seq is at most `up_to_seq` (the running turn already sees it); how many.
        """
        ...

    async def renew(self, turn_id: UUID, lease_token: UUID, *, expires_at: datetime) -> bool:
        """Extend a running turn's lease; False when it was lost."""
        ...

    async def complete(
        self, turn_id: UUID, lease_token: UUID, *, reply: AgentReply, usage: TurnUsage
    ) -> int | None:
        """In the caller's transaction: mark the turn succeeded and store `reply` linked to
        it under the room's next seq (returned). None when the lease was lost (the turn is
        not running under `lease_token`): then nothing was written.
        """
        ...

    async def fail(
        self,
        turn_id: UUID,
        lease_token: UUID | None,
        *,
        error_code: str,
        usage: TurnUsage | None,
        now: datetime,
    ) -> bool:
        """Running (under `lease_token`; None: queued) → failed; False when not so."""
        ...

    async def skip(self, turn_id: UUID, *, reason: str, now: datetime) -> bool:
        """Queued → skipped with `reason`."""
        ...

    async def expired(self, now: datetime, *, limit: int) -> Sequence[AgentTurn]:
        """Running turns whose lease expired before `now`, oldest first."""
        ...

    async def requeue(self, turn_id: UUID, lease_token: UUID) -> bool:
        """Running (under `lease_token`) → queued, lease cleared (a reclaimed turn), its
        cancel request cleared (an interrupted one).
        """
        ...

    async def request_cancel(self, room_id: UUID, *, agent_type: str, before_seq: int) -> int:
        """Ask every running turn of the agent in the room that does not see `before_seq`
        (its `seen_up_to_seq` is lower) to stop (interrupt policy); how many were asked now.
        """
        ...

    async def cancel_requested(self, turn_id: UUID, lease_token: UUID) -> bool:
        """Whether the turn, still running under `lease_token`, was asked to stop."""
        ...

    async def rooms_to_run(self, now: datetime, *, limit: int) -> Sequence[UUID]:
        """Rooms with a queued turn and no live lease."""
        ...

    async def page(self, room_id: UUID, *, offset: int, limit: int) -> TurnPage:
        """The room's turns, newest first, with the id of each one's message."""
        ...

    # --- lost kicks (migration 0011)

    async def mark_considered(self, room_id: UUID, seq: int) -> None:
        """Raise the room's considered seq to `seq` (never lower it)."""
        ...

    async def unconsidered(self, *, before: datetime, limit: int) -> Sequence[Unconsidered]:
        """In one statement for all rooms: rooms with `is_ai_active` and `ai_mode` not off
        whose first message above the considered seq was written before `before`.
        """
        ...

    async def human_seqs(
        self, room_id: UUID, *, after_seq: int, up_to_seq: int, since: datetime
    ) -> Sequence[int]:
        """Seqs of the room's human messages in (`after_seq`, `up_to_seq`] written at or
        after `since`, in order.
        """
        ...

    async def tool_result(self, turn_id: UUID, call_key: str) -> Mapping[str, Any] | None:
        """The result recorded for the turn's tool call `call_key`, if it ran."""
        ...

    async def record_tool_call(
        self,
        turn_id: UUID,
        call_key: str,
        *,
        tool: str,
        result: Mapping[str, Any],
        now: datetime,
    ) -> bool:
        """Record (in the caller's transaction) that the call ran with `result`; False when
        it was recorded already (then the caller must not commit what it did).
        """
        ...

    async def time_candidates(self, *, limit: int) -> Sequence[TimeCandidate]:
        """Rooms with `is_ai_active` and `ai_mode` not off whose course's active teacher
        configuration (or, in `both` rooms, active student configuration) has a
        `time_interval` or `silence` trigger; one candidate per (room, configuration), each
        with its activity (as `activity(room, agent type)` reads it): one statement for all.
        """
        ...


class TurnKicker(Protocol):
    """Hands agent work to the task queue (the in-process broker when embedded). Best
    effort: a kick lost while the queue is down is recovered by the scheduler's tick.
    """

    async def consider_message(self, room_id: UUID, seq: int) -> None: ...

    async def run_turns(self, room_id: UUID) -> None: ...

    async def decide_proposal(self, proposal_id: UUID) -> None:
        """The teacher agent's decision on a proposal (issue 17)."""
        ...
