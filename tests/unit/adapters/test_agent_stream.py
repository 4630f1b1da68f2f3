"""HubAgentStream: coalesced, numbered deltas; aborts after what was sent; staff traces and
user notices addressed in the envelope. The hub is a recorder here (the hub's side is in
test_room_hub_streams.py).
"""

import asyncio
import itertools
import json
import logging
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from coagent.adapters.realtime.agent_stream import HubAgentStream
from coagent.adapters.realtime.events import STAFF, STREAM_ABORTED, STREAM_DELTA, V1
from coagent.adapters.realtime.hub import RoomHub
from coagent.application.ports.agent_events import AgentError

pytestmark = pytest.mark.anyio

ROOM, TURN, MESSAGE = uuid4(), uuid4(), uuid4()


class Hub:
    """Records what the stream publishes; `published` is set on every publish."""

    def __init__(self, clock: "Clock | None" = None) -> None:
        self.sent: list[tuple[UUID, dict[str, Any], str, str]] = []
        # When each frame was published, on `clock` (the loop's clock without one).
        self.times: list[float] = []
        self._clock = clock
        self.published = asyncio.Event()
        self.fail = False
        self.ended: list[tuple[UUID, UUID]] = []

    async def publish_event(
        self, room_id: UUID, frame: str, audience: str = V1, stream: str = ""
    ) -> None:
        if self.fail:
            raise RuntimeError("bus down")
        self.sent.append((room_id, json.loads(frame), audience, stream))
        self.times.append(self._clock() if self._clock else asyncio.get_running_loop().time())
        self.published.set()

    async def stream_ended(self, room_id: UUID, turn_id: UUID) -> None:
        self.ended.append((room_id, turn_id))

    def frames(self, kind: str = "message.delta") -> list[dict[str, Any]]:
        return [frame for _, frame, _, _ in self.sent if frame["type"] == kind]

    async def next_publish(self) -> None:
        await asyncio.wait_for(self.published.wait(), 5)
        self.published.clear()


class Clock:
    """A fake monotonic clock whose sleeps end only when it is advanced past them."""

    def __init__(self) -> None:
        self.now = 100.0
        self._sleeping: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleeping.append((self.now + seconds, done))
        await done

    async def advance(self, seconds: float) -> int:
        """Move on by `seconds` (once the timers just set have started sleeping); returns
        how many sleeps ended.
        """
        await asyncio.sleep(0)
        self.now += seconds
        due = [(at, done) for at, done in self._sleeping if at <= self.now + 1e-9]
        self._sleeping = [entry for entry in self._sleeping if entry not in due]
        for _, done in due:
            if not done.done():
                done.set_result(None)
        return len(due)


def _stream(hub: Hub, clock: Clock | None = None, busy_rate: float = 0) -> HubAgentStream:
    """By default always busy: every turn is held to one frame per 50 ms."""
    clock = clock or Clock()
    return HubAgentStream(
        hub=cast(RoomHub, hub),
        interval=0.05,
        busy_rate=busy_rate,
        clock=clock,
        sleep=clock.sleep,
    )


async def _delta(stream: HubAgentStream, text: str, turn: UUID = TURN) -> None:
    await stream.delta(room_id=ROOM, turn_id=turn, message_id=MESSAGE, text=text)


async def test_the_first_piece_goes_out_at_once_and_later_ones_are_joined_until_end() -> None:
    hub, clock = Hub(), Clock()
    stream = _stream(hub, clock)
    await _delta(stream, "Hel")
    assert [f["text"] for f in hub.frames()] == ["Hel"]
    for piece in ("lo", ", ", "Ana"):
        clock.now += 0.01  # inside the 50 ms window: held
        await _delta(stream, piece)
    assert len(hub.frames()) == 1
    await stream.end(TURN)
    frames = hub.frames()
    assert [(f["index"], f["first_index"], f["text"]) for f in frames] == [
        (0, 0, "Hel"),
        (1, 1, "lo, Ana"),
    ]
    assert {(f["room_id"], f["turn_id"], f["message_id"]) for f in frames} == {
        (str(ROOM), str(TURN), str(MESSAGE))
    }
    assert {(audience, marker) for _, _, audience, marker in hub.sent} == {(V1, STREAM_DELTA)}
    await stream.end(TURN)  # twice: nothing more
    assert len(hub.frames()) == 2


