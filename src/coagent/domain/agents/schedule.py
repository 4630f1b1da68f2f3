"""When an agent is on duty: the typed, validated `schedule_config` of an agent configuration.

Wire and storage shape (the original's, plus a time zone)::

    {"timezone": "Europe/Berlin",
     "specific": [{"date": "YYYY-MM-DD", "start": "HH:MM", "end": "HH:MM"}],
     "general": {"mode": "none" | "range_daily" | "range_weekly",
                 "start_date": "YYYY-MM-DD" | null, "end_date": "YYYY-MM-DD" | null,
                 "rules": [{"start_time": "HH:MM", "end_time": "HH:MM", "days": [0..6]}]}}

The original's legacy shape, with `mode`, `start_date`, `end_date` and `rules` at the top level,
is read as `general`. `None` or `{}` means no schedule: always on duty.

Semantics of `is_on_duty` (evaluated on the wall clock of the schedule's time zone, else the
caller's default):

1. A `specific` entry that covers now allows the agent. An entry covers its date from `start`
   (inclusive) to `end` (exclusive); when `end <= start` it crosses midnight and also covers the
   next date until `end`.
2. If `specific` entries exist for today's date but none covers now, today is blocked whatever
   `general` says. (The after-midnight tail of yesterday's entry does not block today.)
3. `general.mode == "none"` (or no `general`) allows the agent.
4. The range modes allow the agent when a rule covers now: the rule's day must lie within
   `start_date..end_date` (inclusive, either may be null for open-ended) and, in `range_weekly`,
   its weekday must be in `days` (0 = Monday). A rule crossing midnight (22:00-02:00) belongs to
   the day it starts: Friday's 22:00-02:00 covers Saturday 01:00, and the date window and the
   weekday are those of Friday.

Validation choices: times are `HH:MM` (`24:00` is accepted as an end and means midnight, stored
as `00:00`); days are unique integers 0..6, stored sorted; at most `MAX_SPECIFIC_DATES` specific
entries and `MAX_RULES` rules; unknown keys are rejected. In `none` mode rules and dates are
still validated and kept, so switching the mode back restores them.

Everything the HTTP schema (`coagent.adapters.http.agents.trigger_schemas`) accepts has a
meaning here, so a schema-valid body is never refused for its content. Cases that cover nothing
are accepted as such, as in the original: a range mode without rules, or a `range_weekly` rule
without weekdays, never puts the agent on duty; a date window whose `end_date` is before its
`start_date` is empty. A range whose end equals its start runs 24 hours from its start
(`00:00`-`00:00` is the whole day; `09:00`-`09:00` runs until 09:00 the next day).

Wall-clock evaluation means DST transitions need no special case: in a spring-forward gap the
skipped times simply never occur, and in a fall-back fold both occurrences are judged by their
(same) wall-clock time.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from coagent.domain.errors import InvalidInput

FIELD: Final = "schedule_config"
MAX_SPECIFIC_DATES: Final = 500
MAX_RULES: Final = 50
MAX_TIMEZONE_LENGTH: Final = 64

_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MIDNIGHT: Final = time(0, 0)

_TOP_KEYS: Final = ("timezone", "specific", "general")
_GENERAL_KEYS: Final = ("mode", "start_date", "end_date", "rules")
_SPECIFIC_KEYS: Final = ("date", "start", "end")
_RULE_KEYS: Final = ("start_time", "end_time", "days")
_WEEKDAYS: Final = "0 = Monday ... 6 = Sunday"


class ScheduleMode(StrEnum):
    """How the general part of a schedule limits the agent."""

    NONE = "none"
    RANGE_DAILY = "range_daily"
    RANGE_WEEKLY = "range_weekly"


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeRange:
    """Wall-clock hours from `start` (inclusive) to `end` (exclusive), in whole minutes.

    When `end <= start` the range crosses midnight: it runs from `start` to midnight and goes on
    the next day until `end`. `00:00`-`00:00` is the whole day; any other `start == end` runs
    24 hours from `start`.

    Attributes:
        start: The first minute covered.
        end: The first minute no longer covered (`00:00` means midnight).
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        """Reject times with seconds or a zone.

        Raises:
            InvalidInput: The range is not made of whole naive minutes.
        """
        for moment in (self.start, self.end):
            if moment.second or moment.microsecond or moment.tzinfo is not None:
                raise InvalidInput("Schedule times are whole minutes (HH:MM) without a zone")

    @property
    def crosses_midnight(self) -> bool:
        """Whether the range goes on into the next day (including the whole-day range)."""
        return self.end <= self.start

    def covers_on_start_day(self, moment: time) -> bool:
        """Whether `moment`, on the day the range starts, is covered."""
        if self.crosses_midnight:
            return moment >= self.start
        return self.start <= moment < self.end

    def covers_on_next_day(self, moment: time) -> bool:
        """Whether `moment`, on the day after the range starts, is covered (the tail)."""
        return self.crosses_midnight and moment < self.end


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecificDate:
    """Hours on one calendar date; a range crossing midnight ends on the next date.

    Attributes:
        day: The date the hours start on.
        hours: The hours.
    """

    day: date
    hours: TimeRange


