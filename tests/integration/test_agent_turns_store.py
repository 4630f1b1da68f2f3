"""The SQL agent-turn store on PostgreSQL and SQLite: the unique turn identity, the room
lease (take, steal only once expired), completion only by the lease holder, one message per
turn, the activity read, reclaim scans and the turn list.
"""

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from coagent.adapters.persistence.models import MessageModel
from coagent.adapters.persistence.turns import _TURN_PAGE, SqlAlchemyAgentTurnRepository
from coagent.adapters.system import SystemClock, Uuid7Generator
from coagent.application.llm.call_model import CallModel, RetryPolicy
from coagent.application.ports.chat import NewMessage
from coagent.application.ports.turns import AgentReply, TurnUsage
from coagent.application.turns.run_turns import RanTurns, RunTurns, RunTurnsCommand
from coagent.domain.agents.config import AgentConfig, AgentType, Provider
from coagent.domain.agents.decision import TurnKind
from coagent.domain.agents.keys import KeyType
from coagent.domain.agents.tools import InterruptPolicy
from coagent.domain.agents.trigger import Trigger, TriggerType
from coagent.domain.agents.turn import AgentTurn, TurnStatus, message_key
from coagent.domain.courses.course import Course
from coagent.domain.courses.room import AiMode, Room
from tests.fakes.chat import RecordingChatPublisher
from tests.fakes.llm import ScriptedProviders
from tests.fakes.security import FakeSecretBox
from tests.fakes.turns import RecordingAgentStream
from tests.integration.conftest import Database, UserFactory, new_id, utcnow

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

LEASE = timedelta(seconds=15)


@dataclass
class World:
    room: Room
    config: AgentConfig
    user_id: UUID


async def _world(database: Database, trigger: Trigger | None = None) -> World:
    user = UserFactory.build(full_name="Ana")
    now = utcnow()
    course = Course(
        id=new_id(), title="C", description=None, owner_id=user.id, created_at=now, updated_at=now
    )
    room = Room(
        id=new_id(),
        course_id=course.id,
        name="R",
        description=None,
        ai_mode=AiMode.TEACHER_ONLY,
        ai_frequency=0.5,
        is_ai_active=True,
        is_analytics_active=False,
        created_at=now,
        updated_at=now,
    )
    config = AgentConfig(
        id=new_id(),
        course_id=course.id,
        type=AgentType.TEACHER,
        name="Prof",
        provider=Provider.OFFLINE,
        model=None,
        base_url=None,
        system_prompt="p",
        context_window=10,
        trigger=trigger or Trigger(type=TriggerType.MENTION),
        schedule=None,
        settings={},
        is_active=True,
        created_by=None,
        created_at=now,
        updated_at=now,
    )
    async with database.uow() as uow:
        await uow.users.add(user)
        await uow.courses.add(course)
        await uow.rooms.add(room)
        await uow.agent_configs.add(config)
        await uow.commit()
    return World(room=room, config=config, user_id=user.id)


def _turn(world: World, key: str = "msg:1", *, seq: int | None = 1, **changes: object) -> AgentTurn:
    turn = AgentTurn(
        id=new_id(),
        room_id=world.room.id,
        agent_type="teacher",
        config_id=world.config.id,
        config_revision=1,
        kind=TurnKind.MENTION,
        trigger_key=key,
        reason="mentioned by Ana",
        caused_by_seq=seq,
        requested_by=None,
        status=TurnStatus.QUEUED,
        created_at=utcnow(),
    )
    return replace(turn, **changes)  # type: ignore[arg-type]


async def _post(database: Database, world: World, content: str, agent: str | None = None) -> int:
    async with database.uow() as uow:
        seq = await uow.messages.append(
            NewMessage(
                id=new_id(),
                room_id=world.room.id,
                content=content,
                created_at=utcnow(),
                sender_id=None if agent else world.user_id,
                agent_type=agent,
            )
        )
        await uow.commit()
    return seq


async def _add(database: Database, turn: AgentTurn) -> bool:
    async with database.uow() as uow:
        added = await uow.turns.add(turn)
        await uow.commit()
    return added


