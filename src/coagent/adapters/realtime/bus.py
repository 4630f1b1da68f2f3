"""The fan-out bus: Redis pub/sub with one supervised listener per process, or in memory.

Why not Litestar's channels plugin: its Redis backends lose their listener for good after
a Redis outage and replay old stream history to new subscribers (docs/adr/0004).

The bus also keeps the text streamed so far of each agent turn in progress (the stream log),
so a process that opens a room mid-stream can catch its sockets up on text it never relayed:
in Redis, a list per turn appended in the same round trip as the delta's publish (so a
delta any process receives is in the log already), deleted when the turn ends, with a TTL
for turns whose end never comes; in memory in the embedded mode.
"""

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from coagent.adapters.observability import metrics
from coagent.adapters.redis_circuit import RedisCircuit, RedisDown

logger = logging.getLogger("coagent.realtime")

OnMessage = Callable[[str, bytes], None]
OnReconnect = Callable[[], Awaitable[None]]

# How long the stream log keeps a turn after its last delta (its runner died).
STREAM_LOG_TTL = 120.0


@dataclass(frozen=True, slots=True)
class StreamPiece:
    """One delta frame of a turn, as the log keeps it (frames are numbered 0, 1, 2...)."""

    room_id: UUID
    turn_id: UUID
    message_id: UUID
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class LoggedStream:
    """A turn's text streamed so far: `parts[i]` is frame i's text (0..len - 1, no gap)."""

    turn_id: UUID
    message_id: UUID
    parts: tuple[str, ...]


def stream_key(turn_id: UUID) -> str:
    return f"coagent:stream:{turn_id}"


def room_streams_key(room_id: UUID) -> str:
    """A hash: turn id -> message id of the turns streaming in the room."""
    return f"coagent:streams:{room_id}"


def contiguous(entries: Sequence[bytes | str]) -> tuple[str, ...]:
    """The texts of a logged turn's entries (`"<index>:<text>"`) from frame 0 on, up to the
    first gap; a repeated entry (a retried append) counts once.
    """
    parts: list[str] = []
    for entry in entries:
        head, _, text = _text(entry).partition(":")
        try:
            index = int(head)
        except ValueError:
            break
        if index < len(parts):
            continue
        if index > len(parts):
            break
        parts.append(text)
    return tuple(parts)


class RoomBus(Protocol):
    def start(self, on_message: OnMessage, on_reconnect: OnReconnect) -> None: ...

    async def subscribe(self, channel: str) -> bool:
        """Listen to `channel`; True once the subscription is live (so nothing published
        from now on is missed), False when the bus is down (`on_reconnect` follows).
        """
        ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def publish(self, channel: str, payload: bytes) -> None:
        """Raises `BusUnavailable` when the payload could not be handed over."""
        ...

    async def publish_piece(self, channel: str, payload: bytes, piece: StreamPiece) -> None:
        """`publish`, having appended `piece` to its turn's stream log (frame 0 starts the
        log afresh). Raises `BusUnavailable` like `publish`.
        """
        ...

    async def end_stream(self, room_id: UUID, turn_id: UUID) -> None:
        """Drop the turn's stream log (best effort: it expires anyway)."""
        ...

    async def logged_streams(self, room_id: UUID) -> list[LoggedStream]:
        """The room's turns in the stream log; `BusUnavailable` when it cannot be read."""
        ...

    async def close(self) -> None: ...


class BusUnavailable(Exception):
    pass


