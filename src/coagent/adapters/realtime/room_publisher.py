"""Publishing to the rooms' sockets without serving any: frames onto the room bus, each with
its audience in the envelope, for whichever web processes hold the room's sockets.

`BusRoomPublisher` is all a worker or the scheduler needs (agent turns, proposals and
analytics publish; no socket, no listener, no room state). The room hub publishes through
one too, and delivers to its own sockets what the bus could not take (`RoomHub`).
"""

import asyncio
import contextlib
import logging
from typing import Protocol
from uuid import UUID

import msgspec

from coagent.adapters.realtime.bus import BusUnavailable, RoomBus, StreamPiece
from coagent.adapters.realtime.events import (
    STREAM_ABORTED,
    STREAM_DELTA,
    V1,
    MessageAborted,
    MessageDelta,
    envelope,
    message_frame,
)
from coagent.domain.chat.message import Message

logger = logging.getLogger("coagent.realtime")

ROOM_PREFIX = "coagent:room:"

_delta = msgspec.json.Decoder(MessageDelta)
_aborted = msgspec.json.Decoder(MessageAborted)


def room_channel(room_id: UUID) -> str:
    return f"{ROOM_PREFIX}{room_id}"


class RoomPublisher(Protocol):
    """What agent output and job events need: frames to a room's sockets in every process
    (the room hub, or `BusRoomPublisher` where no socket is served).
    """

    async def publish_event(
        self, room_id: UUID, frame: str, audience: str = V1, stream: str = ""
    ) -> None:
        """An event outside the message order, for `audience` (by default `coagent.v1`
        sockets); `stream` marks agent stream pieces (`STREAM_DELTA`, `STREAM_ABORTED`).
        """
        ...

    async def stream_ended(self, room_id: UUID, turn_id: UUID) -> None:
        """The agent turn's stream is over: drop it from the stream log."""
        ...


class BusRoomPublisher:
    """The `ChatPublisher` port and `RoomPublisher` over the room bus. Best effort: what the
    bus cannot take is logged for messages (committed already: clients resume by seq) and
    dropped for events; `send_*` say so, for the hub to serve its own sockets.
    """

    def __init__(self, *, bus: RoomBus) -> None:
        self._bus = bus
        self._closed = False
        self._publishing = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def message_posted(self, message: Message) -> None:
        """The ChatPublisher port: PostMessage and agent turns call this after commit."""
        if not self._closed:  # shutting down: sockets resume from the database later
            await self.send_message(message, message_frame(message))

    async def publish_event(
        self, room_id: UUID, frame: str, audience: str = V1, stream: str = ""
    ) -> None:
        if self._closed:
            return
        await self.send_event(room_id, frame, audience, stream)
        if stream == STREAM_ABORTED:
            await self.stream_ended(room_id, _aborted.decode(frame).turn_id)

    async def send_message(self, message: Message, frame: str) -> bool:
        """`frame` (the message's event) onto its room's channel, in seq order; False (and
        logged) when the bus could not take it.
        """
        try:
            await self._publish(room_channel(message.room_id), envelope(message.seq, frame))
        except BusUnavailable as error:
            # Committed already: other processes read it from the database at their next
            # message or bus reconnect.
            logger.warning("message not published", extra={"error": str(error)})
            return False
        return True

    async def send_event(
        self, room_id: UUID, frame: str, audience: str = V1, stream: str = ""
    ) -> bool:
        """One event onto the room's channel (a delta kept in the stream log too, for hubs
        that open the room later); False when the bus could not take it.
        """
        payload = envelope(0, frame, audience, stream)
        try:
            if stream == STREAM_DELTA:
                delta = _delta.decode(frame)
                piece = StreamPiece(
                    room_id=room_id,
                    turn_id=delta.turn_id,
                    message_id=delta.message_id,
                    index=delta.index,
                    text=delta.text,
                )
                await self._publish(room_channel(room_id), payload, piece)
            else:
                await self._publish(room_channel(room_id), payload)
        except BusUnavailable:
            return False
        return True

    async def stream_ended(self, room_id: UUID, turn_id: UUID) -> None:
        self._publishing += 1
        self._idle.clear()
        try:
            await self._bus.end_stream(room_id, turn_id)
        finally:
            self._done()

    async def close(self, wait: float = 2.0) -> None:
        """Publish nothing more, and let publishes already under way finish (up to `wait`
        seconds) before the Redis client closes under them (a retrying client would
        reconnect and leak the connection). The bus stays open: its owner closes it.
        """
        self._closed = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), wait)

    async def _publish(
        self, channel: str, payload: bytes, piece: StreamPiece | None = None
    ) -> None:
        self._publishing += 1
        self._idle.clear()
        try:
            if piece is None:
                await self._bus.publish(channel, payload)
            else:
                await self._bus.publish_piece(channel, payload, piece)
        finally:
            self._done()

    def _done(self) -> None:
        self._publishing -= 1
        if not self._publishing:
            self._idle.set()
