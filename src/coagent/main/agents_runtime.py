"""The agent turn runtime's wiring: its use cases, built from the shared infrastructure.

One `AgentsRuntime` per process. The web process uses its kicker (PostMessage) and its HTTP
services; workers run its tasks; the scheduler (or, embedded, the web process) runs its tick:
reclaim stalled turns, kick rooms whose queue has no runner, queue due time triggers.
"""

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from taskiq import AsyncBroker

from coagent.adapters.http.proposals.controller import ProposalServices
from coagent.adapters.http.turns.controller import TurnServices
from coagent.adapters.worker.kicker import TaskiqTurnKicker
from coagent.adapters.worker.tasks import TurnTasks
from coagent.application.llm.call_model import CallModel
from coagent.application.ports.agent_events import AgentStream
from coagent.application.ports.chat import ChatPublisher
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.limits import RateLimiter
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.proposals.agent_decide import AgentDecideProposal
from coagent.application.proposals.expire_proposals import (
    ExpireProposals,
    ExpireProposalsCommand,
)
from coagent.application.turns.common import TurnLimits
from coagent.application.turns.consider_message import ConsiderMessage
from coagent.application.turns.reclaim_turns import ReclaimTurns, ReclaimTurnsCommand
from coagent.application.turns.recover_kicks import RecoverLostKicks, RecoverLostKicksCommand
from coagent.application.turns.run_turns import RunTurns
from coagent.application.turns.tick_time_triggers import (
    TickTimeTriggers,
    TickTimeTriggersCommand,
)
from coagent.application.turns.tools import TurnTools
from coagent.main.compose.wiring import assemble
from coagent.main.liveness import SCHEDULER_ALIVE, touch
from coagent.main.settings import Settings

logger = logging.getLogger("coagent.agents")
T = TypeVar("T")


@dataclass
class AgentsRuntime:
    kicker: TaskiqTurnKicker
    tasks: TurnTasks
    http: TurnServices
    reclaim: ReclaimTurns
    time_triggers: TickTimeTriggers
    tick_seconds: float
    proposals: ProposalServices
    expire_proposals: ExpireProposals
    recover_kicks: RecoverLostKicks | None = None

    def bind(self, broker: AsyncBroker) -> None:
        """Kicks go to `broker` from now on."""
        self.kicker.bind(broker)

    async def tick(self) -> None:
        """One scheduler round; a failing step (database or Redis down) is logged, and the
        next round tries again.
        """
        await _logged("reclaim", self.reclaim.execute(ReclaimTurnsCommand()))
        await _logged("time triggers", self.time_triggers.execute(TickTimeTriggersCommand()))
        await _logged("proposal expiry", self.expire_proposals.execute(ExpireProposalsCommand()))
        if self.recover_kicks is not None:
            await _logged("lost kicks", self.recover_kicks.execute(RecoverLostKicksCommand()))

    async def run_ticks(self, alive: Path | None = None) -> None:
        """Tick forever, every `tick_seconds` (cancel to stop); touch `alive` after each
        round (the scheduler's health check reads its age).
        """
        while True:
            await self.tick()
            if alive is not None:
                await touch(alive)
            await asyncio.sleep(self.tick_seconds)


async def _logged(step: str, work: Awaitable[T]) -> T | None:
    try:
        return await work
    except Exception as error:  # noqa: BLE001 - the next tick retries
        logger.warning("agent tick failed", extra={"step": step, "error": type(error).__name__})
        return None


def build_agents_runtime(
    settings: Settings,
    *,
    uow: UnitOfWorkFactory,
    clock: Clock,
    ids: IdGenerator,
    call_model: CallModel,
    publisher: ChatPublisher,
    stream: AgentStream,
    limiter: RateLimiter,
    kicker: TaskiqTurnKicker,
) -> AgentsRuntime:
    limits = TurnLimits(
        turns_per_minute=settings.agent_turns_per_minute,
        mentions_per_user=settings.agent_mentions_per_user,
        mention_window_seconds=settings.agent_mention_window_seconds,
    )
    runner = RunTurns(
        uow=uow,
        clock=clock,
        ids=ids,
        call_model=call_model,
        stream=stream,
        publisher=publisher,
        lease_seconds=settings.agent_lease_seconds,
        llm_timeout=settings.llm_timeout,
        tools=TurnTools(uow=uow, clock=clock, ids=ids),
        max_tool_steps=settings.agent_max_tool_steps,
        kicker=kicker,
        proposal_ttl=settings.agent_proposal_ttl_seconds,
    )
    return AgentsRuntime(
        kicker=kicker,
        tasks=TurnTasks(
            consider_message=ConsiderMessage(
                uow=uow,
                clock=clock,
                ids=ids,
                kicker=kicker,
                stream=stream,
                limiter=limiter,
                limits=limits,
                runner=runner,  # the room's first turn runs in the consider task (P6)
            ),
            run_turns=runner,
            decide_proposal=AgentDecideProposal(
                uow=uow,
                clock=clock,
                ids=ids,
                call_model=call_model,
                publisher=publisher,
                stream=stream,
                llm_timeout=settings.llm_timeout,
            ),
        ),
        http=assemble(
            TurnServices,
            {
                "uow": uow,
                "clock": clock,
                "ids": ids,
                "kicker": kicker,
                "stream": stream,
                "limits": limits,
            },
        ),
        reclaim=ReclaimTurns(uow=uow, clock=clock, kicker=kicker, stream=stream),
        time_triggers=TickTimeTriggers(
            uow=uow, clock=clock, ids=ids, kicker=kicker, stream=stream, limits=limits
        ),
        tick_seconds=settings.scheduler_tick_seconds,
        proposals=assemble(
            ProposalServices,
            {
                "uow": uow,
                "clock": clock,
                "ids": ids,
                "publisher": publisher,
                "stream": stream,
                "max_length": settings.chat_max_message_length,
            },
        ),
        expire_proposals=ExpireProposals(uow=uow, clock=clock, stream=stream),
        recover_kicks=RecoverLostKicks(uow=uow, clock=clock, kicker=kicker),
    )


async def with_agent_ticks(settings: Settings, broker: AsyncBroker, main: Awaitable[None]) -> None:
    """`coagent scheduler`: run `main` (taskiq's scheduler loop on `broker`) beside the
    agent tick, in one process. Either ending ends both.
    """
    from coagent.main.container import build_container  # noqa: PLC0415 - cli imports lazily

    # Builds only the runtime and what it needs: no room hub, publish-only.
    container = build_container(settings, serves_sockets=False)
    runtime = container.agents_runtime
    runtime.bind(broker)
    ticks = asyncio.create_task(runtime.run_ticks(SCHEDULER_ALIVE))
    try:
        await main
    finally:
        ticks.cancel()
        await asyncio.gather(ticks, return_exceptions=True)
        await container.aclose()