class InMemoryRoomBus:
    """The embedded mode: one process, so publishing is delivering."""

    def __init__(self, *, stream_ttl: float = STREAM_LOG_TTL) -> None:
        self._on_message: OnMessage | None = None
        self._channels: set[str] = set()
        self._stream_ttl = stream_ttl
        # room id -> turn id -> (message id, texts, when last appended)
        self._log: dict[UUID, dict[UUID, tuple[UUID, list[str], float]]] = {}

    def start(self, on_message: OnMessage, on_reconnect: OnReconnect) -> None:
        self._on_message = on_message

    async def subscribe(self, channel: str) -> bool:
        self._channels.add(channel)
        return True

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, payload: bytes) -> None:
        if self._on_message is not None and channel in self._channels:
            self._on_message(channel, payload)

    async def publish_piece(self, channel: str, payload: bytes, piece: StreamPiece) -> None:
        now = time.monotonic()
        turns = self._log.setdefault(piece.room_id, {})
        for turn_id in [t for t, (_, _, at) in turns.items() if now - at > self._stream_ttl]:
            del turns[turn_id]
        logged = turns.get(piece.turn_id)
        if piece.index == 0 or logged is None or logged[0] != piece.message_id:
            logged = (piece.message_id, [], now)
        texts = logged[1]
        if piece.index == len(texts):  # anything else would leave a gap: not logged
            texts.append(piece.text)
        turns[piece.turn_id] = (piece.message_id, texts, now)
        await self.publish(channel, payload)

    async def end_stream(self, room_id: UUID, turn_id: UUID) -> None:
        turns = self._log.get(room_id)
        if turns is not None:
            turns.pop(turn_id, None)
            if not turns:
                del self._log[room_id]

    async def logged_streams(self, room_id: UUID) -> list[LoggedStream]:
        horizon = time.monotonic() - self._stream_ttl
        return [
            LoggedStream(turn_id=turn_id, message_id=message_id, parts=tuple(texts))
            for turn_id, (message_id, texts, at) in self._log.get(room_id, {}).items()
            if at >= horizon and texts
        ]

    async def close(self) -> None:
        self._channels.clear()