async def _start(database: Database, turn: AgentTurn, token: UUID, now: datetime) -> bool:
    async with database.uow() as uow:
        started = await uow.turns.start(
            turn.id, lease_token=token, now=now, lease_expires_at=now + LEASE, seen_up_to_seq=1
        )
        await uow.commit()
    return started


def _reply(world: World, text: str = "hello") -> AgentReply:
    return AgentReply(
        id=new_id(), room_id=world.room.id, content=text, agent_type="teacher", created_at=utcnow()
    )


USAGE = TurnUsage(provider="offline", model="offline", tokens_in=3, tokens_out=2, latency_ms=5)


async def test_a_turn_identity_is_stored_once_even_when_added_at_once(database: Database) -> None:
    world = await _world(database)
    first, second = _turn(world), _turn(world)  # same room, agent and key; other ids
    results = await asyncio.gather(_add(database, first), _add(database, second))
    assert sorted(results) == [False, True]
    assert await database.scalar("SELECT count(*) FROM agent_turn") == 1
    # Another key, or another agent type, is another turn.
    assert await _add(database, _turn(world, "msg:2"))
    assert await _add(database, _turn(world, agent_type="student"))


async def test_the_room_lease_has_one_holder_until_it_expires(database: Database) -> None:
    world = await _world(database)
    a, b = new_id(), new_id()
    now = utcnow()

    async def take(holder: UUID, at: datetime) -> bool:
        async with database.uow() as uow:
            took = await uow.turns.take_room(world.room.id, holder, now=at, expires_at=at + LEASE)
            await uow.commit()
        return took

    took = await asyncio.gather(take(a, now), take(b, now))
    assert sorted(took) == [False, True]
    winner, loser = (a, b) if took[0] else (b, a)
    assert await take(winner, now)  # the holder may take it again (renewal)
    assert not await take(loser, now + LEASE - timedelta(seconds=1))
    assert await take(loser, now + LEASE + timedelta(seconds=1))  # expired: stolen
    async with database.uow() as uow:
        assert not await uow.turns.renew_room(world.room.id, winner, expires_at=now + LEASE)
        assert await uow.turns.renew_room(world.room.id, loser, expires_at=now + 2 * LEASE)
        await uow.turns.release_room(world.room.id, winner)  # not the holder: nothing
        await uow.commit()
    assert await database.scalar("SELECT count(*) FROM agent_room_lease") == 1
    async with database.uow() as uow:
        await uow.turns.release_room(world.room.id, loser)
        await uow.commit()
    assert await database.scalar("SELECT count(*) FROM agent_room_lease") == 0


async def test_only_the_lease_holder_completes_and_a_turn_has_one_message(
    database: Database,
) -> None:
    world = await _world(database)
    await _post(database, world, "@teacher hi")
    turn = _turn(world)
    await _add(database, turn)
    first, second, now = new_id(), new_id(), utcnow()
    assert await _start(database, turn, first, now)
    assert not await _start(database, turn, second, now)  # not queued any more
    # Reclaimed (lease expired) and started again under another token.
    async with database.uow() as uow:
        assert await uow.turns.requeue(turn.id, first)
        await uow.commit()
    assert await _start(database, turn, second, now)
    async with database.uow() as uow:
        assert await uow.turns.complete(turn.id, first, reply=_reply(world), usage=USAGE) is None
        await uow.commit()
    assert await database.scalar("SELECT count(*) FROM message WHERE turn_id IS NOT NULL") == 0
    assert await database.scalar("SELECT last_seq FROM room") == 1  # no seq taken
    async with database.uow() as uow:
        seq = await uow.turns.complete(turn.id, second, reply=_reply(world), usage=USAGE)
        await uow.commit()
    assert seq == 2
    async with database.uow() as uow:  # a second completion: the turn is no longer running
        assert await uow.turns.complete(turn.id, second, reply=_reply(world), usage=USAGE) is None
        stored = await uow.turns.get(turn.id)
        page = await uow.messages.page(world.room.id, limit=10)
    assert stored is not None
    assert stored.status is TurnStatus.SUCCEEDED
    assert stored.attempts == 2
    assert (stored.provider, stored.tokens_in, stored.tokens_out) == ("offline", 3, 2)
    assert stored.message_id == page[-1].id
    assert page[-1].turn_id == turn.id
    assert page[-1].agent_type == "teacher"
    # The database itself refuses a second message for the turn.
    async with database.uow() as uow:
        await uow.messages.append(
            NewMessage(
                id=new_id(),
                room_id=world.room.id,
                content="x",
                created_at=utcnow(),
                sender_id=None,
                agent_type="teacher",
            )
        )
        with pytest.raises(IntegrityError):
            await _point_newest_at(uow, turn.id)


