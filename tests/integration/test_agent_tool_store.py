"""Issue 17's configuration fields (`tools`, `tool_bounds`, `interrupt_policy`) and the
`update_trigger` tool on the real databases (PostgreSQL and SQLite): stored, versioned and read
back as written; the database refuses an unknown policy; a tool update is read by the next
unit of work (no cache) with its version, revision and audit entry.
"""

from dataclasses import replace
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from coagent.application.ports.llm import ToolCall
from coagent.application.turns.tools import AUDIT_ACTION, TurnTools
from coagent.domain.agents.config import AgentType, ConfigVersion, snapshot_of
from coagent.domain.agents.tools import Bound, InterruptPolicy
from coagent.domain.agents.trigger import Trigger, TriggerType
from tests.fakes.clock import FakeIdGenerator, FixedClock
from tests.integration.conftest import Database, new_id, utcnow
from tests.integration.test_agent_configs import _add, _config, _course
from tests.integration.test_agent_turns_store import _add as _add_turn
from tests.integration.test_agent_turns_store import _post, _start, _turn, _world

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

BOUNDS = {
    TriggerType.MESSAGE_COUNT: Bound(low=3, high=20),
    TriggerType.PROBABILITY: Bound(low=0.25, high=0.75),
}


async def test_the_new_fields_default_then_round_trip_and_version(database: Database) -> None:
    course_id = await _course(database)
    plain = _config(course_id, is_active=True)
    await _add(database, plain)
    async with database.uow() as uow:
        read = await uow.agent_configs.get(plain.id)
    assert read is not None
    assert (read.tools, read.tool_bounds, read.interrupt_policy) == (
        (),
        {},
        InterruptPolicy.QUEUE,
    )

    changed = replace(
        read,
        tools=("update_trigger",),
        tool_bounds=BOUNDS,
        interrupt_policy=InterruptPolicy.INTERRUPT,
        updated_at=utcnow(),
    )
    version = ConfigVersion(
        id=new_id(),
        config_id=plain.id,
        version_label="with tools",
        snapshot=snapshot_of(changed),
        created_by=None,
        created_at=utcnow(),
    )
    async with database.uow() as uow:
        await uow.agent_configs.update(changed)
        await uow.agent_configs.add_version(version)
        await uow.commit()
    async with database.uow() as uow:
        again = await uow.agent_configs.active_for(course_id, AgentType.TEACHER)
        stored_version = await uow.agent_configs.get_version(version.id)
    assert again is not None
    assert stored_version is not None
    assert again.tools == ("update_trigger",)
    assert again.tool_bounds == BOUNDS
    assert again.interrupt_policy is InterruptPolicy.INTERRUPT
    assert again.revision == read.revision + 1
    assert stored_version.snapshot.tools == ("update_trigger",)
    assert stored_version.snapshot.tool_bounds == BOUNDS
    assert stored_version.snapshot.interrupt_policy is InterruptPolicy.INTERRUPT


async def test_the_database_refuses_an_unknown_interrupt_policy(database: Database) -> None:
    course_id = await _course(database)
    config = _config(course_id)
    await _add(database, config)
    key = config.id if database.dialect == "postgresql" else config.id.bytes
    with pytest.raises(IntegrityError):
        async with database.engine.begin() as connection:
            await connection.execute(
                text("UPDATE agent_config SET interrupt_policy = 'shout' WHERE id = :id"),
                {"id": key},
            )


async def _run_tool(
    database: Database, caller_id: UUID, course_id: UUID, value: int, *, turn_id: UUID
) -> dict:
    clock, ids = FixedClock(), FakeIdGenerator()
    tools = TurnTools(uow=database.uow, clock=clock, ids=ids)
    async with database.uow() as uow:
        caller = await uow.agent_configs.get(caller_id)
    assert caller is not None
    outcome = await tools.run(
        ToolCall(
            id="c1",
            name="update_trigger",
            arguments={"target_agent": "student", "trigger_type": "message_count", "value": value},
        ),
        config=caller,
        course_id=course_id,
        turn_id=turn_id,
    )
    return dict(outcome.result)