@dataclass(frozen=True, slots=True, kw_only=True)
class RangeRule:
    """Hours every day (`range_daily`) or on the listed weekdays (`range_weekly`).

    Attributes:
        hours: The hours; a range crossing midnight belongs to the day it starts.
        days: Weekdays, 0 = Monday to 6 = Sunday, unique and sorted; ignored in `range_daily`.
    """

    hours: TimeRange
    days: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneralSchedule:
    """The recurring part of a schedule.

    Attributes:
        mode: `none` allows always; the range modes allow only within a rule.
        start_date: First day a rule may start on (None: no lower bound).
        end_date: Last day a rule may start on (None: no upper bound).
        rules: The rules; in a range mode, none means never on duty.
    """

    mode: ScheduleMode = ScheduleMode.NONE
    start_date: date | None = None
    end_date: date | None = None
    rules: tuple[RangeRule, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """A whole schedule.

    Attributes:
        timezone: IANA name the schedule is read in; None means the caller's default.
        specific: Hours on specific dates; they override `general` on their dates.
        general: The recurring part.
    """

    timezone: str | None = None
    specific: tuple[SpecificDate, ...] = ()
    general: GeneralSchedule = field(default_factory=GeneralSchedule)


def parse_schedule(raw: Mapping[str, object] | None) -> Schedule | None:
    """Read a `schedule_config` as stored or sent by a client (strictly).

    Args:
        raw: The configuration, in the current or the legacy shape; None or `{}` means none.

    Returns:
        The schedule, or None for "always on duty".

    Raises:
        InvalidInput: The detail names the offending field, e.g.
            `schedule_config.general.rules[0].days[2]: ...`.
    """
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{FIELD}: must be an object or null")
    if len(raw) == 0:
        return None
    _reject_unknown(raw, (*_TOP_KEYS, *_GENERAL_KEYS), FIELD, allowed=_TOP_KEYS)
    legacy = [key for key in _GENERAL_KEYS if key in raw]
    if legacy:
        if "general" in raw:
            raise InvalidInput(
                f"{FIELD}: {', '.join(legacy)} belong inside general; "
                "do not send them at the top level as well"
            )
        general = _parse_general({key: raw[key] for key in legacy}, FIELD)
    else:
        general = _parse_general(raw.get("general"), f"{FIELD}.general")
    return Schedule(
        timezone=_parse_timezone(raw.get("timezone"), f"{FIELD}.timezone"),
        specific=_parse_specific(raw.get("specific"), f"{FIELD}.specific"),
        general=general,
    )


def schedule_to_dict(schedule: Schedule | None) -> dict[str, object] | None:
    """The wire and storage shape, which `parse_schedule` reads back unchanged.

    Args:
        schedule: The schedule, or None.

    Returns:
        None for None, else the current shape with every key present.
    """
    if schedule is None:
        return None
    general = schedule.general
    return {
        "timezone": schedule.timezone,
        "specific": [
            {
                "date": entry.day.isoformat(),
                "start": _clock(entry.hours.start),
                "end": _clock(entry.hours.end),
            }
            for entry in schedule.specific
        ],
        "general": {
            "mode": general.mode.value,
            "start_date": None if general.start_date is None else general.start_date.isoformat(),
            "end_date": None if general.end_date is None else general.end_date.isoformat(),
            "rules": [
                {
                    "start_time": _clock(rule.hours.start),
                    "end_time": _clock(rule.hours.end),
                    "days": list(rule.days),
                }
                for rule in general.rules
            ],
        },
    }


def is_on_duty(schedule: Schedule | None, at: datetime, *, default_tz: tzinfo = UTC) -> bool:
    """Whether the schedule lets the agent speak at the instant `at` (see the module docstring).

    Args:
        schedule: The schedule; None means always on duty.
        at: An aware instant (usually UTC now).
        default_tz: The zone used when the schedule names none (the deployment's TIMEZONE).

    Returns:
        True when the agent is on duty.

    Raises:
        ValueError: `at` is naive.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("is_on_duty needs an aware datetime")
    if schedule is None:
        return True
    zone = default_tz if schedule.timezone is None else ZoneInfo(schedule.timezone)
    local = at.astimezone(zone)
    today = local.date()
    now = local.time()
    yesterday = today - timedelta(days=1) if today > date.min else None
    has_entry_today = False
    for entry in schedule.specific:
        if entry.day == today:
            has_entry_today = True
            if entry.hours.covers_on_start_day(now):
                return True
        elif entry.day == yesterday and entry.hours.covers_on_next_day(now):
            return True
    if has_entry_today:
        return False
    return _general_allows(schedule.general, today, yesterday, now)


def _general_allows(
    general: GeneralSchedule, today: date, yesterday: date | None, now: time
) -> bool:
    if general.mode is ScheduleMode.NONE:
        return True
    for rule in general.rules:
        if rule.hours.covers_on_start_day(now) and _rule_day(general, rule, today):
            return True
        if (
            yesterday is not None
            and rule.hours.covers_on_next_day(now)
            and _rule_day(general, rule, yesterday)
        ):
            return True
    return False


def _rule_day(general: GeneralSchedule, rule: RangeRule, day: date) -> bool:
    """Whether a rule's hours may start on `day`."""
    if general.start_date is not None and day < general.start_date:
        return False
    if general.end_date is not None and day > general.end_date:
        return False
    return general.mode is ScheduleMode.RANGE_DAILY or day.weekday() in rule.days


def _clock(moment: time) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _reject_unknown(
    raw: Mapping[str, object], keys: Sequence[str], where: str, *, allowed: Sequence[str]
) -> None:
    unknown = sorted(str(key) for key in raw if key not in keys)
    if unknown:
        raise InvalidInput(
            f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}"
        )


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where}: must be an object")
    return value


