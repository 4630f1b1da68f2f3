"""Wire formats of `trigger_config` and `schedule_config`, typed for the OpenAPI document.

The structs give SDK users types and bounds; the domain (`coagent.domain.agents`) does the
semantic validation, so the conversion functions go through `parse_trigger` and
`parse_schedule` and raise `InvalidInput` with a detail naming the field.

`trigger_config` is a union tagged by `type` (one struct per trigger type, each with its own
`value` bounds). Each tag is
also its `type`'s default in the schema, so generated SDKs fill it in (a caller writes
`MessageCountTrigger(value=3)`, not `MessageCountTrigger(type_="message_count", value=3)`).
Use `TriggerConfig | None` in request structs: null, or omitting it where the
field is optional, means the default trigger (probability at the room's ai_frequency). Responses
should always carry a trigger object (`trigger_to_schema`), never null.

Every body these structs accept has a meaning in the domain (a range mode without rules is
never on duty, a reversed date window is empty, see `coagent.domain.agents.schedule`), so a
schema-valid body is refused for its content. The time zone is a string with a documented
format, not an enum of the ~600 IANA names (generated SDKs choke on an inline enum that large):
`GET /api/v1/meta/timezones` lists what the server accepts, and the domain checks it.

Litestar drops some bounds when it renders these structs (a zero lower bound of an optional
field, bounds of list items): the fields state them in `msgspec.Meta(extra_json_schema=...)`,
and `forbid_unknown_fields` and the tags are restated from msgspec's own configuration by
`coagent.adapters.http.struct_schemas`.
"""

from datetime import date
from typing import Annotated, Final

import msgspec
from litestar.openapi.spec import OpenAPIType, Schema

from coagent.domain.agents.schedule import (
    MAX_RULES,
    MAX_SPECIFIC_DATES,
    MAX_TIMEZONE_LENGTH,
    Schedule,
    ScheduleMode,
    parse_schedule,
    schedule_to_dict,
)
from coagent.domain.agents.trigger import (
    DEFAULT_MESSAGE_COUNT,
    DEFAULT_SECONDS,
    DEFAULT_TRIGGER,
    MAX_MESSAGE_COUNT,
    MAX_PROBABILITY,
    MAX_SECONDS,
    MIN_MESSAGE_COUNT,
    MIN_PROBABILITY,
    MIN_SECONDS,
    Trigger,
    TriggerType,
    parse_trigger,
)

Chance = Annotated[
    float,
    msgspec.Meta(
        ge=MIN_PROBABILITY,
        le=MAX_PROBABILITY,
        description="Chance per human message, 0 to 1; null: the room's ai_frequency",
        # Litestar drops a zero bound of an optional field.
        extra_json_schema={"extra": {"minimum": MIN_PROBABILITY}},
    ),
]
MessageCount = Annotated[
    int,
    msgspec.Meta(
        ge=MIN_MESSAGE_COUNT,
        le=MAX_MESSAGE_COUNT,
        description="Human messages since the agent's last message",
    ),
]
Seconds = Annotated[
    int, msgspec.Meta(ge=MIN_SECONDS, le=MAX_SECONDS, description="Seconds, 10 to 86400")
]
NoValue = Annotated[None, msgspec.Meta(description="This trigger type takes no value")]


class MentionTrigger(msgspec.Struct, tag_field="type", tag="mention", forbid_unknown_fields=True):
    """Speak only when mentioned."""

    value: NoValue = None


class ProbabilityTrigger(
    msgspec.Struct, tag_field="type", tag="probability", forbid_unknown_fields=True
):
    """Speak with this chance per human message; null uses the room's ai_frequency."""

    value: Chance | None = None


class MessageCountTrigger(
    msgspec.Struct, tag_field="type", tag="message_count", forbid_unknown_fields=True
):
    """Speak after this many human messages since the last agent message."""

    value: MessageCount = DEFAULT_MESSAGE_COUNT


class TimeIntervalTrigger(
    msgspec.Struct, tag_field="type", tag="time_interval", forbid_unknown_fields=True
):
    """Speak when this many seconds passed since the agent's last message."""

    value: Seconds = DEFAULT_SECONDS


class SilenceTrigger(msgspec.Struct, tag_field="type", tag="silence", forbid_unknown_fields=True):
    """Speak when the room has been silent (no message of any kind) this many seconds."""

    value: Seconds = DEFAULT_SECONDS


class ManualTrigger(msgspec.Struct, tag_field="type", tag="manual", forbid_unknown_fields=True):
    """Speak only when mentioned or explicitly asked."""

    value: NoValue = None


TriggerConfig = (
    MentionTrigger
    | ProbabilityTrigger
    | MessageCountTrigger
    | TimeIntervalTrigger
    | SilenceTrigger
    | ManualTrigger
)
"""A trigger: one struct per `type`."""


