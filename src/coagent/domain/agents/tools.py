"""Agent tools: which tools a configuration is offered (`tools`), the bounds course staff set
on what a tool may change (`tool_bounds`), the interrupt policy, and the one tool so far,
`update_trigger`, with its JSON schema and the validation of a model's arguments against it.

Wire shapes:
- `tools`: a list of known tool names (`["update_trigger"]`), empty by default.
- `tool_bounds`: `{"message_count": {"min": 3, "max": 20}, ...}`; a trigger type that is not
  listed keeps the trigger's own bounds (see `coagent.domain.agents.trigger`).
- `interrupt_policy`: `queue` (default) or `interrupt`.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from coagent.domain.agents.trigger import (
    MAX_MESSAGE_COUNT,
    MAX_PROBABILITY,
    MAX_SECONDS,
    MIN_MESSAGE_COUNT,
    MIN_PROBABILITY,
    MIN_SECONDS,
    Trigger,
    TriggerType,
)
from coagent.domain.errors import InvalidInput

UPDATE_TRIGGER: Final = "update_trigger"
KNOWN_TOOLS: Final = (UPDATE_TRIGGER,)
# Agents whose trigger `update_trigger` may change (the room agents).
TARGET_AGENTS: Final = ("teacher", "student")


class InterruptPolicy(StrEnum):
    """What a new human message does to a reply still being streamed."""

    QUEUE = "queue"  # the reply finishes; the next turn answers the new message
    INTERRUPT = "interrupt"  # the reply is withdrawn; one new turn answers both messages


@dataclass(frozen=True, slots=True, kw_only=True)
class Bound:
    """Inclusive bounds of a trigger value a tool may set."""

    low: float | int
    high: float | int

    def holds(self, value: float | int) -> bool:
        return self.low <= value <= self.high


# The trigger types `update_trigger` may set (those with a value) and their own bounds.
TRIGGER_BOUNDS: Final[Mapping[TriggerType, Bound]] = {
    TriggerType.MESSAGE_COUNT: Bound(low=MIN_MESSAGE_COUNT, high=MAX_MESSAGE_COUNT),
    TriggerType.TIME_INTERVAL: Bound(low=MIN_SECONDS, high=MAX_SECONDS),
    TriggerType.SILENCE: Bound(low=MIN_SECONDS, high=MAX_SECONDS),
    TriggerType.PROBABILITY: Bound(low=MIN_PROBABILITY, high=MAX_PROBABILITY),
}
_INTEGRAL: Final = frozenset(
    {TriggerType.MESSAGE_COUNT, TriggerType.TIME_INTERVAL, TriggerType.SILENCE}
)

ToolBounds = Mapping[TriggerType, Bound]


def _number(value: object) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def parse_tools(raw: Sequence[object] | None) -> tuple[str, ...]:
    """The tool names, duplicates dropped, in order; `InvalidInput` for an unknown name."""
    if raw is None:
        return ()
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise InvalidInput("tools: must be a list of tool names")
    names: list[str] = []
    for name in raw:
        if not isinstance(name, str) or name not in KNOWN_TOOLS:
            raise InvalidInput(
                f"tools: unknown tool {name!r}; known tools: {', '.join(KNOWN_TOOLS)}"
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def parse_tool_bounds(raw: Mapping[str, object] | None) -> dict[TriggerType, Bound]:
    """`{"message_count": {"min": 3, "max": 20}}` checked: known value-bearing trigger types,
    both within the trigger's own bounds (whole numbers for counts and seconds). `min` > `max`
    is an empty range: no value of that type may be set.
    """
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidInput("tool_bounds: must be an object keyed by trigger type")
    allowed = ", ".join(kind.value for kind in TRIGGER_BOUNDS)
    bounds: dict[TriggerType, Bound] = {}
    for key, value in raw.items():
        if key not in TRIGGER_BOUNDS:
            raise InvalidInput(f"tool_bounds: unknown trigger type {key!r}; use one of {allowed}")
        kind = TriggerType(key)
        own = TRIGGER_BOUNDS[kind]
        where = f"tool_bounds.{kind.value}"
        if not isinstance(value, Mapping) or set(value) != {"min", "max"}:
            raise InvalidInput(f"{where}: must be an object with exactly min and max")
        low, high = _number(value["min"]), _number(value["max"])
        if kind in _INTEGRAL:
            low = int(low) if isinstance(low, float) and low.is_integer() else low
            high = int(high) if isinstance(high, float) and high.is_integer() else high
            if not isinstance(low, int) or not isinstance(high, int):
                low = high = None
        if low is None or high is None or not own.holds(low) or not own.holds(high):
            raise InvalidInput(
                f"{where}: min and max must be numbers from {own.low} to {own.high}"
                + (" (whole numbers)" if kind in _INTEGRAL else "")
            )
        # A reversed range (min > max) is empty, like a reversed date window in a schedule:
        # the tool may set no value of that type (every call is refused with the bounds).
        bounds[kind] = Bound(low=low, high=high)
    return bounds


def tool_bounds_to_dict(bounds: ToolBounds) -> dict[str, dict[str, float | int]]:
    return {kind.value: {"min": bound.low, "max": bound.high} for kind, bound in bounds.items()}


def bound_for(bounds: ToolBounds, kind: TriggerType) -> Bound:
    """What staff allowed for `kind`, else the trigger's own bounds."""
    return bounds.get(kind) or TRIGGER_BOUNDS[kind]


