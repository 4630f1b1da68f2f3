"""A socket's outbound queue and its frame budget (adapters/realtime), and the events the
socket handler and the hub send: typed Structs, encoded as the dicts they replaced were.
"""

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from coagent.adapters.realtime import token_bucket
from coagent.adapters.realtime.connection import Connection
from coagent.adapters.realtime.events import (
    CLOSE_NOT_FOUND,
    CLOSE_RESYNC,
    PongEvent,
    TypingEvent,
    UserRef,
    course_frame,
    encode,
    error_frame,
)
from coagent.adapters.realtime.token_bucket import TokenBucket
from coagent.application.ports.events import CourseEvent

pytestmark = pytest.mark.anyio


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str | None] | None = None
        self.fail_with: BaseException | None = None
        self._changed = asyncio.Event()

    async def send_text(self, data: str) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(data)
        self._changed.set()

    async def until_sent(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.sent) < count:
                await self._changed.wait()
                self._changed.clear()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)


def _connection(socket: FakeSocket, *, queue_size: int = 2, v1: bool = True) -> Connection:
    return Connection(
        socket, user_id=uuid4(), session_id=uuid4(), queue_size=queue_size, room_id=uuid4(), v1=v1
    )


async def test_the_writer_sends_the_first_frames_then_the_queue_in_order() -> None:
    socket = FakeSocket()
    connection = _connection(socket)
    assert connection.offer("b")
    connection.start(["a"])
    assert connection.offer("c")
    await socket.until_sent(3)
    await connection.finish()
    assert socket.sent == ["a", "b", "c"]
    assert socket.closed is None  # nobody asked to close it


async def test_a_full_queue_refuses_and_a_reply_past_it_drops_the_socket_for_resync() -> None:
    socket = FakeSocket()
    connection = _connection(socket, queue_size=1)
    assert connection.offer("one")
    assert not connection.offer("two")
    connection.send_now(error_frame("invalid", "no"))
    assert connection.closed.is_set()
    await connection.finish()
    assert socket.closed == (CLOSE_RESYNC, "too slow: reconnect with since_seq")


async def test_the_first_drop_wins_and_later_frames_are_swallowed() -> None:
    socket = FakeSocket()
    connection = _connection(socket, queue_size=1)
    connection.drop(CLOSE_NOT_FOUND, "gone")
    connection.drop(CLOSE_RESYNC, "later")
    assert connection.offer("x")  # nothing is queued after a drop
    assert connection.offer("y")
    await connection.finish()
    assert socket.closed == (CLOSE_NOT_FOUND, "gone")
    assert socket.sent == []


async def test_an_original_client_gets_an_error_as_a_system_line() -> None:
    socket = FakeSocket()
    connection = _connection(socket, v1=False)
    connection.send_now(error_frame("rate_limited", "Too many"))
    connection.send_now(encode(PongEvent(timestamp=datetime.now(UTC))))  # not for it
    connection.start([])
    await socket.until_sent(1)
    await connection.finish()
    assert len(socket.sent) == 1
    assert json.loads(socket.sent[0])["type"] == "system"


async def test_a_socket_that_fails_to_send_marks_the_connection_closed() -> None:
    socket = FakeSocket()
    socket.fail_with = OSError("reset")
    connection = _connection(socket)
    connection.start(["a"])
    await asyncio.wait_for(connection.closed.wait(), 5)
    await connection.finish()
    assert socket.sent == []


def test_the_bucket_allows_its_capacity_then_says_how_long_to_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(token_bucket.time, "monotonic", lambda: clock[0])
    bucket = TokenBucket.full(4, 10)  # 0.4 tokens a second
    assert [bucket.take() for _ in range(4)] == [0.0] * 4
    assert bucket.take() == pytest.approx(2.5)
    clock[0] += 2.5
    assert bucket.take() == 0.0
    clock[0] += 1000
    assert [bucket.take() for _ in range(5)][-1] > 0  # refilled to capacity, no further


# The events these Structs replaced were dicts; the frames must not change by a byte.


def test_typing_and_pong_encode_as_the_dicts_they_replaced() -> None:
    room, user = uuid4(), uuid4()
    typing = {"type": "typing", "room_id": room, "user": {"id": user, "name": "Ada"}}
    assert encode(TypingEvent(room_id=room, user=UserRef(id=user, name="Ada"))) == encode(typing)
    stamp = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    old_pong = encode({"type": "pong", "timestamp": stamp.isoformat().replace("+00:00", "Z")})
    assert encode(PongEvent(timestamp=stamp)) == old_pong
    whole = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # isoformat drops zero microseconds
    assert encode(PongEvent(timestamp=whole)) == encode(
        {"type": "pong", "timestamp": whole.isoformat().replace("+00:00", "Z")}
    )


def test_a_course_event_frame_is_the_typed_announcement_event() -> None:
    course = uuid4()
    data: dict[str, Any] = {"id": str(uuid4()), "title": "T", "content": "C", "author_id": None}
    event = CourseEvent(course_id=course, type="announcement.updated", data=data)
    old = {"type": "announcement", "action": "updated", "course_id": course, "announcement": data}
    assert course_frame(event) == encode(old)
    assert course_frame(CourseEvent(course_id=course, type="poll.created")) is None


def test_the_socket_handler_assembles_no_event_as_a_dict() -> None:
    from pathlib import Path  # noqa: PLC0415

    import coagent.adapters.http.chat.socket as handler  # noqa: PLC0415
    from coagent.adapters.http.chat import handshake  # noqa: PLC0415
    from coagent.adapters.realtime import chat_session, events, hub, publishers  # noqa: PLC0415

    for module in (handler, handshake, chat_session, hub, events):
        source = Path(str(module.__file__)).read_text()
        assert not re.search(r"encode\(\s*\{", source), module.__name__
    # The publisher's dict is the inter-process form of a CourseEvent, not a socket event.
    assert "def encode(event: CourseEvent) -> bytes" in Path(str(publishers.__file__)).read_text()
