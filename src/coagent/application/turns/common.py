"""What the turn use cases share: the one roll per human message, the room limit, the
typed error codes of provider failures.
"""

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from coagent.application.ports.agent_events import AgentError, AgentStream, AgentTurnTrace
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.llm import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from coagent.application.ports.repositories import UnitOfWork, UnitOfWorkFactory
from coagent.application.ports.turns import TurnKicker
from coagent.domain.agents.turn import AgentTurn, TurnError, TurnStatus
from coagent.domain.errors import InvalidInput

LIMIT_WINDOW = timedelta(minutes=1)
SKIPPED_BY_LIMIT = "turn_limit"


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnLimits:
    """`turns_per_minute` per room; `mentions_per_user` per `mention_window_seconds`."""

    turns_per_minute: int = 6
    mentions_per_user: int = 5
    mention_window_seconds: int = 60


class TurnQueuing:
    """What the use cases that queue turns from outside a runner share: their constructor
    (units of work, the clock and ids of a new turn, the runner's kick, the trace stream,
    the room limit).
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        kicker: TurnKicker,
        stream: AgentStream,
        limits: TurnLimits,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._kicker = kicker
        self._stream = stream
        self._limits = limits


def roll_for(message_id: UUID, config_id: UUID) -> float:
    """A number in [0, 1) fixed by the message and the configuration: a retried or
    duplicated job rolls the same, so each human message gets exactly one roll.
    """
    digest = hashlib.sha256(message_id.bytes + config_id.bytes).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


async def admit(
    uow: UnitOfWork, turn: AgentTurn, *, limit: int, now: datetime, recent: int | None = None
) -> AgentTurn:
    """The turn as it is to be stored: queued, or skipped (with why) when the room already
    had `limit` turns in the last minute (`recent`: that count, when the caller read it).
    """
    if recent is None:
        recent = await uow.turns.count_since(turn.room_id, now - LIMIT_WINDOW)
    if recent < limit:
        return turn
    return replace(
        turn,
        status=TurnStatus.SKIPPED,
        error_code=SKIPPED_BY_LIMIT,
        reason=f"{turn.reason} (skipped: the room's limit of {limit} turns per minute)",
        finished_at=now,
    )


async def trace_skipped(stream: AgentStream, turn: AgentTurn) -> None:
    await stream.trace(
        AgentTurnTrace(
            room_id=turn.room_id,
            turn_id=turn.id,
            agent_type=turn.agent_type,
            status="skipped",
            detail=turn.reason,
        )
    )
    await stream.trace(
        AgentError(
            room_id=turn.room_id,
            turn_id=turn.id,
            agent_type=turn.agent_type,
            code=SKIPPED_BY_LIMIT,
            detail=turn.reason,
        )
    )


def error_code(error: Exception) -> TurnError:
    """The typed code of a failed call (never the provider's text)."""
    if isinstance(error, ProviderTimeout):
        return TurnError.PROVIDER_TIMEOUT
    if isinstance(error, ProviderUnavailable):
        return TurnError.PROVIDER_UNAVAILABLE
    if isinstance(error, ProviderAuthError):
        return TurnError.PROVIDER_AUTH
    if isinstance(error, ProviderBadRequest):
        return TurnError.PROVIDER_BAD_REQUEST
    if isinstance(error, ProviderRateLimited):
        return TurnError.RATE_LIMITED
    if isinstance(error, InvalidInput):
        return TurnError.PROVIDER_CONFIG
    if isinstance(error, ProviderError):
        return TurnError.PROVIDER_ERROR
    return TurnError.INTERNAL_ERROR
