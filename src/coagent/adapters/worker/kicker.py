"""TurnKicker on taskiq: agent work goes to the task queue without making the caller wait.

A kick is sent from a background task, so a send never waits on Redis (or on the broker's
retries while Redis restarts). A kick that fails is logged and dropped: the scheduler's
tick finds rooms with queued turns and no runner, human messages no agent considered yet and
proposals still waiting for the teacher agent's decision, and kicks them again
(`RecoverLostKicks`, docs/adr/0016).
"""

import asyncio
import logging
from typing import Any
from uuid import UUID

from taskiq import AsyncBroker

from coagent.adapters.worker.tasks import CONSIDER_MESSAGE, DECIDE_PROPOSAL, RUN_TURNS

logger = logging.getLogger("coagent.agents")


class TaskiqTurnKicker:
    """Bound to its broker once both exist (`bind`); kicks before that are dropped."""

    def __init__(self) -> None:
        self._broker: AsyncBroker | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def bind(self, broker: AsyncBroker) -> None:
        self._broker = broker

    async def consider_message(self, room_id: UUID, seq: int) -> None:
        self._spawn(CONSIDER_MESSAGE, str(room_id), seq)

    async def run_turns(self, room_id: UUID) -> None:
        self._spawn(RUN_TURNS, str(room_id))

    async def decide_proposal(self, proposal_id: UUID) -> None:
        self._spawn(DECIDE_PROPOSAL, str(proposal_id))

    async def drain(self) -> None:
        """Wait for kicks still being sent (shutdown, tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def _spawn(self, task_name: str, *args: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._kick(task_name, *args))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _kick(self, task_name: str, *args: Any) -> None:
        broker = self._broker
        task = broker.find_task(task_name) if broker is not None else None
        if task is None:
            logger.warning("agent task not kicked: no broker", extra={"task": task_name})
            return
        try:
            await task.kiq(*args)
        except Exception as error:  # noqa: BLE001 - best effort; the scheduler recovers
            logger.warning(
                "agent task not kicked", extra={"task": task_name, "error": type(error).__name__}
            )
