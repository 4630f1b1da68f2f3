"""In-memory agent-turn store with the SQL one's guarantees: a unique (room, agent type,
trigger key), a room lease taken over only once expired, state moves only from the state
(and lease token) they require, one message per turn stored under the room's next seq.
"""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

import anyio.lowlevel

from coagent.application.ports.turns import (
    AgentReply,
    DecisionInputs,
    StartInputs,
    TimeCandidate,
    TurnPage,
    TurnUsage,
    Unconsidered,
)
from coagent.domain.agents.config import AgentType
from coagent.domain.agents.decision import RoomActivity
from coagent.domain.agents.trigger import TriggerType
from coagent.domain.agents.turn import AgentTurn, TurnStatus
from coagent.domain.chat.message import Message
from coagent.domain.courses.room import AiMode


class _Recovery:
    """The recovery part of the turn store (migration 0011), as the SQL one behaves."""

    _considered: Any
    _tool_calls: Any
    _rooms: Any
    _seqs: Any
    _message_rows: Any

    async def mark_considered(self, room_id: UUID, seq: int) -> None:
        if (self._considered.get(room_id) or 0) < seq:
            self._considered.put(room_id, seq)

    async def unconsidered(self, *, before: datetime, limit: int) -> Sequence[Unconsidered]:
        found = []
        for room in self._rooms.values():
            if not room.is_ai_active or room.ai_mode is AiMode.OFF:
                continue
            considered, last = self._considered.get(room.id) or 0, self._seqs.get(room.id) or 0
            first = next(
                (
                    m
                    for m in self._message_rows.values()
                    if m.room_id == room.id and m.seq == considered + 1
                ),
                None,
            )
            if last > considered and first is not None and first.created_at < before:
                found.append(
                    Unconsidered(room_id=room.id, considered_seq=considered, last_seq=last)
                )
        return found[:limit]

    async def human_seqs(
        self, room_id: UUID, *, after_seq: int, up_to_seq: int, since: datetime
    ) -> Sequence[int]:
        return sorted(
            m.seq
            for m in self._message_rows.values()
            if m.room_id == room_id
            and after_seq < m.seq <= up_to_seq
            and m.agent_type is None
            and m.created_at >= since
        )

    async def tool_result(self, turn_id: UUID, call_key: str) -> Mapping[str, Any] | None:
        await anyio.lowlevel.checkpoint()
        recorded = self._tool_calls.get((turn_id, call_key))
        return recorded[1] if recorded else None

    async def record_tool_call(
        self,
        turn_id: UUID,
        call_key: str,
        *,
        tool: str,
        result: Mapping[str, Any],
        now: datetime,
    ) -> bool:
        await anyio.lowlevel.checkpoint()
        if self._tool_calls.get((turn_id, call_key)) is not None:
            return False
        self._tool_calls.put((turn_id, call_key), (tool, dict(result)))
        return True


