"""RunTurns: the one runner of a room's turns at a time, oldest first, each exactly once."""

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from contextlib import aclosing, suppress
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from uuid import UUID

from coagent.application.agents.prompt import PromptContext, build_prompt
from coagent.application.llm.call_model import CallModel, ModelChoice
from coagent.application.ports.agent_events import (
    AgentError,
    AgentProposalTrace,
    AgentStream,
    AgentToolTrace,
    AgentTurnTrace,
)
from coagent.application.ports.chat import ChatPublisher
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.llm import (
    ChatMessage,
    Completion,
    LLMRequest,
    ProviderError,
    TextDelta,
)
from coagent.application.ports.repositories import UnitOfWork, UnitOfWorkFactory
from coagent.application.ports.turns import AgentReply, StartInputs, TurnKicker, TurnUsage
from coagent.application.turns.common import error_code
from coagent.application.turns.tools import TurnTools, offered
from coagent.domain.agents.config import DEFAULT_MODELS, AgentConfig, AgentType
from coagent.domain.agents.proposal import Proposal, ProposalStatus
from coagent.domain.agents.tools import InterruptPolicy
from coagent.domain.agents.turn import AgentTurn, TurnError, short_reason
from coagent.domain.chat.message import Message, agent_display_name
from coagent.domain.courses.room import AiMode, ApprovalMode, Room
from coagent.domain.errors import InvalidInput

logger = logging.getLogger("coagent.agents")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunTurnsCommand:
    room_id: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class RanTurns:
    """`ran`: turns this call took through to succeeded or failed; False `held` when another
    runner holds the room.
    """

    held: bool
    ran: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _Setup:
    room: Room
    config: AgentConfig
    course_title: str
    history: tuple[Message, ...]
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Started:
    turn: AgentTurn
    token: UUID
    setup: _Setup | None  # None: no configuration to run it with


_HELD = "held"  # another runner holds the room
_EMPTY = "empty"  # nothing queued (the lease was released)
_SKIPPED = "skipped"  # the oldest queued turn may not run any more


async def _setup(uow: UnitOfWork, inputs: StartInputs, seen: int) -> _Setup | None:
    """The room, the configuration (the turn's, else the active one), the course's title,
    the history up to `seen` and the keys: all read with the turn where the store could
    (P6), else read here.
    """
    turn, room = inputs.turn, inputs.room
    if room is None:
        return None
    config, history, keys = inputs.config, inputs.history, inputs.keys
    if config is None:  # the turn's own is no longer active: the active one, read here
        config = await uow.agent_configs.active_for(room.course_id, AgentType(turn.agent_type))
        history = keys = None
    if config is None:
        return None
    if history is None:
        history = await uow.messages.page(room.id, limit=config.context_window, before_seq=seen + 1)
    if keys is None:
        keys = await uow.agent_configs.keys_of(config.id)
    return _Setup(
        room=room,
        config=config,
        course_title=inputs.course_title,
        history=tuple(history),
        keys=tuple(keys),
    )


class _LeaseLost(Exception):
    """Another runner took the turn over (this one stalled past its lease)."""


class _Interrupted(Exception):
    """A new human message asked the turn to stop (interrupt policy)."""


class _ToolLoopExhausted(Exception):
    """The model still called tools after `max_tool_steps` rounds."""


@dataclass(slots=True, kw_only=True)
class _Streamed:
    """What the current step streamed, under which message id; when the turn started."""

    message_id: UUID
    parts: list[str] = field(default_factory=list)
    started: float = 0.0
    first_token: float | None = None
    # Tokens of every step of the tool loop so far (None: no step reported any).
    tokens_in: int | None = None
    tokens_out: int | None = None

    def count(self, completion: Completion | None) -> None:
        """Add a step's usage to the turn's."""
        if completion is None or completion.usage is None:
            return
        self.tokens_in = (self.tokens_in or 0) + completion.usage.input_tokens
        self.tokens_out = (self.tokens_out or 0) + completion.usage.output_tokens


