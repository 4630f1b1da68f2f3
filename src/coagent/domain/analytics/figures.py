"""Figures of a report: computed from the stored messages, never by a model.

Definitions (the SQL that computes them states the same):
- a *human* message has a sender and no agent type; an *agent* message has an agent type;
- *words*: the message's text with tabs, carriage returns and line feeds read as spaces, runs
  of spaces collapsed, trimmed; then one word more than it has spaces (0 for an empty text).
  Runs of up to 16 whitespace characters collapse exactly (longer runs count a little more);
  PostgreSQL and SQLite agree on it, and `count_words` is the same rule in Python;
- *share*: the student's human messages over all human messages of the room;
- *replies*: the student's messages whose previous message in the room (by seq) was another
  person's (a human with another sender) sent at most `REPLY_WINDOW_SECONDS` before;
- *teacher mentions*: messages whose text contains `@teacher` (any ASCII case), `老師`, or
  `@` followed by the name of the course's teacher agent (any ASCII case);
- *median gap*: the median of the seconds between consecutive messages of the room (all
  kinds), None with fewer than two messages.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from uuid import UUID

REPLY_WINDOW_SECONDS: Final = 120
COLLAPSE_PASSES: Final = 4  # each pass halves a run of spaces: runs up to 16 collapse exactly
TEACHER_MENTIONS: Final = ("@teacher", "老師")


def count_words(text: str) -> int:
    """The SQL definition above, in Python (for fakes and tests)."""
    spaced = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    for _ in range(COLLAPSE_PASSES):
        spaced = spaced.replace("  ", " ")
    spaced = spaced.strip(" ")
    return 0 if not spaced else spaced.count(" ") + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class StudentFigures:
    room_id: UUID
    user_id: UUID
    name: str
    messages: int
    words: int
    share: float  # 0..1
    first_activity: datetime
    last_activity: datetime
    replies: int
    teacher_mentions: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomFigures:
    room_id: UUID
    messages: int
    human_messages: int
    humans_active: int
    agent_messages: dict[str, int] = field(default_factory=dict)
    median_gap_seconds: float | None = None
