"""One chat socket as the hub sees it: a bounded outbound queue drained by its own writer.

The hub only ever queues (`offer`): a slow client fills its own queue and is dropped with a
resync code, nobody waits for it. The HTTP adapter owns the socket's handshake and reading.
"""

import asyncio
import contextlib
from typing import Protocol
from uuid import UUID

from litestar.exceptions import WebSocketDisconnect

from coagent.adapters.observability import metrics
from coagent.adapters.realtime.events import CLOSE_RESYNC, legacy_frame

# Queue depth is observed on a socket's first frame and then one in this many (an observation
# costs about 10 µs with the multiprocess directory).
QUEUE_DEPTH_SAMPLING = 8


class FrameSocket(Protocol):
    """What a connection needs of its socket (Litestar's `WebSocket` is one)."""

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class Connection:
    """One socket: a bounded outbound queue drained by its own writer task (the hub's
    `Subscriber`).
    """

    def __init__(
        self,
        socket: FrameSocket,
        *,
        user_id: UUID,
        session_id: UUID,
        queue_size: int,
        room_id: UUID | None = None,
        v1: bool = True,
        staff: bool = False,
    ) -> None:
        self.socket = socket
        self.user_id = user_id
        self.session_id = session_id
        self.room_id = room_id
        self.v1 = v1
        self.staff = staff
        self.seen = 0
        self._queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.closed = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._close: tuple[int, str] | None = None
        self._offers = 0

    def start(self, first: list[str]) -> None:
        self._writer = asyncio.create_task(self._write(first))

    def offer(self, frame: str) -> bool:
        if self._close is not None:
            return True
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            return False
        self._offers += 1
        if self._offers % QUEUE_DEPTH_SAMPLING == 1:
            metrics.queue_depth(self._queue.qsize())
        return True

    def send_now(self, frame: str) -> None:
        """A reply to this socket's own frame; counts against the same bound. The original
        clients get it as they can read it (an error as a `system` line), or not at all.
        """
        if not self.v1:
            legacy = legacy_frame(frame, self.room_id)
            if legacy is None:
                return
            frame = legacy
        if not self.offer(frame):
            self.drop(CLOSE_RESYNC, "too slow: reconnect with since_seq")

    def drop(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = (code, reason)
            self.closed.set()

    async def _write(self, first: list[str]) -> None:
        try:
            for frame in first:
                await self.socket.send_text(frame)
            while True:
                await self.socket.send_text(await self._queue.get())
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed.set()

    async def finish(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
        if self._close is not None:
            code, reason = self._close
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.socket.close(code=code, reason=reason), 2)