class RunTurns:
    """Holds the room's lease (`lease_seconds`, renewed every third of it while it works)
    while it runs the room's queued turns one by one. A turn is started under a fresh lease
    token; every queued turn of the same agent caused by a message it already sees is merged
    into it. The reply streams through `AgentStream`, then one transaction stores the
    message and marks the turn succeeded only if this runner still holds the turn's lease,
    and lets the room go when no other turn is queued (else the runner goes on).
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        call_model: CallModel,
        stream: AgentStream,
        publisher: ChatPublisher,
        lease_seconds: float,
        llm_timeout: float,
        monotonic: Callable[[], float] = time.monotonic,
        tools: TurnTools | None = None,
        max_tool_steps: int = 4,
        cancel_poll_seconds: float = 0.5,
        kicker: TurnKicker | None = None,
        proposal_ttl: float = 600.0,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._call_model = call_model
        self._stream = stream
        self._publisher = publisher
        self._lease = timedelta(seconds=lease_seconds)
        self._llm_timeout = llm_timeout
        self._monotonic = monotonic
        self._tools = tools
        self._max_tool_steps = max_tool_steps
        self._cancel_poll = cancel_poll_seconds
        self._kicker = kicker
        self._proposal_ttl = timedelta(seconds=proposal_ttl)

    async def execute(self, command: RunTurnsCommand) -> RanTurns:
        room_id, holder = command.room_id, self._ids.new_id()
        ran, took_once = 0, False
        while True:
            started = await self._start_next(room_id, holder)
            if started is _HELD:
                break
            took_once = True
            if started is _SKIPPED:
                continue
            if started is _EMPTY:
                # The lease went in the transaction that found the queue empty, which held
                # the lease row from its take on: the runner kicked for a turn queued after
                # that look waited for it, and has the room now.
                break
            assert isinstance(started, _Started)  # noqa: S101 - narrowing for the type checker
            released = await self._run(started, holder)
            ran += 1
            if released:  # the room's last turn let the room go when it stored its reply
                break
        return RanTurns(held=not took_once, ran=ran)

    async def _start_next(self, room_id: UUID, holder: UUID) -> "_Started | str":
        """In one transaction: take (or renew) the room's lease; start its oldest queued turn
        under a fresh lease token, seeing the room up to its last seq (merging the queued
        turns that seq covers); read what the turn needs. `_HELD` when another runner holds
        the room; `_EMPTY` (the lease released) when nothing is queued.
        """
        now = self._clock.now()
        token = self._ids.new_id()
        expires = now + self._lease
        async with self._uow() as uow:
            if not await uow.turns.take_room(room_id, holder, now=now, expires_at=expires):
                return _HELD
            # The turn, its room, the room's last seq, the course's title and the turn's
            # configuration in one read (P6).
            inputs = await uow.turns.next_to_start(room_id)
            if inputs is None:
                await uow.turns.release_room(room_id, holder)
                await uow.commit()
                return _EMPTY
            turn, room = inputs.turn, inputs.room
            if room is not None and (
                room.ai_mode is AiMode.OFF
                or not room.is_ai_active
                or (turn.agent_type == AgentType.STUDENT.value and room.ai_mode is not AiMode.BOTH)
            ):
                # Turned off after the turn was queued: it never runs.
                reason = short_reason(f"{turn.reason} (skipped: the room's AI was turned off)")
                await uow.turns.skip(turn.id, reason=reason, now=now)
                await uow.commit()
                return _SKIPPED
            seen = inputs.last_seq
            started = await uow.turns.start(
                turn.id, lease_token=token, now=now, lease_expires_at=expires, seen_up_to_seq=seen
            )
            if not started:  # pragma: no cover - the room lease orders runners
                await uow.turns.release_room(room_id, holder)
                await uow.commit()
                return _EMPTY
            await uow.turns.merge_seen(
                room_id=room_id, agent_type=turn.agent_type, into=turn.id, up_to_seq=seen, now=now
            )
            setup = await _setup(uow, inputs, seen)
            await uow.commit()
        return _Started(turn=turn, token=token, setup=setup)

    # --- one turn

    async def _run(self, started: "_Started", holder: UUID) -> bool:
        """Run one started turn; True when it released the room (nothing else queued)."""
        turn, token = started.turn, started.token
        try:
            if started.setup is None:
                await self._fail(turn, token, TurnError.NO_CONFIGURATION, None, streamed=None)
                return False
            await self._trace_turn(turn, "started", turn.reason)
            return await self._speak(turn, token, holder, started.setup)
        except Exception:
            logger.exception("agent turn failed", extra={"turn_id": str(turn.id)})
            with suppress(Exception):
                await self._fail(turn, token, TurnError.INTERNAL_ERROR, None, streamed=None)
            return False

    async def _speak(self, turn: AgentTurn, token: UUID, holder: UUID, setup: _Setup) -> bool:
        """Stream the reply, then store it; True when that transaction released the room."""
        config = setup.config
        request = LLMRequest(
            model=config.model or DEFAULT_MODELS[config.provider],
            messages=build_prompt(
                config=config,
                context=PromptContext(course_title=setup.course_title, room=setup.room),
                history=setup.history,
            ),
            tools=offered(config) if self._tools is not None else (),
            timeout=float(self._llm_timeout),
        )
        choice = ModelChoice(
            provider=config.provider.value, model=request.model, base_url=config.base_url
        )
        streamed = _Streamed(message_id=self._ids.new_id(), started=self._monotonic())
        completion: Completion | None = None
        heartbeat = asyncio.create_task(self._heartbeat(turn, token, holder))
        try:
            completion = await self._interruptible(
                self._tool_loop(turn, setup, choice, request, streamed, heartbeat),
                turn,
                token,
                config,
            )
        except _Interrupted:
            await self._requeue_interrupted(turn, token, streamed)
            return False
        except (ProviderError, InvalidInput) as error:
            usage = TurnUsage(provider=config.provider.value, model=request.model)
            await self._fail(
                turn,
                token,
                error_code(error),
                usage,
                streamed=(streamed.message_id, streamed.parts),
            )
            return False
        except _ToolLoopExhausted:
            usage = TurnUsage(provider=config.provider.value, model=request.model)
            await self._fail(
                turn,
                token,
                TurnError.TOOL_LOOP_EXHAUSTED,
                usage,
                streamed=(streamed.message_id, streamed.parts),
            )
            return False
        except _LeaseLost:
            await self._withdraw(turn, streamed.message_id, streamed.parts, "lease lost")
            return False
        finally:
            heartbeat.cancel()
            with suppress(asyncio.CancelledError):
                await heartbeat
        message_id, parts = streamed.message_id, streamed.parts
        started, first_token = streamed.started, streamed.first_token
        text = (completion.text if completion is not None else "") or "".join(parts)
        usage = TurnUsage(
            provider=completion.provider if completion else config.provider.value,
            model=completion.model if completion else request.model,
            tokens_in=streamed.tokens_in,
            tokens_out=streamed.tokens_out,
            latency_ms=round((self._monotonic() - started) * 1000),
            first_token_ms=round((first_token - started) * 1000) if first_token else None,
        )
        if not text.strip():
            await self._fail(
                turn, token, TurnError.EMPTY_REPLY, usage, streamed=(message_id, parts)
            )
            return False
        if turn.agent_type == AgentType.STUDENT.value:  # a draft: a proposal, never a message
            await self._propose(turn, token, text, usage, sender_name=config.name)
            return False
        await self._stream.end(turn.id)
        now = self._clock.now()
        agent = turn.agent_type
        released = False
        async with self._uow() as uow:
            seq = await uow.turns.complete(
                turn.id,
                token,
                reply=AgentReply(
                    id=message_id,
                    room_id=turn.room_id,
                    content=text,
                    agent_type=agent,
                    created_at=now,
                    sender_name=config.name,
                ),
                usage=usage,
            )
            if seq is not None:
                # The room's last turn lets the room go here: no further transaction to
                # find the queue empty (P6).
                released = await uow.turns.release_room_unless_queued(
                    turn.room_id, holder, expires_at=now + self._lease
                )
                await uow.commit()
        if seq is None:  # another runner has the turn now; what we streamed is withdrawn
            await self._stream.aborted(
                room_id=turn.room_id, turn_id=turn.id, message_id=message_id, reason="lease lost"
            )
            return False
        await self._publisher.message_posted(
            Message(
                id=message_id,
                room_id=turn.room_id,
                seq=seq,
                content=text,
                created_at=now,
                sender_id=None,
                sender_name=config.name or agent_display_name(agent),
                agent_type=agent,
                turn_id=turn.id,
            )
        )
        return released

    async def _interruptible(
        self,
        work: Coroutine[Any, Any, Completion | None],
        turn: AgentTurn,
        token: UUID,
        config: AgentConfig,
    ) -> Completion | None:
        """`work`, stopped (`_Interrupted`) when a new human message asks the turn to stop:
        only under the `interrupt` policy, checked every `cancel_poll_seconds`.
        """
        if config.interrupt_policy is not InterruptPolicy.INTERRUPT:
            return await work
        task = asyncio.ensure_future(work)
        watcher = asyncio.create_task(self._watch_cancel(turn, token))
        try:
            await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                return task.result()
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            raise _Interrupted
        finally:
            for pending in (task, watcher):
                if not pending.done():
                    pending.cancel()
                    with suppress(asyncio.CancelledError, Exception):
                        await pending

    async def _watch_cancel(self, turn: AgentTurn, token: UUID) -> None:
        """Return once the running turn was asked to stop."""
        while True:
            await asyncio.sleep(self._cancel_poll)
            try:
                async with self._uow() as uow:
                    if await uow.turns.cancel_requested(turn.id, token):
                        return
            except Exception as error:  # noqa: BLE001 - the database may come back in time
                logger.warning(
                    "agent cancel check failed",
                    extra={"turn_id": str(turn.id), "error": type(error).__name__},
                )

    async def _requeue_interrupted(
        self, turn: AgentTurn, token: UUID, streamed: "_Streamed"
    ) -> None:
        """Withdraw what the turn streamed and put it back in the queue, where it is the
        oldest: the runner starts it again at once, seeing the new message too (and merging
        the turn that message queued), so one reply answers both.
        """
        await self._withdraw(turn, streamed.message_id, streamed.parts, "interrupted")
        async with self._uow() as uow:
            await uow.turns.requeue(turn.id, token)
            await uow.commit()

    async def _tool_loop(
        self,
        turn: AgentTurn,
        setup: _Setup,
        choice: ModelChoice,
        request: LLMRequest,
        streamed: "_Streamed",
        heartbeat: "asyncio.Task[None]",
    ) -> Completion | None:
        """Call the model; while it answers with tool calls (at most `max_tool_steps` rounds),
        run them and call it again with their results. Text streamed in a step that ends in
        tool calls is withdrawn (`message.aborted`) and the next step streams under a new
        message id. Returns the final step's completion.
        """
        steps = 0
        while True:
            completion = await self._stream_step(
                turn, choice, setup.keys, request, streamed, heartbeat
            )
            if completion is None or not completion.tool_calls or not request.tools:
                return completion
            if steps >= self._max_tool_steps:
                raise _ToolLoopExhausted
            steps += 1
            if streamed.parts:
                await self._withdraw(turn, streamed.message_id, streamed.parts, "tool call")
                streamed.message_id, streamed.parts = self._ids.new_id(), []
            results = await self._run_tools(turn, setup, completion)
            if heartbeat.done():
                raise _LeaseLost
            request = replace(request, messages=(*request.messages, *results))

    async def _stream_step(
        self,
        turn: AgentTurn,
        choice: ModelChoice,
        keys: tuple[str, ...],
        request: LLMRequest,
        streamed: "_Streamed",
        heartbeat: "asyncio.Task[None]",
    ) -> Completion | None:
        completion: Completion | None = None
        async with aclosing(self._call_model.stream(choice, keys, request)) as events:
            async for event in events:
                if heartbeat.done():
                    raise _LeaseLost
                if isinstance(event, TextDelta):
                    if not event.text:
                        continue
                    if streamed.first_token is None:
                        streamed.first_token = self._monotonic()
                    streamed.parts.append(event.text)
                    if turn.agent_type != AgentType.STUDENT.value:  # a draft is not streamed
                        await self._stream.delta(
                            room_id=turn.room_id,
                            turn_id=turn.id,
                            message_id=streamed.message_id,
                            text=event.text,
                        )
                else:
                    completion = event
        streamed.count(completion)
        return completion

    async def _run_tools(
        self, turn: AgentTurn, setup: _Setup, completion: Completion
    ) -> tuple[ChatMessage, ...]:
        """The assistant's tool-call turn and one `tool` message per call, each traced."""
        assert self._tools is not None  # noqa: S101 - no tools are offered without it
        messages = [
            ChatMessage(role="assistant", content=completion.text, tool_calls=completion.tool_calls)
        ]
        for call in completion.tool_calls:
            # Shielded: an interrupt never cuts a tool's transaction in half.
            outcome = await asyncio.shield(
                self._tools.run(
                    call, config=setup.config, course_id=setup.room.course_id, turn_id=turn.id
                )
            )
            await self._stream.trace(
                AgentToolTrace(
                    room_id=turn.room_id,
                    turn_id=turn.id,
                    agent_type=turn.agent_type,
                    tool=call.name,
                    arguments=outcome.arguments,
                    result=outcome.result,
                )
            )
            messages.append(
                ChatMessage(
                    role="tool", content=outcome.content(), name=call.name, tool_call_id=call.id
                )
            )
        return tuple(messages)

    async def _heartbeat(self, turn: AgentTurn, token: UUID, holder: UUID) -> None:
        """Renew the turn's and the room's leases every third of the lease; return (ending
        the turn) when either was lost.
        """
        every = self._lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            expires = self._clock.now() + self._lease
            try:
                async with self._uow() as uow:
                    kept = await uow.turns.renew(turn.id, token, expires_at=expires)
                    kept = kept and await uow.turns.renew_room(
                        turn.room_id, holder, expires_at=expires
                    )
                    await uow.commit()
            except Exception as error:  # noqa: BLE001 - the database may come back in time
                logger.warning(
                    "agent lease not renewed",
                    extra={"turn_id": str(turn.id), "error": type(error).__name__},
                )
                continue
            if not kept:
                return

    async def _withdraw(
        self, turn: AgentTurn, message_id: UUID, parts: list[str], reason: str
    ) -> None:
        await self._stream.end(turn.id)
        if parts and turn.agent_type != AgentType.STUDENT.value:
            await self._stream.aborted(
                room_id=turn.room_id, turn_id=turn.id, message_id=message_id, reason=reason
            )

    async def _fail(
        self,
        turn: AgentTurn,
        token: UUID,
        code: TurnError,
        usage: TurnUsage | None,
        *,
        streamed: tuple[UUID, list[str]] | None,
    ) -> None:
        if streamed is not None:
            await self._withdraw(turn, streamed[0], streamed[1], code.value)
        async with self._uow() as uow:
            failed = await uow.turns.fail(
                turn.id, token, error_code=code.value, usage=usage, now=self._clock.now()
            )
            await uow.commit()
        if failed:
            await self._stream.trace(
                AgentError(
                    room_id=turn.room_id,
                    turn_id=turn.id,
                    agent_type=turn.agent_type,
                    code=code.value,
                    detail=f"The {turn.agent_type} agent's turn failed: {code.value}",
                )
            )
            await self._trace_turn(turn, "failed", turn.reason, code=code.value)

    # --- the peer agent's draft (issue 17): a proposal, never a message

    async def _propose(
        self, turn: AgentTurn, token: UUID, text: str, usage: TurnUsage, *, sender_name: str
    ) -> None:
        """Store the draft as a pending proposal in the transaction that completes the turn
        (only under this runner's lease), trace it to staff, and kick the teacher agent's
        decision unless the room leaves it to humans.
        """
        now = self._clock.now()
        proposal = Proposal(
            id=self._ids.new_id(),
            room_id=turn.room_id,
            turn_id=turn.id,
            content=text,
            status=ProposalStatus.PENDING,
            created_at=now,
            expires_at=now + self._proposal_ttl,
            sender_name=sender_name,
        )
        async with self._uow() as uow:
            stored = await uow.proposals.propose(turn.id, token, proposal=proposal, usage=usage)
            room = await uow.rooms.get(turn.room_id) if stored else None
            if stored:
                await uow.commit()
        if not stored:  # another runner has the turn now (nothing was streamed)
            return
        mode = room.approval_mode if room is not None else ApprovalMode.AGENT
        await self._stream.trace(
            AgentProposalTrace(
                room_id=turn.room_id,
                turn_id=turn.id,
                proposal_id=proposal.id,
                content=text,
                approval_mode=mode.value,
                expires_at=proposal.expires_at,
            )
        )
        if mode is not ApprovalMode.HUMAN and self._kicker is not None:
            await self._kicker.decide_proposal(proposal.id)

    async def _trace_turn(
        self, turn: AgentTurn, status: str, detail: str, *, code: str | None = None
    ) -> None:
        await self._stream.trace(
            AgentTurnTrace(
                room_id=turn.room_id,
                turn_id=turn.id,
                agent_type=turn.agent_type,
                status=status,
                detail=detail,
                code=code,
            )
        )
