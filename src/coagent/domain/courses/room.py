"""Discussion rooms of a course."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from coagent.domain.errors import InvalidInput


class AiMode(StrEnum):
    OFF = "off"
    TEACHER_ONLY = "teacher_only"
    BOTH = "both"


class ApprovalMode(StrEnum):
    """Who decides on the peer agent's proposals (see domain/agents/proposal.py)."""

    AGENT = "agent"
    HUMAN = "human"
    AGENT_THEN_HUMAN = "agent_then_human"


@dataclass(frozen=True, slots=True, kw_only=True)
class Room:
    id: UUID
    course_id: UUID
    name: str
    description: str | None
    ai_mode: AiMode
    ai_frequency: float
    is_ai_active: bool
    is_analytics_active: bool
    created_at: datetime
    updated_at: datetime
    approval_mode: ApprovalMode = ApprovalMode.AGENT
    # True when the room has assigned members: then students outside them do not see it.
    is_restricted: bool = False


def check_room(name: str, ai_frequency: float) -> None:
    if not name.strip():
        raise InvalidInput("Room name must not be blank")
    if not 0.0 <= ai_frequency <= 1.0:
        raise InvalidInput("ai_frequency must be between 0 and 1")