# --- update_trigger

UPDATE_TRIGGER_DESCRIPTION: Final = (
    "Change when an agent of this course speaks: set the trigger of the active teacher or "
    "student agent configuration. The value must lie within the bounds course staff allowed; "
    "a refusal names them."
)
UPDATE_TRIGGER_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "target_agent": {"type": "string", "enum": list(TARGET_AGENTS)},
        "trigger_type": {"type": "string", "enum": [kind.value for kind in TRIGGER_BOUNDS]},
        "value": {
            "type": "number",
            "description": "message_count: messages; time_interval and silence: seconds; "
            "probability: 0 to 1",
        },
    },
    "required": ["target_agent", "trigger_type", "value"],
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateTriggerArguments:
    """`update_trigger`'s arguments as validated against its schema."""

    target_agent: str
    trigger_type: TriggerType
    value: float | int


def validate_update_trigger(arguments: Mapping[str, Any]) -> UpdateTriggerArguments:
    """The arguments checked against `UPDATE_TRIGGER_SCHEMA`; `InvalidInput` says what is
    wrong in words a model can act on. Bounds are not checked here (see `decide_update`).
    """
    if not isinstance(arguments, Mapping):
        raise InvalidInput("arguments must be a JSON object")
    extra = sorted(str(key) for key in arguments if key not in UPDATE_TRIGGER_SCHEMA["properties"])
    if extra:
        raise InvalidInput(f"unknown argument(s) {', '.join(extra)}")
    missing = [key for key in UPDATE_TRIGGER_SCHEMA["required"] if key not in arguments]
    if missing:
        raise InvalidInput(f"missing argument(s) {', '.join(missing)}")
    target = arguments["target_agent"]
    if not isinstance(target, str) or target not in TARGET_AGENTS:
        raise InvalidInput(f"target_agent must be one of {', '.join(TARGET_AGENTS)}")
    kind = arguments["trigger_type"]
    if not isinstance(kind, str) or kind not in {k.value for k in TRIGGER_BOUNDS}:
        raise InvalidInput(
            f"trigger_type must be one of {', '.join(k.value for k in TRIGGER_BOUNDS)}"
        )
    value = _number(arguments["value"])
    if value is None:
        raise InvalidInput("value must be a number")
    trigger_type = TriggerType(kind)
    if trigger_type in _INTEGRAL:
        if isinstance(value, float) and not value.is_integer():
            raise InvalidInput(f"value must be a whole number for {kind}")
        value = int(value)
    else:
        value = float(value)
    return UpdateTriggerArguments(target_agent=target, trigger_type=trigger_type, value=value)


def decide_update(arguments: UpdateTriggerArguments, bounds: ToolBounds) -> Trigger | Bound:
    """The new trigger, or the bound it broke (a refusal the model is told about)."""
    bound = bound_for(bounds, arguments.trigger_type)
    if not bound.holds(arguments.value):
        return bound
    return Trigger(type=arguments.trigger_type, value=arguments.value)
