"""When an agent speaks: the typed, validated `trigger_config` of an agent configuration.

The wire shape is `{"type": <TriggerType>, "value": <number or null>}`. A missing configuration
(`None` or `{}`) is the original's probabilistic mode, `DEFAULT_TRIGGER`, so a configuration
always reads back with a trigger object, never null.

Bounds of `value` per type (inclusive):

| type            | value                                   | when omitted or null      |
|-----------------|-----------------------------------------|---------------------------|
| `probability`   | chance per human message, 0.0 to 1.0    | None: the room's ai_frequency |
| `message_count` | human messages since the last agent message, integer 1 to 1000 | 10 |
| `time_interval` | seconds since the agent's last message, integer 10 to 86400 | 60 |
| `silence`       | seconds since the room's last message, integer 10 to 86400 | 60 |
| `mention`       | none (must be absent or null)           | None                      |
| `manual`        | none (must be absent or null)           | None                      |

Counts and seconds accept an integral float (`5.0`) and store it as an int; `True` and `False`
are never numbers. The lower bound of 10 s keeps a time trigger from firing every scheduler tick;
the upper bound is one day.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from coagent.domain.errors import InvalidInput

FIELD: Final = "trigger_config"

MIN_MESSAGE_COUNT: Final = 1
MAX_MESSAGE_COUNT: Final = 1000
DEFAULT_MESSAGE_COUNT: Final = 10
MIN_SECONDS: Final = 10
MAX_SECONDS: Final = 86_400
DEFAULT_SECONDS: Final = 60
MIN_PROBABILITY: Final = 0.0
MAX_PROBABILITY: Final = 1.0

_KEYS: Final = frozenset({"type", "value"})


class TriggerType(StrEnum):
    """What makes an agent speak, besides a mention (which is always answered)."""

    MENTION = "mention"
    PROBABILITY = "probability"
    MESSAGE_COUNT = "message_count"
    TIME_INTERVAL = "time_interval"
    SILENCE = "silence"
    MANUAL = "manual"


# Types whose value is a whole number, with their bounds, default and unit for messages.
_INTEGER_RULES: Final[dict[TriggerType, tuple[int, int, int, str]]] = {
    TriggerType.MESSAGE_COUNT: (MIN_MESSAGE_COUNT, MAX_MESSAGE_COUNT, DEFAULT_MESSAGE_COUNT, ""),
    TriggerType.TIME_INTERVAL: (MIN_SECONDS, MAX_SECONDS, DEFAULT_SECONDS, " (seconds)"),
    TriggerType.SILENCE: (MIN_SECONDS, MAX_SECONDS, DEFAULT_SECONDS, " (seconds)"),
}
_NO_VALUE: Final = frozenset({TriggerType.MENTION, TriggerType.MANUAL})


def _type_list() -> str:
    return ", ".join(member.value for member in TriggerType)


def _number(value: object) -> float | int | None:
    """The value if it is a finite int or float (never a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _check_value(kind: TriggerType, value: object, *, allow_default: bool) -> float | int | None:
    where = f"{FIELD}.value"
    if kind in _NO_VALUE:
        if value is not None:
            raise InvalidInput(f"{where}: {kind.value} takes no value; omit it or send null")
        return None
    if kind is TriggerType.PROBABILITY:
        if value is None:
            return None
        number = _number(value)
        if number is None or not MIN_PROBABILITY <= number <= MAX_PROBABILITY:
            raise InvalidInput(
                f"{where}: probability needs a number from 0 to 1, "
                "or null for the room's ai_frequency"
            )
        return float(number)
    low, high, default, unit = _INTEGER_RULES[kind]
    if value is None and allow_default:
        return default
    number = _number(value)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if not isinstance(number, int) or not low <= number <= high:
        raise InvalidInput(f"{where}: {kind.value} needs an integer from {low} to {high}{unit}")
    return number


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """A validated trigger; constructing one with a value out of bounds raises `InvalidInput`.

    Attributes:
        type: What makes the agent speak.
        value: `probability`: a chance from 0.0 to 1.0 (a float), or None for the room's
            ai_frequency. `message_count`: an int from 1 to 1000. `time_interval` and
            `silence`: an int number of seconds from 10 to 86400. `mention` and `manual`: None.
    """

    type: TriggerType
    value: float | int | None = None

    def __post_init__(self) -> None:
        """Reject a value that does not fit the type.

        Raises:
            InvalidInput: The value is out of bounds or of the wrong kind for the type.
        """
        kind = TriggerType(self.type)
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "value", _check_value(kind, self.value, allow_default=False))


DEFAULT_TRIGGER: Final = Trigger(type=TriggerType.PROBABILITY, value=None)


def parse_trigger(raw: Mapping[str, object] | None) -> Trigger:
    """Read a `trigger_config` as stored or sent by a client.

    Args:
        raw: `{"type": ..., "value": ...}`; None or `{}` means `DEFAULT_TRIGGER`.

    Returns:
        The trigger, with the documented default filled in when a count or seconds value is
        omitted or null.

    Raises:
        InvalidInput: Unknown keys, a missing or unknown type, or a value of the wrong kind or
            out of bounds; the detail names the field (`trigger_config.value: ...`).
    """
    if raw is None:
        return DEFAULT_TRIGGER
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{FIELD}: must be an object with a type and a value")
    if len(raw) == 0:
        return DEFAULT_TRIGGER
    unknown = sorted(str(key) for key in raw if key not in _KEYS)
    if unknown:
        raise InvalidInput(f"{FIELD}: unknown field(s) {', '.join(unknown)}; allowed: type, value")
    if "type" not in raw or raw["type"] is None:
        raise InvalidInput(f"{FIELD}.type: is required, one of {_type_list()}")
    kind = raw["type"]
    if not isinstance(kind, str) or kind not in TriggerType.__members__.values():
        raise InvalidInput(
            f"{FIELD}.type: unknown trigger type {kind!r}; use one of {_type_list()}"
        )
    trigger_type = TriggerType(kind)
    value = _check_value(trigger_type, raw.get("value"), allow_default=True)
    return Trigger(type=trigger_type, value=value)


def trigger_to_dict(trigger: Trigger) -> dict[str, object]:
    """The wire and storage shape: always both keys, `value` null when the type has none.

    Args:
        trigger: The trigger to write.

    Returns:
        `{"type": <str>, "value": <number or None>}`, which `parse_trigger` reads back unchanged.
    """
    return {"type": trigger.type.value, "value": trigger.value}