class RedisRoomBus:
    """One pub/sub connection per process, owned by a supervised task.

    The listener's client has no retries of its own, so every connection failure reaches
    the supervisor, which reconnects with capped, jittered backoff, subscribes again to
    every channel still wanted and then calls `on_reconnect` (messages published during
    the outage are lost by pub/sub; the hub recovers them from the database).
    Publishing goes through the shared client, which retries.
    """

    def __init__(
        self,
        *,
        listener: Redis,
        publisher: Redis,
        backoff_cap: float = 2.0,
        subscribe_timeout: float = 5.0,
        circuit: RedisCircuit | None = None,
        publish_timeout_when_down: float = 0.25,
        stream_ttl: float = STREAM_LOG_TTL,
        read_timeout: float = 0.5,
    ) -> None:
        self._listener = listener
        self._publisher = publisher
        self._circuit = circuit or RedisCircuit()
        self._publish_timeout_when_down = publish_timeout_when_down
        self._stream_ttl_ms = max(1, round(stream_ttl * 1000))
        self._read_timeout = read_timeout
        self._backoff_cap = backoff_cap
        self._subscribe_timeout = subscribe_timeout
        # A private channel keeps the connection subscribed (and checkable) when no room is.
        self._own = f"coagent:bus:{uuid.uuid4()}"
        self._wanted: set[str] = {self._own}
        self._live: dict[str, asyncio.Event] = {}
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._up = False
        self._connected_once = False

    def start(self, on_message: OnMessage, on_reconnect: OnReconnect) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(on_message, on_reconnect))

    def _event(self, channel: str) -> asyncio.Event:
        return self._live.setdefault(channel, asyncio.Event())

    async def subscribe(self, channel: str) -> bool:
        self._wanted.add(channel)
        live = self._event(channel)
        if not live.is_set() and self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.subscribe(channel)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(live.wait(), self._subscribe_timeout)
        return live.is_set()

    async def unsubscribe(self, channel: str) -> None:
        self._wanted.discard(channel)
        self._live.pop(channel, None)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, payload: bytes) -> None:
        # Never skipped (a message published late beats one that reaches no other process),
        # but while Redis is known to be down, tried briefly instead of with every retry.
        try:
            await self._circuit.attempt(
                lambda: self._publisher.publish(channel, payload),
                timeout_when_open=self._publish_timeout_when_down,
            )
        except RedisDown as error:
            raise BusUnavailable(str(error)) from error

    async def publish_piece(self, channel: str, payload: bytes, piece: StreamPiece) -> None:
        # One round trip, in this order on one connection: a process that receives the
        # delta finds it in the log already.
        key, room_key = stream_key(piece.turn_id), room_streams_key(piece.room_id)

        async def append_and_publish() -> object:
            pipe = self._publisher.pipeline(transaction=False)
            if piece.index == 0:
                pipe.delete(key)  # a turn run again, or streaming again after a tool call
                pipe.hset(room_key, str(piece.turn_id), str(piece.message_id))
            pipe.rpush(key, f"{piece.index}:{piece.text}")
            pipe.pexpire(key, self._stream_ttl_ms)
            pipe.pexpire(room_key, self._stream_ttl_ms)
            pipe.publish(channel, payload)
            return await pipe.execute()

        try:
            await self._circuit.attempt(
                append_and_publish, timeout_when_open=self._publish_timeout_when_down
            )
        except RedisDown as error:
            raise BusUnavailable(str(error)) from error

    async def end_stream(self, room_id: UUID, turn_id: UUID) -> None:
        async def forget() -> object:
            pipe = self._publisher.pipeline(transaction=False)
            pipe.delete(stream_key(turn_id))
            pipe.hdel(room_streams_key(room_id), str(turn_id))
            return await pipe.execute()

        with contextlib.suppress(RedisDown):  # it expires
            await self._circuit.call(forget)

    async def logged_streams(self, room_id: UUID) -> list[LoggedStream]:
        """Two round trips, bounded by `read_timeout` (a socket's join waits for them)."""

        async def read() -> list[LoggedStream]:
            turns: dict[bytes | str, bytes | str] = await self._publisher.hgetall(
                room_streams_key(room_id)
            )
            if not turns:
                return []
            pipe = self._publisher.pipeline(transaction=False)
            for turn_id in turns:
                pipe.lrange(stream_key(UUID(_text(turn_id))), 0, -1)
            entries: list[list[bytes | str]] = await pipe.execute()
            logged = [
                LoggedStream(
                    turn_id=UUID(_text(turn_id)),
                    message_id=UUID(_text(message_id)),
                    parts=contiguous(found),
                )
                for (turn_id, message_id), found in zip(turns.items(), entries, strict=True)
            ]
            return [stream for stream in logged if stream.parts]

        try:
            return await asyncio.wait_for(self._circuit.call(read), self._read_timeout)
        except (RedisDown, TimeoutError, ValueError) as error:
            raise BusUnavailable(type(error).__name__) from error

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._listener.aclose()

    async def _supervise(self, on_message: OnMessage, on_reconnect: OnReconnect) -> None:
        failures = 0
        while True:
            pubsub = self._listener.pubsub()
            try:
                # Connect before anyone else may use it (two first commands racing would each
                # open a connection); from here `subscribe()` sends on this connection, and
                # channels wanted until now go in the one command below.
                await pubsub.connect()  # type: ignore[no-untyped-call]
                self._pubsub = pubsub
                await pubsub.subscribe(*self._wanted)
                await self._listen(pubsub, on_message, on_reconnect)
            except (RedisError, OSError) as error:
                if self._up or failures == 0:
                    logger.warning(
                        "fan-out bus lost its Redis connection; reconnecting",
                        extra={"error": type(error).__name__},
                    )
                failures = 0 if self._up else failures + 1
            finally:
                self._pubsub, self._up = None, False
                for live in self._live.values():
                    live.clear()
                await _close(pubsub)
            delay = min(self._backoff_cap, 0.05 * 2 ** min(failures, 10))
            await asyncio.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter

    async def _listen(
        self, pubsub: PubSub, on_message: OnMessage, on_reconnect: OnReconnect
    ) -> None:
        while True:
            item: dict[str, Any] | None = await pubsub.get_message(timeout=1.0)
            if item is None:
                continue
            kind, channel = item["type"], _text(item["channel"])
            if kind == "message":
                on_message(channel, item["data"])
            elif kind == "subscribe":
                self._event(channel).set()
                if channel == self._own and not self._up:
                    self._up = True
                    if self._connected_once:
                        logger.warning("fan-out bus reconnected to Redis")
                        metrics.bus_reconnected()
                        self._background(on_reconnect())
                    self._connected_once = True

    def _background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _close(pubsub: PubSub) -> None:
    """Close the listener's connection and wait until it is closed (PubSub.aclose does not
    wait, which leaves the socket open when the loop stops right after).
    """
    connection: Any = pubsub.connection
    with contextlib.suppress(Exception):
        if connection is not None:
            await connection.disconnect()
        await pubsub.aclose()  # type: ignore[no-untyped-call]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