async def test_update_trigger_changes_the_active_target_for_the_next_reader(
    database: Database,
) -> None:
    course_id = await _course(database)
    teacher = _config(course_id, is_active=True, tools=("update_trigger",), tool_bounds=BOUNDS)
    student = _config(course_id, type=AgentType.STUDENT, is_active=True)
    await _add(database, teacher)
    await _add(database, student)

    turn = _turn(await _world(database))  # the turn calling the tool (its calls are recorded)
    await _add_turn(database, turn)
    refused = await _run_tool(database, teacher.id, course_id, 25, turn_id=turn.id)
    assert refused == {"ok": False, "error": "out_of_bounds", "allowed": {"min": 3, "max": 20}}

    result = await _run_tool(database, teacher.id, course_id, 12, turn_id=turn.id)
    assert result["ok"] is True
    async with database.uow() as uow:
        target = await uow.agent_configs.active_for(course_id, AgentType.STUDENT)
        versions, total = await uow.agent_configs.list_versions(student.id, offset=0, limit=10)
        audit = await uow.audit.list(offset=0, limit=10, action=AUDIT_ACTION)
    assert target is not None
    assert target.trigger == Trigger(type=TriggerType.MESSAGE_COUNT, value=12)
    assert target.revision == 2  # the refusal wrote nothing
    assert total == 1
    assert versions[0].snapshot.trigger == target.trigger
    [entry] = audit.items
    assert entry.details["turn_id"] == str(turn.id)
    assert entry.target_id == str(student.id)


# --- the interrupt policy's signal (agent_turn.cancel_requested)


async def test_a_stop_is_asked_once_of_a_running_turn_that_does_not_see_the_message(
    database: Database,
) -> None:
    world = await _world(database)
    await _post(database, world, "@teacher one")
    turn = _turn(world)
    await _add_turn(database, turn)
    token, other = new_id(), new_id()
    assert await _start(database, turn, token, utcnow())  # sees seq 1

    async def ask(before_seq: int, agent_type: str = "teacher") -> int:
        async with database.uow() as uow:
            asked = await uow.turns.request_cancel(
                world.room.id, agent_type=agent_type, before_seq=before_seq
            )
            await uow.commit()
        return asked

    async def asked(lease_token: UUID) -> bool:
        async with database.uow() as uow:
            return await uow.turns.cancel_requested(turn.id, lease_token)

    assert await ask(1) == 0  # the message it answers
    assert await ask(2, "student") == 0  # another agent
    assert not await asked(token)
    assert await ask(2) == 1
    assert await ask(2) == 0  # a duplicated job asks nothing twice
    assert await ask(3) == 0
    assert await asked(token)
    assert not await asked(other)  # only under the turn's own lease
    # requeued by its runner: the request is cleared with the lease
    async with database.uow() as uow:
        assert await uow.turns.requeue(turn.id, token)
        await uow.commit()
    assert not await asked(token)
    restarted = new_id()
    assert await _start(database, turn, restarted, utcnow())
    assert not await asked(restarted)
    assert await ask(2) == 1  # a fresh request for the new run (this helper sees seq 1 only)
    assert await asked(restarted)


async def test_a_turn_run_again_does_not_run_its_tool_call_twice(database: Database) -> None:
    course_id = await _course(database)
    teacher = _config(course_id, is_active=True, tools=("update_trigger",), tool_bounds=BOUNDS)
    student = _config(course_id, type=AgentType.STUDENT, is_active=True)
    await _add(database, teacher)
    await _add(database, student)
    turn = _turn(await _world(database))
    await _add_turn(database, turn)

    first = await _run_tool(database, teacher.id, course_id, 12, turn_id=turn.id)
    again = await _run_tool(database, teacher.id, course_id, 12, turn_id=turn.id)  # the rerun
    assert first == again
    assert first["ok"] is True
    async with database.uow() as uow:
        target = await uow.agent_configs.active_for(course_id, AgentType.STUDENT)
        _, total = await uow.agent_configs.list_versions(student.id, offset=0, limit=10)
        audit = await uow.audit.list(offset=0, limit=10, action=AUDIT_ACTION)
    assert target is not None
    assert (target.revision, total, len(audit.items)) == (2, 1, 1)
    assert await database.scalar("SELECT count(*) FROM agent_tool_call") == 1
