"""Messages on every backend: a gapless seq per room (a rollback gives it back), the
client_msg_id replay key, history pages in seq order, how senders are named, and the room
standing read with its page (encoded by PostgreSQL; the same content as the messages).
"""

from uuid import UUID

import msgspec
import pytest

from coagent.adapters.realtime.events import message_events
from coagent.application.ports.chat import PageKey
from coagent.domain.accounts.user import User
from coagent.domain.errors import Conflict, NotFound
from tests.contract import world as w
from tests.contract.conftest import Backend

pytestmark = pytest.mark.anyio


async def _room(backend: Backend) -> tuple[UUID, User]:
    ana = w.user(full_name="Ana Lima")
    course = w.course(ana.id)
    room = w.room(course.id)
    await w.save(backend.uow, ana, course, room)
    return room.id, ana


async def test_seqs_are_gapless_per_room_and_a_rollback_gives_one_back(backend: Backend) -> None:
    room_id, ana = await _room(backend)
    other_id, _ = await _room(backend)
    assert await w.post(backend.uow, w.message(room_id, ana.id)) == 1
    async with backend.uow() as uow:
        assert await uow.messages.append(w.message(room_id, ana.id)) == 2  # rolled back
    assert await w.post(backend.uow, w.message(room_id, ana.id)) == 2
    assert await w.post(backend.uow, w.message(other_id, ana.id)) == 1
    async with backend.uow() as uow:
        assert await uow.messages.append_committed(w.message(room_id, ana.id)) == 3
    async with backend.uow() as uow:
        assert await uow.messages.last_seq(room_id) == 3
        assert await uow.messages.last_seq(w.new_id()) == 0
        with pytest.raises(NotFound):
            await uow.messages.append(w.message(w.new_id(), ana.id))


async def test_a_client_msg_id_is_used_once_per_sender_and_room(backend: Backend) -> None:
    room_id, ana = await _room(backend)
    other_id, _ = await _room(backend)
    bo = w.user()
    await w.save(backend.uow, bo)
    first = w.message(room_id, ana.id, "once", client_msg_id="k1")
    assert await w.post(backend.uow, first) == 1
    async with backend.uow() as uow:
        with pytest.raises(Conflict):
            await uow.messages.append_committed(w.message(room_id, ana.id, client_msg_id="k1"))
    async with backend.uow() as uow:
        assert await uow.messages.last_seq(room_id) == 1  # the refusal stored nothing
        sent = await uow.messages.find_sent(room_id, ana.id, "k1")
        assert await uow.messages.find_sent(room_id, bo.id, "k1") is None
        assert await uow.messages.find_sent(room_id, ana.id, "k2") is None
    assert sent is not None
    assert (sent.id, sent.seq, sent.content, sent.sender_name) == (first.id, 1, "once", "Ana Lima")
    # Another sender, or another room, may use the same key.
    assert await w.post(backend.uow, w.message(room_id, bo.id, client_msg_id="k1")) == 2
    assert await w.post(backend.uow, w.message(other_id, ana.id, client_msg_id="k1")) == 1


async def test_history_pages_ascend_by_seq(backend: Backend) -> None:
    room_id, ana = await _room(backend)
    for i in range(1, 8):
        await w.post(backend.uow, w.message(room_id, ana.id, f"m{i}"))
    async with backend.uow() as uow:
        newest = await uow.messages.page(room_id, limit=3)
        before = await uow.messages.page(room_id, limit=3, before_seq=3)
        after = await uow.messages.page(room_id, limit=2, after_seq=4)
        tail = await uow.messages.page(room_id, limit=5, after_seq=6)
        empty = await uow.messages.page(w.new_id(), limit=3)
    assert [m.seq for m in newest] == [5, 6, 7]
    assert [m.seq for m in before] == [1, 2]
    assert [(m.seq, m.content) for m in after] == [(5, "m5"), (6, "m6")]
    assert [m.seq for m in tail] == [7]
    assert empty == []


async def test_senders_are_named_by_their_display_name_or_agent(backend: Backend) -> None:
    room_id, ana = await _room(backend)
    bo = w.user(full_name=None, username="bo")
    await w.save(backend.uow, bo)
    await w.post(backend.uow, w.message(room_id, ana.id))
    await w.post(backend.uow, w.message(room_id, bo.id))
    await w.post(backend.uow, w.message(room_id, None, agent_type="teacher"))
    async with backend.uow() as uow:
        await uow.users.delete(bo.id)
        await uow.commit()
    async with backend.uow() as uow:
        named = await uow.messages.page(room_id, limit=10)
    assert [(m.sender_id, m.agent_type) for m in named] == [
        (ana.id, None),
        (None, None),
        (None, "teacher"),
    ]
    assert [m.sender_name for m in named] == ["Ana Lima", "Unknown", "Teacher AI"]


async def test_standing_with_page_is_the_standing_and_the_page_encoded_or_none(
    backend: Backend,
) -> None:
    room_id, ana = await _room(backend)
    for i in range(1, 6):
        await w.post(backend.uow, w.message(room_id, ana.id, f'm{i} "q" é'))
    await w.post(backend.uow, w.message(room_id, None, "answer", agent_type="teacher"))
    keys = [
        PageKey(room_id, 3, None, None),
        PageKey(room_id, 2, 4, None),
        PageKey(room_id, 2, None, 3),
    ]
    async with backend.uow() as uow:
        standing = await uow.rooms.standing(room_id, ana.id)
        read = [
            (await uow.rooms.standing_with_page(room_id, ana.id, key, unless_seen=-1), key)
            for key in keys
        ]
        pages = [
            await uow.messages.page(
                room_id, limit=k.limit, before_seq=k.before_seq, after_seq=k.after_seq
            )
            for k in keys
        ]
        seen = await uow.rooms.standing_with_page(room_id, ana.id, keys[0], unless_seen=6)
        gone = await uow.rooms.standing_with_page(w.new_id(), ana.id, keys[0], unless_seen=-1)
    assert standing.last_seq == 6
    for ((found, encoded), _key), messages in zip(read, pages, strict=True):
        assert found == standing
        if encoded is None:  # a store that does not encode: the caller reads messages
            assert backend.name != "postgresql"
            continue
        as_messages = msgspec.json.encode(message_events(messages))
        assert msgspec.json.decode(encoded.json) == msgspec.json.decode(as_messages)
        assert (encoded.first_seq, encoded.count) == (messages[0].seq, len(messages))
    assert [[m.seq for m in page] for page in pages] == [[4, 5, 6], [2, 3], [4, 5]]
    assert seen == (standing, None)  # the caller holds the page for seq 6
    assert gone[0].room is None
    assert gone[1] is None