Clock = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="HH:MM, 00:00 to 23:59",
        examples=["09:00"],
    ),
]
EndClock = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$",
        description=(
            "HH:MM, exclusive; at or before the start: the range crosses midnight "
            "(equal to the start: 24 hours)"
        ),
        examples=["17:30"],
    ),
]
Weekday = Annotated[int, msgspec.Meta(ge=0, le=6)]
TIME_ZONE_PATTERN: Final = r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$"
"""The shape of every IANA name (the server also checks the name is one it knows)."""
TimeZoneName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_TIMEZONE_LENGTH,
        pattern=TIME_ZONE_PATTERN,
        description=(
            "IANA time zone name (Area/Location, case-sensitive) the schedule is read in; "
            "null: the server's TIMEZONE. GET /api/v1/meta/timezones lists the accepted names"
        ),
        examples=["Europe/Berlin"],
    ),
]


class ScheduleSpecificDate(msgspec.Struct, forbid_unknown_fields=True):
    """Hours on one date; on a date with entries, only they decide (general is ignored)."""

    date: date
    start: Clock
    end: EndClock


class ScheduleRule(msgspec.Struct, forbid_unknown_fields=True):
    """Hours every day (range_daily) or on `days` (range_weekly, 0 = Monday; none: never)."""

    start_time: Clock
    end_time: EndClock
    days: Annotated[
        list[Weekday],
        # Litestar drops the bounds of list items.
        msgspec.Meta(
            extra_json_schema={
                "extra": {
                    "items": Schema(type=OpenAPIType.INTEGER, minimum=0, maximum=6),
                    "unique_items": True,
                    "max_items": 7,
                }
            }
        ),
    ] = msgspec.field(default_factory=list)


class ScheduleGeneral(msgspec.Struct, forbid_unknown_fields=True):
    """The recurring part; the date window bounds the days a rule may start on (an
    end_date before the start_date: no day). A range mode without rules is never on duty.
    """

    mode: ScheduleMode = ScheduleMode.NONE
    start_date: date | None = None
    end_date: date | None = None
    rules: Annotated[list[ScheduleRule], msgspec.Meta(max_length=MAX_RULES)] = msgspec.field(
        default_factory=list
    )


class ScheduleConfig(msgspec.Struct, forbid_unknown_fields=True):
    """When the agent is on duty; null means always."""

    timezone: TimeZoneName | None = None
    specific: Annotated[list[ScheduleSpecificDate], msgspec.Meta(max_length=MAX_SPECIFIC_DATES)] = (
        msgspec.field(default_factory=list)
    )
    general: ScheduleGeneral = msgspec.field(default_factory=ScheduleGeneral)


def trigger_from_schema(config: TriggerConfig | None) -> Trigger:
    """The domain trigger of a decoded `trigger_config`, validated by the domain.

    Args:
        config: The decoded struct; None means the default trigger (probability, room rate).

    Returns:
        The trigger.

    Raises:
        InvalidInput: The domain rejects the value (the struct's own bounds make this rare).
    """
    if config is None:
        return DEFAULT_TRIGGER
    return parse_trigger(msgspec.to_builtins(config))


def trigger_to_schema(trigger: Trigger) -> TriggerConfig:
    """The wire form of a trigger.

    Args:
        trigger: A domain trigger.

    Returns:
        The struct of the trigger's type, carrying its value.
    """
    value = trigger.value
    match trigger.type:
        case TriggerType.PROBABILITY:
            return ProbabilityTrigger(value=None if value is None else float(value))
        case TriggerType.MESSAGE_COUNT:
            return MessageCountTrigger(value=_whole(value, DEFAULT_MESSAGE_COUNT))
        case TriggerType.TIME_INTERVAL:
            return TimeIntervalTrigger(value=_whole(value, DEFAULT_SECONDS))
        case TriggerType.SILENCE:
            return SilenceTrigger(value=_whole(value, DEFAULT_SECONDS))
        case TriggerType.MENTION:
            return MentionTrigger()
        case TriggerType.MANUAL:
            return ManualTrigger()


def schedule_from_schema(config: ScheduleConfig | None) -> Schedule | None:
    """The domain schedule of a decoded `schedule_config`, validated by the domain.

    Args:
        config: The decoded struct; None means no schedule (always on duty).

    Returns:
        The schedule, or None.

    Raises:
        InvalidInput: The domain rejects it (an unknown time zone; the struct's own bounds
            catch the rest); the detail names the field.
    """
    if config is None:
        return None
    return parse_schedule(msgspec.to_builtins(config))


def schedule_to_schema(schedule: Schedule | None) -> ScheduleConfig | None:
    """The wire form of a schedule.

    Args:
        schedule: A domain schedule, or None.

    Returns:
        The struct, or None when there is no schedule.
    """
    as_dict = schedule_to_dict(schedule)
    return None if as_dict is None else msgspec.convert(as_dict, ScheduleConfig)


def _whole(value: float | int | None, default: int) -> int:
    # A domain Trigger always holds an int for counts and seconds; this only narrows the type.
    return default if value is None else int(value)