async def _point_newest_at(uow: object, turn_id: UUID) -> None:
    """Point the newest message at `turn_id` too (what a double completion would do)."""
    session = uow._session  # type: ignore[attr-defined]
    await session.execute(update(MessageModel).where(MessageModel.seq == 3).values(turn_id=turn_id))


async def test_a_failed_or_lost_completion_writes_nothing(database: Database) -> None:
    world = await _world(database)
    turn = _turn(world)
    await _add(database, turn)
    token, now = new_id(), utcnow()
    await _start(database, turn, token, now)
    async with database.uow() as uow:
        assert not await uow.turns.fail(
            turn.id, new_id(), error_code="provider_timeout", usage=None, now=now
        )
        assert await uow.turns.fail(
            turn.id, token, error_code="provider_timeout", usage=USAGE, now=now
        )
        await uow.commit()
    async with database.uow() as uow:
        stored = await uow.turns.get(turn.id)
    assert stored is not None
    assert (stored.status, stored.error_code, stored.message_id) == (
        TurnStatus.FAILED,
        "provider_timeout",
        None,
    )


async def test_merge_marks_queued_turns_the_running_one_already_sees(database: Database) -> None:
    world = await _world(database)
    running = _turn(world, "msg:1", seq=1)
    seen = _turn(world, "msg:2", seq=2)
    later = _turn(world, "msg:5", seq=5)
    timed = _turn(world, "silence:x", seq=None, kind=TurnKind.SILENCE)
    other_agent = _turn(world, "msg:3", seq=3, agent_type="student")
    for turn in (running, seen, later, timed, other_agent):
        await _add(database, turn)
    async with database.uow() as uow:
        merged = await uow.turns.merge_seen(
            room_id=world.room.id, agent_type="teacher", into=running.id, up_to_seq=4, now=utcnow()
        )
        await uow.commit()
    assert merged == 1
    statuses = dict(await database.rows("SELECT trigger_key, status FROM agent_turn"))
    assert statuses == {
        "msg:1": "queued",
        "msg:2": "merged",
        "msg:5": "queued",
        "silence:x": "queued",
        "msg:3": "queued",
    }


async def test_the_queue_runs_oldest_first_and_reclaim_scans_find_stalled_work(
    database: Database,
) -> None:
    world = await _world(database)
    now = utcnow()
    older = _turn(world, "msg:1", created_at=now - timedelta(seconds=5))
    newer = _turn(world, "msg:2", seq=2, created_at=now)
    await _add(database, newer)
    await _add(database, older)
    async with database.uow() as uow:
        first = await uow.turns.next_queued(world.room.id)
        assert first is not None
        assert first.id == older.id
        assert await uow.turns.rooms_to_run(now, limit=10) == [world.room.id]
        assert await uow.turns.count_since(world.room.id, now - timedelta(minutes=1)) == 2
    token = new_id()
    await _start(database, older, token, now - timedelta(minutes=1))  # lease long expired
    async with database.uow() as uow:
        expired = await uow.turns.expired(now, limit=10)
        assert [turn.id for turn in expired] == [older.id]
        assert expired[0].lease_token == token
        # A live room lease hides the room from rooms_to_run.
        await uow.turns.take_room(world.room.id, new_id(), now=now, expires_at=now + LEASE)
        assert await uow.turns.rooms_to_run(now, limit=10) == []
        assert await uow.turns.skip(newer.id, reason="limit", now=now)
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.turns.count_since(world.room.id, now - timedelta(minutes=5)) == 1


