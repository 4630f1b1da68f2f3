"""Catching a socket up on a turn whose start this hub never relayed: the stream log (the
in-memory bus's here; Redis in tests/integration/test_stream_catch_up.py), the index
arithmetic that merges it with what the hub relayed, and the fallback when it cannot be read.
"""

import json
from typing import Any
from uuid import UUID, uuid4

import pytest

from coagent.adapters.realtime.agent_stream import HubAgentStream
from coagent.adapters.realtime.bus import BusUnavailable, InMemoryRoomBus, LoggedStream, contiguous
from coagent.adapters.realtime.hub import RoomHub, Stream, merge_stream
from tests.unit.adapters.test_room_hub_streams import COURSE, ROOM, Socket, Store, _deltas, _shown

pytestmark = pytest.mark.anyio

TURN, MESSAGE = uuid4(), uuid4()


def _known(first: int, parts: list[str], message_id: UUID = MESSAGE) -> Stream:
    return Stream(
        message_id=message_id,
        first_index=first,
        index=first + len(parts) - 1,
        parts=parts,
        updated=1.0,
        relayed=first + len(parts) - 1,
    )


def _logged(*parts: str, message_id: UUID = MESSAGE) -> LoggedStream:
    return LoggedStream(turn_id=TURN, message_id=message_id, parts=parts)


def _view(stream: Stream | None) -> tuple[int, int, str, int] | None:
    if stream is None:
        return None
    return (stream.first_index, stream.index, "".join(stream.parts), stream.relayed)


# --- the index arithmetic


@pytest.mark.parametrize(
    ("known", "logged", "merged"),
    [
        # Nothing relayed here yet: the log is the whole text so far, none of it relayed.
        (None, ("a", "b"), (0, 1, "ab", -1)),
        # Relayed from frame 2; the log holds 0..1 (frame 2 in flight when it was written):
        # it completes what was relayed.
        (_known(2, ["c", "d"]), ("a", "b"), (0, 3, "abcd", 3)),
        # The log overlaps what was relayed: frames 0..1 from it, 2..3 as relayed.
        (_known(2, ["c", "d"]), ("a", "b", "c"), (0, 3, "abcd", 3)),
        # The log is ahead: frames up to 4 from it; 4 is still to be relayed here.
        (_known(2, ["c", "d"]), ("a", "b", "c", "d", "e"), (0, 4, "abcde", 3)),
        # A gap between the log (0..0) and what was relayed (2..): stays as it is.
        (_known(2, ["c"]), ("a",), None),
        # Whole already: the log adds nothing.
        (_known(0, ["a", "b"]), ("a", "b", "c"), None),
        # The log is of another message of the turn (an earlier attempt): not mixed in.
        (_known(2, ["c"]), ("x", "y"), "other"),
    ],
)
def test_the_log_and_the_relayed_frames_merge_by_index(
    known: Stream | None, logged: tuple[str, ...], merged: Any
) -> None:
    if merged == "other":
        assert merge_stream(known, _logged(*logged, message_id=uuid4()), 5.0) is None
        return
    result = merge_stream(known, _logged(*logged), 5.0)
    assert _view(result) == merged
    if result is not None:
        assert result.message_id == MESSAGE


def test_log_entries_count_from_frame_zero_up_to_the_first_gap() -> None:
    assert contiguous([b"0:The ", b"1:ans:wer", b"2:"]) == ("The ", "ans:wer", "")
    assert contiguous(["0:a", "0:a", "1:b"]) == ("a", "b")  # a retried append counts once
    assert contiguous(["0:a", "2:c", "3:d"]) == ("a",)
    assert contiguous(["1:b", "2:c"]) == ()
    assert contiguous(["0:a", "garbage", "1:b"]) == ("a",)


# --- the hub, over the in-memory bus and its log


class HeldBus(InMemoryRoomBus):
    """Delivery can be held (frames in flight), as the listener of a busy process lags;
    the log is written at once, as Redis does in the publish's round trip.
    """

    def __init__(self) -> None:
        super().__init__()
        self.holding = False
        self.held: list[tuple[str, bytes]] = []
        self.subscribed: set[str] = set()

    async def subscribe(self, channel: str) -> bool:
        self.subscribed.add(channel)
        return await super().subscribe(channel)

    async def publish(self, channel: str, payload: bytes) -> None:
        if self.holding:
            if channel in self.subscribed:  # pub/sub: only to who listens at the time
                self.held.append((channel, payload))
            return
        await super().publish(channel, payload)

    async def release(self) -> None:
        self.holding = False
        held, self.held = self.held, []
        for channel, payload in held:
            await super().publish(channel, payload)


