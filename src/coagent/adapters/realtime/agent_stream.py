"""`AgentStream` over the room hub's bus: live agent output to the room's sockets, in every
web process (Redis pub/sub room channels; in memory when embedded).

Usable in a process without sockets (a worker): there `hub` is a publish-only
`BusRoomPublisher`, which needs no listener.

Deltas are coalesced per turn, under load: while this process sends fewer than `busy_rate`
delta frames a second (all its turns together) every piece goes out at once, so a reader sees
each provider chunk within milliseconds (goal P7); pieces that arrive while the turn's
previous frame is being published go out joined after it. Above that rate each turn sends at
most one frame per `interval` (50 ms): the first piece after a quiet interval at once, later
ones joined when the interval has passed. `end` sends what is waiting at once. Frames are
numbered 0, 1, 2... per turn (`index`). The hub keeps them in the bus's stream log too
(for processes that open the room mid-stream) until `end` or `aborted` drops it.
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

import msgspec

from coagent.adapters.realtime.events import (
    STAFF,
    STREAM_ABORTED,
    STREAM_DELTA,
    V1,
    AgentDecisionEvent,
    AgentErrorEvent,
    AgentProposalEvent,
    AgentTurnEvent,
    MessageAborted,
    MessageDelta,
    encode,
    error_frame,
    tool_event,
    user_audience,
)
from coagent.adapters.realtime.room_publisher import RoomPublisher
from coagent.application.ports.agent_events import (
    AgentDecisionTrace,
    AgentError,
    AgentProposalTrace,
    AgentToolTrace,
    AgentTrace,
    AgentTurnTrace,
)

logger = logging.getLogger("coagent.realtime")


@dataclass(eq=False)
class _Turn:
    id: UUID
    room_id: UUID
    message_id: UUID
    touched: float
    index: int = -1
    last_sent: float = float("-inf")
    pending: list[str] = field(default_factory=list)
    # A flush waiting for the interval to pass; None while none is (or it is running).
    timer: asyncio.Task[None] | None = None
    # Frames of one turn go out one at a time, in order.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class HubAgentStream:
    """The `AgentStream` port for the room hub (see the module docstring)."""

    def __init__(
        self,
        *,
        hub: RoomPublisher,
        interval: float = 0.05,
        busy_rate: float = 100.0,
        idle_ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._hub = hub
        self._interval = interval
        self._busy_rate = busy_rate
        # When this process sent its delta frames of the last second.
        self._sent: deque[float] = deque()
        self._idle_ttl = idle_ttl
        # Held pieces wait on `sleep`, measured in `clock` seconds (tests drive both).
        self._clock, self._sleep = clock, sleep
        self._turns: dict[UUID, _Turn] = {}
        self._flushing: set[asyncio.Task[None]] = set()

    async def delta(self, *, room_id: UUID, turn_id: UUID, message_id: UUID, text: str) -> None:
        if not text:
            return
        now = self._clock()
        turn = self._turns.get(turn_id)
        if turn is None:
            self._forget_idle(now)
            turn = _Turn(id=turn_id, room_id=room_id, message_id=message_id, touched=now)
            self._turns[turn_id] = turn
        turn.pending.append(text)
        turn.touched = now
        if turn.timer is not None or turn.lock.locked():
            return  # a flush is due or under way: this piece goes out with or right after it
        await self._send_or_hold(turn, now)

    async def end(self, turn_id: UUID) -> None:
        turn = self._turns.pop(turn_id, None)
        if turn is None:
            return
        self._cancel_timer(turn)
        await self._flush(turn)
        await self._hub.stream_ended(turn.room_id, turn_id)

    async def aborted(self, *, room_id: UUID, turn_id: UUID, message_id: UUID, reason: str) -> None:
        turn = self._turns.pop(turn_id, None)
        frame = encode(
            MessageAborted(room_id=room_id, turn_id=turn_id, message_id=message_id, reason=reason)
        )
        if turn is None:
            await self._hub.publish_event(room_id, frame, V1, STREAM_ABORTED)
            return
        self._cancel_timer(turn)
        turn.pending.clear()
        async with turn.lock:  # after a delta being published, never before it
            await self._hub.publish_event(room_id, frame, V1, STREAM_ABORTED)

    async def trace(self, event: AgentTrace) -> None:
        await self._hub.publish_event(event.room_id, encode(_trace_event(event)), STAFF)

    async def notify_user(self, *, room_id: UUID, user_id: UUID, code: str, detail: str) -> None:
        """An `error` event; the original clients see `detail` as a `system` line (so write
        it for people).
        """
        await self._hub.publish_event(room_id, error_frame(code, detail), user_audience(user_id))

    # --- internals

    def _wait(self, turn: _Turn, now: float) -> float:
        """How long the turn's pending pieces must wait: 0 unless the process is busy."""
        while self._sent and now - self._sent[0] > 1.0:
            self._sent.popleft()
        if len(self._sent) < self._busy_rate:
            return 0.0
        return turn.last_sent + self._interval - now

    async def _send_or_hold(self, turn: _Turn, now: float) -> None:
        wait = self._wait(turn, now)
        if wait <= 0:
            await self._flush(turn)
            return
        turn.timer = asyncio.ensure_future(self._flush_later(turn, wait))
        self._flushing.add(turn.timer)
        turn.timer.add_done_callback(self._flushing.discard)

    async def _flush_later(self, turn: _Turn, wait: float) -> None:
        await self._sleep(wait)
        turn.timer = None  # from here on it is not cancelled: it holds pieces
        try:
            await self._flush(turn)
        except Exception:  # a background flush must not die silently
            logger.exception("streamed delta not published", extra={"turn_id": str(turn.id)})

    async def _flush(self, turn: _Turn) -> None:
        await self._publish(turn)
        # Pieces that came while it was published: after it (unless the turn was ended or
        # aborted meanwhile: `end` sends them, `aborted` drops them).
        if turn.pending and turn.timer is None and self._turns.get(turn.id) is turn:
            await self._send_or_hold(turn, self._clock())

    async def _publish(self, turn: _Turn) -> None:
        async with turn.lock:
            if not turn.pending:
                return
            text = "".join(turn.pending)
            turn.pending.clear()
            turn.index += 1
            turn.last_sent = self._clock()
            self._sent.append(turn.last_sent)
            frame = encode(
                MessageDelta(
                    room_id=turn.room_id,
                    turn_id=turn.id,
                    message_id=turn.message_id,
                    index=turn.index,
                    first_index=turn.index,
                    text=text,
                )
            )
            await self._hub.publish_event(turn.room_id, frame, V1, STREAM_DELTA)

    @staticmethod
    def _cancel_timer(turn: _Turn) -> None:
        if turn.timer is not None:
            turn.timer.cancel()
            turn.timer = None

    def _forget_idle(self, now: float) -> None:
        """Turns whose `end` never came (their runner died) are dropped after a while."""
        for turn_id in [k for k, t in self._turns.items() if now - t.touched > self._idle_ttl]:
            self._cancel_timer(self._turns.pop(turn_id))

    async def aclose(self) -> None:
        """Drop what is pending (shutting down: clients get the stored message, or nothing)."""
        for turn in self._turns.values():
            self._cancel_timer(turn)
        self._turns.clear()
        tasks = list(self._flushing)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


# Each trace's wire event carries the trace's own fields of the same names.
_TRACE_EVENTS: dict[type[AgentTrace], type[msgspec.Struct]] = {
    AgentError: AgentErrorEvent,
    AgentTurnTrace: AgentTurnEvent,
    AgentProposalTrace: AgentProposalEvent,
    AgentDecisionTrace: AgentDecisionEvent,
}


def _trace_event(event: AgentTrace) -> msgspec.Struct:
    """The staff-only wire event of a trace."""
    if isinstance(event, AgentToolTrace):
        return tool_event(event)
    wire = _TRACE_EVENTS[type(event)]
    return wire(**{name: getattr(event, name) for name in wire.__struct_fields__})