async def test_activity_is_read_as_the_agent_sees_the_room(database: Database) -> None:
    world = await _world(database)
    async with database.uow() as uow:
        empty = await uow.turns.activity(world.room.id, "teacher")
    assert empty.human_messages_since_agent == 0
    assert empty.last_message_at is None
    for text in ("a", "b"):
        await _post(database, world, text)
    await _post(database, world, "reply", agent="teacher")
    await _post(database, world, "peer", agent="student")
    for text in ("c", "d", "e"):
        await _post(database, world, text)
    async with database.uow() as uow:
        seen = await uow.turns.activity(world.room.id, "teacher")
        messages = await uow.messages.page(world.room.id, limit=10)
        peer = await uow.turns.activity(world.room.id, "student")
        third = await uow.turns.message_at(world.room.id, 3)
    at = {m.seq: m.created_at for m in messages}
    assert seen.human_messages_since_agent == 3
    assert seen.last_agent_message_at == at[3]
    assert seen.first_human_since_agent_at == at[5]
    assert seen.last_message_at == at[7]
    assert seen.last_human_message_at == at[7]
    assert seen.last_any_agent_message_at == at[4]
    assert peer.human_messages_since_agent == 3
    assert third is not None
    assert third.agent_type == "teacher"


async def test_the_turn_list_is_newest_first_with_messages_and_paged(database: Database) -> None:
    world = await _world(database)
    now = utcnow()
    turns = [
        _turn(world, f"msg:{n}", seq=n, created_at=now + timedelta(seconds=n)) for n in range(3)
    ]
    for turn in turns:
        await _add(database, turn)
    async with database.uow() as uow:
        page = await uow.turns.page(world.room.id, offset=0, limit=2)
        rest = await uow.turns.page(world.room.id, offset=2, limit=2)
        beyond = await uow.turns.page(world.room.id, offset=9, limit=2)
    assert [turn.id for turn in page.items] == [turns[2].id, turns[1].id]
    assert page.total == rest.total == beyond.total == 3
    assert [turn.id for turn in rest.items] == [turns[0].id]
    assert beyond.items == []
    # Read on the driver (rows.py), mapped by position: every field as `get` maps it.
    async with database.uow() as uow:
        stored = [await uow.turns.get(turn.id) for turn in (turns[2], turns[1])]
    assert list(page.items) == stored
    assert page.items[0].kind is TurnKind.MENTION
    assert page.items[0].status is TurnStatus.QUEUED


async def test_a_turn_page_looks_up_messages_for_its_own_rows_only(database: Database) -> None:
    """PostgreSQL: the message each turn became is looked up after the page is cut (one
    index probe per row of the page, not per turn of the room the total counts)."""
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL's EXPLAIN")
    world = await _world(database)
    now = utcnow()
    for n in range(12):
        await _add(database, _turn(world, f"msg:{n}", seq=n, created_at=now + timedelta(seconds=n)))
    sql, arguments = _TURN_PAGE.arguments(
        database.engine.dialect, {"room_id": world.room.id, "offset": 0, "limit": 3}
    )
    async with database.engine.connect() as connection:
        raw: Any = (await connection.get_raw_connection()).driver_connection
        plan = "\n".join(
            row[0] for row in await raw.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", *arguments)
        )
    probes = [line for line in plan.splitlines() if "on message" in line]
    assert len(probes) == 1, plan
    assert "loops=3" in probes[0], plan


async def test_time_candidates_are_rooms_with_ai_on_and_a_time_trigger(database: Database) -> None:
    timed = await _world(database, Trigger(type=TriggerType.SILENCE, value=60))
    await _world(database, Trigger(type=TriggerType.MESSAGE_COUNT, value=3))
    async with database.uow() as uow:
        found = await uow.turns.time_candidates(limit=10)
        paused = replace(timed.room, is_ai_active=False)
        await uow.rooms.update(paused)
        await uow.commit()
    assert [(c.room.id, c.config.id) for c in found] == [(timed.room.id, timed.config.id)]
    assert found[0].config.trigger.type is TriggerType.SILENCE
    async with database.uow() as uow:
        assert await uow.turns.time_candidates(limit=10) == []


