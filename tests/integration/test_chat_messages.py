"""The SQLAlchemy message repository on PostgreSQL and SQLite: gapless seq, idempotency
constraints, keyset pages and the history index.
"""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import event, text

from coagent.application.ports.chat import NewMessage
from coagent.domain.accounts.user import User
from coagent.domain.courses.course import Course
from coagent.domain.courses.room import AiMode, Room
from coagent.domain.errors import Conflict, NotFound
from tests.integration.conftest import Database, UserFactory, new_id, utcnow

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@contextmanager
def sent_to_postgresql(database: Database) -> Iterator[list[tuple[str, Any]]]:
    """(SQL, arguments) of every statement asyncpg sends while the block runs, as PostgreSQL
    receives them (hot reads bypass SQLAlchemy's cursor events: see persistence/rows.py).
    """
    sent: list[tuple[str, Any]] = []

    def log(query: Any) -> None:
        sent.append((query.query, query.args))

    def attach(dbapi: Any, _record: Any, _proxy: Any) -> None:
        dbapi.driver_connection.add_query_logger(log)

    def detach(dbapi: Any, _record: Any) -> None:
        dbapi.driver_connection.remove_query_logger(log)

    engine = database.engine.sync_engine
    event.listen(engine, "checkout", attach)
    event.listen(engine, "checkin", detach)
    try:
        yield sent
    finally:
        event.remove(engine, "checkout", attach)
        event.remove(engine, "checkin", detach)


@dataclass
class Setting:
    room: UUID
    other_room: UUID
    alice: User
    bob: User


async def _setting(database: Database) -> Setting:
    alice = UserFactory.build(full_name="Alice Liddell")
    bob = UserFactory.build(full_name=None, username="bob")
    now = utcnow()
    course = Course(
        id=new_id(), title="C", description=None, owner_id=alice.id, created_at=now, updated_at=now
    )
    rooms = [
        Room(
            id=new_id(),
            course_id=course.id,
            name=name,
            description=None,
            ai_mode=AiMode.OFF,
            ai_frequency=0.5,
            is_ai_active=False,
            is_analytics_active=False,
            created_at=now,
            updated_at=now,
        )
        for name in ("Main", "Other")
    ]
    async with database.uow() as uow:
        await uow.users.add(alice)
        await uow.users.add(bob)
        await uow.courses.add(course)
        for room in rooms:
            await uow.rooms.add(room)
        await uow.commit()
    return Setting(room=rooms[0].id, other_room=rooms[1].id, alice=alice, bob=bob)


@pytest.fixture
async def setting(database: Database) -> Setting:
    return await _setting(database)


def new_message(
    room_id: UUID,
    content: str,
    sender_id: UUID | None,
    client_msg_id: str | None = None,
    agent_type: str | None = None,
) -> NewMessage:
    return NewMessage(
        id=new_id(),
        room_id=room_id,
        content=content,
        created_at=utcnow(),
        sender_id=sender_id,
        agent_type=agent_type,
        client_msg_id=client_msg_id,
    )


async def append(
    database: Database,
    room_id: UUID,
    content: str,
    *,
    sender_id: UUID | None,
    client_msg_id: str | None = None,
    agent_type: str | None = None,
) -> int:
    async with database.uow() as uow:
        seq = await uow.messages.append(
            new_message(room_id, content, sender_id, client_msg_id, agent_type)
        )
        await uow.commit()
    return seq


async def stored_seqs(database: Database, room_id: UUID) -> list[int]:
    """Straight from the table (the room is found by name: ids are stored per dialect)."""
    async with database.uow() as uow:
        room = await uow.rooms.get(room_id)
    assert room is not None
    rows = await database.rows(
        "SELECT message.seq FROM message JOIN room ON room.id = message.room_id"
        " WHERE room.name = :name ORDER BY message.seq",
        name=room.name,
    )
    return [int(row[0]) for row in rows]


