"""What the agent runtime reads on every backend: a room's activity as one agent sees it,
`decision_inputs` and `next_to_start` (one read each), merging queued turns a running one
already sees, the time-trigger candidates, the considered-seq watermark with the scans that
recover lost kicks, recorded tool calls, and the turn list's paging.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from coagent.domain.agents.config import AgentType
from coagent.domain.agents.decision import RoomActivity
from coagent.domain.agents.trigger import TriggerType, parse_trigger
from coagent.domain.agents.turn import AgentTurn, TurnStatus
from coagent.domain.courses.room import AiMode
from tests.contract import world as w
from tests.contract.conftest import Backend

pytestmark = pytest.mark.anyio

LEASE = w.LEASE


@dataclass
class World:
    room_id: UUID
    course_id: UUID
    config_id: UUID
    user_id: UUID
    # The created_at of each message, by seq.
    at: dict[int, datetime]


async def _world(
    backend: Backend, trigger: TriggerType = TriggerType.MESSAGE_COUNT, **room: object
) -> World:
    ana = w.user(full_name="Ana")
    course = w.course(ana.id, title="Biology")
    the_room = w.room(course.id, **room)
    config = w.config(course.id, is_active=True, trigger=parse_trigger({"type": trigger.value}))
    await w.save(backend.uow, ana, course, the_room, config)
    return World(the_room.id, course.id, config.id, ana.id, {})


async def _say(backend: Backend, world: World, agent_type: str | None = None) -> int:
    sender = None if agent_type else world.user_id
    message = w.message(world.room_id, sender, agent_type=agent_type)
    seq = await w.post(backend.uow, message)
    world.at[seq] = message.created_at
    return seq


async def _add(backend: Backend, *turns: AgentTurn) -> None:
    async with backend.uow() as uow:
        for turn in turns:
            assert await uow.turns.add(turn)
        await uow.commit()


async def test_activity_counts_human_messages_since_the_agent_or_its_claimed_turns(
    backend: Backend,
) -> None:
    world = await _world(backend)
    for agent_type in (None, None, "teacher", None, None, None):
        await _say(backend, world, agent_type)  # seqs 1..6, the teacher spoke at 3
    at = world.at
    # A queued turn for seq 4 has claimed it; a skipped one for seq 5 claims nothing.
    await _add(
        backend,
        w.turn(world.room_id, world.config_id, "msg:4", caused_by_seq=4),
        w.turn(world.room_id, world.config_id, "msg:5", caused_by_seq=5, status=TurnStatus.SKIPPED),
    )
    async with backend.uow() as uow:
        teacher = await uow.turns.activity(world.room_id, "teacher")
        up_to_5 = await uow.turns.activity(world.room_id, "teacher", up_to_seq=5)
        up_to_6 = await uow.turns.activity(world.room_id, "teacher", up_to_seq=6)
        up_to_2 = await uow.turns.activity(world.room_id, "teacher", up_to_seq=2)
        student = await uow.turns.activity(world.room_id, "student")
        empty = await uow.turns.activity(w.new_id(), "teacher")
    assert teacher == RoomActivity(
        human_messages_since_agent=3,
        last_agent_message_at=at[3],
        first_human_since_agent_at=at[4],
        last_message_at=at[6],
        last_human_message_at=at[6],
        last_any_agent_message_at=at[3],
    )
    # Since the claimed seq 4: seq 5 only (and 5, 6 up to 6); the skipped turn claims none.
    assert (up_to_5.human_messages_since_agent, up_to_5.first_human_since_agent_at) == (1, at[5])
    assert up_to_6.human_messages_since_agent == 2
    # Decided on seq 2, before the teacher spoke: both human messages count.
    assert (up_to_2.human_messages_since_agent, up_to_2.first_human_since_agent_at) == (2, at[1])
    assert up_to_2.last_message_at == at[6]  # the room's, whatever the message decided on
    assert student == replace(
        teacher,
        human_messages_since_agent=5,
        last_agent_message_at=None,
        first_human_since_agent_at=at[1],
    )
    assert empty == RoomActivity(
        human_messages_since_agent=0,
        last_agent_message_at=None,
        first_human_since_agent_at=None,
        last_message_at=None,
        last_human_message_at=None,
        last_any_agent_message_at=None,
    )


async def test_decision_inputs_read_the_room_config_message_turns_and_activity(
    backend: Backend,
) -> None:
    world = await _world(backend)
    quiet = await _world(backend, TriggerType.MENTION)
    for _ in range(3):
        await _say(backend, world)
    await _say(backend, quiet)
    since = w.tick()
    await _add(
        backend,
        w.turn(world.room_id, world.config_id, "old", created_at=since - timedelta(seconds=1)),
        w.turn(world.room_id, world.config_id, "new", caused_by_seq=1),
        w.turn(world.room_id, world.config_id, "skipped", status=TurnStatus.SKIPPED),
    )
    async with backend.uow() as uow:
        inputs = await uow.turns.decision_inputs(world.room_id, "teacher", 3, turns_since=since)
        expected = await uow.turns.activity(world.room_id, "teacher", up_to_seq=3)
        beyond = await uow.turns.decision_inputs(world.room_id, "teacher", 9, turns_since=since)
        peer = await uow.turns.decision_inputs(world.room_id, "student", 3, turns_since=since)
        mention = await uow.turns.decision_inputs(quiet.room_id, "teacher", 1, turns_since=since)
        gone = await uow.turns.decision_inputs(w.new_id(), "teacher", 1, turns_since=since)
    assert inputs.room is not None
    assert inputs.room.id == world.room_id
    assert inputs.config is not None
    assert inputs.config.id == world.config_id
    assert inputs.message is not None
    assert (inputs.message.seq, inputs.message.sender_name) == (3, "Ana")
    assert inputs.recent_turns == 1  # created since, not skipped
    assert inputs.activity == expected
    assert expected.human_messages_since_agent == 2  # the turn for seq 1 claimed it
    assert (beyond.message, beyond.room is not None) == (None, True)
    assert (peer.config, peer.activity, peer.message is not None) == (None, None, True)
    # Only a message_count trigger reads the activity.
    assert mention.config is not None
    assert mention.activity is None
    assert (gone.room, gone.config, gone.message, gone.recent_turns, gone.activity) == (
        None,
        None,
        None,
        0,
        None,
    )


async def test_next_to_start_reads_the_oldest_queued_turn_with_its_room_and_config(
    backend: Backend,
) -> None:
    world = await _world(backend)
    await _say(backend, world)
    await _say(backend, world)
    first = w.turn(world.room_id, world.config_id, "a")
    second = w.turn(world.room_id, world.config_id, "b")
    async with backend.uow() as uow:
        assert await uow.turns.next_to_start(world.room_id) is None
    await _add(backend, second, first)  # stored out of order: created_at decides
    async with backend.uow() as uow:
        inputs = await uow.turns.next_to_start(world.room_id)
        assert await uow.turns.next_to_start(w.new_id()) is None
    assert inputs is not None
    assert inputs.turn.id == first.id
    assert inputs.room is not None
    assert (inputs.room.id, inputs.last_seq, inputs.course_title) == (world.room_id, 2, "Biology")
    assert inputs.config is not None
    assert inputs.config.id == world.config_id
    async with backend.uow() as uow:  # another configuration activated: the turn's is off
        other = w.config(world.course_id)
        await uow.agent_configs.add(other)
        await uow.agent_configs.activate(other.id)
        await uow.commit()
    async with backend.uow() as uow:
        inactive = await uow.turns.next_to_start(world.room_id)
    assert inactive is not None
    assert (inactive.turn.id, inactive.config) == (first.id, None)


async def test_merge_seen_merges_the_agents_queued_turns_the_running_one_sees(
    backend: Backend,
) -> None:
    world = await _world(backend)
    running = w.turn(world.room_id, world.config_id, "run", caused_by_seq=1)
    seen = w.turn(world.room_id, world.config_id, "seen", caused_by_seq=2)
    later = w.turn(world.room_id, world.config_id, "later", caused_by_seq=4)
    uncaused = w.turn(world.room_id, world.config_id, "manual", caused_by_seq=None)
    peer = w.turn(world.room_id, world.config_id, "peer", caused_by_seq=2, agent_type="student")
    await _add(backend, running, seen, later, uncaused, peer)
    now = w.tick()
    async with backend.uow() as uow:
        assert await uow.turns.start(
            running.id,
            lease_token=w.new_id(),
            now=now,
            lease_expires_at=now + LEASE,
            seen_up_to_seq=3,
        )
        merged = await uow.turns.merge_seen(
            room_id=world.room_id, agent_type="teacher", into=running.id, up_to_seq=3, now=now
        )
        await uow.commit()
    async with backend.uow() as uow:
        again = await uow.turns.merge_seen(
            room_id=world.room_id, agent_type="teacher", into=running.id, up_to_seq=3, now=now
        )
        stored = {t.id: t for t in (await uow.turns.page(world.room_id, offset=0, limit=10)).items}
    assert (merged, again) == (1, 0)
    assert (stored[seen.id].status, stored[seen.id].merged_into) == (TurnStatus.MERGED, running.id)
    assert stored[seen.id].finished_at == now
    assert [stored[t.id].status for t in (running, later, uncaused, peer)] == [
        TurnStatus.RUNNING,
        TurnStatus.QUEUED,
        TurnStatus.QUEUED,
        TurnStatus.QUEUED,
    ]


async def test_time_candidates_are_rooms_with_an_active_time_triggered_agent(
    backend: Backend,
) -> None:
    silence = await _world(backend, TriggerType.SILENCE)
    both = await _world(backend, TriggerType.TIME_INTERVAL, ai_mode=AiMode.BOTH)
    peer = w.config(
        both.course_id,
        type=AgentType.STUDENT,
        is_active=True,
        trigger=parse_trigger({"type": "silence"}),
    )
    # The peer's configuration in a teacher-only room of the same course is not a candidate.
    teacher_only = w.room(both.course_id)
    await w.save(backend.uow, peer, teacher_only)
    await _world(backend, TriggerType.MESSAGE_COUNT)  # not a time trigger
    await _world(backend, TriggerType.SILENCE, is_ai_active=False)  # the AI is off
    await _world(backend, TriggerType.SILENCE, ai_mode=AiMode.OFF)
    await _say(backend, both)
    await _say(backend, both, "teacher")
    await _say(backend, both)
    async with backend.uow() as uow:
        found = await uow.turns.time_candidates(limit=10)
        expected = {
            (room_id, agent_type): await uow.turns.activity(room_id, agent_type)
            for room_id, agent_type in [
                (silence.room_id, "teacher"),
                (both.room_id, "student"),
                (both.room_id, "teacher"),
                (teacher_only.id, "teacher"),
            ]
        }
        first = await uow.turns.time_candidates(limit=1)
    order = sorted(expected, key=lambda key: (key[0], key[1]))  # by room, then agent type
    assert [(c.room.id, c.config.type.value) for c in found] == order
    assert {(c.room.id, c.config.type.value): c.activity for c in found} == expected
    assert expected[(both.room_id, "student")].human_messages_since_agent == 2
    assert expected[(both.room_id, "teacher")].human_messages_since_agent == 1
    assert [(c.room.id, c.config.type.value) for c in first] == order[:1]


async def test_the_considered_seq_only_rises_and_finds_rooms_with_lost_kicks(
    backend: Backend,
) -> None:
    world = await _world(backend)
    done = await _world(backend)
    off = await _world(backend, ai_mode=AiMode.OFF)
    for _ in range(3):
        await _say(backend, world)
    await _say(backend, done)
    await _say(backend, off)
    before = w.tick()
    fresh = await _world(backend)
    await _say(backend, fresh)  # written after `before`: its kick may still arrive
    async with backend.uow() as uow:
        await uow.turns.mark_considered(world.room_id, 1)
        await uow.turns.mark_considered(done.room_id, 1)
        await uow.commit()
    async with backend.uow() as uow:
        await uow.turns.mark_considered(world.room_id, 0)  # never lowered
        found = await uow.turns.unconsidered(before=before, limit=10)
        late = await uow.turns.unconsidered(before=w.tick(), limit=10)
        one = await uow.turns.unconsidered(before=before, limit=1)
    assert [(u.room_id, u.considered_seq, u.last_seq) for u in found] == [(world.room_id, 1, 3)]
    assert {(u.room_id, u.considered_seq, u.last_seq) for u in late} == {
        (world.room_id, 1, 3),
        (fresh.room_id, 0, 1),
    }
    assert len(one) == 1
    async with backend.uow() as uow:
        await uow.turns.mark_considered(world.room_id, 3)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.turns.unconsidered(before=before, limit=10) == []


async def test_human_seqs_and_tool_calls_recorded_once(backend: Backend) -> None:
    world = await _world(backend)
    for agent_type in (None, "teacher", None, None):
        await _say(backend, world, agent_type)
    turn = w.turn(world.room_id, world.config_id)
    await _add(backend, turn)
    now = w.tick()
    async with backend.uow() as uow:
        assert await uow.turns.human_seqs(
            world.room_id, after_seq=0, up_to_seq=3, since=world.at[1]
        ) == [1, 3]
        assert await uow.turns.human_seqs(
            world.room_id, after_seq=1, up_to_seq=4, since=world.at[3]
        ) == [3, 4]
        assert await uow.turns.human_seqs(world.room_id, after_seq=4, up_to_seq=9, since=now) == []
        assert await uow.turns.tool_result(turn.id, "call-1") is None
        assert await uow.turns.record_tool_call(
            turn.id, "call-1", tool="search", result={"hits": [1, 2], "q": "ü"}, now=now
        )
        await uow.commit()
    async with backend.uow() as uow:  # an uncommitted record is lost
        assert await uow.turns.record_tool_call(
            turn.id, "call-2", tool="search", result={}, now=now
        )
    async with backend.uow() as uow:
        assert not await uow.turns.record_tool_call(
            turn.id, "call-1", tool="search", result={"other": True}, now=now
        )
        assert await uow.turns.tool_result(turn.id, "call-2") is None
        result = await uow.turns.tool_result(turn.id, "call-1")
    assert result is not None
    assert dict(result) == {"hits": [1, 2], "q": "ü"}


async def test_turn_pages_newest_first_with_the_total(backend: Backend) -> None:
    world = await _world(backend)
    turns = [w.turn(world.room_id, world.config_id, f"msg:{i}") for i in range(5)]
    same = w.tick()  # two created at once: the id breaks the tie, newest first
    tied = [w.turn(world.room_id, world.config_id, f"tie:{i}", created_at=same) for i in range(2)]
    await _add(backend, *turns, *tied)
    newest_first = sorted(tied, key=lambda t: t.id, reverse=True) + turns[::-1]
    async with backend.uow() as uow:
        pages = [await uow.turns.page(world.room_id, offset=o, limit=3) for o in (0, 3, 6, 9)]
        other = await uow.turns.page(w.new_id(), offset=0, limit=3)
    assert [[t.id for t in p.items] for p in pages] == [
        [t.id for t in newest_first[0:3]],
        [t.id for t in newest_first[3:6]],
        [t.id for t in newest_first[6:]],
        [],
    ]
    assert [p.total for p in pages] == [7, 7, 7, 7]
    assert (other.items, other.total) == ([], 0)
