"""The typed trigger_config: defaults, bounds, every rejection and round-trips."""

import math
from typing import Any

import pytest

from coagent.domain.agents.trigger import (
    DEFAULT_TRIGGER,
    Trigger,
    TriggerType,
    parse_trigger,
    trigger_to_dict,
)
from coagent.domain.errors import InvalidInput


def test_the_trigger_types_are_the_six_of_the_product() -> None:
    assert {member.value for member in TriggerType} == {
        "mention",
        "probability",
        "message_count",
        "time_interval",
        "silence",
        "manual",
    }


@pytest.mark.parametrize("raw", [None, {}])
def test_null_and_empty_are_probability_at_the_room_rate(raw: dict[str, object] | None) -> None:
    trigger = parse_trigger(raw)

    assert trigger == DEFAULT_TRIGGER
    assert trigger.type is TriggerType.PROBABILITY
    assert trigger.value is None
    assert trigger_to_dict(trigger) == {"type": "probability", "value": None}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"type": "mention"}, Trigger(type=TriggerType.MENTION)),
        ({"type": "mention", "value": None}, Trigger(type=TriggerType.MENTION)),
        ({"type": "manual"}, Trigger(type=TriggerType.MANUAL)),
        ({"type": "probability"}, Trigger(type=TriggerType.PROBABILITY, value=None)),
        ({"type": "probability", "value": 0}, Trigger(type=TriggerType.PROBABILITY, value=0.0)),
        ({"type": "probability", "value": 1}, Trigger(type=TriggerType.PROBABILITY, value=1.0)),
        ({"type": "probability", "value": 0.25}, Trigger(type=TriggerType.PROBABILITY, value=0.25)),
        ({"type": "message_count"}, Trigger(type=TriggerType.MESSAGE_COUNT, value=10)),
        (
            {"type": "message_count", "value": None},
            Trigger(type=TriggerType.MESSAGE_COUNT, value=10),
        ),
        ({"type": "message_count", "value": 1}, Trigger(type=TriggerType.MESSAGE_COUNT, value=1)),
        (
            {"type": "message_count", "value": 1000},
            Trigger(type=TriggerType.MESSAGE_COUNT, value=1000),
        ),
        ({"type": "message_count", "value": 5.0}, Trigger(type=TriggerType.MESSAGE_COUNT, value=5)),
        ({"type": "time_interval"}, Trigger(type=TriggerType.TIME_INTERVAL, value=60)),
        ({"type": "time_interval", "value": 10}, Trigger(type=TriggerType.TIME_INTERVAL, value=10)),
        ({"type": "silence"}, Trigger(type=TriggerType.SILENCE, value=60)),
        ({"type": "silence", "value": 86_400}, Trigger(type=TriggerType.SILENCE, value=86_400)),
        ({"type": "silence", "value": 120.0}, Trigger(type=TriggerType.SILENCE, value=120)),
    ],
)
def test_valid_triggers_parse(raw: dict[str, object], expected: Trigger) -> None:
    trigger = parse_trigger(raw)

    assert trigger == expected
    assert type(trigger.value) is type(expected.value)


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "mention", "value": None},
        {"type": "manual", "value": None},
        {"type": "probability", "value": None},
        {"type": "probability", "value": 0.7},
        {"type": "message_count", "value": 3},
        {"type": "time_interval", "value": 300},
        {"type": "silence", "value": 45},
    ],
)
def test_to_dict_and_back_is_the_identity(raw: dict[str, object]) -> None:
    trigger = parse_trigger(raw)
    written = trigger_to_dict(trigger)

    assert written == raw
    assert parse_trigger(written) == trigger


