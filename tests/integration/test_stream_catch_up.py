"""Mid-stream catch-up across processes over the real Redis: two hubs, each with its own
`RedisRoomBus` (listener and publisher), as two web processes (or a worker and a web
process) have. Process A streams a turn; a socket that joins process B mid-stream gets the
whole text once (`first_index` 0), then the rest live. With B unable to read Redis the
catch-up falls back to what B relayed (`first_index` > 0), without an error.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from uuid import UUID, uuid4

import pytest
from redis.asyncio import Redis

from coagent.adapters.realtime.agent_stream import HubAgentStream
from coagent.adapters.realtime.bus import RedisRoomBus, room_streams_key, stream_key
from coagent.adapters.realtime.hub import RoomHub
from coagent.adapters.redis_circuit import RedisCircuit
from coagent.domain.chat.message import Message
from tests.integration.loopback import free_port
from tests.unit.adapters.test_room_hub_streams import Socket, _deltas, _shown

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

ROOM, COURSE = uuid4(), uuid4()


class NoMessages:
    async def after(self, room_id: UUID, seq: int, limit: int) -> Sequence[Message]:
        return []

    async def last_seq(self, room_id: UUID) -> int:
        return 0


class Process:
    def __init__(self, hub: RoomHub, bus: RedisRoomBus) -> None:
        self.hub, self.bus = hub, bus
        self.stream = HubAgentStream(hub=hub, interval=0)


@asynccontextmanager
async def _process(url: str, reads_from: str | None = None) -> AsyncIterator[Process]:
    """A hub on its own bus; `reads_from`: where its publisher (which also reads the
    stream log) connects, when not to `url`.
    """
    publisher = Redis.from_url(reads_from or url, socket_connect_timeout=0.5)
    listener = Redis.from_url(url, socket_connect_timeout=2)
    bus = RedisRoomBus(listener=listener, publisher=publisher, circuit=RedisCircuit())
    hub = RoomHub(bus=bus, source=NoMessages())
    hub.start()
    try:
        yield Process(hub, bus)
    finally:
        await hub.close()
        await publisher.aclose()


class LiveSocket(Socket):
    """Says when a frame came."""

    def __init__(self) -> None:
        super().__init__()
        self.came = asyncio.Event()

    def offer(self, frame: str) -> bool:
        self.came.set()
        return super().offer(frame)


async def _until(socket: LiveSocket, deltas: int) -> None:
    async with asyncio.timeout(5):
        while len(_deltas(socket)) < deltas:
            socket.came.clear()
            await socket.came.wait()


async def _say(process: Process, turn: UUID, message_id: UUID, text: str) -> None:
    await process.stream.delta(room_id=ROOM, turn_id=turn, message_id=message_id, text=text)


async def _join(process: Process, socket: Socket) -> None:
    socket.frames[:0] = await process.hub.join(ROOM, COURSE, socket, None)


async def test_a_socket_joining_another_process_mid_stream_gets_the_whole_text_once(
    redis_url: str,
) -> None:
    turn, message_id = uuid4(), uuid4()
    redis = Redis.from_url(redis_url)
    async with _process(redis_url) as a, _process(redis_url) as b:
        early = LiveSocket()
        await _join(a, early)
        for piece in ("The ", "answer "):
            await _say(a, turn, message_id, piece)
        await _until(early, 2)
        # B has never listened to the room: everything so far is in the log only.
        assert 0 < await redis.pttl(stream_key(turn)) <= 120_000
        late = LiveSocket()
        await _join(b, late)
        await _say(a, turn, message_id, "is 42.")
        await _until(late, 2)
        await a.stream.end(turn)
        assert await redis.exists(stream_key(turn), room_streams_key(ROOM)) == 0
        # Another socket on B now: B holds the whole text since the merge (no log needed).
        after_end = LiveSocket()
        await _join(b, after_end)
    await redis.aclose()
    assert _deltas(late) == [(0, 1, "The answer "), (2, 2, "is 42.")]
    assert _shown(late) == _shown(early) == "The answer is 42."
    assert {e["message_id"] for e in late.events()} == {str(message_id)}
    assert _deltas(after_end) == [(0, 2, "The answer is 42.")]


async def test_a_withdrawn_turn_leaves_nothing_in_the_log(redis_url: str) -> None:
    turn, message_id = uuid4(), uuid4()
    redis = Redis.from_url(redis_url)
    async with _process(redis_url) as a, _process(redis_url) as b:
        await _say(a, turn, message_id, "Half a rep")
        await a.stream.aborted(room_id=ROOM, turn_id=turn, message_id=message_id, reason="x")
        assert await redis.exists(stream_key(turn), room_streams_key(ROOM)) == 0
        late = LiveSocket()
        await _join(b, late)
    await redis.aclose()
    assert _deltas(late) == []


async def test_when_redis_cannot_be_read_the_catch_up_starts_where_relaying_did(
    redis_url: str,
) -> None:
    """B's listener works but its reads fail (nothing listens on that port; its circuit
    opens): no error, and the catch-up says where its text starts.
    """
    turn, message_id = uuid4(), uuid4()
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    async with _process(redis_url) as a, _process(redis_url, reads_from=nowhere) as b:
        await _say(a, turn, message_id, "The ")  # before B listens to the room
        first = LiveSocket()
        await _join(b, first)
        await _say(a, turn, message_id, "answer ")
        await _until(first, 1)
        late = LiveSocket()
        await _join(b, late)
        await _say(a, turn, message_id, "is 42.")
        await _until(late, 2)
    assert _deltas(first) == [(1, 1, "answer "), (2, 2, "is 42.")]
    assert _deltas(late) == [(1, 1, "answer "), (2, 2, "is 42.")]
