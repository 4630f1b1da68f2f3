"""`message_events` (history pages) encodes exactly as `message_event` one by one."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import msgspec

from coagent.adapters.realtime.events import message_event, message_events
from coagent.domain.chat.message import Message

ROOM = uuid4()
START = datetime(2026, 1, 1, tzinfo=UTC)


def _message(seq: int, sender_id, name: str, agent_type: str | None = None) -> Message:
    return Message(
        id=uuid4(),
        room_id=ROOM,
        seq=seq,
        content=f"message {seq}",
        created_at=START + timedelta(seconds=seq),
        sender_id=sender_id,
        sender_name=name,
        agent_type=agent_type,
        client_msg_id=f"c{seq}" if seq % 2 else None,
        turn_id=uuid4() if agent_type else None,
    )


def test_a_page_encodes_as_its_messages_one_by_one() -> None:
    alice, bob = uuid4(), uuid4()
    page = [
        _message(1, alice, "Alice"),
        _message(2, bob, "Bob"),
        _message(3, None, "Teacher AI", agent_type="teacher"),
        _message(4, alice, "Alice"),
        _message(5, alice, "Alice Renamed"),  # same sender, another name: its own author
        _message(6, None, "Unknown"),
    ]
    one_by_one = msgspec.json.encode([message_event(m) for m in page])
    assert msgspec.json.encode(message_events(page)) == one_by_one
    events = message_events(page)
    assert events[0].author is events[3].author  # shared per sender
    assert events[0].author is not events[4].author
    assert events[4].author.name == "Alice Renamed"
    assert events[2].metadata.is_ai
    assert events[2].author.kind == "agent"
    assert not events[5].metadata.is_ai


def test_an_empty_page_is_an_empty_list() -> None:
    assert message_events([]) == []
