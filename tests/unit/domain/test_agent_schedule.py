"""The typed schedule_config: parsing, every rejection, round-trips and the on-duty rules."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from coagent.domain.agents.schedule import (
    MAX_RULES,
    MAX_SPECIFIC_DATES,
    GeneralSchedule,
    RangeRule,
    Schedule,
    ScheduleMode,
    SpecificDate,
    TimeRange,
    is_on_duty,
    parse_schedule,
    schedule_to_dict,
)
from coagent.domain.errors import InvalidInput

BERLIN = ZoneInfo("Europe/Berlin")
# 2025-03-10 is a Monday; the week used below runs Monday 10 to Sunday 16 March 2025.
MON, TUE, WED, THU, FRI, SAT, SUN = (date(2025, 3, 10) + timedelta(days=n) for n in range(7))


def utc(day: date, clock: str, zone: ZoneInfo | None = None) -> datetime:
    """The UTC instant of a wall-clock time on `day` in `zone` (UTC when None)."""
    hour, minute = (int(part) for part in clock.split(":"))
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone or UTC)
    return local.astimezone(UTC)


def rule(start: str, end: str, days: list[int] | None = None) -> dict[str, object]:
    return {"start_time": start, "end_time": end, "days": days or []}


def general(mode: str, *rules: dict[str, object], **window: str | None) -> dict[str, object]:
    return {
        "mode": mode,
        "start_date": window.get("start_date"),
        "end_date": window.get("end_date"),
        "rules": list(rules),
    }


def config(
    *,
    timezone: str | None = None,
    specific: list[dict[str, object]] | None = None,
    general_part: dict[str, object] | None = None,
) -> dict[str, object]:
    return {
        "timezone": timezone,
        "specific": specific or [],
        "general": general_part or general("none"),
    }


def test_the_weekdays_used_here_are_what_the_names_say() -> None:
    assert [day.weekday() for day in (MON, TUE, WED, THU, FRI, SAT, SUN)] == list(range(7))


# Parsing and round-trips.


@pytest.mark.parametrize("raw", [None, {}])
def test_no_schedule_is_none_and_always_on_duty(raw: dict[str, object] | None) -> None:
    assert parse_schedule(raw) is None
    assert schedule_to_dict(None) is None
    assert is_on_duty(None, utc(MON, "03:00")) is True


def test_a_full_schedule_parses_into_typed_parts() -> None:
    schedule = parse_schedule(
        config(
            timezone="Europe/Berlin",
            specific=[{"date": "2025-03-14", "start": "22:00", "end": "02:00"}],
            general_part=general(
                "range_weekly",
                rule("09:00", "12:30", [4, 0]),
                start_date="2025-03-01",
                end_date="2025-06-30",
            ),
        )
    )

    assert schedule == Schedule(
        timezone="Europe/Berlin",
        specific=(SpecificDate(day=FRI, hours=TimeRange(start=time(22), end=time(2))),),
        general=GeneralSchedule(
            mode=ScheduleMode.RANGE_WEEKLY,
            start_date=date(2025, 3, 1),
            end_date=date(2025, 6, 30),
            rules=(RangeRule(hours=TimeRange(start=time(9), end=time(12, 30)), days=(0, 4)),),
        ),
    )
    assert schedule.specific[0].hours.crosses_midnight is True
    assert schedule.general.rules[0].hours.crosses_midnight is False


@pytest.mark.parametrize(
    "raw",
    [
        config(),
        config(timezone="UTC"),
        config(
            timezone="America/New_York", general_part=general("range_daily", rule("08:00", "17:00"))
        ),
        config(specific=[{"date": "2025-12-31", "start": "00:00", "end": "00:00"}]),
        config(
            specific=[
                {"date": "2025-03-14", "start": "10:00", "end": "12:00"},
                {"date": "2025-03-14", "start": "20:00", "end": "01:30"},
            ],
            general_part=general(
                "range_weekly",
                rule("22:00", "02:00", [4, 5]),
                rule("07:15", "07:45", [0, 1, 2, 3, 4, 5, 6]),
                start_date="2025-01-01",
                end_date=None,
            ),
        ),
        config(general_part=general("none", rule("09:00", "10:00", [2]), end_date="2026-01-01")),
    ],
)
def test_parse_then_dict_then_parse_round_trips(raw: dict[str, object]) -> None:
    schedule = parse_schedule(raw)
    written = schedule_to_dict(schedule)

    assert written == raw
    assert parse_schedule(written) == schedule


def test_parsing_normalises_days_end_of_day_and_missing_parts() -> None:
    schedule = parse_schedule(
        {
            "specific": [{"date": "2025-03-14", "start": "18:00", "end": "24:00"}],
            "general": {
                "mode": "range_weekly",
                "rules": [{"start_time": "09:00", "end_time": "10:00", "days": [6, 2, 0]}],
            },
        }
    )

    assert schedule_to_dict(schedule) == {
        "timezone": None,
        "specific": [{"date": "2025-03-14", "start": "18:00", "end": "00:00"}],
        "general": {
            "mode": "range_weekly",
            "start_date": None,
            "end_date": None,
            "rules": [{"start_time": "09:00", "end_time": "10:00", "days": [0, 2, 6]}],
        },
    }


@pytest.mark.parametrize(
    "raw",
    [
        {"timezone": "UTC"},
        {"specific": []},
        {"general": None},
        {"general": {}},
        {"general": {"mode": None}},
        {"specific": None, "general": {"rules": None}},
    ],
)
def test_missing_parts_default_to_always_on_duty(raw: dict[str, object]) -> None:
    schedule = parse_schedule(raw)

    assert schedule is not None
    assert schedule.general == GeneralSchedule(mode=ScheduleMode.NONE)
    assert schedule.specific == ()
    assert is_on_duty(schedule, utc(SUN, "03:33")) is True


def test_the_legacy_shape_with_mode_at_the_top_is_read_as_general() -> None:
    legacy = {
        "mode": "range_weekly",
        "start_date": "2025-03-01",
        "end_date": "2025-03-31",
        "rules": [rule("09:00", "11:00", [0])],
        "specific": [{"date": "2025-03-12", "start": "14:00", "end": "15:00"}],
    }

    schedule = parse_schedule(legacy)

    assert schedule == parse_schedule(
        config(
            specific=[{"date": "2025-03-12", "start": "14:00", "end": "15:00"}],
            general_part=general(
                "range_weekly",
                rule("09:00", "11:00", [0]),
                start_date="2025-03-01",
                end_date="2025-03-31",
            ),
        )
    )
    written = schedule_to_dict(schedule)
    assert written is not None
    assert "mode" not in written
    assert written["general"] == general(
        "range_weekly", rule("09:00", "11:00", [0]), start_date="2025-03-01", end_date="2025-03-31"
    )
    assert is_on_duty(schedule, utc(MON, "10:00")) is True
    assert is_on_duty(schedule, utc(TUE, "10:00")) is False


def test_the_legacy_shape_with_mode_only() -> None:
    schedule = parse_schedule({"mode": "none"})

    assert schedule == Schedule()


# Rejections.

GOOD_RULE = rule("09:00", "10:00", [0])


def specific_entry(**changes: object) -> dict[str, object]:
    entry: dict[str, object] = {"date": "2025-03-14", "start": "10:00", "end": "11:00"}
    entry.update(changes)
    return {"specific": [{key: value for key, value in entry.items() if value != "<drop>"}]}


def weekly_rule(**changes: object) -> dict[str, object]:
    entry: dict[str, object] = {"start_time": "09:00", "end_time": "10:00", "days": [0]}
    entry.update(changes)
    kept = {key: value for key, value in entry.items() if value != "<drop>"}
    return {"general": {"mode": "range_weekly", "rules": [kept]}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        # The whole object.
        (
            {"timezone": "UTC", "extra": 1},
            "schedule_config: unknown field(s) extra; allowed: timezone, specific, general",
        ),
        (
            {"mode": "none", "general": {"mode": "none"}},
            "schedule_config: mode belong inside general",
        ),
        ({"rules": [GOOD_RULE], "general": {}}, "schedule_config: rules belong inside general"),
        # Time zone.
        (
            {"timezone": "Mars/Olympus_Mons"},
            "schedule_config.timezone: unknown time zone 'Mars/Olympus_Mons'",
        ),
        ({"timezone": "../../etc/passwd"}, "schedule_config.timezone: unknown time zone"),
        (
            {"timezone": "europe/berlin"},
            "schedule_config.timezone: unknown time zone 'europe/berlin'",
        ),
        ({"timezone": ""}, "schedule_config.timezone: must be an IANA time zone name"),
        ({"timezone": 1}, "schedule_config.timezone: must be an IANA time zone name"),
        ({"timezone": "A" * 65}, "schedule_config.timezone: must be an IANA time zone name"),
        # Specific dates.
        ({"specific": "2025-03-14"}, "schedule_config.specific: must be a list"),
        ({"specific": {"date": "2025-03-14"}}, "schedule_config.specific: must be a list"),
        ({"specific": [1]}, "schedule_config.specific[0]: must be an object"),
        (
            specific_entry(note="x"),
            "schedule_config.specific[0]: unknown field(s) note; allowed: date, start, end",
        ),
        (specific_entry(date="<drop>"), "schedule_config.specific[0].date: is required"),
        (specific_entry(date=None), "schedule_config.specific[0].date: is required"),
        (specific_entry(start="<drop>"), "schedule_config.specific[0].start: is required"),
        (specific_entry(end=None), "schedule_config.specific[0].end: is required"),
        (
            specific_entry(date="2025-02-29"),
            "schedule_config.specific[0].date: '2025-02-29' is not a calendar date",
        ),
        (
            specific_entry(date="2025-13-01"),
            "schedule_config.specific[0].date: '2025-13-01' is not a calendar date",
        ),
        (
            specific_entry(date="14.03.2025"),
            "schedule_config.specific[0].date: must be a date as YYYY-MM-DD",
        ),
        (
            specific_entry(date="2025-3-14"),
            "schedule_config.specific[0].date: must be a date as YYYY-MM-DD",
        ),
        (
            specific_entry(date="2025-03-14T10:00"),
            "schedule_config.specific[0].date: must be a date as YYYY-MM-DD",
        ),
        (
            specific_entry(date=20250314),
            "schedule_config.specific[0].date: must be a date as YYYY-MM-DD",
        ),
        (
            specific_entry(start="9:00"),
            "schedule_config.specific[0].start: must be a time as HH:MM from 00:00 to 23:59",
        ),
        (
            specific_entry(start="24:00"),
            "schedule_config.specific[0].start: must be a time as HH:MM from 00:00 to 23:59",
        ),
        (
            specific_entry(start="12:60"),
            "schedule_config.specific[0].start: must be a time as HH:MM",
        ),
        (
            specific_entry(start="12:00:00"),
            "schedule_config.specific[0].start: must be a time as HH:MM",
        ),
        (
            specific_entry(start=" 12:00"),
            "schedule_config.specific[0].start: must be a time as HH:MM",
        ),
        (specific_entry(start=1200), "schedule_config.specific[0].start: must be a time as HH:MM"),
        (
            specific_entry(end="24:01"),
            "schedule_config.specific[0].end: must be a time as HH:MM from 00:00 to 24:00",
        ),
        (
            specific_entry(end="25:00"),
            "schedule_config.specific[0].end: must be a time as HH:MM from 00:00 to 24:00",
        ),
        (
            {
                "specific": [{"date": "2025-03-14", "start": "10:00", "end": "11:00"}]
                * (MAX_SPECIFIC_DATES + 1)
            },
            "schedule_config.specific: at most 500 entries",
        ),
        # General.
        ({"general": "range_daily"}, "schedule_config.general: must be an object"),
        (
            {"general": {"mode": "none", "days": [1]}},
            "schedule_config.general: "
            "unknown field(s) days; allowed: mode, start_date, end_date, rules",
        ),
        (
            {"general": {"mode": "weekly"}},
            "schedule_config.general.mode: "
            "unknown mode 'weekly'; use one of none, range_daily, range_weekly",
        ),
        ({"general": {"mode": 1}}, "schedule_config.general.mode: unknown mode 1"),
        (
            {"general": {"mode": "none", "start_date": "soon"}},
            "schedule_config.general.start_date: must be a date as YYYY-MM-DD",
        ),
        (
            {"general": {"mode": "none", "end_date": "2025-04-31"}},
            "schedule_config.general.end_date: '2025-04-31' is not a calendar date",
        ),
        (
            {"general": {"mode": "range_daily", "rules": GOOD_RULE}},
            "schedule_config.general.rules: must be a list",
        ),
        (
            {"general": {"mode": "range_daily", "rules": [GOOD_RULE] * (MAX_RULES + 1)}},
            "schedule_config.general.rules: at most 50 entries",
        ),
        (
            {"general": {"mode": "range_daily", "rules": ["09:00-10:00"]}},
            "schedule_config.general.rules[0]: must be an object",
        ),
        (
            weekly_rule(start="09:00"),
            "schedule_config.general.rules[0]: "
            "unknown field(s) start; allowed: start_time, end_time, days",
        ),
        (weekly_rule(end_time="<drop>"), "schedule_config.general.rules[0].end_time: is required"),
        (
            weekly_rule(start_time="9am"),
            "schedule_config.general.rules[0].start_time: must be a time as HH:MM",
        ),
        (weekly_rule(days=1), "schedule_config.general.rules[0].days: must be a list"),
        (
            weekly_rule(days=[7]),
            "schedule_config.general.rules[0].days[0]: "
            "must be a weekday from 0 to 6 (0 = Monday ... 6 = Sunday)",
        ),
        (
            weekly_rule(days=[0, -1]),
            "schedule_config.general.rules[0].days[1]: must be a weekday from 0 to 6",
        ),
        (
            weekly_rule(days=[True]),
            "schedule_config.general.rules[0].days[0]: must be a weekday from 0 to 6",
        ),
        (
            weekly_rule(days=["1"]),
            "schedule_config.general.rules[0].days[0]: must be a weekday from 0 to 6",
        ),
        (
            weekly_rule(days=[1.0]),
            "schedule_config.general.rules[0].days[0]: must be a weekday from 0 to 6",
        ),
        (
            weekly_rule(days=[2, 4, 2]),
            "schedule_config.general.rules[0].days[2]: weekday 2 is listed twice",
        ),
        (
            weekly_rule(days=[0, 1, 2, 3, 4, 5, 6, 0]),
            "schedule_config.general.rules[0].days: at most 7 entries",
        ),
        # The legacy shape names its fields at the top level.
        ({"mode": "sometimes"}, "schedule_config.mode: unknown mode 'sometimes'"),
    ],
)
def test_invalid_schedules_are_rejected_naming_the_field(
    raw: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_schedule(raw)

    assert message in caught.value.detail
    assert caught.value.detail.startswith("schedule_config")


def test_rules_are_validated_even_when_the_mode_ignores_them() -> None:
    with pytest.raises(InvalidInput, match=r"rules\[0\]\.days\[0\]: must be a weekday"):
        parse_schedule({"general": {"mode": "none", "rules": [rule("09:00", "10:00", [9])]}})


@pytest.mark.parametrize("raw", [[], "always", 0])
def test_a_non_mapping_is_rejected(raw: Any) -> None:
    with pytest.raises(InvalidInput, match="schedule_config: must be an object or null"):
        parse_schedule(raw)


@pytest.mark.parametrize(
    ("start", "end"), [(time(10, 0, 30), time(11)), (time(10), time(11, tzinfo=UTC))]
)
def test_a_time_range_cannot_be_built_with_seconds_or_a_zone(start: time, end: time) -> None:
    with pytest.raises(InvalidInput):
        TimeRange(start=start, end=end)


def test_the_whole_day_range_covers_every_minute_and_has_no_tail() -> None:
    whole_day = TimeRange(start=time(0), end=time(0))

    assert all(whole_day.covers_on_start_day(time(h, m)) for h in range(24) for m in range(60))
    assert not any(whole_day.covers_on_next_day(time(h, m)) for h in range(24) for m in range(60))


def test_a_range_ending_at_its_start_runs_24_hours() -> None:
    day_long = TimeRange(start=time(9), end=time(9))

    assert day_long.covers_on_start_day(time(9))
    assert day_long.covers_on_start_day(time(23, 59))
    assert not day_long.covers_on_start_day(time(8, 59))
    assert day_long.covers_on_next_day(time(8, 59))
    assert not day_long.covers_on_next_day(time(9))


# What covers nothing is accepted as such (the HTTP schema cannot refuse it), never on duty.


@pytest.mark.parametrize(
    "raw",
    [
        {"general": {"mode": "range_daily"}},
        {"general": {"mode": "range_weekly", "rules": []}},
        {"mode": "range_daily", "rules": []},  # the legacy shape
        weekly_rule(days=[]),
        weekly_rule(days=None),
        {
            "general": {
                "mode": "range_daily",
                "start_date": "2025-03-02",
                "end_date": "2025-03-01",
                "rules": [rule("00:00", "24:00")],
            }
        },
    ],
)
def test_schedules_that_cover_nothing_are_accepted_and_never_on_duty(
    raw: dict[str, object],
) -> None:
    schedule = parse_schedule(raw)

    assert schedule is not None
    assert schedule_to_dict(schedule) is not None
    assert parse_schedule(schedule_to_dict(schedule)) == schedule  # stored as sent
    for day in (date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3), date(2025, 3, 4)):
        for clock in ("00:00", "09:30", "23:59"):
            assert is_on_duty(schedule, utc(day, clock)) is False


def test_a_reversed_window_in_mode_none_still_means_always() -> None:
    schedule = parse_schedule(
        {"general": {"mode": "none", "start_date": "2025-01-02", "end_date": "2025-01-01"}}
    )

    assert is_on_duty(schedule, utc(date(2025, 1, 1), "12:00")) is True


def test_a_rule_ending_at_its_start_is_24_hours_from_its_start_day() -> None:
    schedule = parse_schedule(weekly_rule(start_time="09:00", end_time="09:00", days=[0]))

    assert schedule is not None
    assert is_on_duty(schedule, utc(date(2025, 3, 10), "09:00")) is True  # Monday
    assert is_on_duty(schedule, utc(date(2025, 3, 11), "08:59")) is True  # Tuesday, the tail
    assert is_on_duty(schedule, utc(date(2025, 3, 11), "09:00")) is False
    assert is_on_duty(schedule, utc(date(2025, 3, 10), "08:59")) is False


def test_a_naive_instant_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_on_duty(parse_schedule(config()), datetime(2025, 3, 10, 12, 0))  # noqa: DTZ001


# On duty, in UTC.

SPECIFIC_MORNING = config(specific=[{"date": "2025-03-14", "start": "10:00", "end": "12:00"}])
SPECIFIC_NIGHT_OVER_DAILY = config(
    specific=[{"date": "2025-03-14", "start": "22:00", "end": "02:00"}],
    general_part=general("range_daily", rule("08:00", "09:00")),
)
SPECIFIC_WHOLE_DAY_OVER_DAILY = config(
    specific=[{"date": "2025-03-14", "start": "00:00", "end": "24:00"}],
    general_part=general("range_daily", rule("08:00", "09:00")),
)
DAILY_WINDOW = config(
    general_part=general(
        "range_daily", rule("09:00", "17:00"), start_date="2025-03-11", end_date="2025-03-14"
    )
)
DAILY_TWO_RULES_DAYS_IGNORED = config(
    general_part=general("range_daily", rule("08:00", "10:00", [6]), rule("14:00", "16:00"))
)
DAILY_NIGHT_WINDOW = config(
    general_part=general(
        "range_daily", rule("22:00", "02:00"), start_date="2025-03-11", end_date="2025-03-14"
    )
)
DAILY_UNTIL_MIDNIGHT = config(general_part=general("range_daily", rule("20:00", "24:00")))
WEEKLY_MON_WED = config(general_part=general("range_weekly", rule("09:00", "12:00", [2, 0])))
WEEKLY_FRIDAY_NIGHT = config(general_part=general("range_weekly", rule("22:00", "02:00", [4])))
WEEKLY_SUNDAY_NIGHT = config(general_part=general("range_weekly", rule("23:00", "01:00", [6])))
WEEKLY_WINDOW_ACROSS_YEARS = config(
    general_part=general(
        "range_weekly",
        rule("09:00", "10:00", [0, 1, 2, 3, 4]),
        start_date="2025-12-30",
        end_date="2026-01-02",
    )
)
NONE_WITH_RULES = config(general_part=general("none", rule("09:00", "10:00", [0])))


@pytest.mark.parametrize(
    ("name", "raw", "day", "clock", "expected"),
    [
        # A specific entry covers [start, end) on its date and blocks the rest of that date.
        ("specific start is inclusive", SPECIFIC_MORNING, FRI, "10:00", True),
        ("specific inside", SPECIFIC_MORNING, FRI, "11:59", True),
        ("specific end is exclusive", SPECIFIC_MORNING, FRI, "12:00", False),
        ("specific date blocks before", SPECIFIC_MORNING, FRI, "09:59", False),
        ("general none on other dates", SPECIFIC_MORNING, SAT, "03:00", True),
        ("general none the day before", SPECIFIC_MORNING, THU, "23:59", True),
        # A specific entry across midnight; its date's other hours are blocked.
        ("specific night, evening", SPECIFIC_NIGHT_OVER_DAILY, FRI, "23:00", True),
        ("specific night, after midnight", SPECIFIC_NIGHT_OVER_DAILY, SAT, "01:59", True),
        ("specific night ends", SPECIFIC_NIGHT_OVER_DAILY, SAT, "02:00", False),
        ("specific night blocks its date", SPECIFIC_NIGHT_OVER_DAILY, FRI, "08:30", False),
        ("the tail does not block the next date", SPECIFIC_NIGHT_OVER_DAILY, SAT, "08:30", True),
        ("daily outside its rule", SPECIFIC_NIGHT_OVER_DAILY, SAT, "09:00", False),
        ("specific whole day, first minute", SPECIFIC_WHOLE_DAY_OVER_DAILY, FRI, "00:00", True),
        ("specific whole day, last minute", SPECIFIC_WHOLE_DAY_OVER_DAILY, FRI, "23:59", True),
        ("specific whole day has no tail", SPECIFIC_WHOLE_DAY_OVER_DAILY, SAT, "00:00", False),
        # Daily rules within a date window (inclusive dates).
        ("daily start is inclusive", DAILY_WINDOW, TUE, "09:00", True),
        ("daily end is exclusive", DAILY_WINDOW, TUE, "17:00", False),
        ("daily before its start", DAILY_WINDOW, TUE, "08:59", False),
        ("daily on the last window date", DAILY_WINDOW, FRI, "16:59", True),
        ("daily before the window", DAILY_WINDOW, MON, "12:00", False),
        ("daily after the window", DAILY_WINDOW, SAT, "12:00", False),
        ("daily first rule (days ignored)", DAILY_TWO_RULES_DAYS_IGNORED, TUE, "09:00", True),
        ("daily between rules", DAILY_TWO_RULES_DAYS_IGNORED, TUE, "12:00", False),
        ("daily second rule", DAILY_TWO_RULES_DAYS_IGNORED, TUE, "15:00", True),
        # Daily across midnight: the tail belongs to the day the range starts.
        ("daily night, evening", DAILY_NIGHT_WINDOW, FRI, "23:00", True),
        ("daily night, tail of the last date", DAILY_NIGHT_WINDOW, SAT, "01:00", True),
        ("daily night, tail ends", DAILY_NIGHT_WINDOW, SAT, "02:00", False),
        ("daily night, tail of a day before the window", DAILY_NIGHT_WINDOW, TUE, "01:00", False),
        ("daily night, first window evening", DAILY_NIGHT_WINDOW, TUE, "22:00", True),
        ("daily night, before its start", DAILY_NIGHT_WINDOW, WED, "21:59", False),
        ("daily night, evening after the window", DAILY_NIGHT_WINDOW, SAT, "22:00", False),
        ("until 24:00, last minute", DAILY_UNTIL_MIDNIGHT, WED, "23:59", True),
        ("until 24:00, midnight itself", DAILY_UNTIL_MIDNIGHT, THU, "00:00", False),
        # Weekly rules.
        ("weekly Monday", WEEKLY_MON_WED, MON, "10:00", True),
        ("weekly Tuesday is not listed", WEEKLY_MON_WED, TUE, "10:00", False),
        ("weekly Wednesday", WEEKLY_MON_WED, WED, "11:59", True),
        ("weekly Wednesday, end", WEEKLY_MON_WED, WED, "12:00", False),
        ("weekly Sunday", WEEKLY_MON_WED, SUN, "10:00", False),
        ("weekly Friday night", WEEKLY_FRIDAY_NIGHT, FRI, "23:00", True),
        ("weekly Friday night, Saturday tail", WEEKLY_FRIDAY_NIGHT, SAT, "01:30", True),
        ("weekly Saturday night is not Friday's", WEEKLY_FRIDAY_NIGHT, SAT, "23:00", False),
        ("weekly Friday early is Thursday's tail", WEEKLY_FRIDAY_NIGHT, FRI, "01:00", False),
        ("weekly Thursday night", WEEKLY_FRIDAY_NIGHT, THU, "23:00", False),
        ("weekly Sunday night, Monday tail", WEEKLY_SUNDAY_NIGHT, MON, "00:30", True),
        ("weekly Sunday night, Monday tail ends", WEEKLY_SUNDAY_NIGHT, MON, "01:00", False),
        ("weekly Sunday night, evening", WEEKLY_SUNDAY_NIGHT, SUN, "23:30", True),
        (
            "window across years, Dec 31",
            WEEKLY_WINDOW_ACROSS_YEARS,
            date(2025, 12, 31),
            "09:30",
            True,
        ),
        ("window across years, Jan 2", WEEKLY_WINDOW_ACROSS_YEARS, date(2026, 1, 2), "09:30", True),
        (
            "window across years, Jan 5",
            WEEKLY_WINDOW_ACROSS_YEARS,
            date(2026, 1, 5),
            "09:30",
            False,
        ),
        (
            "window across years, Dec 29",
            WEEKLY_WINDOW_ACROSS_YEARS,
            date(2025, 12, 29),
            "09:30",
            False,
        ),
        # Mode none ignores its rules.
        ("mode none ignores rules", NONE_WITH_RULES, TUE, "03:00", True),
    ],
)
def test_on_duty_in_utc(
    name: str, raw: dict[str, object], day: date, clock: str, expected: bool
) -> None:
    assert is_on_duty(parse_schedule(raw), utc(day, clock)) is expected, name


# Time zones.

BERLIN_OFFICE = config(
    timezone="Europe/Berlin", general_part=general("range_daily", rule("09:00", "17:00"))
)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2025, 1, 15, 8, 0, tzinfo=UTC), True),  # 09:00 CET
        (datetime(2025, 1, 15, 7, 59, tzinfo=UTC), False),  # 08:59 CET
        (datetime(2025, 1, 15, 16, 0, tzinfo=UTC), False),  # 17:00 CET
        (datetime(2025, 7, 15, 7, 0, tzinfo=UTC), True),  # 09:00 CEST
        (datetime(2025, 7, 15, 15, 0, tzinfo=UTC), False),  # 17:00 CEST
        (datetime(2025, 7, 15, 14, 59, tzinfo=UTC), True),  # 16:59 CEST
        # Another zone's aware instant is the same instant.
        (datetime(2025, 1, 15, 3, 0, tzinfo=ZoneInfo("America/New_York")), True),  # 09:00 CET
    ],
)
def test_the_schedule_is_read_on_its_own_wall_clock(at: datetime, expected: bool) -> None:
    schedule = parse_schedule(BERLIN_OFFICE)

    assert is_on_duty(schedule, at) is expected
    # The schedule's zone wins over the caller's default.
    assert is_on_duty(schedule, at, default_tz=ZoneInfo("Asia/Tokyo")) is expected


def test_without_a_zone_the_callers_default_applies() -> None:
    schedule = parse_schedule(config(general_part=general("range_daily", rule("09:00", "17:00"))))
    at = datetime(2025, 1, 15, 0, 30, tzinfo=UTC)  # 09:30 in Tokyo

    assert is_on_duty(schedule, at) is False
    assert is_on_duty(schedule, at, default_tz=ZoneInfo("Asia/Tokyo")) is True


def test_specific_dates_are_local_dates() -> None:
    schedule = parse_schedule(
        config(
            timezone="America/New_York",
            specific=[{"date": "2025-03-14", "start": "20:00", "end": "23:00"}],
        )
    )

    # 01:00 UTC on the 15th is 21:00 on the 14th in New York (EDT).
    assert is_on_duty(schedule, datetime(2025, 3, 15, 1, 0, tzinfo=UTC)) is True
    # 14:00 UTC on the 14th is 10:00 in New York: the 14th is blocked outside its entry.
    assert is_on_duty(schedule, datetime(2025, 3, 14, 14, 0, tzinfo=UTC)) is False


def minutes_on_duty(schedule: Schedule | None, day: date, zone: ZoneInfo) -> int:
    """Minutes of real (UTC) time on duty across the local calendar day `day`."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone).astimezone(UTC)
    minutes = int((end - start).total_seconds() // 60)
    return sum(is_on_duty(schedule, start + timedelta(minutes=n)) for n in range(minutes))


@pytest.mark.parametrize(
    ("day", "start", "end", "expected_minutes"),
    [
        # Spring forward (2025-03-30, 02:00 CET -> 03:00 CEST): 02:00-03:00 never happens.
        (date(2025, 3, 30), "01:00", "04:00", 120),
        (date(2025, 3, 30), "02:00", "03:00", 0),
        (date(2025, 3, 30), "02:30", "03:30", 30),
        (date(2025, 3, 30), "00:00", "24:00", 23 * 60),
        # Fall back (2025-10-26, 03:00 CEST -> 02:00 CET): 02:00-03:00 happens twice.
        (date(2025, 10, 26), "02:00", "03:00", 120),
        (date(2025, 10, 26), "01:00", "04:00", 240),
        (date(2025, 10, 26), "00:00", "24:00", 25 * 60),
        # An ordinary day for comparison.
        (date(2025, 3, 29), "01:00", "04:00", 180),
    ],
)
def test_dst_days_count_wall_clock_minutes_without_crashing(
    day: date, start: str, end: str, expected_minutes: int
) -> None:
    schedule = parse_schedule(
        config(timezone="Europe/Berlin", general_part=general("range_daily", rule(start, end)))
    )

    assert minutes_on_duty(schedule, day, BERLIN) == expected_minutes


def test_a_night_range_across_a_dst_change() -> None:
    schedule = parse_schedule(
        config(
            timezone="Europe/Berlin",
            general_part=general("range_weekly", rule("22:00", "04:00", [5])),  # Saturday night
        )
    )

    # Saturday 2025-03-29 22:00 CET to Sunday 04:00 CEST lasts 5 real hours.
    on_duty = minutes_on_duty(schedule, date(2025, 3, 29), BERLIN) + minutes_on_duty(
        schedule, date(2025, 3, 30), BERLIN
    )
    assert on_duty == 5 * 60
    assert is_on_duty(schedule, utc(date(2025, 3, 30), "03:30", BERLIN)) is True
    assert is_on_duty(schedule, utc(date(2025, 3, 30), "04:00", BERLIN)) is False