async def test_a_configuration_revision_counts_its_updates(database: Database) -> None:
    world = await _world(database)
    assert world.config.revision == 1
    for _ in range(2):
        async with database.uow() as uow:
            await uow.agent_configs.update(replace(world.config, name="Prof 2"))
            await uow.commit()
    async with database.uow() as uow:
        stored = await uow.agent_configs.get(world.config.id)
    assert stored is not None
    assert stored.revision == 3


def test_message_key_is_the_causing_seq() -> None:
    assert message_key(7) == "msg:7"


async def test_activity_up_to_a_message_counts_what_no_turn_has_claimed(database: Database) -> None:
    world = await _world(database)
    for n in range(1, 6):
        await _post(database, world, f"m{n}")
    async with database.uow() as uow:
        before = await uow.turns.activity(world.room.id, "teacher", up_to_seq=3)
    assert before.human_messages_since_agent == 3
    await _add(database, _turn(world, "msg:3", seq=3))  # a queued turn answers up to 3
    await _add(database, _turn(world, "msg:4", seq=4, status=TurnStatus.FAILED))  # claims nothing
    async with database.uow() as uow:
        third = await uow.turns.activity(world.room.id, "teacher", up_to_seq=3)
        fifth = await uow.turns.activity(world.room.id, "teacher", up_to_seq=5)
        whole = await uow.turns.activity(world.room.id, "teacher")
    assert third.human_messages_since_agent == 3  # its own turn does not count against it
    assert fifth.human_messages_since_agent == 2  # 4 and 5
    assert whole.human_messages_since_agent == 5


async def test_deleting_a_room_configuration_or_user_keeps_the_database_consistent(
    database: Database,
) -> None:
    world = await _world(database)
    await _post(database, world, "@teacher hi")
    turn = _turn(world, requested_by=world.user_id, kind=TurnKind.REQUEST)
    await _add(database, turn)
    token, now = new_id(), utcnow()
    await _start(database, turn, token, now)
    async with database.uow() as uow:
        await uow.turns.take_room(world.room.id, new_id(), now=now, expires_at=now + LEASE)
        await uow.turns.complete(turn.id, token, reply=_reply(world), usage=USAGE)
        await uow.commit()
    async with database.uow() as uow:  # the configuration goes: the turn keeps its record
        await uow.agent_configs.delete(world.config.id)
        await uow.users.delete(world.user_id)
        await uow.commit()
    async with database.uow() as uow:
        kept = await uow.turns.get(turn.id)
    assert kept is not None
    assert (kept.config_id, kept.requested_by, kept.config_revision) == (None, None, 1)
    async with database.uow() as uow:  # the room goes: its turns, lease and messages too
        await uow.rooms.delete(world.room.id)
        await uow.commit()
    for table in ("agent_turn", "agent_room_lease", "message"):
        assert await database.scalar(f"SELECT count(*) FROM {table}") == 0  # noqa: S608


