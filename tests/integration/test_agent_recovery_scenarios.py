"""Lost kicks on the real stack (PostgreSQL, a private redis-server, `coagent worker` and
`coagent scheduler` as processes, the openai SDK against the scripted server): a human
message sent while Redis is down commits, its `consider_message` kick is lost, and once Redis
is back the scheduler's tick kicks it again: exactly one reply, under the configuration's name.
"""

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from coagent.application.turns.recover_kicks import MESSAGE_GRACE
from coagent.domain.agents.trigger import Trigger, TriggerType
from tests.integration.test_agent_scenarios import (
    PrivateRedis,
    Stack,
    _agent_messages,
    _reply,
    _room,
    _say,
    _settled,
    _turns,
    _until,
    _web_on,
    private_redis,
    stack,
)

__all__ = ["private_redis", "stack"]  # the fixtures

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.anyio]


async def test_a_message_sent_while_redis_is_down_is_answered_once_redis_is_back(
    stack: Stack, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    own = Stack(
        db_url=stack.db_url,
        redis_url=private_redis.url,
        llm=stack.llm,
        logs=tmp_path,
        processes={},
    )
    own.start("scheduler-l", "scheduler")
    own.start("worker-l", "worker")
    try:
        async with _web_on(stack.db_url, private_redis.url, tmp_path) as web:
            await _room(web, own, Trigger(type=TriggerType.MENTION))
            calls = stack.llm.calls
            stack.llm.script(_reply("Back ", "again."))
            private_redis.stop()
            seq = await _say(web, "@teacher are you there?")  # committed; its kick is lost
            await asyncio.sleep(1)
            assert await _turns(web) == []  # nobody heard of it
            private_redis.start()

            async def replied() -> bool:
                return len(await _agent_messages(web)) == 1

            await _until(replied, own, within=60)
            await _until(lambda: _settled(web), own)
            await asyncio.sleep(1.5)  # three ticks: a duplicate would have every chance
            [message] = await _agent_messages(web)
            [turn] = await _turns(web)
            assert message.content == "Back again."
            assert message.sender_name == "Prof Bot"  # the configuration's name, stored
            assert (turn.status.value, turn.caused_by_seq) == ("succeeded", seq)
            assert stack.llm.calls == calls + 1
            # Kicked by the tick, after the grace (not by a late retry of the lost kick).
            async with web.container.uow() as uow:
                asked = await uow.turns.message_at(web.room.id, seq)
            assert asked is not None
            assert turn.created_at - asked.created_at >= MESSAGE_GRACE - timedelta(seconds=0.1)
    finally:
        for name in list(own.processes):
            own.stop(name)
