"""Proposals: the peer (student) agent's drafts, which are never posted directly.

A finished student-agent turn stores a proposal (one per turn) instead of a message. Its
life cycle: `pending` → `approved` (posted as written) | `edited` (posted with the staff's
text) | `rejected` (never posted, with a reason) | `expired` (nobody decided within the TTL;
never posted late). Each move is one conditional update from `pending`, so two deciders
never both win.

Who decides is the room's `approval_mode`: `agent` (the teacher agent, through a structured
decision), `human` (course staff) or `agent_then_human` (the teacher agent pre-screens; a
rejection ends it, an approval leaves it pending for staff to confirm).

The teacher agent's decision is `{"decision": "approve" | "reject", "reason": str}`, as a
tool call's arguments or a JSON reply. `parse_decision` reads it; anything else — prose,
"yes", "NO, yesterday…", extra or missing fields, empty text — is a rejection with the
reason `UNREADABLE`: only a well-formed approve approves.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final
from uuid import UUID

from coagent.domain.courses.room import ApprovalMode

__all__ = [
    "UNREADABLE",
    "AgentDecision",
    "ApprovalMode",
    "Proposal",
    "ProposalStatus",
    "Verdict",
    "check_reason",
    "parse_decision",
]

UNREADABLE: Final = "unreadable decision"
MAX_PROPOSAL_REASON: Final = 500
_FIELDS: Final = frozenset({"decision", "reason"})


class ProposalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EDITED = "edited"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Verdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    EDIT = "edit"


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    id: UUID
    room_id: UUID
    turn_id: UUID
    content: str
    status: ProposalStatus
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: UUID | None = None  # a staff user; None for the teacher agent (or nobody)
    decided_by_agent: bool = False
    reason: str | None = None
    # The teacher agent's approval in `agent_then_human` (still pending for staff).
    screened_by_agent: bool = False
    message_id: UUID | None = None  # the posted message, once approved or edited
    # The peer configuration's name when it drafted this: the posted message's author.
    sender_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentDecision:
    approve: bool
    reason: str


def _reject(reason: str = UNREADABLE) -> AgentDecision:
    return AgentDecision(approve=False, reason=reason)


def parse_decision(raw: str | None) -> AgentDecision:
    """The teacher agent's decision from its tool-call arguments or JSON reply (a single
    object, optionally inside one ```json fence). Exactly the fields `decision` and `reason`,
    `decision` one of approve/reject (case as written), `reason` a string; anything else is
    a rejection with the reason `UNREADABLE`.
    """
    if raw is None:
        return _reject()
    text = raw.strip()
    if text.startswith("```") and text.endswith("```") and len(text) >= 6:
        text = text[3:-3].strip()
        if text.startswith("json"):
            text = text[4:].strip()
    if not text.startswith("{"):
        return _reject()
    try:
        value = json.loads(text)
    except ValueError:
        return _reject()
    if not isinstance(value, dict) or set(value) != _FIELDS:
        return _reject()
    decision, reason = value["decision"], value["reason"]
    if not isinstance(decision, str) or not isinstance(reason, str):
        return _reject()
    reason = reason.strip()[:MAX_PROPOSAL_REASON]
    if decision == Verdict.APPROVE.value:
        return AgentDecision(approve=True, reason=reason)
    if decision == Verdict.REJECT.value:
        return _reject(reason or "rejected by the teacher agent")
    return _reject()


def check_reason(reason: str | None) -> str | None:
    """A staff-given reason, trimmed to the stored bound; None when blank."""
    if reason is None or not reason.strip():
        return None
    return reason.strip()[:MAX_PROPOSAL_REASON]
