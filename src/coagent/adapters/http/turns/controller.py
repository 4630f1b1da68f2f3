"""/api/v1/rooms/{room_id}/agents/...: agent turns, requested and listed by course staff.

The controller declares its own dependency (`turns`: `services_of(TurnServices)`), which the
composition root registers with the app.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from coagent.adapters.http.auth import SECURITY
from coagent.adapters.http.deps import Current, services_of
from coagent.adapters.http.paging import Limit, Offset, paged
from coagent.adapters.http.problems import problems
from coagent.application.turns.list_turns import ListTurns, ListTurnsCommand
from coagent.application.turns.request_turn import RequestTurn, RequestTurnCommand
from coagent.domain.agents.turn import AgentTurn


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnServices:
    request: RequestTurn
    list: ListTurns


Turns = NamedDependency[TurnServices]


class TurnRead(msgspec.Struct):
    """An agent turn: why it exists (`kind`, `reason`, the causing message's `caused_by_seq`),
    which configuration and revision it ran, how it went, and its message once stored.
    """

    id: UUID
    room_id: UUID
    agent_type: str
    kind: str
    reason: str
    status: str
    config_id: UUID | None
    config_revision: int
    caused_by_seq: int | None
    requested_by: UUID | None
    attempts: int
    provider: str | None
    model: str | None
    tokens_in: int | None
    tokens_out: int | None
    latency_ms: int | None
    first_token_ms: int | None
    error_code: str | None
    seen_up_to_seq: int | None
    merged_into: UUID | None
    message_id: UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, turn: AgentTurn) -> "TurnRead":
        return cls(
            id=turn.id,
            room_id=turn.room_id,
            agent_type=turn.agent_type,
            kind=turn.kind.value,
            reason=turn.reason,
            status=turn.status.value,
            config_id=turn.config_id,
            config_revision=turn.config_revision,
            caused_by_seq=turn.caused_by_seq,
            requested_by=turn.requested_by,
            attempts=turn.attempts,
            provider=turn.provider,
            model=turn.model,
            tokens_in=turn.tokens_in,
            tokens_out=turn.tokens_out,
            latency_ms=turn.latency_ms,
            first_token_ms=turn.first_token_ms,
            error_code=turn.error_code,
            seen_up_to_seq=turn.seen_up_to_seq,
            merged_into=turn.merged_into,
            message_id=turn.message_id,
            created_at=turn.created_at,
            started_at=turn.started_at,
            finished_at=turn.finished_at,
        )


class TurnsController(Controller):
    path = "/api/v1/rooms"
    tags = ["agents"]
    security = SECURITY
    dependencies = {"turns": services_of(TurnServices)}

    @post(
        "/{room_id:uuid}/agents/teacher/turns",
        operation_id="agent_turns_request",
        status_code=202,
        description=(
            "Course staff (TA and above) and admins make the room's teacher agent speak now. "
            "202 with the turn (`queued`, or `skipped` when the room is at its per-minute "
            "limit); 409 when the room's AI is off or paused or no teacher configuration "
            "is active."
        ),
        responses=problems(401, 403, 404, 409),
    )
    async def request_turn(
        self, room_id: FromPath[UUID], turns: Turns, current: Current
    ) -> TurnRead:
        turn = await turns.request.execute(
            RequestTurnCommand(actor_id=current.user_id, room_id=room_id)
        )
        return TurnRead.of(turn)

    @get(
        "/{room_id:uuid}/agents/turns",
        operation_id="agent_turns_list",
        description=(
            "Course staff (TA and above) and admins: the room's agent turns, newest first, "
            "paged (`X-Total-Count`, `Link`)."
        ),
        responses=problems(401, 403, 404),
    )
    async def list_turns(
        self,
        request: Request[Any, Any, Any],
        room_id: FromPath[UUID],
        turns: Turns,
        current: Current,
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> Response[list[TurnRead]]:
        page = await turns.list.execute(
            ListTurnsCommand(actor_id=current.user_id, room_id=room_id, offset=offset, limit=limit)
        )
        return paged(request, page, offset, limit, TurnRead.of)