class InMemoryAgentTurnRepository(_Recovery):
    def __init__(
        self,
        turns: Any,  # _Overlay[UUID, AgentTurn]
        leases: Any,  # _Overlay[UUID, tuple[UUID, datetime]]
        messages: Any,  # InMemoryMessageRepository
        message_rows: Any,  # _Overlay[UUID, Message]
        seqs: Any,  # _Overlay[UUID, int]
        rooms: Any,  # _Overlay[UUID, Room]
        configs: Any,  # _Overlay[UUID, AgentConfig]
        cancels: Any,  # _Overlay[UUID, UUID | None]: the lease token a stop was asked under
        *,
        considered: Any = None,  # _Overlay[UUID, int]: agent_room_considered
        tool_calls: Any = None,  # _Overlay[tuple[UUID, str], tuple[str, dict]]: agent_tool_call
        courses: Any = None,  # _Overlay[UUID, Course]
    ) -> None:
        self._courses = courses
        self._turns = turns
        self._leases = leases
        self._messages = messages
        self._message_rows = message_rows
        self._seqs = seqs
        self._rooms = rooms
        self._configs = configs
        self._cancels = cancels
        self._considered = considered
        self._tool_calls = tool_calls

    def _with_message(self, turn: AgentTurn) -> AgentTurn:
        found = next((m for m in self._message_rows.values() if m.turn_id == turn.id), None)
        return replace(turn, message_id=found.id if found else None)

    async def add(self, turn: AgentTurn) -> bool:
        await anyio.lowlevel.checkpoint()
        identity = (turn.room_id, turn.agent_type, turn.trigger_key)
        if any((t.room_id, t.agent_type, t.trigger_key) == identity for t in self._turns.values()):
            return False
        self._turns.put(turn.id, turn)
        return True

    async def get(self, turn_id: UUID) -> AgentTurn | None:
        turn = self._turns.get(turn_id)
        return self._with_message(turn) if turn else None

    async def count_since(self, room_id: UUID, since: datetime) -> int:
        return sum(
            1
            for t in self._turns.values()
            if t.room_id == room_id and t.created_at >= since and t.status is not TurnStatus.SKIPPED
        )

    async def activity(
        self, room_id: UUID, agent_type: str, *, up_to_seq: int | None = None
    ) -> RoomActivity:
        messages = sorted(
            (m for m in self._message_rows.values() if m.room_id == room_id), key=lambda m: m.seq
        )
        upto = up_to_seq if up_to_seq is not None else (messages[-1].seq if messages else 0)
        own = [m for m in messages if m.agent_type == agent_type]
        since = max((m.seq for m in own if m.seq <= upto), default=0)
        if up_to_seq is not None:
            claimed = (
                t.caused_by_seq
                for t in self._turns.values()
                if t.room_id == room_id
                and t.agent_type == agent_type
                and t.caused_by_seq is not None
                and t.caused_by_seq < up_to_seq
                and t.status
                in {TurnStatus.QUEUED, TurnStatus.RUNNING, TurnStatus.SUCCEEDED, TurnStatus.MERGED}
            )
            since = max(since, max(claimed, default=0))
        humans_since = [m for m in messages if m.agent_type is None and since < m.seq]
        counted = [m for m in humans_since if m.seq <= upto]
        humans = [m for m in messages if m.agent_type is None]
        agents = [m for m in messages if m.agent_type is not None]
        return RoomActivity(
            human_messages_since_agent=len(counted),
            last_agent_message_at=own[-1].created_at if own else None,
            first_human_since_agent_at=humans_since[0].created_at if humans_since else None,
            last_message_at=messages[-1].created_at if messages else None,
            last_human_message_at=humans[-1].created_at if humans else None,
            last_any_agent_message_at=agents[-1].created_at if agents else None,
        )

    async def message_at(self, room_id: UUID, seq: int) -> Message | None:
        for message in await self._messages.page(room_id, limit=1, before_seq=seq + 1):
            if message.seq == seq:
                return message
        return None

    async def decision_inputs(
        self, room_id: UUID, agent_type: str, seq: int, *, turns_since: datetime
    ) -> DecisionInputs:
        room = self._rooms.get(room_id)
        if room is None:
            return DecisionInputs(
                room=None, config=None, message=None, recent_turns=0, activity=None
            )
        config = next(
            (
                c
                for c in self._configs.values()
                if c.course_id == room.course_id and c.type.value == agent_type and c.is_active
            ),
            None,
        )
        counts = config is not None and config.trigger.type is TriggerType.MESSAGE_COUNT
        peer = next(
            (
                c
                for c in self._configs.values()
                if c.course_id == room.course_id and c.type is AgentType.STUDENT and c.is_active
            ),
            None,
        )
        return DecisionInputs(
            room=room,
            config=config,
            message=await self.message_at(room_id, seq),
            recent_turns=await self.count_since(room_id, turns_since),
            activity=await self.activity(room_id, agent_type, up_to_seq=seq) if counts else None,
            peer_policy=peer.interrupt_policy if peer is not None else None,
        )

    async def next_to_start(self, room_id: UUID) -> StartInputs | None:
        turn = await self.next_queued(room_id)
        if turn is None:
            return None
        room = self._rooms.get(room_id)
        course = self._courses.get(room.course_id) if room and self._courses else None
        config = self._configs.get(turn.config_id) if turn.config_id else None
        return StartInputs(
            turn=turn,
            room=room,
            last_seq=self._seqs.get(room_id) or 0,
            course_title=course.title if course else "",
            config=config if config is not None and config.is_active else None,
        )

    async def take_room(
        self, room_id: UUID, holder: UUID, *, now: datetime, expires_at: datetime
    ) -> bool:
        await anyio.lowlevel.checkpoint()
        lease = self._leases.get(room_id)
        if lease is not None and lease[0] != holder and lease[1] >= now:
            return False
        self._leases.put(room_id, (holder, expires_at))
        return True

    async def renew_room(self, room_id: UUID, holder: UUID, *, expires_at: datetime) -> bool:
        lease = self._leases.get(room_id)
        if lease is None or lease[0] != holder:
            return False
        self._leases.put(room_id, (holder, expires_at))
        return True

    async def release_room(self, room_id: UUID, holder: UUID) -> None:
        lease = self._leases.get(room_id)
        if lease is not None and lease[0] == holder:
            self._leases.delete(room_id)

    async def release_room_unless_queued(
        self, room_id: UUID, holder: UUID, *, expires_at: datetime
    ) -> bool:
        if not await self.renew_room(room_id, holder, expires_at=expires_at):
            return False
        if await self.next_queued(room_id) is not None:
            return False
        self._leases.delete(room_id)
        return True

    async def next_queued(self, room_id: UUID) -> AgentTurn | None:
        queued = [
            t
            for t in self._turns.values()
            if t.room_id == room_id and t.status is TurnStatus.QUEUED
        ]
        return min(queued, key=lambda t: (t.created_at, t.id), default=None)

    async def start(
        self,
        turn_id: UUID,
        *,
        lease_token: UUID,
        now: datetime,
        lease_expires_at: datetime,
        seen_up_to_seq: int,
    ) -> bool:
        turn = self._turns.get(turn_id)
        if turn is None or turn.status is not TurnStatus.QUEUED:
            return False
        self._turns.put(
            turn_id,
            replace(
                turn,
                status=TurnStatus.RUNNING,
                attempts=turn.attempts + 1,
                lease_token=lease_token,
                lease_expires_at=lease_expires_at,
                seen_up_to_seq=seen_up_to_seq,
                started_at=now,
            ),
        )
        return True

    async def merge_seen(
        self, *, room_id: UUID, agent_type: str, into: UUID, up_to_seq: int, now: datetime
    ) -> int:
        merged = 0
        for turn in self._turns.values():
            if (
                turn.room_id == room_id
                and turn.agent_type == agent_type
                and turn.status is TurnStatus.QUEUED
                and turn.id != into
                and turn.caused_by_seq is not None
                and turn.caused_by_seq <= up_to_seq
            ):
                self._turns.put(
                    turn.id,
                    replace(turn, status=TurnStatus.MERGED, merged_into=into, finished_at=now),
                )
                merged += 1
        return merged

    def _running(self, turn_id: UUID, lease_token: UUID) -> AgentTurn | None:
        turn = self._turns.get(turn_id)
        if turn is None or turn.status is not TurnStatus.RUNNING or turn.lease_token != lease_token:
            return None
        return turn

    async def renew(self, turn_id: UUID, lease_token: UUID, *, expires_at: datetime) -> bool:
        turn = self._running(turn_id, lease_token)
        if turn is None:
            return False
        self._turns.put(turn_id, replace(turn, lease_expires_at=expires_at))
        return True

    async def complete(
        self, turn_id: UUID, lease_token: UUID, *, reply: AgentReply, usage: TurnUsage
    ) -> int | None:
        await anyio.lowlevel.checkpoint()
        turn = self._running(turn_id, lease_token)
        if turn is None:
            return None
        self._turns.put(
            turn_id,
            replace(
                turn,
                status=TurnStatus.SUCCEEDED,
                lease_expires_at=None,
                finished_at=reply.created_at,
                **_usage(usage),
            ),
        )
        seq = (self._seqs.get(reply.room_id) or 0) + 1
        self._seqs.put(reply.room_id, seq)
        self._message_rows.put(
            reply.id,
            Message(
                id=reply.id,
                room_id=reply.room_id,
                seq=seq,
                content=reply.content,
                created_at=reply.created_at,
                sender_id=None,
                sender_name=reply.sender_name or "",
                agent_type=reply.agent_type,
                turn_id=turn_id,
            ),
        )
        return seq

    async def fail(
        self,
        turn_id: UUID,
        lease_token: UUID | None,
        *,
        error_code: str,
        usage: TurnUsage | None,
        now: datetime,
    ) -> bool:
        turn = self._turns.get(turn_id)
        if turn is None:
            return False
        if lease_token is None:
            if turn.status is not TurnStatus.QUEUED:
                return False
        elif self._running(turn_id, lease_token) is None:
            return False
        self._turns.put(
            turn_id,
            replace(
                turn,
                status=TurnStatus.FAILED,
                error_code=error_code,
                lease_expires_at=None,
                finished_at=now,
                **_usage(usage),
            ),
        )
        return True

    async def skip(self, turn_id: UUID, *, reason: str, now: datetime) -> bool:
        turn = self._turns.get(turn_id)
        if turn is None or turn.status is not TurnStatus.QUEUED:
            return False
        self._turns.put(
            turn_id, replace(turn, status=TurnStatus.SKIPPED, reason=reason, finished_at=now)
        )
        return True

    async def expired(self, now: datetime, *, limit: int) -> Sequence[AgentTurn]:
        found = [
            t
            for t in self._turns.values()
            if t.status is TurnStatus.RUNNING
            and t.lease_expires_at is not None
            and t.lease_expires_at < now
        ]
        return sorted(found, key=lambda t: t.lease_expires_at or now)[:limit]

    async def requeue(self, turn_id: UUID, lease_token: UUID) -> bool:
        turn = self._running(turn_id, lease_token)
        if turn is None:
            return False
        self._turns.put(
            turn_id,
            replace(turn, status=TurnStatus.QUEUED, lease_token=None, lease_expires_at=None),
        )
        self._cancels.put(turn_id, None)
        return True

    async def request_cancel(self, room_id: UUID, *, agent_type: str, before_seq: int) -> int:
        await anyio.lowlevel.checkpoint()
        flagged = 0
        for turn in list(self._turns.values()):
            if (
                turn.room_id == room_id
                and turn.agent_type == agent_type
                and turn.status is TurnStatus.RUNNING
                and (turn.seen_up_to_seq or 0) < before_seq
                and not self._cancels.get(turn.id)
            ):
                self._cancels.put(turn.id, turn.lease_token)  # asked under this lease
                flagged += 1
        return flagged

    async def cancel_requested(self, turn_id: UUID, lease_token: UUID) -> bool:
        await anyio.lowlevel.checkpoint()
        return self._running(turn_id, lease_token) is not None and bool(self._cancels.get(turn_id))

    async def rooms_to_run(self, now: datetime, *, limit: int) -> Sequence[UUID]:
        rooms: list[UUID] = []
        for turn in self._turns.values():
            if turn.status is not TurnStatus.QUEUED or turn.room_id in rooms:
                continue
            lease = self._leases.get(turn.room_id)
            if lease is None or lease[1] < now:
                rooms.append(turn.room_id)
        return rooms[:limit]

    async def page(self, room_id: UUID, *, offset: int, limit: int) -> TurnPage:
        turns = sorted(
            (t for t in self._turns.values() if t.room_id == room_id),
            key=lambda t: (t.created_at, t.id),
            reverse=True,
        )
        return TurnPage(
            items=[self._with_message(t) for t in turns[offset : offset + limit]],
            total=len(turns),
        )

    async def time_candidates(self, *, limit: int) -> Sequence[TimeCandidate]:
        # As the SQL one: the peer agent only in `both` rooms, each with its activity,
        # ordered by room, then agent type.
        times = {TriggerType.TIME_INTERVAL, TriggerType.SILENCE}
        pairs = sorted(
            (
                (room, config)
                for room in self._rooms.values()
                if room.is_ai_active and room.ai_mode is not AiMode.OFF
                for config in self._configs.values()
                if config.course_id == room.course_id
                and (
                    config.type is AgentType.TEACHER
                    or (config.type is AgentType.STUDENT and room.ai_mode is AiMode.BOTH)
                )
                and config.is_active
                and config.trigger.type in times
            ),
            key=lambda pair: (pair[0].id, pair[1].type.value),
        )
        return [
            TimeCandidate(
                room=room, config=config, activity=await self.activity(room.id, config.type.value)
            )
            for room, config in pairs[:limit]
        ]


