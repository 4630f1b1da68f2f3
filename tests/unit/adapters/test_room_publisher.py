"""BusRoomPublisher: what a worker publishes without a room hub (envelopes with audiences,
deltas kept in the stream log, an abort ending the log), best effort when the bus is down,
and a close that lets publishes under way finish. The composition gives it to processes
that serve no socket, and the hub to those that do.
"""

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from coagent.adapters.realtime.agent_stream import HubAgentStream
from coagent.adapters.realtime.bus import BusUnavailable, StreamPiece
from coagent.adapters.realtime.events import (
    EVERYONE,
    STAFF,
    STREAM_ABORTED,
    STREAM_DELTA,
    V1,
    MessageAborted,
    encode,
    open_addressed,
)
from coagent.adapters.realtime.room_publisher import BusRoomPublisher, room_channel
from coagent.domain.chat.message import Message
from coagent.main.container import build_container
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

ROOM, TURN, MESSAGE = uuid4(), uuid4(), uuid4()


class Bus:
    """Records what is published; `down` makes every publish fail as Redis being down;
    `gate`, when set, holds publishes until it opens.
    """

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []
        self.pieces: list[StreamPiece] = []
        self.ended: list[tuple[UUID, UUID]] = []
        self.down = False
        self.gate: asyncio.Event | None = None
        self.closed = False

    async def publish(self, channel: str, payload: bytes) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise BusUnavailable("down")
        self.published.append((channel, payload))

    async def publish_piece(self, channel: str, payload: bytes, piece: StreamPiece) -> None:
        await self.publish(channel, payload)
        self.pieces.append(piece)

    async def end_stream(self, room_id: UUID, turn_id: UUID) -> None:
        self.ended.append((room_id, turn_id))

    async def close(self) -> None:
        self.closed = True


def _message(seq: int = 7) -> Message:
    return Message(
        id=MESSAGE,
        room_id=ROOM,
        seq=seq,
        sender_id=uuid4(),
        sender_name="Ana",
        content="hello",
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


def _publisher(bus: Bus) -> BusRoomPublisher:
    return BusRoomPublisher(bus=bus)  # type: ignore[arg-type]


async def test_messages_and_events_go_on_the_room_channel_with_their_audience() -> None:
    bus = Bus()
    publisher = _publisher(bus)
    await publisher.message_posted(_message(seq=7))
    await publisher.publish_event(ROOM, '{"type":"agent.turn"}', STAFF)
    [(channel, first), (_, second)] = bus.published
    assert channel == room_channel(ROOM)
    seq, audience, stream, frame = open_addressed(first)
    assert (seq, audience, stream, json.loads(frame)["type"]) == (7, EVERYONE, "", "message")
    assert open_addressed(second) == (0, STAFF, "", '{"type":"agent.turn"}')


async def test_an_agent_stream_over_it_logs_deltas_and_ends_the_log() -> None:
    bus = Bus()
    stream = HubAgentStream(hub=_publisher(bus), interval=0, busy_rate=1e9)
    await stream.delta(room_id=ROOM, turn_id=TURN, message_id=MESSAGE, text="Hel")
    await stream.delta(room_id=ROOM, turn_id=TURN, message_id=MESSAGE, text="lo")
    await stream.end(TURN)
    assert [(p.turn_id, p.index, p.text) for p in bus.pieces] == [(TURN, 0, "Hel"), (TURN, 1, "lo")]
    assert {open_addressed(payload)[2] for _, payload in bus.published} == {STREAM_DELTA}
    assert bus.ended == [(ROOM, TURN)]


async def test_an_abort_goes_out_and_drops_the_stream_log() -> None:
    bus = Bus()
    aborted = encode(MessageAborted(room_id=ROOM, turn_id=TURN, message_id=MESSAGE, reason="x"))
    await _publisher(bus).publish_event(ROOM, aborted, V1, STREAM_ABORTED)
    assert [open_addressed(payload)[2] for _, payload in bus.published] == [STREAM_ABORTED]
    assert bus.ended == [(ROOM, TURN)]


async def test_a_bus_that_is_down_loses_the_publish_and_says_so(caplog) -> None:
    bus = Bus()
    bus.down = True
    publisher = _publisher(bus)
    with caplog.at_level(logging.WARNING, logger="coagent.realtime"):
        await publisher.message_posted(_message())  # never raises: the message is stored
        await publisher.publish_event(ROOM, '{"type":"typing"}')
    assert [r.getMessage() for r in caplog.records] == ["message not published"]
    assert await publisher.send_message(_message(), "{}") is False
    assert await publisher.send_event(ROOM, "{}") is False
    bus.down = False
    assert await publisher.send_event(ROOM, "{}") is True


async def test_close_waits_for_publishes_under_way_then_publishes_nothing() -> None:
    bus = Bus()
    bus.gate = asyncio.Event()
    publisher = _publisher(bus)
    under_way = asyncio.create_task(publisher.publish_event(ROOM, '{"type":"typing"}'))
    await asyncio.sleep(0)
    closing = asyncio.create_task(publisher.close())
    await asyncio.sleep(0)
    assert not closing.done()  # the publish under way holds it
    bus.gate.set()
    await asyncio.gather(under_way, closing)
    assert len(bus.published) == 1
    await publisher.message_posted(_message())
    await publisher.publish_event(ROOM, '{"type":"typing"}')
    assert len(bus.published) == 1


async def test_a_process_that_serves_no_socket_builds_no_hub(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
    worker = build_container(settings, serves_sockets=False)
    try:
        services = worker.worker  # builds the agent runtime and analytics
        assert services.run_analytics_job is worker.analytics.run
        assert isinstance(worker.publishing.publisher, BusRoomPublisher)
        assert "realtime" not in worker.__dict__  # no hub, no tickets, no course events
    finally:
        await worker.aclose()
    web = build_container(settings)
    try:
        assert web.publishing.publisher is web.hub
        assert web.agent_stream is web.realtime.agent_stream
    finally:
        await web.aclose()
