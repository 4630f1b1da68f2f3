"""RoomHub over the in-memory bus: per-room seq order, gap filling from the store,
no duplicates, replay on join, and overflow closing only the slow socket.
"""

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from coagent.adapters.realtime.bus import InMemoryRoomBus
from coagent.adapters.realtime.events import CLOSE_RESYNC, envelope, message_frame
from coagent.adapters.realtime.hub import RoomHub, room_channel
from coagent.domain.chat.message import Message

pytestmark = pytest.mark.anyio

ROOM, COURSE = uuid4(), uuid4()


def _message(seq: int) -> Message:
    return Message(
        id=uuid4(),
        room_id=ROOM,
        seq=seq,
        content=f"m{seq}",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        sender_id=None,
        sender_name="Someone",
    )


class Store:
    """Committed messages, as the hub reads them to fill gaps."""

    def __init__(self, count: int = 0) -> None:
        self.messages = [_message(seq) for seq in range(1, count + 1)]
        self.reads = 0

    async def after(self, room_id: UUID, seq: int, limit: int) -> Sequence[Message]:
        self.reads += 1
        return [m for m in self.messages if m.seq > seq][:limit]

    async def last_seq(self, room_id: UUID) -> int:
        return len(self.messages)


class Socket:
    def __init__(self, room_size: int = 100, *, v1: bool = True, staff: bool = False) -> None:
        self.user_id, self.session_id, self.seen = uuid4(), uuid4(), 0
        self.v1, self.staff = v1, staff
        self.frames: list[str] = []
        self.size = room_size
        self.dropped: int | None = None

    def offer(self, frame: str) -> bool:
        if len(self.frames) >= self.size:
            return False
        self.frames.append(frame)
        return True

    def drop(self, code: int, reason: str) -> None:
        self.dropped = code

    def seqs(self) -> list[int]:
        return [json.loads(f)["seq"] for f in self.frames if json.loads(f)["type"] == "message"]


async def _hub(store: Store) -> tuple[RoomHub, InMemoryRoomBus]:
    bus = InMemoryRoomBus()
    hub = RoomHub(bus=bus, source=store, gap_wait=0.01, ring_size=4)
    hub.start()
    return hub, bus


async def _arrive(bus: InMemoryRoomBus, seq: int) -> None:
    await bus.publish(room_channel(ROOM), envelope(seq, message_frame(_message(seq))))


async def test_out_of_order_arrivals_are_delivered_in_seq_order_once() -> None:
    store = Store()
    hub, bus = await _hub(store)
    socket = Socket()
    assert await hub.join(ROOM, COURSE, socket, None) == []
    store.messages = [_message(seq) for seq in (1, 2, 3)]
    for seq in (2, 3, 1, 3, 2):
        await _arrive(bus, seq)
    assert socket.seqs() == [1, 2, 3]
    assert store.reads == 0  # the missing one came before the gap wait ran out
    await hub.close()


async def test_a_gap_the_bus_never_fills_is_read_from_the_store() -> None:
    store = Store()
    hub, bus = await _hub(store)
    socket = Socket()
    await hub.join(ROOM, COURSE, socket, None)
    store.messages = [_message(seq) for seq in (1, 2, 3)]
    await _arrive(bus, 3)  # 1 and 2 were lost by the bus
    assert socket.seqs() == []
    await asyncio.sleep(0.1)
    assert socket.seqs() == [1, 2, 3]
    assert store.reads >= 1
    await hub.close()


async def test_join_with_since_replays_from_memory_then_from_the_store() -> None:
    store = Store(count=3)
    hub, bus = await _hub(store)
    first = Socket()
    await hub.join(ROOM, COURSE, first, None)
    store.messages += [_message(4), _message(5)]
    await _arrive(bus, 4)
    await _arrive(bus, 5)
    from_memory = Socket()
    replay = await hub.join(ROOM, COURSE, from_memory, 3)
    assert [json.loads(f)["seq"] for f in replay] == [4, 5]
    reads = store.reads
    from_store = Socket()
    replay = await hub.join(ROOM, COURSE, from_store, 1)
    assert [json.loads(f)["seq"] for f in replay] == [2, 3, 4, 5]
    assert store.reads == reads + 1
    await _arrive(bus, 5)  # a late copy of what the replay carried
    assert from_store.seqs() == []
    await hub.close()


async def test_a_full_socket_is_closed_for_resync_and_the_others_go_on() -> None:
    store = Store()
    hub, bus = await _hub(store)
    slow, fast = Socket(room_size=2), Socket()
    await hub.join(ROOM, COURSE, slow, None)
    await hub.join(ROOM, COURSE, fast, None)
    store.messages = [_message(seq) for seq in range(1, 6)]
    for seq in range(1, 6):
        await _arrive(bus, seq)
    assert slow.dropped == CLOSE_RESYNC
    assert fast.seqs() == [1, 2, 3, 4, 5]
    assert fast.dropped is None
    await hub.close()


async def test_connection_slots_are_reserved_up_to_the_limit_and_given_back() -> None:
    hub, _ = await _hub(Store())
    user = uuid4()
    assert hub.reserve(user, 2)
    assert hub.reserve(user, 2)
    assert not hub.reserve(user, 2)
    socket = Socket()
    socket.user_id = user
    hub.leave(ROOM, socket)
    assert hub.connections_of(user) == 1
    assert hub.reserve(user, 2)
    await hub.close()


class SlowStore(Store):
    """A store whose reads wait until released, as a slow database round trip does."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.reading, self.release = asyncio.Event(), asyncio.Event()

    async def after(self, room_id: UUID, seq: int, limit: int) -> Sequence[Message]:
        self.reading.set()
        await self.release.wait()
        return await super().after(room_id, seq, limit)


async def test_a_missing_message_arriving_during_the_gap_read_loses_nothing() -> None:
    store = SlowStore(count=0)
    hub, bus = await _hub(store)
    socket = Socket()
    try:
        await hub.join(ROOM, COURSE, socket, None)
        store.messages = [_message(seq) for seq in (1, 2, 3, 4)]  # all committed
        await _arrive(bus, 2)
        await _arrive(bus, 4)  # 1 and 3 are late: a gap read starts after 0
        await store.reading.wait()
        await _arrive(bus, 1)  # 1 arrives while the read is in flight: 1 and 2 go out
        store.release.set()  # the read returns 1, 2, 3, 4
        for _ in range(100):
            if socket.seqs() == [1, 2, 3, 4]:
                break
            await asyncio.sleep(0.01)
        assert socket.seqs() == [1, 2, 3, 4]
        assert all(json.loads(frame)["type"] != "resync" for frame in socket.frames)
    finally:
        await hub.close()