def _usage(usage: TurnUsage | None) -> dict[str, Any]:
    if usage is None:
        return {}
    return {
        "provider": usage.provider,
        "model": usage.model,
        "tokens_in": usage.tokens_in,
        "tokens_out": usage.tokens_out,
        "latency_ms": usage.latency_ms,
        "first_token_ms": usage.first_token_ms,
    }


class RecordingAgentStream:
    """`AgentStream` that keeps every call, in order, as (name, arguments)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def named(self, name: str) -> list[dict[str, Any]]:
        return [arguments for call, arguments in self.calls if call == name]

    async def delta(self, *, room_id: UUID, turn_id: UUID, message_id: UUID, text: str) -> None:
        self.calls.append(
            (
                "delta",
                {"room_id": room_id, "turn_id": turn_id, "message_id": message_id, "text": text},
            )
        )

    async def end(self, turn_id: UUID) -> None:
        self.calls.append(("end", {"turn_id": turn_id}))

    async def aborted(self, *, room_id: UUID, turn_id: UUID, message_id: UUID, reason: str) -> None:
        self.calls.append(
            ("aborted", {"turn_id": turn_id, "message_id": message_id, "reason": reason})
        )

    async def trace(self, event: Any) -> None:
        self.calls.append(("trace", {"event": event}))

    async def notify_user(self, *, room_id: UUID, user_id: UUID, code: str, detail: str) -> None:
        self.calls.append(("notify_user", {"user_id": user_id, "code": code, "detail": detail}))


class RecordingKicker:
    """`TurnKicker` that records kicks and runs nothing (tests run the use cases)."""

    def __init__(self) -> None:
        self.considered: list[tuple[UUID, int]] = []
        self.runs: list[UUID] = []
        self.decisions: list[UUID] = []

    async def consider_message(self, room_id: UUID, seq: int) -> None:
        self.considered.append((room_id, seq))

    async def run_turns(self, room_id: UUID) -> None:
        self.runs.append(room_id)

    async def decide_proposal(self, proposal_id: UUID) -> None:
        self.decisions.append(proposal_id)
