"""Agent turns: one row per trigger, the unit of exactly-once agent speech.

A turn's identity is (room, agent type, trigger key); the database keeps it unique, so a
duplicate job, a retried job, two workers or two scheduler ticks never make a second turn.
Trigger keys: `msg:<seq>` (a human message), `<kind>:<due_at ISO>` (a time trigger),
`request:<uuid>` (an explicit request by course staff).

Life cycle: `queued` → `running` (a worker holds its lease) → `succeeded` (its message is
stored in the same transaction) | `failed` (typed `error_code`); `queued` → `merged` (a later
turn of the same agent already sees its causing message) | `skipped` (a limit, recorded with
its reason, never run). `attempts` counts starts. A running turn whose lease expired goes back
to `queued`, unless it was started `MAX_ATTEMPTS` times: then it fails as `abandoned`.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final
from uuid import UUID

from coagent.domain.agents.decision import TurnKind

MAX_ATTEMPTS: Final = 3
MAX_REASON: Final = 200


class TurnStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    MERGED = "merged"


class TurnError(StrEnum):
    """Typed reasons a turn failed (never the provider's text)."""

    PROVIDER_TIMEOUT = "provider_timeout"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_AUTH = "provider_auth"
    PROVIDER_BAD_REQUEST = "provider_bad_request"
    RATE_LIMITED = "rate_limited"
    PROVIDER_ERROR = "provider_error"
    PROVIDER_CONFIG = "provider_config"  # no usable key, or an unknown provider
    INTERNAL_ERROR = "internal_error"
    NO_CONFIGURATION = "no_configuration"
    EMPTY_REPLY = "empty_reply"
    ABANDONED = "abandoned"
    TOOL_LOOP_EXHAUSTED = "tool_loop_exhausted"  # still calling tools after the last step


def message_key(seq: int) -> str:
    return f"msg:{seq}"


def time_key(kind: TurnKind, due_at: datetime) -> str:
    return f"{kind.value}:{due_at.isoformat()}"


def request_key(request_id: UUID) -> str:
    return f"request:{request_id}"


def short_reason(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentTurn:
    id: UUID
    room_id: UUID
    agent_type: str
    config_id: UUID | None
    config_revision: int
    kind: TurnKind
    trigger_key: str
    reason: str
    caused_by_seq: int | None
    requested_by: UUID | None
    status: TurnStatus
    created_at: datetime
    attempts: int = 0
    lease_token: UUID | None = None
    lease_expires_at: datetime | None = None
    provider: str | None = None
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: int | None = None
    first_token_ms: int | None = None
    error_code: str | None = None
    seen_up_to_seq: int | None = None
    merged_into: UUID | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # The stored reply of a succeeded turn (read only: the message row points at the turn).
    message_id: UUID | None = None
