"""The fan-out bus: Redis pub/sub with one supervised listener per process, or in memory.

Why not Litestar's channels plugin: its Redis backends lose their listener for good after
a Redis outage and replay old stream history to new subscribers (docs/adr/0004).
"""

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from coagent.adapters.observability import metrics
from coagent.adapters.redis_circuit import RedisCircuit, RedisDown

logger = logging.getLogger("coagent.realtime")

OnMessage = Callable[[str, bytes], None]
OnReconnect = Callable[[], Awaitable[None]]


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

    async def close(self) -> None: ...


class BusUnavailable(Exception):
    pass


class InMemoryRoomBus:
    """The embedded mode: one process, so publishing is delivering."""

    def __init__(self) -> None:
        self._on_message: OnMessage | None = None
        self._channels: set[str] = set()

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
    ) -> None:
        self._listener = listener
        self._publisher = publisher
        self._circuit = circuit or RedisCircuit()
        self._publish_timeout_when_down = publish_timeout_when_down
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