async def test_seqs_start_at_1_per_room(database: Database, setting: Setting) -> None:
    alice = setting.alice.id
    assert await append(database, setting.room, "a", sender_id=alice) == 1
    assert await append(database, setting.room, "b", sender_id=alice) == 2
    assert await append(database, setting.other_room, "c", sender_id=alice) == 1
    async with database.uow() as uow:
        assert await uow.messages.last_seq(setting.room) == 2
        assert await uow.messages.last_seq(setting.other_room) == 1
        assert await uow.messages.last_seq(new_id()) == 0


async def test_seq_is_gapless_under_concurrent_appends_with_rollbacks(
    database: Database, setting: Setting
) -> None:
    async def one(number: int) -> int | None:
        async with database.uow() as uow:
            seq = await uow.messages.append(
                new_message(
                    setting.room,
                    f"c{number}",
                    setting.alice.id if number % 2 else setting.bob.id,
                    f"id-{number}",
                )
            )
            await asyncio.sleep(0.005)  # hold the transaction open so others queue up
            if number % 4 == 0:
                return None  # leaves without commit: rolled back
            await uow.commit()
            return seq

    results = await asyncio.gather(*(one(n) for n in range(30)))
    committed = sorted(seq for seq in results if seq is not None)
    count = sum(1 for n in range(30) if n % 4)
    assert committed == list(range(1, count + 1))
    assert await stored_seqs(database, setting.room) == list(range(1, count + 1))
    async with database.uow() as uow:
        assert await uow.messages.last_seq(setting.room) == count
        page = await uow.messages.page(setting.room, limit=200)
    assert sorted(m.content for m in page) == sorted(f"c{n}" for n in range(30) if n % 4)
    # The next message follows on.
    assert await append(database, setting.room, "next", sender_id=setting.alice.id) == count + 1


async def test_a_rolled_back_append_gives_its_seq_back(
    database: Database, setting: Setting
) -> None:
    assert await append(database, setting.room, "a", sender_id=setting.alice.id) == 1
    async with database.uow() as uow:
        assert await uow.messages.append(new_message(setting.room, "lost", setting.alice.id)) == 2
    assert await append(database, setting.room, "b", sender_id=setting.alice.id) == 2
    assert await stored_seqs(database, setting.room) == [1, 2]


async def test_a_duplicate_client_msg_id_is_a_conflict(
    database: Database, setting: Setting
) -> None:
    alice, bob = setting.alice.id, setting.bob.id
    assert await append(database, setting.room, "a", sender_id=alice, client_msg_id="k") == 1
    with pytest.raises(Conflict):
        await append(database, setting.room, "again", sender_id=alice, client_msg_id="k")
    # The failed append took no seq; other senders, rooms and ids do not collide.
    assert await append(database, setting.room, "b", sender_id=bob, client_msg_id="k") == 2
    assert await append(database, setting.other_room, "c", sender_id=alice, client_msg_id="k") == 1
    assert await append(database, setting.room, "d", sender_id=alice, client_msg_id=None) == 3
    assert await append(database, setting.room, "e", sender_id=alice, client_msg_id=None) == 4
    assert await stored_seqs(database, setting.room) == [1, 2, 3, 4]
    async with database.uow() as uow:
        found = await uow.messages.find_sent(setting.room, alice, "k")
        assert await uow.messages.find_sent(setting.room, alice, "nope") is None
        assert await uow.messages.find_sent(setting.other_room, bob, "k") is None
    assert found is not None
    assert (found.seq, found.content, found.client_msg_id) == (1, "a", "k")
    assert found.sender_name == "Alice Liddell"


async def test_appending_to_an_unknown_room_is_not_found(
    database: Database, setting: Setting
) -> None:
    with pytest.raises(NotFound):
        await append(database, new_id(), "x", sender_id=setting.alice.id)


async def test_appending_changes_nothing_of_the_room_but_its_last_seq(
    database: Database, setting: Setting
) -> None:
    async with database.uow() as uow:
        before = await uow.rooms.get(setting.room)
    await append(database, setting.room, "x", sender_id=setting.alice.id, client_msg_id="c")
    async with database.uow() as uow:
        after = await uow.rooms.get(setting.room)
        assert await uow.messages.last_seq(setting.room) == 1
        stored = await uow.messages.find_sent(setting.room, setting.alice.id, "c")
    assert after == before  # id, created_at and updated_at included
    assert stored is not None
    assert (stored.room_id, stored.sender_id, stored.content) == (
        setting.room,
        setting.alice.id,
        "x",
    )


