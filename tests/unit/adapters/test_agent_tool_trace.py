"""The `agent.tool` staff trace over HubAgentStream: typed, addressed to staff only, and
listed in the published chat event union.
"""

from uuid import uuid4

import pytest

from coagent.adapters.realtime.events import CHAT_EVENTS, STAFF, AgentToolEvent
from coagent.application.ports.agent_events import AgentToolTrace
from tests.unit.adapters.test_agent_stream import ROOM, TURN, Hub, _stream

pytestmark = pytest.mark.anyio


async def test_a_tool_trace_goes_to_staff_with_the_validated_arguments_and_result() -> None:
    hub = Hub()
    stream = _stream(hub)
    await stream.trace(
        AgentToolTrace(
            room_id=ROOM,
            turn_id=TURN,
            agent_type="teacher",
            tool="update_trigger",
            arguments={"target_agent": "student", "trigger_type": "silence", "value": 60},
            result={"ok": False, "error": "out_of_bounds", "allowed": {"min": 90, "max": 600}},
        )
    )
    [(room, frame, audience, _)] = hub.sent
    assert (room, audience) == (ROOM, STAFF)
    assert frame == {
        "type": "agent.tool",
        "room_id": str(ROOM),
        "turn_id": str(TURN),
        "agent_type": "teacher",
        "tool": "update_trigger",
        "arguments": {"target_agent": "student", "trigger_type": "silence", "value": 60},
        "result": {"ok": False, "error": "out_of_bounds", "allowed": {"min": 90, "max": 600}},
    }


async def test_arguments_that_did_not_validate_are_null() -> None:
    hub = Hub()
    await _stream(hub).trace(
        AgentToolTrace(
            room_id=ROOM,
            turn_id=uuid4(),
            agent_type="student",
            tool="update_trigger",
            arguments=None,
            result={"ok": False, "error": "invalid arguments: value must be a number"},
        )
    )
    [(_, frame, audience, _)] = hub.sent
    assert audience == STAFF
    assert frame["arguments"] is None
    assert frame["result"]["error"].startswith("invalid arguments")


def test_the_tool_event_is_part_of_the_published_union() -> None:
    assert AgentToolEvent in CHAT_EVENTS