def _list(value: object, where: str, limit: int) -> Sequence[object]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise InvalidInput(f"{where}: must be a list")
    if len(value) > limit:
        raise InvalidInput(f"{where}: at most {limit} entries")
    return value


def _required(raw: Mapping[str, object], key: str, where: str) -> object:
    if key not in raw or raw[key] is None:
        raise InvalidInput(f"{where}.{key}: is required")
    return raw[key]


@cache
def time_zone_names() -> tuple[str, ...]:
    """Every accepted `timezone`, sorted: the IANA names this system's time zone data has
    (the HTTP schema lists the same names).
    """
    names = []
    for name in available_timezones():
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # listed but not loadable
            continue
        if len(name) <= MAX_TIMEZONE_LENGTH:
            names.append(name)
    return tuple(sorted(names))


@cache
def _time_zone_set() -> frozenset[str]:
    return frozenset(time_zone_names())


def _parse_timezone(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_TIMEZONE_LENGTH:
        raise InvalidInput(f"{where}: must be an IANA time zone name such as Europe/Berlin")
    if value not in _time_zone_set():
        raise InvalidInput(
            f"{where}: unknown time zone {value!r}; use an IANA name such as Europe/Berlin"
        )
    return value


def _parse_date(value: object, where: str) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise InvalidInput(f"{where}: must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise InvalidInput(f"{where}: {value!r} is not a calendar date") from error


def _optional_date(value: object, where: str) -> date | None:
    return None if value is None else _parse_date(value, where)


def _parse_clock(value: object, where: str, *, end: bool) -> time:
    if end and value == "24:00":
        return _MIDNIGHT
    match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        hint = "HH:MM from 00:00 to 24:00" if end else "HH:MM from 00:00 to 23:59"
        raise InvalidInput(f"{where}: must be a time as {hint}")
    return time(int(match.group(1)), int(match.group(2)))


def _parse_hours(raw: Mapping[str, object], where: str, start_key: str, end_key: str) -> TimeRange:
    start = _parse_clock(_required(raw, start_key, where), f"{where}.{start_key}", end=False)
    end = _parse_clock(_required(raw, end_key, where), f"{where}.{end_key}", end=True)
    return TimeRange(start=start, end=end)


def _parse_specific(value: object, where: str) -> tuple[SpecificDate, ...]:
    entries = []
    for index, item in enumerate(_list(value, where, MAX_SPECIFIC_DATES)):
        here = f"{where}[{index}]"
        entry = _mapping(item, here)
        _reject_unknown(entry, _SPECIFIC_KEYS, here, allowed=_SPECIFIC_KEYS)
        day = _parse_date(_required(entry, "date", here), f"{here}.date")
        entries.append(SpecificDate(day=day, hours=_parse_hours(entry, here, "start", "end")))
    return tuple(entries)


def _parse_days(value: object, where: str) -> tuple[int, ...]:
    days: list[int] = []
    for index, item in enumerate(_list(value, where, 7)):
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= 6:
            raise InvalidInput(f"{where}[{index}]: must be a weekday from 0 to 6 ({_WEEKDAYS})")
        if item in days:
            raise InvalidInput(f"{where}[{index}]: weekday {item} is listed twice")
        days.append(item)
    return tuple(sorted(days))


def _parse_rules(value: object, where: str) -> tuple[RangeRule, ...]:
    rules = []
    for index, item in enumerate(_list(value, where, MAX_RULES)):
        here = f"{where}[{index}]"
        rule = _mapping(item, here)
        _reject_unknown(rule, _RULE_KEYS, here, allowed=_RULE_KEYS)
        hours = _parse_hours(rule, here, "start_time", "end_time")
        days = _parse_days(rule.get("days"), f"{here}.days")
        rules.append(RangeRule(hours=hours, days=days))
    return tuple(rules)


def _parse_general(value: object, where: str) -> GeneralSchedule:
    if value is None:
        return GeneralSchedule()
    general = _mapping(value, where)
    _reject_unknown(general, _GENERAL_KEYS, where, allowed=_GENERAL_KEYS)
    raw_mode = general.get("mode")
    if raw_mode is None:
        mode = ScheduleMode.NONE
    elif isinstance(raw_mode, str) and raw_mode in ScheduleMode.__members__.values():
        mode = ScheduleMode(raw_mode)
    else:
        choices = ", ".join(member.value for member in ScheduleMode)
        raise InvalidInput(f"{where}.mode: unknown mode {raw_mode!r}; use one of {choices}")
    start_date = _optional_date(general.get("start_date"), f"{where}.start_date")
    end_date = _optional_date(general.get("end_date"), f"{where}.end_date")
    rules = _parse_rules(general.get("rules"), f"{where}.rules")
    return GeneralSchedule(mode=mode, start_date=start_date, end_date=end_date, rules=rules)
