"""When an agent speaks: one rule, a pure function of its inputs (no I/O, no clock, no RNG).

Order (docs/product.md §5): the room's AI is off or paused, or (for the peer agent) the room
is not `both` → never; the agent is off duty by its schedule → never; a mention → always;
otherwise its trigger. Time triggers (`time_interval`, `silence`) are decided by the
scheduler through `decide_on_time`; message triggers through `decide_on_message`.

The caller draws the one random number a `probability` trigger uses (`roll`), once per human
message (derived from the message, so a retried job rolls the same), and passes it in.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from coagent.domain.agents.config import AgentConfig
from coagent.domain.courses.room import Room


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
    """
    raise NotImplementedError


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
    """
    raise NotImplementedError


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
    """
    raise NotImplementedError