async def test_decision_inputs_read_what_the_separate_reads_would(database: Database) -> None:
    world = await _world(database, Trigger(type=TriggerType.MESSAGE_COUNT, value=3))
    for n in range(1, 4):
        await _post(database, world, f"m{n}")
    await _post(database, world, "reply", agent="teacher")
    await _post(database, world, "m5")
    await _add(database, _turn(world, "msg:1", seq=1))
    await _add(database, _turn(world, "msg:2", seq=2, status=TurnStatus.SKIPPED))
    since = utcnow() - timedelta(minutes=1)
    async with database.uow() as uow:
        inputs = await uow.turns.decision_inputs(world.room.id, "teacher", 5, turns_since=since)
        message = await uow.turns.message_at(world.room.id, 5)
        activity = await uow.turns.activity(world.room.id, "teacher", up_to_seq=5)
        recent = await uow.turns.count_since(world.room.id, since)
        peer = await uow.turns.decision_inputs(world.room.id, "student", 5, turns_since=since)
        gone = await uow.turns.decision_inputs(new_id(), "teacher", 5, turns_since=since)
        missing = await uow.turns.decision_inputs(world.room.id, "teacher", 99, turns_since=since)
    assert inputs.room is not None
    assert inputs.room.id == world.room.id
    assert inputs.config is not None
    assert (inputs.config.id, inputs.config.trigger) == (world.config.id, world.config.trigger)
    assert inputs.message == message
    assert inputs.message is not None
    assert inputs.message.sender_name == "Ana"
    assert inputs.recent_turns == recent == 1  # the skipped one is not counted
    assert inputs.activity == activity
    assert inputs.activity is not None
    assert inputs.activity.human_messages_since_agent == 1
    assert (peer.config, peer.activity) == (None, None)  # no active peer configuration
    assert inputs.peer_policy is None
    assert (gone.room, gone.config, gone.message) == (None, None, None)
    assert missing.message is None
    # The peer's own interrupt policy comes with the teacher's decision (no read of its own).
    for active, policy in ((True, InterruptPolicy.INTERRUPT), (False, None)):
        async with database.uow() as uow:
            student = replace(
                world.config,
                id=new_id(),
                type=AgentType.STUDENT,
                interrupt_policy=InterruptPolicy.INTERRUPT,
                is_active=active,
            )
            await uow.agent_configs.add(student)
            await uow.commit()
        async with database.uow() as uow:
            read = await uow.turns.decision_inputs(world.room.id, "teacher", 5, turns_since=since)
        assert read.peer_policy is policy
        if active:
            async with database.uow() as uow:  # make room for the inactive one's name
                await uow.agent_configs.delete(student.id)
                await uow.commit()


async def test_decision_inputs_read_no_activity_for_other_triggers(database: Database) -> None:
    world = await _world(database)  # a mention trigger
    seq = await _post(database, world, "@teacher hi")
    async with database.uow() as uow:
        inputs = await uow.turns.decision_inputs(
            world.room.id, "teacher", seq, turns_since=utcnow() - timedelta(minutes=1)
        )
    assert inputs.config is not None
    assert inputs.activity is None
    assert inputs.recent_turns == 0


async def test_next_to_start_reads_the_oldest_queued_turn_with_its_room(database: Database) -> None:
    world = await _world(database)
    async with database.uow() as uow:
        assert await uow.turns.next_to_start(world.room.id) is None
    for n in range(1, 4):
        await _post(database, world, f"m{n}")
    first = _turn(world, "msg:1", seq=1)
    await _add(database, first)
    await _add(database, _turn(world, "msg:2", seq=2, created_at=first.created_at + LEASE))
    async with database.uow() as uow:
        inputs = await uow.turns.next_to_start(world.room.id)
    assert inputs is not None
    assert inputs.turn.id == first.id
    assert inputs.room is not None
    assert inputs.room.id == world.room.id
    assert (inputs.last_seq, inputs.course_title) == (3, "C")
    assert inputs.config is not None
    assert inputs.config.id == world.config.id
    # Another configuration activated since: the turn's is not given (the caller reads the
    # active one).
    await _activate_another_config(database, world)
    async with database.uow() as uow:
        inactive = await uow.turns.next_to_start(world.room.id)
    assert inactive is not None
    assert inactive.config is None


async def _activate_another_config(database: Database, world: World) -> None:
    """A second teacher configuration, activated: the world's is no longer active."""
    async with database.uow() as uow:
        other = replace(world.config, id=new_id(), name="Prof 2", is_active=False)
        await uow.agent_configs.add(other)
        await uow.agent_configs.activate(other.id)
        await uow.commit()


