"""The decision rule, table by table: room gating, schedule, mentions, each trigger, time."""

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from coagent.domain.agents.config import AgentConfig, AgentType, Provider
from coagent.domain.agents.decision import (
    Decision,
    HumanMessage,
    RoomActivity,
    TimeDue,
    TurnKind,
    decide_on_message,
    decide_on_time,
    mentions,
)
from coagent.domain.agents.schedule import Schedule, parse_schedule
from coagent.domain.agents.trigger import Trigger, TriggerType
from coagent.domain.courses.room import AiMode, Room

NOW = datetime(2025, 3, 12, 10, 0, tzinfo=UTC)  # a Wednesday
QUIET = RoomActivity(
    human_messages_since_agent=1,
    last_agent_message_at=None,
    first_human_since_agent_at=NOW,
    last_message_at=NOW,
    last_human_message_at=NOW,
    last_any_agent_message_at=None,
)


def make_room(
    ai_mode: AiMode = AiMode.TEACHER_ONLY, *, active: bool = True, frequency: float = 0.3
) -> Room:
    return Room(
        id=uuid4(),
        course_id=uuid4(),
        name="Algebra",
        description=None,
        ai_mode=ai_mode,
        ai_frequency=frequency,
        is_ai_active=active,
        is_analytics_active=False,
        created_at=NOW,
        updated_at=NOW,
    )


def make_agent(
    agent_type: AgentType = AgentType.TEACHER,
    *,
    name: str = "Ms Lee",
    trigger: Trigger | None = None,
    schedule: Schedule | None = None,
    active: bool = True,
) -> AgentConfig:
    return AgentConfig(
        id=uuid4(),
        course_id=uuid4(),
        type=agent_type,
        name=name,
        provider=Provider.OFFLINE,
        model=None,
        base_url=None,
        system_prompt="Help.",
        context_window=10,
        trigger=trigger or Trigger(type=TriggerType.MANUAL),
        schedule=schedule,
        settings={},
        is_active=active,
        created_by=None,
        created_at=NOW,
        updated_at=NOW,
    )


