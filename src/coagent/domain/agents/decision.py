"""When an agent speaks: one rule, a pure function of its inputs (no I/O, no clock, no RNG).

Order (README, "Agents in rooms"): the room's AI is off or paused, or the agent's type does not
speak in the room's mode (teacher: `teacher_only` and `both`; peer: `both` only; design and
analytics: never), or its configuration is not the active one → never; the agent is off duty
by its schedule → never; a mention → always; otherwise its trigger. Time triggers
(`time_interval`, `silence`) are decided by the scheduler through `decide_on_time`; message
triggers through `decide_on_message`.

The caller draws the one random number a `probability` trigger uses (`roll`), once per human
message (derived from the message, so a retried job rolls the same), and passes it in.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from coagent.domain.agents.config import AgentConfig, AgentType
from coagent.domain.agents.schedule import is_on_duty
from coagent.domain.agents.trigger import TriggerType
from coagent.domain.courses.room import AiMode, Room


class TurnKind(StrEnum):
    """Why a turn exists (stored on the turn; part of its identity with the trigger key)."""

    MENTION = "mention"
    PROBABILITY = "probability"
    MESSAGE_COUNT = "message_count"
    TIME_INTERVAL = "time_interval"
    SILENCE = "silence"
    REQUEST = "request"  # an explicit request by course staff


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomActivity:
    """What the rule needs to know about a room, as seen by one agent.

    Attributes:
        human_messages_since_agent: Human messages after this agent's last message in the
            room (all of the room's human messages when it never spoke).
        last_agent_message_at: When this agent last spoke in the room; None: never.
        first_human_since_agent_at: The first human message after `last_agent_message_at`
            (after the room's start when the agent never spoke); None: there is none.
        last_message_at: The room's latest message of anyone, human or agent.
        last_human_message_at: The room's latest human message.
        last_any_agent_message_at: The latest message of any agent in the room.
    """

    human_messages_since_agent: int
    last_agent_message_at: datetime | None
    first_human_since_agent_at: datetime | None
    last_message_at: datetime | None
    last_human_message_at: datetime | None
    last_any_agent_message_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HumanMessage:
    """The committed human message being decided on."""

    seq: int
    content: str
    sender_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """`speak` False: `reason` says why not (for traces); True: why it speaks, for people
    ("mentioned by Ana", "every 5 messages", "silence ≥ 120 s").
    """

    speak: bool
    kind: TurnKind | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeDue:
    """A time trigger that is due: `due_at` identifies it (the turn's trigger key)."""

    kind: TurnKind
    due_at: datetime
    reason: str


def mentions(text: str, config: AgentConfig) -> bool:
    """Whether `text` mentions the agent (`@teacher`, `老師`, or its configuration's name for
    the teacher; its name for the peer), case-insensitive, as a word, never inside an e-mail
    address or a URL.

    The peer agent also answers to `@student` and `@peer`. "As a word": not preceded or
    followed by a letter or digit (`@teachers` and `ana@teacher` are not mentions), except
    on the side of a name that begins or ends with a CJK character, where words have no
    spaces between them (`請問老師` mentions `老師`). Any run of white space matches a space
    in the name; full-width forms match their ASCII ones (NFKC). URLs (`https://x/teacher`,
    `www.x.org/teacher`, `x.org/teacher`) and e-mail addresses (`ana@teacher.org`) are
    removed before matching.
    """
    # NFKC: `@teacher` typed in full-width forms (a CJK input method) reads as ASCII.
    cleaned = _without_addresses(unicodedata.normalize("NFKC", text))
    name = unicodedata.normalize("NFKC", config.name)
    return any(pattern.search(cleaned) for pattern in _patterns(config.type, name))


def decide_on_message(
    *,
    room: Room,
    config: AgentConfig,
    activity: RoomActivity,
    message: HumanMessage,
    now: datetime,
    roll: float,
    default_tz_name: str = "UTC",
) -> Decision:
    """Whether `config`'s agent answers `message` (already counted in `activity`).

    `roll` is in [0, 1): `probability` speaks when roll < the trigger's value, or the room's
    `ai_frequency` when the value is None.

    Reasons when it speaks: "mentioned by <sender>", "chance 30%", "every 5 messages". When it
    does not, the reason says which rule stopped it (`_blocked`), or the trigger's state:
    "chance 30%, rolled 0.42", "2 of 5 messages", "time_interval: decided by the scheduler",
    "manual: only mentions and explicit requests", "mention: not mentioned".

    Raises:
        ValueError: `roll` is outside [0, 1) or `now` is naive.
    """
    if not 0.0 <= roll < 1.0:
        raise ValueError("roll must be in [0, 1)")
    blocked = _blocked(room, config, now, default_tz_name)
    if blocked is not None:
        return _silent(blocked)
    if mentions(message.content, config):
        return Decision(
            speak=True, kind=TurnKind.MENTION, reason=f"mentioned by {_short(message.sender_name)}"
        )
    trigger = config.trigger
    match trigger.type:
        case TriggerType.PROBABILITY:
            chance = room.ai_frequency if trigger.value is None else float(trigger.value)
            if roll < chance:
                return Decision(
                    speak=True, kind=TurnKind.PROBABILITY, reason=f"chance {_percent(chance)}"
                )
            return _silent(f"chance {_percent(chance)}, rolled {roll:.2f}")
        case TriggerType.MESSAGE_COUNT:
            every = int(trigger.value or 0)
            seen = activity.human_messages_since_agent
            if seen >= every:
                return Decision(speak=True, kind=TurnKind.MESSAGE_COUNT, reason=_every(every))
            return _silent(f"{seen} of {every} messages")
        case TriggerType.TIME_INTERVAL | TriggerType.SILENCE:
            return _silent(f"{trigger.type.value}: decided by the scheduler")
        case TriggerType.MANUAL:
            return _silent("manual: only mentions and explicit requests")
        case _:
            return _silent("mention: not mentioned")


def decide_on_time(
    *,
    room: Room,
    config: AgentConfig,
    activity: RoomActivity,
    now: datetime,
    default_tz_name: str = "UTC",
) -> TimeDue | None:
    """The time trigger that is due at `now`, if any: `time_interval` (T seconds after the
    agent's last message, with at least one human message since), `silence` (S seconds with
    no message at all, after a human message no agent has answered yet).

    `due_at` depends only on stored facts (the agent's last message, the first human message
    since, the room's last message), never on `now`, so every scheduler tick computes the same
    key for one occurrence; `now` only decides whether it is due yet and whether the room and
    the schedule allow it. Reasons: "interval ≥ 60 s", "silence ≥ 120 s".

    Raises:
        ValueError: `now` is naive.
    """
    if _blocked(room, config, now, default_tz_name) is not None:
        return None
    trigger = config.trigger
    due: TimeDue | None = None
    if trigger.type is TriggerType.TIME_INTERVAL:
        start = activity.last_agent_message_at or activity.first_human_since_agent_at
        if activity.human_messages_since_agent > 0 and start is not None:
            seconds = int(trigger.value or 0)
            due = TimeDue(
                kind=TurnKind.TIME_INTERVAL,
                due_at=start + timedelta(seconds=seconds),
                reason=f"interval ≥ {seconds} s",
            )
    elif trigger.type is TriggerType.SILENCE:
        human, agent = activity.last_human_message_at, activity.last_any_agent_message_at
        last = activity.last_message_at
        if human is not None and last is not None and (agent is None or human > agent):
            seconds = int(trigger.value or 0)
            due = TimeDue(
                kind=TurnKind.SILENCE,
                due_at=last + timedelta(seconds=seconds),
                reason=f"silence ≥ {seconds} s",
            )
    if due is None or now < due.due_at:
        return None
    return due


MAX_REASON_NAME: Final = 80

# Agent types that speak in rooms, with the room modes that let them.
_SPEAKS_IN: Final[dict[AgentType, frozenset[AiMode]]] = {
    AgentType.TEACHER: frozenset({AiMode.TEACHER_ONLY, AiMode.BOTH}),
    AgentType.STUDENT: frozenset({AiMode.BOTH}),
}


def _blocked(room: Room, config: AgentConfig, now: datetime, default_tz_name: str) -> str | None:
    """Why the agent may not speak in the room at `now` at all; None when it may."""
    if room.ai_mode == AiMode.OFF:
        return "AI is off in this room"
    if not room.is_ai_active:
        return "AI is paused in this room"
    modes = _SPEAKS_IN.get(config.type)
    if modes is None:
        return f"{config.type} agents do not speak in rooms"
    if room.ai_mode not in modes:
        return "the peer agent speaks only in rooms with both agents"
    if not config.is_active:
        return "the configuration is not active"
    if not is_on_duty(config.schedule, now, default_tz=_zone(default_tz_name)):
        return "off duty by its schedule"
    return None


def _short(name: str) -> str:
    """A display name for a reason: one line, at most `MAX_REASON_NAME` characters."""
    flat = " ".join(name.split()) or "someone"
    return flat if len(flat) <= MAX_REASON_NAME else flat[: MAX_REASON_NAME - 1] + "…"


def _silent(reason: str) -> Decision:
    return Decision(speak=False, kind=None, reason=reason)


def _percent(chance: float) -> str:
    return f"{round(chance * 100, 2):g}%"


def _every(count: int) -> str:
    return "every message" if count == 1 else f"every {count} messages"


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# Words (runs without white space) removed before matching: URLs with a scheme or `www.`,
# host names followed by a path, and e-mail addresses. Judged word by word, each pattern
# anchored or literal-led, so the cost stays linear in the text (a search over the whole
# text for these shapes backtracks quadratically: seconds for 8,000 characters of `a.a.a.`).
_WORDS: Final = re.compile(r"\S+")
_HOST_PATH: Final = re.compile(r"[(<\[\"']*(?:[\w-]+\.)+[a-z]{2,}(?::\d+)?/", re.IGNORECASE)
_EMAIL: Final = re.compile(r"\w@[\w-]+\.[\w-]")
_HANDLES: Final[dict[AgentType, tuple[str, ...]]] = {
    AgentType.TEACHER: ("@teacher", "老師"),
    AgentType.STUDENT: ("@student", "@peer"),
}


def _without_addresses(text: str) -> str:
    return _WORDS.sub(_unless_address, text)


def _unless_address(word: re.Match[str]) -> str:
    text = word.group()
    lowered = text.lower()
    if (
        "://" in text
        or lowered.startswith(("www.", "(www.", "<www."))
        or lowered.startswith("mailto:")
        or _EMAIL.search(text)
        or _HOST_PATH.match(text)
    ):
        return " "
    return text


def _is_cjk(char: str) -> bool:
    """Whether `char` is written without spaces between words (Han, kana, Hangul)."""
    name = unicodedata.name(char, "")
    return name.startswith(("CJK ", "HIRAGANA ", "KATAKANA ", "HANGUL "))


def _word(term: str) -> re.Pattern[str]:
    """`term` as a whole word, case-insensitive, any white space for its spaces."""
    body = r"\s+".join(re.escape(part) for part in term.split())
    # Not after a letter or digit, nor after one followed by `@` (`ana@ada`, an address).
    before = "" if _is_cjk(term[0]) else r"(?<!\w)(?<!\w@)"
    after = "" if _is_cjk(term[-1]) else r"(?![\w@])"
    return re.compile(before + body + after, re.IGNORECASE)


@lru_cache(maxsize=1024)
def _patterns(agent_type: AgentType, name: str) -> tuple[re.Pattern[str], ...]:
    terms = [*_HANDLES.get(agent_type, ()), name.strip()]
    return tuple(_word(term) for term in terms if term)