async def test_next_to_start_reads_the_history_and_keys_with_the_turn_on_postgresql(
    database: Database,
) -> None:
    # PostgreSQL: the turn's history page and keys come with the turn (P6), exactly what
    # `messages.page` and `keys_of` read; SQLite leaves them to the caller.
    world = await _world(database)  # context_window 10
    for n in range(1, 12):
        await _post(database, world, f"m{n}")
    await _post(database, world, "an answer", agent="teacher")  # seq 12
    async with database.uow() as uow:
        for key_type in (KeyType.BACKUP_KEY, KeyType.API_KEY, KeyType.ROOM_KEY):
            await uow.agent_configs.set_key(
                world.config.id, key_type, ciphertext=f"c-{key_type.value}", mask="m"
            )
        await uow.commit()
    await _add(database, _turn(world, "msg:11", seq=11))
    async with database.uow() as uow:
        inputs = await uow.turns.next_to_start(world.room.id)
        page = await uow.messages.page(world.room.id, limit=10, before_seq=13)
        keys = await uow.agent_configs.keys_of(world.config.id)
    assert inputs is not None
    if database.dialect == "sqlite":
        assert (inputs.history, inputs.keys) == (None, None)
        return
    assert inputs.history is not None
    assert [m.seq for m in inputs.history] == list(range(3, 13))  # the newest 10, in order
    assert list(inputs.history) == list(page)  # senders' names, agent messages and all
    assert inputs.history[0].sender_name == "Ana"
    assert inputs.keys is not None
    assert list(inputs.keys) == list(keys) == ["c-room_key", "c-api_key", "c-backup_key"]
    # No configuration to run it with (the turn's is no longer active): nothing more read.
    await _activate_another_config(database, world)
    async with database.uow() as uow:
        inactive = await uow.turns.next_to_start(world.room.id)
    assert inactive is not None
    assert (inactive.config, inactive.history, inactive.keys) == (None, None, None)


async def test_the_turn_path_writes_belong_to_the_unit_of_work(database: Database) -> None:
    # The lease, the turn and its start run on the driver (P6), inside the unit of work's
    # transaction: one not committed leaves nothing.
    world = await _world(database)
    await _post(database, world, "@teacher hi")
    turn = _turn(world)
    now = utcnow()
    async with database.uow() as uow:
        assert await uow.turns.take_room(world.room.id, new_id(), now=now, expires_at=now + LEASE)
        assert await uow.turns.add(turn)
        assert await uow.turns.start(
            turn.id, lease_token=new_id(), now=now, lease_expires_at=now + LEASE, seen_up_to_seq=1
        )
        assert await uow.turns.next_queued(world.room.id) is None  # its own write is seen
    for table in ("agent_turn", "agent_room_lease"):
        assert await database.scalar(f"SELECT count(*) FROM {table}") == 0  # noqa: S608
    async with database.uow() as uow:
        assert await uow.turns.add(turn)
        await uow.commit()
    queued = await _world_turn(database, world)
    assert queued is not None
    assert (queued.id, queued.status) == (turn.id, TurnStatus.QUEUED)


async def _world_turn(database: Database, world: World) -> AgentTurn | None:
    async with database.uow() as uow:
        return await uow.turns.next_queued(world.room.id)


async def test_a_turn_queued_between_the_completion_and_the_release_is_never_stranded(
    database: Database,
) -> None:
    # The room's last turn stores its reply and lets the room go in one transaction. A turn
    # queued in between, whose runner tries the room at once, is either seen by that
    # transaction (the lease is kept: the runner holding it runs the turn next) or queued
    # after it (its runner finds the room free). Never both refused and released.
    world = await _world(database)
    await _post(database, world, "@teacher one")
    first, late = _turn(world, "msg:1", seq=1), _turn(world, "msg:2", seq=2)
    holder, token, now = new_id(), new_id(), utcnow()
    await _add(database, first)
    async with database.uow() as uow:
        assert await uow.turns.take_room(world.room.id, holder, now=now, expires_at=now + LEASE)
        await uow.commit()
    assert await _start(database, first, token, now)

    async def queue_and_kick() -> bool:
        await _add(database, late)  # SQLite: waits for the completing transaction
        async with database.uow() as uow:  # the runner its kick starts
            took = await uow.turns.take_room(
                world.room.id, new_id(), now=now, expires_at=now + LEASE
            )
            await uow.commit()
        return took

    async with database.uow() as uow:
        assert await uow.turns.complete(first.id, token, reply=_reply(world), usage=USAGE) == 2
        kicked = asyncio.create_task(queue_and_kick())
        await asyncio.sleep(0.3)
        # PostgreSQL: the turn is queued and its runner was refused the room by now.
        assert kicked.done() is (database.dialect == "postgresql")
        released = await uow.turns.release_room_unless_queued(
            world.room.id, holder, expires_at=now + LEASE
        )
        await uow.commit()
    took = await asyncio.wait_for(kicked, 10)
    assert released is took  # exactly one of them runs the late turn
    assert released is (database.dialect == "sqlite")