async def test_held_pieces_go_out_when_the_interval_has_passed() -> None:
    clock = Clock()
    hub = Hub(clock)
    stream = _stream(hub, clock)
    await _delta(stream, "a")
    started = clock.now
    await clock.advance(0.01)
    await _delta(stream, "b")
    await _delta(stream, "c")
    assert [f["text"] for f in hub.frames()] == ["a"]
    hub.published.clear()
    assert await clock.advance(0.03) == 0  # 40 ms after "a": still held
    assert await clock.advance(0.01) == 1  # 50 ms: the held flush runs
    await hub.next_publish()
    assert hub.times[-1] - started >= 0.05
    assert [(f["index"], f["text"]) for f in hub.frames()] == [(0, "a"), (1, "bc")]
    await stream.end(TURN)
    assert len(hub.frames()) == 2  # nothing was left to flush
    await stream.aclose()


async def test_a_piece_after_the_interval_goes_out_at_once() -> None:
    hub, clock = Hub(), Clock()
    stream = _stream(hub, clock)
    await _delta(stream, "a")
    clock.now += 0.05
    await _delta(stream, "b")
    assert [(f["index"], f["text"]) for f in hub.frames()] == [(0, "a"), (1, "b")]


async def test_at_most_one_frame_per_interval_whatever_the_provider_sends() -> None:
    clock = Clock()
    hub = Hub(clock)
    interval = 0.01
    stream = HubAgentStream(
        hub=cast(RoomHub, hub), interval=interval, busy_rate=0, clock=clock, sleep=clock.sleep
    )
    text = ""
    for n in range(100):  # a provider sending a piece every millisecond for 0.1 s
        piece = f"{n} "
        text += piece
        await _delta(stream, piece)
        hub.published.clear()
        if await clock.advance(0.001):  # a held flush is due: it goes out now
            await hub.next_publish()
    await stream.end(TURN)
    frames = hub.frames()
    assert "".join(f["text"] for f in frames) == text  # nothing lost, nothing twice
    assert [f["index"] for f in frames] == list(range(len(frames)))
    gaps = [b - a for a, b in itertools.pairwise(hub.times[:-1])]  # the last is `end`'s
    # The first piece at once, then one frame per interval for 0.1 s, then `end`'s.
    assert len(frames) == 11
    assert min(gaps) >= interval - 1e-9


async def test_turns_are_numbered_and_coalesced_separately() -> None:
    hub, clock = Hub(), Clock()
    stream = _stream(hub, clock)
    other = uuid4()
    await _delta(stream, "a")
    await _delta(stream, "x", turn=other)
    await _delta(stream, "b")
    await stream.end(TURN)
    await stream.end(other)
    by_turn = {
        turn: [(f["index"], f["text"]) for f in hub.frames() if f["turn_id"] == str(turn)]
        for turn in (TURN, other)
    }
    assert by_turn == {TURN: [(0, "a"), (1, "b")], other: [(0, "x")]}


async def test_empty_pieces_send_nothing() -> None:
    hub = Hub()
    stream = _stream(hub)
    await _delta(stream, "")
    await stream.end(TURN)
    assert hub.sent == []


async def test_abort_drops_held_text_and_comes_after_what_was_sent() -> None:
    hub, clock = Hub(), Clock()
    stream = _stream(hub, clock)
    await _delta(stream, "half a ")
    await _delta(stream, "held")
    await stream.aborted(room_id=ROOM, turn_id=TURN, message_id=MESSAGE, reason="provider_error")
    assert [(f["type"], audience, marker) for _, f, audience, marker in hub.sent] == [
        ("message.delta", V1, STREAM_DELTA),
        ("message.aborted", V1, STREAM_ABORTED),
    ]
    aborted = hub.frames("message.aborted")[0]
    assert aborted == {
        "type": "message.aborted",
        "room_id": str(ROOM),
        "turn_id": str(TURN),
        "message_id": str(MESSAGE),
        "reason": "provider_error",
    }
    await stream.end(TURN)  # the held piece is gone for good
    assert len(hub.sent) == 2


async def test_abort_of_a_turn_that_streamed_nothing_is_still_published() -> None:
    hub = Hub()
    stream = _stream(hub)
    await stream.aborted(room_id=ROOM, turn_id=TURN, message_id=MESSAGE, reason="timeout")
    assert [f["reason"] for f in hub.frames("message.aborted")] == ["timeout"]


