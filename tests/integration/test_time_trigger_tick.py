"""The scheduler's time-trigger tick on PostgreSQL and SQLite: one statement reads every
candidate room with its activity, however many rooms there are; a due trigger still
becomes one turn.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event

from coagent.application.ports.chat import NewMessage
from coagent.application.turns.common import TurnLimits
from coagent.application.turns.tick_time_triggers import (
    TickTimeTriggers,
    TickTimeTriggersCommand,
)
from coagent.domain.agents.config import AgentConfig, AgentType, Provider
from coagent.domain.agents.trigger import Trigger, TriggerType
from coagent.domain.agents.turn import TurnStatus
from coagent.domain.courses.course import Course
from coagent.domain.courses.room import AiMode, Room
from tests.fakes.clock import FakeIdGenerator, FixedClock
from tests.fakes.turns import RecordingAgentStream, RecordingKicker
from tests.integration.conftest import Database, UserFactory, new_id, utcnow

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SILENCE = 60


async def _course_with_rooms(database: Database, rooms: int) -> list[Room]:
    user = UserFactory.build(full_name="Ana")
    now = utcnow()
    course = Course(
        id=new_id(), title="C", description=None, owner_id=user.id, created_at=now, updated_at=now
    )
    made = [
        Room(
            id=new_id(),
            course_id=course.id,
            name=f"R{index}",
            description=None,
            ai_mode=AiMode.TEACHER_ONLY,
            ai_frequency=0.0,
            is_ai_active=True,
            is_analytics_active=False,
            created_at=now,
            updated_at=now,
        )
        for index in range(rooms)
    ]
    async with database.uow() as uow:
        await uow.users.add(user)
        await uow.courses.add(course)
        await uow.agent_configs.add(
            AgentConfig(
                id=new_id(),
                course_id=course.id,
                type=AgentType.TEACHER,
                name="Prof",
                provider=Provider.OFFLINE,
                model=None,
                base_url=None,
                system_prompt="p",
                context_window=10,
                trigger=Trigger(type=TriggerType.SILENCE, value=SILENCE),
                schedule=None,
                settings={},
                is_active=True,
                created_by=None,
                created_at=now,
                updated_at=now,
            )
        )
        for room in made:
            await uow.rooms.add(room)
            # A human message nobody answered: silence is due SILENCE s after it.
            await uow.messages.append(
                NewMessage(
                    id=new_id(),
                    room_id=room.id,
                    content="anyone?",
                    created_at=now,
                    sender_id=user.id,
                )
            )
        await uow.commit()
    return made


@contextmanager
def _counted(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's own BEGIN IMMEDIATE
            seen.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _tick(database: Database, clock: FixedClock, kicker: RecordingKicker) -> TickTimeTriggers:
    return TickTimeTriggers(
        uow=database.uow,
        clock=clock,
        ids=FakeIdGenerator(),
        kicker=kicker,
        stream=RecordingAgentStream(),
        limits=TurnLimits(turns_per_minute=600),
    )


async def test_a_tick_reads_all_candidate_rooms_in_one_statement(database: Database) -> None:
    rooms = await _course_with_rooms(database, 6)
    kicker = RecordingKicker()
    clock = FixedClock(utcnow() + timedelta(seconds=SILENCE // 2))  # nothing due yet
    with _counted(database) as statements:
        ticked = await _tick(database, clock, kicker).execute(TickTimeTriggersCommand())
    assert ticked.checked >= len(rooms)
    assert ticked.queued == 0
    assert len(statements) == 1, statements
    assert kicker.runs == []


async def test_a_due_trigger_still_becomes_one_turn_per_room(database: Database) -> None:
    rooms = await _course_with_rooms(database, 3)
    kicker = RecordingKicker()
    clock = FixedClock(utcnow() + timedelta(seconds=SILENCE + 5))
    tick = _tick(database, clock, kicker)
    await tick.execute(TickTimeTriggersCommand())
    await tick.execute(TickTimeTriggersCommand())  # a second tick adds nothing
    ids = {room.id for room in rooms}
    assert set(kicker.runs) >= ids
    for room in rooms:
        async with database.uow() as uow:
            page = await uow.turns.page(room.id, offset=0, limit=10)
        assert [t.status for t in page.items] == [TurnStatus.QUEUED]