def wide(text: str) -> str:
    """`text` in full-width forms, as CJK input methods type ASCII (spaces stay)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def said(content: str, sender: str = "Ana") -> HumanMessage:
    return HumanMessage(seq=7, content=content, sender_name=sender)


def on_message(
    content: str = "hello",
    *,
    room: Room | None = None,
    agent: AgentConfig | None = None,
    activity: RoomActivity = QUIET,
    now: datetime = NOW,
    roll: float = 0.5,
    default_tz_name: str = "UTC",
) -> Decision:
    return decide_on_message(
        room=room or make_room(),
        config=agent or make_agent(),
        activity=activity,
        message=said(content),
        now=now,
        roll=roll,
        default_tz_name=default_tz_name,
    )


def daily(start: str, end: str, timezone: str | None = None) -> Schedule:
    schedule = parse_schedule(
        {
            "timezone": timezone,
            "general": {"mode": "range_daily", "rules": [{"start_time": start, "end_time": end}]},
        }
    )
    assert schedule is not None
    return schedule


# --- the room and the agent type ------------------------------------------------------------


@pytest.mark.parametrize(
    ("ai_mode", "active", "agent_type", "content", "expected"),
    [
        (AiMode.OFF, True, AgentType.TEACHER, "@teacher", "AI is off in this room"),
        (AiMode.OFF, False, AgentType.TEACHER, "@teacher", "AI is off in this room"),
        (AiMode.TEACHER_ONLY, False, AgentType.TEACHER, "@teacher", "AI is paused in this room"),
        (AiMode.BOTH, False, AgentType.STUDENT, "@student", "AI is paused in this room"),
        (
            AiMode.TEACHER_ONLY,
            True,
            AgentType.STUDENT,
            "@student",
            "the peer agent speaks only in rooms with both agents",
        ),
        (AiMode.BOTH, True, AgentType.DESIGN, "Ms Lee", "design agents do not speak in rooms"),
        (
            AiMode.BOTH,
            True,
            AgentType.ANALYTICS,
            "Ms Lee",
            "analytics agents do not speak in rooms",
        ),
    ],
)
def test_the_room_and_the_agent_type_can_forbid_even_a_mention(
    ai_mode: AiMode, active: bool, agent_type: AgentType, content: str, expected: str
) -> None:
    decision = on_message(
        content, room=make_room(ai_mode, active=active), agent=make_agent(agent_type)
    )

    assert decision == Decision(speak=False, kind=None, reason=expected)


@pytest.mark.parametrize(
    ("ai_mode", "agent_type", "content"),
    [
        (AiMode.TEACHER_ONLY, AgentType.TEACHER, "@teacher"),
        (AiMode.BOTH, AgentType.TEACHER, "@teacher"),
        (AiMode.BOTH, AgentType.STUDENT, "@student"),
    ],
)
def test_the_teacher_speaks_in_teacher_only_and_both_the_peer_only_in_both(
    ai_mode: AiMode, agent_type: AgentType, content: str
) -> None:
    decision = on_message(content, room=make_room(ai_mode), agent=make_agent(agent_type))

    assert decision == Decision(speak=True, kind=TurnKind.MENTION, reason="mentioned by Ana")


def test_an_inactive_configuration_never_speaks() -> None:
    decision = on_message("@teacher", agent=make_agent(active=False))

    assert decision == Decision(speak=False, kind=None, reason="the configuration is not active")


# --- mentions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@teacher can you help?", True),
        ("hey @Teacher, help", True),
        (wide("@Teacher") + " 請問", True),  # full-width, from a CJK input method
        ("HEY @TEACHER", True),
        ("question for @teacher.", True),
        ("(@teacher)", True),
        ("老師，請問這題", True),  # noqa: RUF001 - a Chinese comma
        ("請問老師這題怎麼做", True),  # no spaces between CJK words: a substring is a mention
        ("ms lee, a question", True),
        ("MS   LEE?", True),
        ("Ms\nLee", True),
        ("@Ms Lee look", True),
        ("thanks Ms Lee!", True),
        ("ms leeward", False),
        ("the Ms Lees", False),
        ("Ms", False),
        ("@teachers meeting", False),
        ("the teacher said", False),  # neither the handle nor the name
        ("write to ana@teacher.org", False),
        ("write to ana@teacher", False),
        ("see https://x/teacher", False),
        ("see https://example.org/@teacher", False),
        ("", False),
    ],
)
def test_mentions_of_the_teacher(text: str, expected: bool) -> None:
    assert mentions(text, make_agent(name="Ms Lee")) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ask Lee!", True),
        ("lee@school.org knows", False),
        ("https://lee.dev/x", False),
        ("see lee.dev/lee", False),
        ("www.example.org/lee", False),
        ("mailto:ana@lee.org", False),
    ],
)
def test_a_name_inside_an_address_is_no_mention(text: str, expected: bool) -> None:
    assert mentions(text, make_agent(name="Lee")) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("teacher, help", True),
        ("see https://x/teacher", False),
        ("see https://x/teacher and @Teacher", True),
        ("ana@teacher.org", False),
    ],
)
def test_a_teacher_named_teacher(text: str, expected: bool) -> None:
    assert mentions(text, make_agent(name="Teacher")) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@student what do you think", True),
        ("@peer?", True),
        ("@PEER hi", True),
        ("buddy, your turn", True),
        ("@peers", False),
        ("@teacher", False),
        ("老師", False),
        ("bob@student.edu", False),
    ],
)
def test_mentions_of_the_peer_agent(text: str, expected: bool) -> None:
    assert mentions(text, make_agent(AgentType.STUDENT, name="Buddy")) is expected


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("小明老師", "小明老師你好", True),
        ("小明老師", "小明你好", False),
        ("C++ Bot", "ask c++ bot now", True),
        ("C++ Bot", "c++ bots", False),
        ("Default Profile", "default profile?", True),
        ("  Ms Lee  ", "ms lee", True),  # the name's outer spaces do not count
        ("Ms Lee", wide("ms lee?"), True),  # full-width forms (NFKC)
        (wide("Ms Lee"), "ms lee", True),
    ],
)
def test_names_with_cjk_symbols_and_spaces(name: str, text: str, expected: bool) -> None:
    assert mentions(text, make_agent(name=name)) is expected


@pytest.mark.parametrize(
    "text", ["a." * 10_000, "a" * 20_000, "老" * 20_000, "a-" * 10_000, "x@" * 10_000]
)
def test_mention_matching_stays_linear_on_hostile_text(text: str) -> None:
    """Searching the whole text for address shapes took 2-13 s on these (quadratic
    backtracking); word by word it takes milliseconds.
    """
    began = time.perf_counter()

    found = mentions(text + " @teacher", make_agent())

    assert found is True
    assert time.perf_counter() - began < 2.0


def test_a_mention_names_its_sender_in_the_reason() -> None:
    decision = decide_on_message(
        room=make_room(),
        config=make_agent(),
        activity=QUIET,
        message=said("@teacher?", sender="Bo Chen"),
        now=NOW,
        roll=0.99,
    )

    assert decision == Decision(speak=True, kind=TurnKind.MENTION, reason="mentioned by Bo Chen")


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("Ana\nLopez", "mentioned by Ana Lopez"),
        ("   ", "mentioned by someone"),
        ("x" * 200, "mentioned by " + "x" * 79 + "…"),
    ],
)
def test_the_sender_in_a_reason_is_one_short_line(sender: str, reason: str) -> None:
    decision = decide_on_message(
        room=make_room(),
        config=make_agent(),
        activity=QUIET,
        message=said("@teacher", sender=sender),
        now=NOW,
        roll=0.5,
    )

    assert decision.reason == reason


@pytest.mark.parametrize(
    "trigger",
    [
        Trigger(type=TriggerType.PROBABILITY, value=0.0),
        Trigger(type=TriggerType.MESSAGE_COUNT, value=50),
        Trigger(type=TriggerType.TIME_INTERVAL, value=60),
        Trigger(type=TriggerType.SILENCE, value=60),
        Trigger(type=TriggerType.MANUAL),
        Trigger(type=TriggerType.MENTION),
    ],
)
def test_a_mention_wins_over_every_trigger(trigger: Trigger) -> None:
    decision = on_message("@teacher", agent=make_agent(trigger=trigger), roll=0.99)

    assert decision == Decision(speak=True, kind=TurnKind.MENTION, reason="mentioned by Ana")


# --- the triggers on a message --------------------------------------------------------------


def count(n: int) -> RoomActivity:
    return replace(QUIET, human_messages_since_agent=n)


@pytest.mark.parametrize(
    ("trigger", "activity", "roll", "expected"),
    [
        (Trigger(type=TriggerType.PROBABILITY, value=0.5), QUIET, 0.49, (True, "chance 50%")),
        (
            Trigger(type=TriggerType.PROBABILITY, value=0.5),
            QUIET,
            0.5,
            (False, "chance 50%, rolled 0.50"),
        ),
        # None: the room's ai_frequency (0.3)
        (Trigger(type=TriggerType.PROBABILITY), QUIET, 0.29, (True, "chance 30%")),
        (Trigger(type=TriggerType.PROBABILITY), QUIET, 0.3, (False, "chance 30%, rolled 0.30")),
        (
            Trigger(type=TriggerType.PROBABILITY, value=0.0),
            QUIET,
            0.0,
            (False, "chance 0%, rolled 0.00"),
        ),
        (Trigger(type=TriggerType.PROBABILITY, value=1.0), QUIET, 0.9999, (True, "chance 100%")),
        (Trigger(type=TriggerType.PROBABILITY, value=0.125), QUIET, 0.1, (True, "chance 12.5%")),
        (
            Trigger(type=TriggerType.MESSAGE_COUNT, value=5),
            count(4),
            0.0,
            (False, "4 of 5 messages"),
        ),
        (
            Trigger(type=TriggerType.MESSAGE_COUNT, value=5),
            count(5),
            0.9,
            (True, "every 5 messages"),
        ),
        (
            Trigger(type=TriggerType.MESSAGE_COUNT, value=5),
            count(7),
            0.9,
            (True, "every 5 messages"),
        ),
        (Trigger(type=TriggerType.MESSAGE_COUNT, value=1), count(1), 0.9, (True, "every message")),
        (
            Trigger(type=TriggerType.TIME_INTERVAL, value=60),
            count(99),
            0.0,
            (False, "time_interval: decided by the scheduler"),
        ),
        (
            Trigger(type=TriggerType.SILENCE, value=60),
            count(99),
            0.0,
            (False, "silence: decided by the scheduler"),
        ),
        (
            Trigger(type=TriggerType.MANUAL),
            count(99),
            0.0,
            (False, "manual: only mentions and explicit requests"),
        ),
        (Trigger(type=TriggerType.MENTION), count(99), 0.0, (False, "mention: not mentioned")),
    ],
)
def test_without_a_mention_the_trigger_decides(
    trigger: Trigger, activity: RoomActivity, roll: float, expected: tuple[bool, str]
) -> None:
    decision = on_message(agent=make_agent(trigger=trigger), activity=activity, roll=roll)

    speak, reason = expected
    kind = TurnKind(trigger.type.value) if speak else None
    assert decision == Decision(speak=speak, kind=kind, reason=reason)


def test_the_room_frequency_is_read_when_the_trigger_has_no_value() -> None:
    agent = make_agent(trigger=Trigger(type=TriggerType.PROBABILITY))

    assert on_message(room=make_room(frequency=0.8), agent=agent, roll=0.7).speak is True
    assert on_message(room=make_room(frequency=0.6), agent=agent, roll=0.7).speak is False


@pytest.mark.parametrize("roll", [-0.01, 1.0, 1.5])
def test_a_roll_outside_zero_to_one_is_a_programming_error(roll: float) -> None:
    with pytest.raises(ValueError, match="roll"):
        on_message(roll=roll)


def test_a_naive_clock_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        on_message(now=datetime(2025, 3, 12, 10, 0))  # noqa: DTZ001 - the point of the test


# --- the schedule ---------------------------------------------------------------------------


def test_a_schedule_that_closes_mid_conversation() -> None:
    """On duty 09:00-11:00 in Berlin (UTC+1 in March): a mention at 10:59 is answered, the
    same mention at 11:00 is not, and a silence due at 10:59:30 fires only while on duty.
    """
    agent = make_agent(trigger=Trigger(type=TriggerType.SILENCE, value=30))
    agent = replace(agent, schedule=daily("09:00", "11:00", "Europe/Berlin"))
    before, at_close = (
        datetime(2025, 3, 12, 9, 59, tzinfo=UTC),
        datetime(2025, 3, 12, 10, 0, tzinfo=UTC),
    )
    silent_since = RoomActivity(
        human_messages_since_agent=1,
        last_agent_message_at=None,
        first_human_since_agent_at=before,
        last_message_at=before,
        last_human_message_at=before,
        last_any_agent_message_at=None,
    )

    assert on_message("@teacher", agent=agent, now=before).speak is True
    assert on_message("@teacher", agent=agent, now=at_close) == Decision(
        speak=False, kind=None, reason="off duty by its schedule"
    )
    due = decide_on_time(
        room=make_room(), config=agent, activity=silent_since, now=before + timedelta(seconds=45)
    )
    assert due == TimeDue(
        kind=TurnKind.SILENCE, due_at=before + timedelta(seconds=30), reason="silence ≥ 30 s"
    )
    assert (
        decide_on_time(room=make_room(), config=agent, activity=silent_since, now=at_close) is None
    )


def test_a_schedule_without_a_zone_is_read_in_the_default_zone() -> None:
    agent = make_agent(schedule=daily("09:00", "11:00"))
    at = datetime(2025, 3, 12, 10, 30, tzinfo=UTC)  # 11:30 in Berlin

    assert on_message("@teacher", agent=agent, now=at).speak is True
    assert on_message("@teacher", agent=agent, now=at, default_tz_name="Europe/Berlin") == (
        Decision(speak=False, kind=None, reason="off duty by its schedule")
    )


NEW_YORK_NIGHT = daily("01:00", "03:00", "America/New_York")


@pytest.mark.parametrize(
    ("now", "on_duty"),
    [
        # 2026-03-08, spring forward: 02:00 EST becomes 03:00 EDT; the window lasts one hour.
        (datetime(2026, 3, 8, 5, 59, tzinfo=UTC), False),  # 00:59 EST
        (datetime(2026, 3, 8, 6, 0, tzinfo=UTC), True),  # 01:00 EST
        (datetime(2026, 3, 8, 6, 59, tzinfo=UTC), True),  # 01:59 EST
        (datetime(2026, 3, 8, 7, 0, tzinfo=UTC), False),  # 03:00 EDT
        # 2026-11-01, fall back: 02:00 EDT becomes 01:00 EST; the window lasts three hours.
        (datetime(2026, 11, 1, 4, 59, tzinfo=UTC), False),  # 00:59 EDT
        (datetime(2026, 11, 1, 5, 30, tzinfo=UTC), True),  # 01:30 EDT
        (datetime(2026, 11, 1, 6, 30, tzinfo=UTC), True),  # 01:30 EST, the second time
        (datetime(2026, 11, 1, 7, 59, tzinfo=UTC), True),  # 02:59 EST
        (datetime(2026, 11, 1, 8, 0, tzinfo=UTC), False),  # 03:00 EST
    ],
)
def test_a_schedule_on_dst_days(now: datetime, on_duty: bool) -> None:
    decision = on_message("@teacher", agent=make_agent(schedule=NEW_YORK_NIGHT), now=now)

    assert decision.speak is on_duty
    assert decision.reason == ("mentioned by Ana" if on_duty else "off duty by its schedule")


@pytest.mark.parametrize(
    ("last_agent", "not_yet", "due"),
    [
        # spring forward: 01:59 EST + 120 s is 03:01 EDT on the wall, two minutes later
        (
            datetime(2026, 3, 8, 6, 59, tzinfo=UTC),
            datetime(2026, 3, 8, 7, 0, 59, tzinfo=UTC),
            datetime(2026, 3, 8, 7, 1, tzinfo=UTC),
        ),
        # fall back: 01:59 EDT + 120 s is 01:01 EST, earlier on the wall
        (
            datetime(2026, 11, 1, 5, 59, tzinfo=UTC),
            datetime(2026, 11, 1, 6, 0, 59, tzinfo=UTC),
            datetime(2026, 11, 1, 6, 1, tzinfo=UTC),
        ),
    ],
)
def test_time_intervals_count_real_seconds_across_dst(
    last_agent: datetime, not_yet: datetime, due: datetime
) -> None:
    agent = make_agent(
        trigger=Trigger(type=TriggerType.TIME_INTERVAL, value=120),
        schedule=daily("00:00", "04:00", "America/New_York"),
    )
    activity = RoomActivity(
        human_messages_since_agent=1,
        last_agent_message_at=last_agent,
        first_human_since_agent_at=last_agent + timedelta(seconds=5),
        last_message_at=last_agent + timedelta(seconds=5),
        last_human_message_at=last_agent + timedelta(seconds=5),
        last_any_agent_message_at=last_agent,
    )

    def tick(now: datetime) -> TimeDue | None:
        return decide_on_time(room=make_room(), config=agent, activity=activity, now=now)

    assert tick(not_yet) is None
    assert tick(due) == TimeDue(kind=TurnKind.TIME_INTERVAL, due_at=due, reason="interval ≥ 120 s")


# --- the time triggers ----------------------------------------------------------------------

T0 = datetime(2025, 3, 12, 10, 0, tzinfo=UTC)


def seconds(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


def time_activity(
    *,
    since: int = 0,
    last_agent: float | None = None,
    first_human: float | None = None,
    last_message: float | None = None,
    last_human: float | None = None,
    last_any_agent: float | None = None,
) -> RoomActivity:
    def at(value: float | None) -> datetime | None:
        return None if value is None else seconds(value)

    return RoomActivity(
        human_messages_since_agent=since,
        last_agent_message_at=at(last_agent),
        first_human_since_agent_at=at(first_human),
        last_message_at=at(last_message),
        last_human_message_at=at(last_human),
        last_any_agent_message_at=at(last_any_agent),
    )


INTERVAL = Trigger(type=TriggerType.TIME_INTERVAL, value=60)
SILENCE = Trigger(type=TriggerType.SILENCE, value=120)


@pytest.mark.parametrize(
    ("trigger", "activity", "now", "expected"),
    [
        # time_interval: the agent never spoke; T after the first human message
        (INTERVAL, time_activity(), 1000, None),
        (
            INTERVAL,
            time_activity(since=1, first_human=0, last_message=0, last_human=0),
            59,
            None,
        ),
        (
            INTERVAL,
            time_activity(since=1, first_human=0, last_message=0, last_human=0),
            60,
            (TurnKind.TIME_INTERVAL, 60, "interval ≥ 60 s"),
        ),
        # T after the agent's last message, only with a human message since
        (
            INTERVAL,
            time_activity(since=0, last_agent=0, last_message=0, last_any_agent=0),
            1000,
            None,
        ),
        (
            INTERVAL,
            time_activity(
                since=2,
                last_agent=0,
                first_human=30,
                last_message=50,
                last_human=50,
                last_any_agent=0,
            ),
            59.9,
            None,
        ),
        (
            INTERVAL,
            time_activity(
                since=2,
                last_agent=0,
                first_human=30,
                last_message=50,
                last_human=50,
                last_any_agent=0,
            ),
            75,
            (TurnKind.TIME_INTERVAL, 60, "interval ≥ 60 s"),
        ),
        # silence: S after the last message, the last human message unanswered
        (SILENCE, time_activity(), 1000, None),
        (
            SILENCE,
            time_activity(since=1, first_human=0, last_message=0, last_human=0),
            119,
            None,
        ),
        (
            SILENCE,
            time_activity(since=1, first_human=0, last_message=0, last_human=0),
            120,
            (TurnKind.SILENCE, 120, "silence ≥ 120 s"),
        ),
        # an agent (this one or another) answered after the last human message
        (
            SILENCE,
            time_activity(
                since=0,
                last_agent=10,
                first_human=0,
                last_message=10,
                last_human=0,
                last_any_agent=10,
            ),
            1000,
            None,
        ),
        (
            SILENCE,
            time_activity(since=1, first_human=0, last_message=10, last_human=0, last_any_agent=10),
            1000,
            None,
        ),
        # another agent spoke before the human message: still unanswered
        (
            SILENCE,
            time_activity(
                since=3, first_human=20, last_message=40, last_human=40, last_any_agent=10
            ),
            160,
            (TurnKind.SILENCE, 160, "silence ≥ 120 s"),
        ),
    ],
)
def test_time_triggers(
    trigger: Trigger,
    activity: RoomActivity,
    now: float,
    expected: tuple[TurnKind, float, str] | None,
) -> None:
    due = decide_on_time(
        room=make_room(), config=make_agent(trigger=trigger), activity=activity, now=seconds(now)
    )

    if expected is None:
        assert due is None
    else:
        kind, due_at, reason = expected
        assert due == TimeDue(kind=kind, due_at=seconds(due_at), reason=reason)


@pytest.mark.parametrize(
    ("trigger", "activity"),
    [
        (INTERVAL, time_activity(since=1, first_human=0, last_message=0, last_human=0)),
        (SILENCE, time_activity(since=1, first_human=0, last_message=0, last_human=0)),
    ],
)
def test_every_tick_computes_the_same_due_time_for_one_occurrence(
    trigger: Trigger, activity: RoomActivity
) -> None:
    agent = make_agent(trigger=trigger)
    ticks = [seconds(120 + n * 0.5) for n in range(10)] + [seconds(3600)]

    dues = {decide_on_time(room=make_room(), config=agent, activity=activity, now=t) for t in ticks}

    assert len(dues) == 1
    assert None not in dues


@pytest.mark.parametrize(
    "trigger",
    [
        Trigger(type=TriggerType.PROBABILITY, value=1.0),
        Trigger(type=TriggerType.MESSAGE_COUNT, value=1),
        Trigger(type=TriggerType.MANUAL),
        Trigger(type=TriggerType.MENTION),
    ],
)
def test_message_triggers_are_never_due_on_time(trigger: Trigger) -> None:
    activity = time_activity(since=50, first_human=0, last_message=0, last_human=0)

    due = decide_on_time(
        room=make_room(), config=make_agent(trigger=trigger), activity=activity, now=seconds(9999)
    )

    assert due is None


@pytest.mark.parametrize(
    ("room", "agent"),
    [
        (make_room(AiMode.OFF), make_agent(trigger=SILENCE)),
        (make_room(active=False), make_agent(trigger=SILENCE)),
        (make_room(AiMode.TEACHER_ONLY), make_agent(AgentType.STUDENT, trigger=SILENCE)),
        (make_room(), make_agent(trigger=SILENCE, active=False)),
        (make_room(), make_agent(trigger=SILENCE, schedule=daily("12:00", "13:00"))),
    ],
)
def test_time_triggers_obey_the_room_and_the_schedule(room: Room, agent: AgentConfig) -> None:
    activity = time_activity(since=1, first_human=0, last_message=0, last_human=0)

    assert decide_on_time(room=room, config=agent, activity=activity, now=seconds(500)) is None
    # the same activity is due in an open room, on duty, for an active teacher
    allowed = make_agent(trigger=SILENCE)
    assert decide_on_time(room=make_room(), config=allowed, activity=activity, now=seconds(500))


def test_the_peer_agent_has_time_triggers_in_a_room_with_both() -> None:
    activity = time_activity(since=1, first_human=0, last_message=0, last_human=0)
    agent = make_agent(AgentType.STUDENT, trigger=INTERVAL)

    due = decide_on_time(
        room=make_room(AiMode.BOTH), config=agent, activity=activity, now=seconds(60)
    )

    assert due == TimeDue(kind=TurnKind.TIME_INTERVAL, due_at=seconds(60), reason="interval ≥ 60 s")