async def append_committed(
    database: Database, room_id: UUID, content: str, *, sender_id: UUID, client_msg_id: str
) -> int:
    """Stored and committed by `append_committed` alone (after a read, as a send does)."""
    async with database.uow() as uow:
        await uow.rooms.standing(room_id, sender_id)
        return await uow.messages.append_committed(
            new_message(room_id, content, sender_id, client_msg_id)
        )


async def test_append_committed_needs_no_commit(database: Database, setting: Setting) -> None:
    alice = setting.alice.id
    assert await append_committed(database, setting.room, "a", sender_id=alice, client_msg_id="1")
    assert await append(database, setting.room, "b", sender_id=alice) == 2
    assert await append_committed(database, setting.room, "c", sender_id=alice, client_msg_id="3")
    assert await stored_seqs(database, setting.room) == [1, 2, 3]
    async with database.uow() as uow:
        page = await uow.messages.page(setting.room, limit=10)
    assert [(m.seq, m.content, m.client_msg_id) for m in page] == [
        (1, "a", "1"),
        (2, "b", None),
        (3, "c", "3"),
    ]


async def test_append_committed_refusals_store_nothing(
    database: Database, setting: Setting
) -> None:
    alice = setting.alice.id
    assert await append_committed(database, setting.room, "a", sender_id=alice, client_msg_id="k")
    with pytest.raises(Conflict):
        await append_committed(database, setting.room, "b", sender_id=alice, client_msg_id="k")
    with pytest.raises(NotFound):
        await append_committed(database, new_id(), "c", sender_id=alice, client_msg_id="n")
    # The refused send took no seq, and the connection it used is fine for the next one.
    assert await append_committed(database, setting.room, "d", sender_id=alice, client_msg_id="d")
    assert await stored_seqs(database, setting.room) == [1, 2]
    async with database.uow() as uow:
        assert await uow.messages.last_seq(setting.room) == 2


async def test_append_committed_commits_what_the_unit_of_work_wrote_before(
    database: Database, setting: Setting
) -> None:
    async with database.uow() as uow:
        await uow.rooms.assign(setting.room, setting.bob.id)
        seq = await uow.messages.append_committed(new_message(setting.room, "x", setting.bob.id))
    async with database.uow() as uow:
        assert await uow.rooms.is_assigned(setting.room, setting.bob.id)
    assert seq == 1
    assert await stored_seqs(database, setting.room) == [1]


async def test_a_send_on_postgresql_is_two_statements_and_no_transaction(
    database: Database, setting: Setting
) -> None:
    """The standing read and the append; no BEGIN, COMMIT or ROLLBACK round trips."""
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL only: counts what asyncpg sends")
    with sent_to_postgresql(database) as sent:
        await append_committed(
            database, setting.room, "x", sender_id=setting.alice.id, client_msg_id="x"
        )
        await asyncio.sleep(0)  # asyncpg calls its query loggers with call_soon
    statements = [query.split(None, 1)[0].upper() for query, _args in sent]
    assert statements == ["SELECT", "WITH"], sent


async def test_a_read_alone_gives_its_connection_back_and_a_read_in_a_transaction_sees_it(
    database: Database, setting: Setting
) -> None:
    """On PostgreSQL a hot read outside a transaction takes a pooled connection for that one
    statement (no Session transaction: issue 20); once the unit of work has a transaction,
    its reads run in it and see its own uncommitted writes."""
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL only: the driver path")
    pool: Any = database.engine.pool
    room, alice = setting.room, setting.alice.id
    async with database.uow() as uow:
        assert await uow.messages.find_sent(room, alice, "c-1") is None
        assert pool.checkedout() == 0  # given back at once, nothing held
        await uow.messages.append(new_message(room, "hello", alice, client_msg_id="c-1"))
        assert pool.checkedout() == 1  # the transaction's
        found = await uow.messages.find_sent(room, alice, "c-1")
        assert found is not None
        assert found.content == "hello"
        assert pool.checkedout() == 1  # the same connection, no second one
    assert pool.checkedout() == 0
    async with database.uow() as uow:  # never committed
        assert await uow.messages.find_sent(room, alice, "c-1") is None


