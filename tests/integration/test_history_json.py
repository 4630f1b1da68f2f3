"""History pages encoded by PostgreSQL (`RoomRepository.standing_with_page`) are, byte for
byte, what the HTTP API encoded from messages before (`message_events` through msgspec); on
SQLite the store does not encode and the use case falls back to exactly that encoder.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
import pytest
from sqlalchemy import text, update

from coagent.adapters.persistence.models import MessageModel
from coagent.adapters.realtime.events import message_events
from coagent.application.chat.read_history import ReadHistory, ReadHistoryQuery
from coagent.application.ports.chat import EncodedPage, NewMessage, PageKey
from coagent.domain.errors import NotAuthenticated, NotFound
from tests.fakes.chat import DictHistoryCache
from tests.integration.conftest import Database, UserFactory, new_id
from tests.integration.test_agent_turns_store import World, _add, _turn, _world
from tests.integration.test_chat_messages import sent_to_postgresql

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

# Every escape JSON needs, and characters that must pass through untouched.
AWKWARD = 'quote " backslash \\ slash / tab \t nl \n cr \r \x01\x1f\x7f \u2028 é 😀 </script>'
START = datetime(2026, 3, 1, 9, 30, 0, tzinfo=UTC)


async def _fill(database: Database, world: World) -> list[UUID]:
    """Messages from every kind of sender, with awkward content and both timestamp shapes."""
    named = UserFactory.build(full_name='Ana "the" Ñandú')
    username_only = UserFactory.build(full_name=None, username="bob_b")
    empty_names = UserFactory.build(full_name="", username="")  # email's local part
    deleted = UserFactory.build(full_name="Gone")
    senders: list[tuple[UUID | None, str | None]] = [
        (named.id, None),
        (username_only.id, None),
        (empty_names.id, None),
        (deleted.id, None),
        (None, "teacher"),  # an agent
        (None, None),  # no sender at all: "Unknown"
        (named.id, "peer"),  # agent type wins over the sender
    ]
    ids = []
    async with database.uow() as uow:
        for user in (named, username_only, empty_names, deleted):
            await uow.users.add(user)
        for number in range(30):
            sender_id, agent_type = senders[number % len(senders)]
            # Whole seconds for some, microseconds for others (msgspec drops ".000000").
            created_at = START + timedelta(seconds=number, microseconds=(number % 3) * 120_450)
            message_id = new_id()
            ids.append(message_id)
            await uow.messages.append(
                NewMessage(
                    id=message_id,
                    room_id=world.room.id,
                    content=f"{number} {AWKWARD}" if number % 2 else f"plain {number}",
                    created_at=created_at,
                    sender_id=sender_id,
                    agent_type=agent_type,
                    client_msg_id=f'c"{number}\\é' if number % 4 == 0 else None,
                )
            )
        await uow.commit()
    turn = _turn(world)
    await _add(database, turn)
    async with database.uow() as uow:
        session = uow._session  # type: ignore[attr-defined]
        await session.execute(
            update(MessageModel)
            .where(MessageModel.id == ids[4])
            .values(turn_id=turn.id, sender_name='Prof "Bot" 老師')
        )
        # A stored name that is empty: the agent's label, as `sender_display_name` decides.
        await session.execute(
            update(MessageModel).where(MessageModel.id == ids[11]).values(sender_name="")
        )
        await uow.users.delete(deleted.id)  # its messages keep no sender
        await uow.commit()
    return ids


SHAPES = [
    PageKey(UUID(int=0), 100, None, None),
    PageKey(UUID(int=0), 7, None, None),
    PageKey(UUID(int=0), 10, 20, None),
    PageKey(UUID(int=0), 10, None, 5),
    PageKey(UUID(int=0), 50, 25, 3),
    PageKey(UUID(int=0), 10, 1, None),  # empty
    PageKey(UUID(int=0), 10, None, 30),  # empty, after the end
]


async def test_encoded_pages_are_the_encoders_bytes(database: Database) -> None:
    world = await _world(database)
    await _fill(database, world)
    postgresql = database.url.startswith("postgresql")
    compared = []
    for shape in SHAPES:
        key = PageKey(world.room.id, shape.limit, shape.before_seq, shape.after_seq)
        async with database.uow() as uow:
            found, encoded = await uow.rooms.standing_with_page(
                world.room.id, world.user_id, key, unless_seen=-1
            )
            messages = await uow.messages.page(
                world.room.id, limit=key.limit, before_seq=key.before_seq, after_seq=key.after_seq
            )
        assert found.room is not None
        assert found.last_seq == 30
        expected = msgspec.json.encode(message_events(messages))
        if not postgresql:
            assert encoded is None  # SQLite: the caller encodes messages
            continue
        assert encoded is not None
        assert encoded.json == expected, key
        compared.append(encoded.json)
        assert encoded.count == len(messages)
        assert encoded.first_seq == (messages[0].seq if messages else None)
    if postgresql:  # the whole room was compared, with every kind of sender in it
        assert len(compared) == len(SHAPES)
        names = (b'"Unknown"', b'"bob_b"', b'"Gone"', b'"Teacher AI"', b'"is_ai":true')
        for name in (*names, 'Prof \\"Bot\\" 老師'.encode()):
            assert (name in compared[0]) == (name != b'"Gone"'), name
        assert compared[-1] == compared[-2] == b"[]"


async def test_the_use_case_answers_the_same_bytes_on_both_backends(database: Database) -> None:
    world = await _world(database)
    await _fill(database, world)
    history = ReadHistory(uow=database.uow, cache=DictHistoryCache())
    query = ReadHistoryQuery(actor_id=world.user_id, room_id=world.room.id, limit=100)
    page = await history.page(query)
    messages = await history.execute(query)
    expected = msgspec.json.encode(message_events(messages))
    body = page.json if isinstance(page, EncodedPage) else msgspec.json.encode(message_events(page))
    assert body == expected
    assert isinstance(page, EncodedPage) == database.url.startswith("postgresql")
    for name in (b'"Ana \\"the\\" \xc3\x91and\xc3\xba"', b'"bob_b"', b'"Teacher AI"', b'"Peer AI"'):
        assert name in body


async def test_a_cached_page_is_not_read_again_but_access_is(database: Database) -> None:
    world = await _world(database)
    await _fill(database, world)
    cache = DictHistoryCache()
    history = ReadHistory(uow=database.uow, cache=cache)
    query = ReadHistoryQuery(actor_id=world.user_id, room_id=world.room.id, limit=10)
    first = await history.page(query)
    again = await history.page(query)
    assert again == first if isinstance(first, EncodedPage) else list(again) == list(first)  # type: ignore[arg-type]
    assert cache.hits == 1
    if database.url.startswith("postgresql"):
        with sent_to_postgresql(database) as sent:
            assert await history.page(query) == first
            await asyncio.sleep(0)  # asyncpg calls its query loggers with call_soon
        assert cache.hits == 2
        # A page this process holds: the standing alone (a smaller statement than the
        # standing with the page), no page read.
        assert len(sent) == 1
        assert "string_agg" not in sent[0][0]
        # The room moved on: the standing, then the standing and the page in one statement.
        async with database.uow() as uow:
            await uow.messages.append(
                NewMessage(
                    id=new_id(),
                    room_id=world.room.id,
                    content="newer",
                    created_at=START,
                    sender_id=None,
                    agent_type="teacher",
                )
            )
            await uow.commit()
        with sent_to_postgresql(database) as sent:
            newer = await history.page(query)
            await asyncio.sleep(0)
        assert len(sent) == 2
        assert "string_agg" in sent[1][0]
        assert isinstance(newer, EncodedPage)
        assert newer.json.endswith(b'"turn_id":null}]')
        assert b'"content":"newer"' in newer.json
    # A deleted account and an outsider are refused, cache or not.
    with pytest.raises(NotAuthenticated):
        await history.page(ReadHistoryQuery(actor_id=new_id(), room_id=world.room.id, limit=10))
    stranger = UserFactory.build()
    async with database.uow() as uow:
        await uow.users.add(stranger)
        await uow.commit()
    with pytest.raises(NotFound):
        await history.page(ReadHistoryQuery(actor_id=stranger.id, room_id=world.room.id, limit=10))


async def test_postgresql_plans_the_page_statement_once(database: Database) -> None:
    """The page's statement is costed the same whatever its page parameters are (ADR 0017),
    so PostgreSQL keeps its generic plan after five custom ones instead of planning every
    page again (~1 ms of its CPU per page). With the parameters visible to the planner, a
    20,000-message room kept it on custom plans for good (12 custom, 0 generic here).
    """
    if not database.url.startswith("postgresql"):
        pytest.skip("PostgreSQL's plan cache")
    world = await _world(database)
    async with database.uow() as uow:
        session = uow._session  # type: ignore[attr-defined]
        await session.execute(
            text(
                "INSERT INTO message (id, room_id, seq, content, created_at, updated_at)"
                " SELECT gen_random_uuid(), :room, i, 'm' || i, now(), now()"
                " FROM generate_series(1, 20000) AS i"
            ),
            {"room": world.room.id},
        )
        await session.execute(
            text("UPDATE room SET last_seq = 20000 WHERE id = :room"), {"room": world.room.id}
        )
        await uow.commit()
    with sent_to_postgresql(database) as sent:
        async with database.uow() as uow:
            session = uow._session  # type: ignore[attr-defined]
            await session.execute(text("ANALYZE message"))
            for page in range(12):  # one pooled connection: the session keeps it
                key = PageKey(world.room.id, 50, 20000 - 50 * page, None)
                found, encoded = await uow.rooms.standing_with_page(
                    world.room.id, world.user_id, key, unless_seen=-1
                )
                assert encoded is not None
                assert encoded.count == 50
                assert encoded.first_seq == 19950 - 50 * page
            plans = (
                await session.execute(
                    text(
                        "SELECT sum(custom_plans), sum(generic_plans) FROM pg_prepared_statements"
                        " WHERE statement LIKE '%string_agg%'"
                        " AND statement NOT LIKE '%pg_prepared_statements%'"  # this one
                    )
                )
            ).one()
        await asyncio.sleep(0)  # asyncpg calls its query loggers with call_soon
    assert found.room is not None
    assert tuple(plans) == (5, 7)  # custom plans, then the generic one
    # The generic plan reads the page off the (room_id, seq) index, in order, as custom
    # plans do (a plan that does not know the room or the cursor could have chosen
    # otherwise).
    statement, arguments = next(each for each in sent if "string_agg" in each[0])
    async with database.engine.connect() as connection:
        raw: Any = (await connection.get_raw_connection()).driver_connection
        await raw.execute("SET enable_seqscan = off")
        await raw.execute("SET plan_cache_mode = force_generic_plan")
        await raw.execute(f"PREPARE page AS {statement}")
        # EXECUTE takes no bind parameters: uuids and ints written out.
        values = ", ".join("NULL" if a is None else f"'{a}'" for a in arguments)
        rows = await raw.fetch(f"EXPLAIN EXECUTE page({values})")
        await raw.execute("DEALLOCATE page")
        await raw.execute("RESET ALL")
    plan = "\n".join(row[0] for row in rows)
    assert "Index Scan Backward using uq_message_room_seq on message" in plan, plan
    assert "Sort" not in plan, plan


async def test_pieces_follow_the_row_and_the_name_follows_the_account(database: Database) -> None:
    """PostgreSQL writes each row's event pieces when the row is written (migration 0012):
    a turn deleted afterwards (`ON DELETE SET NULL`) and a sender renamed afterwards are in
    the next page, which stays the encoder's bytes."""
    if not database.url.startswith("postgresql"):
        pytest.skip("the pieces are PostgreSQL's")
    world = await _world(database)
    ids = await _fill(database, world)
    key = PageKey(world.room.id, 100, None, None)

    async def encoded_and_expected() -> tuple[bytes, bytes]:
        async with database.uow() as uow:
            _, encoded = await uow.rooms.standing_with_page(
                world.room.id, world.user_id, key, unless_seen=-1
            )
            messages = await uow.messages.page(world.room.id, limit=100)
        assert encoded is not None
        return encoded.json, msgspec.json.encode(message_events(messages))

    before, expected = await encoded_and_expected()
    assert before == expected
    async with database.uow() as uow:
        session = uow._session  # type: ignore[attr-defined]
        turn_id = (
            await session.execute(
                text("SELECT turn_id FROM message WHERE id = :id"), {"id": ids[4]}
            )
        ).scalar_one()
        assert turn_id is not None
        await session.execute(text("DELETE FROM agent_turn WHERE id = :id"), {"id": turn_id})
        await session.execute(
            text("UPDATE user_account SET full_name = 'Renamed' WHERE full_name = :old"),
            {"old": 'Ana "the" Ñandú'},
        )
        await uow.commit()
    after, expected = await encoded_and_expected()
    assert after == expected
    assert f'"turn_id":"{turn_id}"'.encode() in before
    assert f'"turn_id":"{turn_id}"'.encode() not in after
    assert b'"Renamed"' in after
    assert b'Ana \\"the\\"' not in after