async def test_a_turn_queued_after_the_queue_was_found_empty_finds_the_room_free(
    database: Database,
) -> None:
    # The transaction that finds the queue empty took the lease first: a turn queued after
    # its look has a runner that waits for it, then takes the room (nobody looks again).
    world = await _world(database)
    holder, now = new_id(), utcnow()

    async def queue_and_kick() -> bool:
        await _add(database, _turn(world))
        async with database.uow() as uow:
            took = await uow.turns.take_room(
                world.room.id, new_id(), now=now, expires_at=now + LEASE
            )
            await uow.commit()
        return took

    async with database.uow() as uow:
        assert await uow.turns.take_room(world.room.id, holder, now=now, expires_at=now + LEASE)
        assert await uow.turns.next_to_start(world.room.id) is None
        kicked = asyncio.create_task(queue_and_kick())
        await asyncio.sleep(0.3)
        assert not kicked.done()  # waits for the lease (PostgreSQL) or the writer (SQLite)
        await uow.turns.release_room(world.room.id, holder)
        await uow.commit()
    assert await asyncio.wait_for(kicked, 10)


async def test_a_runner_runs_a_turn_queued_while_it_stores_the_last_reply(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RunTurns on the database: while the room's only turn stores its reply, a second turn
    # is queued and its kick starts a runner at once. Both turns get exactly one reply, and
    # the room is free at the end (PostgreSQL: the first runner sees the turn and runs it;
    # SQLite: the turn is queued after that transaction, and its own runner runs it).
    world = await _world(database)
    await _post(database, world, "@teacher one")
    await _add(database, _turn(world, "msg:1", seq=1))
    # Its turn is queued later (the decision on it ran late): while the reply is stored.
    await _post(database, world, "@teacher two")
    publisher = RecordingChatPublisher()

    def runner() -> RunTurns:
        return RunTurns(
            uow=database.uow,
            clock=SystemClock(),
            ids=Uuid7Generator(),
            call_model=CallModel(
                providers=ScriptedProviders(),
                secrets=FakeSecretBox(["k"]),
                policy=RetryPolicy(max_retries=0),
                jitter=lambda: 0.0,
            ),
            stream=RecordingAgentStream(),
            publisher=publisher,
            lease_seconds=15,
            llm_timeout=5,
        )

    kicked: list[asyncio.Task[RanTurns]] = []
    complete = SqlAlchemyAgentTurnRepository.complete

    async def queue_and_kick() -> RanTurns:
        await _add(database, _turn(world, "msg:2", seq=2))  # SQLite: after the completion
        return await runner().execute(RunTurnsCommand(room_id=world.room.id))

    async def completing(self: SqlAlchemyAgentTurnRepository, *args: Any, **kw: Any) -> Any:
        seq = await complete(self, *args, **kw)
        if not kicked:
            kicked.append(asyncio.create_task(queue_and_kick()))
            await asyncio.sleep(0.3)  # PostgreSQL: queued, and its runner refused the room
        return seq

    monkeypatch.setattr(SqlAlchemyAgentTurnRepository, "complete", completing)
    first = await runner().execute(RunTurnsCommand(room_id=world.room.id))
    second = await asyncio.wait_for(kicked[0], 20)
    if database.dialect == "postgresql":
        assert (first.ran, second.held, second.ran) == (2, True, 0)
    else:
        assert (first.ran, second.held, second.ran) == (1, False, 1)
    async with database.uow() as uow:
        page = await uow.turns.page(world.room.id, offset=0, limit=10)
    assert sorted(t.status for t in page.items) == [TurnStatus.SUCCEEDED] * 2
    assert all(t.message_id is not None for t in page.items)  # one reply each
    assert [m.turn_id for m in publisher.messages] == [t.id for t in reversed(page.items)]
    assert await database.scalar("SELECT count(*) FROM agent_room_lease") == 0
