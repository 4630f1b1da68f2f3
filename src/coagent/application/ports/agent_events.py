"""Live agent output for a room: streamed text, withdrawals, staff-only traces, user notices.

The stored agent message itself goes out through `ChatPublisher.message_posted` like any
message (after `end`). Best effort, like every publish: clients re-read what they miss.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentError:
    """A turn failed (staff-only `agent.error` event); `code` is the typed error code."""

    room_id: UUID
    turn_id: UUID
    agent_type: str
    code: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentToolTrace:
    """An agent called a tool (staff-only `agent.tool` event): its name, the arguments as
    validated (None when they did not validate: `result` says why) and the result fed back.
    """

    room_id: UUID
    turn_id: UUID
    agent_type: str
    tool: str
    arguments: Mapping[str, Any] | None
    result: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentTurnTrace:
    """A turn's progress (staff-only `agent.turn`): `started`, `skipped` (`detail`: why) or
    `failed` (`code`: the typed error code).
    """

    room_id: UUID
    turn_id: UUID
    agent_type: str
    status: str
    detail: str
    code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentProposalTrace:
    """The peer agent drafted a proposal (staff-only `agent.proposal`)."""

    room_id: UUID
    turn_id: UUID
    proposal_id: UUID
    content: str
    approval_mode: str
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentDecisionTrace:
    """A decision on a proposal (staff-only `agent.decision`). `decision`: approve, edit,
    reject, screen (the teacher agent's approval in `agent_then_human`, still pending) or
    expire; `decided_by`: the staff user, None for the teacher agent or the expiry.
    """

    room_id: UUID
    proposal_id: UUID
    decision: str
    decided_by: UUID | None
    decided_by_agent: bool
    reason: str | None
    message_id: UUID | None = None


AgentTrace = AgentError | AgentToolTrace | AgentTurnTrace | AgentProposalTrace | AgentDecisionTrace


class AgentStream(Protocol):
    async def delta(self, *, room_id: UUID, turn_id: UUID, message_id: UUID, text: str) -> None:
        """A piece of a reply being streamed, in order. The adapter may coalesce pieces (at
        most one frame per turn per 50 ms) and numbers the frames it sends.
        """
        ...

    async def end(self, turn_id: UUID) -> None:
        """The stream of `turn_id` is over: flush what is buffered, forget the turn. Call it
        before publishing the stored message, or before `aborted`.
        """
        ...

    async def aborted(self, *, room_id: UUID, turn_id: UUID, message_id: UUID, reason: str) -> None:
        """Withdraw a half-streamed reply (`message.aborted`): it will never be stored."""
        ...

    async def trace(self, event: AgentTrace) -> None:
        """A staff-only event: course staff sockets in the room get it, students never."""
        ...

    async def notify_user(self, *, room_id: UUID, user_id: UUID, code: str, detail: str) -> None:
        """An `error` event for one user's sockets in the room (e.g. a mention rate limit)."""
        ...