async def test_concurrent_append_committed_keep_seqs_gapless(
    database: Database, setting: Setting
) -> None:
    sent = await asyncio.gather(
        *(
            append_committed(
                database, setting.room, f"c{n}", sender_id=setting.alice.id, client_msg_id=str(n)
            )
            for n in range(20)
        )
    )
    assert sorted(sent) == list(range(1, 21))
    assert await stored_seqs(database, setting.room) == list(range(1, 21))


async def test_page_semantics(database: Database, setting: Setting) -> None:
    for number in range(1, 13):
        await append(database, setting.room, f"m{number}", sender_id=setting.alice.id)
    await append(database, setting.other_room, "elsewhere", sender_id=setting.alice.id)

    async def page(**kwargs: Any) -> list[int]:
        async with database.uow() as uow:
            return [m.seq for m in await uow.messages.page(setting.room, **kwargs)]

    assert await page(limit=50) == list(range(1, 13))
    assert await page(limit=5) == [8, 9, 10, 11, 12]
    assert await page(limit=3, before_seq=10) == [7, 8, 9]
    assert await page(limit=3, after_seq=4) == [5, 6, 7]
    assert await page(limit=50, after_seq=2, before_seq=6) == [3, 4, 5]
    assert await page(limit=2, after_seq=2, before_seq=10) == [3, 4]
    assert await page(limit=50, after_seq=12) == []
    assert await page(limit=50, before_seq=1) == []
    async with database.uow() as uow:
        assert await uow.messages.page(new_id(), limit=50) == []


async def test_page_names_senders(database: Database, setting: Setting) -> None:
    await append(database, setting.room, "from alice", sender_id=setting.alice.id)
    await append(database, setting.room, "from bob", sender_id=setting.bob.id)
    await append(database, setting.room, "from ai", sender_id=None, agent_type="teacher")
    async with database.uow() as uow:
        await uow.users.delete(setting.bob.id)
        await uow.commit()
    async with database.uow() as uow:
        page = await uow.messages.page(setting.room, limit=50)
    assert [(m.content, m.sender_id, m.sender_name, m.agent_type) for m in page] == [
        ("from alice", setting.alice.id, "Alice Liddell", None),
        ("from bob", None, "Unknown", None),
        ("from ai", None, "Teacher AI", "teacher"),
    ]


async def execute(database: Database, sql: str, **params: Any) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(text(sql), params)


@pytest.mark.parametrize(
    "cursor", [{}, {"before_seq": 400}, {"after_seq": 100}, {"after_seq": 10, "before_seq": 50}]
)
async def test_history_is_one_query_on_the_room_seq_index(
    database: Database, setting: Setting, cursor: dict[str, int]
) -> None:
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL only: the plan check reads PostgreSQL's EXPLAIN")
    await execute(
        database,
        "INSERT INTO message (id, room_id, seq, sender_id, content, created_at, updated_at)"
        " SELECT gen_random_uuid(), room.id, n, NULL, 'm' || n, now(), now()"
        " FROM generate_series(1, 500) AS n, room WHERE room.id IN (:a, :b)",
        a=setting.room,
        b=setting.other_room,
    )
    await execute(database, "ANALYZE message")

    with sent_to_postgresql(database) as statements:
        async with database.uow() as uow:
            page = await uow.messages.page(setting.room, limit=20, **cursor)
        await asyncio.sleep(0)  # asyncpg calls its query loggers with call_soon
    assert len(page) == 20
    # One statement and no transaction around it (no BEGIN, no ROLLBACK).
    assert len(statements) == 1, statements
    statement, parameters = statements[0]
    assert "FROM message" in statement

    async with database.engine.connect() as connection:
        raw: Any = (await connection.get_raw_connection()).driver_connection
        await raw.execute("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in await raw.fetch(f"EXPLAIN {statement}", *parameters))
    assert "uq_message_room_seq" in plan, plan
    assert "Sort" not in plan, plan  # read in seq order off the index, never sorted