async def test_agent_errors_are_addressed_to_staff_and_notices_to_one_user() -> None:
    hub = Hub()
    stream = _stream(hub)
    await stream.trace(
        AgentError(
            room_id=ROOM, turn_id=TURN, agent_type="teacher", code="llm_timeout", detail="slow"
        )
    )
    user = uuid4()
    await stream.notify_user(
        room_id=ROOM, user_id=user, code="mention_limited", detail="Too many mentions"
    )
    (_, trace, trace_audience, _), (_, notice, notice_audience, _) = hub.sent
    assert trace_audience == STAFF
    assert trace == {
        "type": "agent.error",
        "room_id": str(ROOM),
        "turn_id": str(TURN),
        "agent_type": "teacher",
        "code": "llm_timeout",
        "detail": "slow",
    }
    assert notice_audience == f"u:{user}"
    assert notice == {"type": "error", "code": "mention_limited", "detail": "Too many mentions"}


async def test_a_failing_background_flush_is_logged_not_raised(caplog) -> None:
    hub = Hub()
    stream = HubAgentStream(hub=cast(RoomHub, hub), interval=0.01, busy_rate=0)
    await _delta(stream, "a")
    hub.fail = True
    with caplog.at_level(logging.ERROR, logger="coagent.realtime"):
        await _delta(stream, "b")
        (timer,) = list(stream._flushing)
        await asyncio.wait_for(timer, 5)
    assert "streamed delta not published" in caplog.text
    assert [f["text"] for f in hub.frames()] == ["a"]


async def test_turns_whose_end_never_came_are_forgotten() -> None:
    hub, clock = Hub(), Clock()
    stream = HubAgentStream(hub=cast(RoomHub, hub), clock=clock, idle_ttl=60, busy_rate=0)
    await _delta(stream, "a")
    await _delta(stream, "held")
    clock.now += 61
    await _delta(stream, "new turn", turn=uuid4())
    await stream.end(TURN)  # forgotten: its held piece is not sent late
    assert [f["text"] for f in hub.frames()] == ["a", "new turn"]


# --- coalescing only under load


async def test_below_the_busy_rate_every_piece_goes_out_at_once() -> None:
    hub, clock = Hub(), Clock()
    stream = _stream(hub, clock, busy_rate=100)
    for piece in ("a", "b", "c"):
        await _delta(stream, piece)  # the clock stands still: all inside one 50 ms window
    assert [(f["index"], f["text"]) for f in hub.frames()] == [(0, "a"), (1, "b"), (2, "c")]


async def test_at_the_busy_rate_turns_are_held_to_one_frame_per_interval() -> None:
    hub, clock = Hub(), Clock()
    stream = _stream(hub, clock, busy_rate=3)
    other = uuid4()
    for piece in ("a", "b"):
        await _delta(stream, piece)
    await _delta(stream, "x", turn=other)  # the third frame of the second: busy from here
    await _delta(stream, "c")
    assert [f["text"] for f in hub.frames()] == ["a", "b", "x"]
    clock.now += 1.1  # a quiet second later: not busy any more
    await _delta(stream, "d", turn=other)
    await stream.end(TURN)
    assert [f["text"] for f in hub.frames()] == ["a", "b", "x", "d", "c"]


class SlowHub(Hub):
    """Publishing waits until released, as a busy Redis would."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    async def publish_event(
        self, room_id: UUID, frame: str, audience: str = V1, stream: str = ""
    ) -> None:
        self.entered.set()
        await self.release.wait()
        await super().publish_event(room_id, frame, audience, stream)


async def test_pieces_that_come_while_a_frame_is_published_follow_it_joined() -> None:
    hub = SlowHub()
    stream = HubAgentStream(hub=cast(RoomHub, hub), busy_rate=100)
    first = asyncio.ensure_future(_delta(stream, "a"))
    await asyncio.wait_for(hub.entered.wait(), 5)

    async def concurrently() -> None:  # another task of the runner, not awaiting the first
        await _delta(stream, "b")
        await _delta(stream, "c")

    await asyncio.wait_for(concurrently(), 5)  # returns at once: the pieces wait
    assert hub.sent == []
    hub.release.set()
    await asyncio.wait_for(first, 5)
    assert [(f["index"], f["text"]) for f in hub.frames()] == [(0, "a"), (1, "bc")]
