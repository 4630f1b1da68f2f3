"""Agent tools in the domain: `update_trigger`'s argument validation (the schema table), the
bounds staff set (`tool_bounds`), the `tools` list, and deciding an update within bounds.
"""

from typing import Any

import pytest

from coagent.domain.agents.tools import (
    KNOWN_TOOLS,
    TRIGGER_BOUNDS,
    UPDATE_TRIGGER_SCHEMA,
    Bound,
    UpdateTriggerArguments,
    decide_update,
    parse_tool_bounds,
    parse_tools,
    tool_bounds_to_dict,
    validate_update_trigger,
)
from coagent.domain.agents.trigger import Trigger, TriggerType
from coagent.domain.errors import InvalidInput

VALID = {"target_agent": "teacher", "trigger_type": "message_count", "value": 5}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            VALID,
            UpdateTriggerArguments(
                target_agent="teacher", trigger_type=TriggerType.MESSAGE_COUNT, value=5
            ),
        ),
        (
            {**VALID, "value": 5.0},
            UpdateTriggerArguments(
                target_agent="teacher", trigger_type=TriggerType.MESSAGE_COUNT, value=5
            ),
        ),
        (
            {"target_agent": "student", "trigger_type": "probability", "value": 1},
            UpdateTriggerArguments(
                target_agent="student", trigger_type=TriggerType.PROBABILITY, value=1.0
            ),
        ),
        (
            {"target_agent": "teacher", "trigger_type": "silence", "value": 120},
            UpdateTriggerArguments(
                target_agent="teacher", trigger_type=TriggerType.SILENCE, value=120
            ),
        ),
    ],
)
def test_valid_arguments_are_read_typed(arguments: dict[str, Any], expected: Any) -> None:
    validated = validate_update_trigger(arguments)
    assert validated == expected
    assert type(validated.value) is type(expected.value)


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({**VALID, "value": "five"}, "value must be a number"),
        ({**VALID, "value": True}, "value must be a number"),
        ({**VALID, "value": None}, "value must be a number"),
        ({**VALID, "value": float("nan")}, "value must be a number"),
        ({**VALID, "value": 5.5}, "whole number"),
        ({**VALID, "target_agent": "design"}, "target_agent must be one of teacher, student"),
        ({**VALID, "target_agent": 1}, "target_agent must be one of"),
        ({**VALID, "trigger_type": "mention"}, "trigger_type must be one of"),
        ({**VALID, "trigger_type": "sometimes"}, "trigger_type must be one of"),
        ({**VALID, "room": "x"}, "unknown argument(s) room"),
        ({"target_agent": "teacher", "value": 5}, "missing argument(s) trigger_type"),
        ({}, "missing argument(s) target_agent, trigger_type, value"),
    ],
)
def test_invalid_arguments_say_what_is_wrong(arguments: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_update_trigger(arguments)
    assert says in raised.value.detail


def test_the_schema_matches_what_validation_accepts() -> None:
    assert UPDATE_TRIGGER_SCHEMA["additionalProperties"] is False
    assert set(UPDATE_TRIGGER_SCHEMA["required"]) == set(UPDATE_TRIGGER_SCHEMA["properties"])
    kinds = UPDATE_TRIGGER_SCHEMA["properties"]["trigger_type"]["enum"]
    assert kinds == [kind.value for kind in TRIGGER_BOUNDS]
    for kind in kinds:  # every listed type validates
        validate_update_trigger(
            {**VALID, "trigger_type": kind, "value": 1 if kind == "probability" else 30}
        )


@pytest.mark.parametrize(
    ("value", "bounds", "expected"),
    [
        (
            5,
            {TriggerType.MESSAGE_COUNT: Bound(low=3, high=20)},
            Trigger(type=TriggerType.MESSAGE_COUNT, value=5),
        ),
        (
            3,
            {TriggerType.MESSAGE_COUNT: Bound(low=3, high=20)},
            Trigger(type=TriggerType.MESSAGE_COUNT, value=3),
        ),
        (
            20,
            {TriggerType.MESSAGE_COUNT: Bound(low=3, high=20)},
            Trigger(type=TriggerType.MESSAGE_COUNT, value=20),
        ),
        (2, {TriggerType.MESSAGE_COUNT: Bound(low=3, high=20)}, Bound(low=3, high=20)),
        (21, {TriggerType.MESSAGE_COUNT: Bound(low=3, high=20)}, Bound(low=3, high=20)),
        # no bounds set: the trigger's own
        (1000, {}, Trigger(type=TriggerType.MESSAGE_COUNT, value=1000)),
        (1001, {}, Bound(low=1, high=1000)),
        (0, {}, Bound(low=1, high=1000)),
    ],
)
def test_an_update_is_decided_within_the_bounds(value: int, bounds: Any, expected: Any) -> None:
    arguments = UpdateTriggerArguments(
        target_agent="teacher", trigger_type=TriggerType.MESSAGE_COUNT, value=value
    )
    assert decide_update(arguments, bounds) == expected


def test_tool_bounds_round_trip_through_their_wire_shape() -> None:
    raw = {"message_count": {"min": 3, "max": 20}, "probability": {"min": 0.1, "max": 0.5}}
    bounds = parse_tool_bounds(raw)
    assert bounds == {
        TriggerType.MESSAGE_COUNT: Bound(low=3, high=20),
        TriggerType.PROBABILITY: Bound(low=0.1, high=0.5),
    }
    assert tool_bounds_to_dict(bounds) == raw
    assert parse_tool_bounds(None) == {}
    assert parse_tool_bounds({"silence": {"min": 10.0, "max": 60.0}}) == {
        TriggerType.SILENCE: Bound(low=10, high=60)
    }


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"mention": {"min": 1, "max": 2}}, "unknown trigger type 'mention'"),
        ({"message_count": {"min": 0, "max": 3}}, "from 1 to 1000"),
        ({"message_count": {"min": 1.5, "max": 3}}, "whole numbers"),
        ({"silence": {"min": 5, "max": 60}}, "from 10 to 86400"),
        ({"probability": {"min": 0, "max": 2}}, "from 0.0 to 1.0"),
        ({"message_count": {"min": 3}}, "exactly min and max"),
        ({"message_count": {"min": 3, "max": 5, "step": 1}}, "exactly min and max"),
        ({"message_count": {"min": "3", "max": 5}}, "from 1 to 1000"),
        ({"message_count": {"min": True, "max": 5}}, "from 1 to 1000"),
    ],
)
def test_bad_tool_bounds_are_refused(raw: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_tool_bounds(raw)
    assert says in raised.value.detail
    assert raised.value.detail.startswith("tool_bounds")


def test_tools_are_known_names_without_duplicates() -> None:
    assert parse_tools(["update_trigger", "update_trigger"]) == ("update_trigger",)
    assert parse_tools(None) == ()
    assert parse_tools([]) == ()
    assert KNOWN_TOOLS == ("update_trigger",)
    with pytest.raises(InvalidInput, match="unknown tool 'web_search'"):
        parse_tools(["web_search"])
    with pytest.raises(InvalidInput, match="must be a list"):
        parse_tools("update_trigger")


def test_a_reversed_range_is_empty_every_value_refused() -> None:
    bounds = parse_tool_bounds({"message_count": {"min": 20, "max": 3}})
    for value in (3, 10, 20):
        arguments = UpdateTriggerArguments(
            target_agent="teacher", trigger_type=TriggerType.MESSAGE_COUNT, value=value
        )
        assert decide_update(arguments, bounds) == Bound(low=20, high=3)