def test_an_omitted_default_is_written_out() -> None:
    assert trigger_to_dict(parse_trigger({"type": "silence"})) == {"type": "silence", "value": 60}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        # Shape.
        ({"type": "silence", "value": 60, "every": 2}, "trigger_config: unknown field(s) every"),
        ({"kind": "silence"}, "trigger_config: unknown field(s) kind"),
        ({"value": 5}, "trigger_config.type: is required"),
        ({"type": None, "value": 5}, "trigger_config.type: is required"),
        ({"type": "sometimes"}, "trigger_config.type: unknown trigger type 'sometimes'"),
        ({"type": "MENTION"}, "trigger_config.type: unknown trigger type 'MENTION'"),
        ({"type": 3}, "trigger_config.type: unknown trigger type 3"),
        # Types without a value.
        ({"type": "mention", "value": 1}, "trigger_config.value: mention takes no value"),
        ({"type": "manual", "value": 0}, "trigger_config.value: manual takes no value"),
        ({"type": "manual", "value": False}, "trigger_config.value: manual takes no value"),
        # Probability.
        ({"type": "probability", "value": -0.01}, "probability needs a number from 0 to 1"),
        ({"type": "probability", "value": 1.01}, "probability needs a number from 0 to 1"),
        ({"type": "probability", "value": "0.5"}, "probability needs a number from 0 to 1"),
        ({"type": "probability", "value": True}, "probability needs a number from 0 to 1"),
        ({"type": "probability", "value": math.nan}, "probability needs a number from 0 to 1"),
        ({"type": "probability", "value": math.inf}, "probability needs a number from 0 to 1"),
        # Counts.
        (
            {"type": "message_count", "value": 0},
            "trigger_config.value: message_count needs an integer from 1 to 1000",
        ),
        ({"type": "message_count", "value": 1001}, "message_count needs an integer from 1 to 1000"),
        ({"type": "message_count", "value": 2.5}, "message_count needs an integer from 1 to 1000"),
        ({"type": "message_count", "value": "5"}, "message_count needs an integer from 1 to 1000"),
        ({"type": "message_count", "value": True}, "message_count needs an integer from 1 to 1000"),
        ({"type": "message_count", "value": -3}, "message_count needs an integer from 1 to 1000"),
        ({"type": "message_count", "value": math.inf}, "message_count needs an integer"),
        # Seconds.
        (
            {"type": "time_interval", "value": 9},
            "trigger_config.value: time_interval needs an integer from 10 to 86400 (seconds)",
        ),
        ({"type": "time_interval", "value": 86_401}, "time_interval needs an integer from 10"),
        ({"type": "time_interval", "value": 30.5}, "time_interval needs an integer from 10"),
        ({"type": "silence", "value": 0}, "silence needs an integer from 10 to 86400 (seconds)"),
        ({"type": "silence", "value": False}, "silence needs an integer from 10 to 86400"),
        ({"type": "silence", "value": [60]}, "silence needs an integer from 10 to 86400"),
    ],
)
def test_invalid_triggers_are_rejected_naming_the_field(
    raw: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_trigger(raw)

    assert message in caught.value.detail
    assert caught.value.detail.startswith("trigger_config")


def test_an_unknown_type_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_trigger({"type": "cron"})

    for member in TriggerType:
        assert member.value in caught.value.detail


def test_a_non_mapping_is_rejected() -> None:
    bad: Any = ["silence", 60]

    with pytest.raises(InvalidInput, match="trigger_config: must be an object"):
        parse_trigger(bad)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (TriggerType.MESSAGE_COUNT, 0),
        (TriggerType.MESSAGE_COUNT, None),
        (TriggerType.SILENCE, 5),
        (TriggerType.TIME_INTERVAL, True),
        (TriggerType.PROBABILITY, 2.0),
        (TriggerType.MENTION, 1),
    ],
)
def test_a_trigger_cannot_be_built_out_of_bounds(kind: TriggerType, value: float | None) -> None:
    with pytest.raises(InvalidInput, match=r"^trigger_config\.value: "):
        Trigger(type=kind, value=value)


def test_a_built_trigger_normalises_whole_seconds_and_probabilities() -> None:
    assert Trigger(type=TriggerType.SILENCE, value=90.0).value == 90
    assert isinstance(Trigger(type=TriggerType.SILENCE, value=90.0).value, int)
    assert isinstance(Trigger(type=TriggerType.PROBABILITY, value=1).value, float)


def test_an_empty_list_is_not_an_empty_config() -> None:
    bad: Any = []

    with pytest.raises(InvalidInput, match="trigger_config: must be an object"):
        parse_trigger(bad)