async def _setup(bus: InMemoryRoomBus | None = None) -> tuple[RoomHub, HubAgentStream]:
    hub = RoomHub(bus=bus or InMemoryRoomBus(), source=Store(), gap_wait=0.01)
    hub.start()
    return hub, HubAgentStream(hub=hub, interval=0)


async def _say(stream: HubAgentStream, text: str, message_id: UUID = MESSAGE) -> None:
    await stream.delta(room_id=ROOM, turn_id=TURN, message_id=message_id, text=text)


async def _join(hub: RoomHub, socket: Socket) -> None:
    socket.frames[:0] = await hub.join(ROOM, COURSE, socket, None)


async def test_a_room_opened_mid_stream_catches_up_from_the_log() -> None:
    """Nobody was in the room while the turn began (this process did not listen to it)."""
    hub, stream = await _setup()
    for piece in ("The ", "answer "):
        await _say(stream, piece)
    late = Socket()
    await _join(hub, late)
    await _say(stream, "is 42.")
    assert _deltas(late) == [(0, 1, "The answer "), (2, 2, "is 42.")]
    assert _shown(late) == "The answer is 42."
    await hub.close()


async def test_deltas_the_catch_up_covered_are_not_sent_again_but_others_get_them() -> None:
    bus = HeldBus()
    hub, stream = await _setup(bus)
    early = Socket()
    await _join(hub, early)
    bus.holding = True
    for piece in ("a", "b", "c"):  # logged, still in flight to this hub
        await _say(stream, piece)
    await hub._on_reconnect()  # the bus came back: the log is read again at the next join
    late = Socket()
    await _join(hub, late)
    await bus.release()
    await _say(stream, "d")
    assert _deltas(late) == [(0, 2, "abc"), (3, 3, "d")]
    assert _deltas(early) == [(0, 0, "a"), (1, 1, "b"), (2, 2, "c"), (3, 3, "d")]
    assert _shown(early) == _shown(late) == "abcd"
    await hub.close()


async def test_a_resume_catches_up_from_the_log_too() -> None:
    hub, stream = await _setup()
    await _say(stream, "ab")
    socket = Socket()
    await _join(hub, socket)
    await _say(stream, "cd")
    socket.frames = await hub.replay(ROOM, socket, 0)
    assert _deltas(socket) == [(0, 1, "abcd")]
    await hub.close()


async def test_the_log_is_dropped_when_the_turn_ends_or_is_withdrawn() -> None:
    bus = InMemoryRoomBus()
    hub, stream = await _setup(bus)
    await _say(stream, "done")
    assert [s.parts for s in await bus.logged_streams(ROOM)] == [("done",)]
    await stream.end(TURN)
    assert await bus.logged_streams(ROOM) == []
    await _say(stream, "half")
    await stream.aborted(room_id=ROOM, turn_id=TURN, message_id=MESSAGE, reason="failed")
    assert await bus.logged_streams(ROOM) == []
    await hub.close()


async def test_a_new_message_of_the_turn_starts_afresh() -> None:
    """A turn streams a new message after a tool call (the first withdrawn) or when it is
    run again after its worker died: the catch-up is of the new message only.
    """
    hub, stream = await _setup()
    await _join(hub, Socket())
    await _say(stream, "Let me look that up")
    await stream.aborted(room_id=ROOM, turn_id=TURN, message_id=MESSAGE, reason="tool call")
    second = uuid4()
    await _say(stream, "It is ", second)
    await _say(stream, "Tuesday.", second)
    late = Socket()
    await _join(hub, late)
    assert _deltas(late) == [(0, 1, "It is Tuesday.")]
    assert {e["message_id"] for e in late.events()} == {str(second)}
    await hub.close()


async def test_while_the_log_cannot_be_read_the_catch_up_starts_where_relaying_did(
    monkeypatch,
) -> None:
    bus = InMemoryRoomBus()
    hub, stream = await _setup(bus)

    async def down(room_id: UUID) -> list[LoggedStream]:
        raise BusUnavailable("circuit open")

    monkeypatch.setattr(bus, "logged_streams", down)
    await _say(stream, "The ")  # before this process listens to the room
    await _join(hub, Socket())
    await _say(stream, "answer ")
    late = Socket()
    await _join(hub, late)
    await _say(stream, "is 42.")
    assert _deltas(late) == [(1, 1, "answer "), (2, 2, "is 42.")]
    assert json.loads(late.frames[0])["turn_id"] == str(TURN)
    await hub.close()
