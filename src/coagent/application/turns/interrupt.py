"""The interrupt policy's signal: a new human message asks the running turns of an agent
whose active configuration says `interrupt` to stop (see `RunTurns`, which withdraws the
partial reply and requeues the turn so that it runs again seeing both messages).
"""

from uuid import UUID

from coagent.application.ports.repositories import UnitOfWork
from coagent.domain.agents.config import AgentConfig
from coagent.domain.agents.tools import InterruptPolicy


async def interrupt_running(
    uow: UnitOfWork, config: AgentConfig, *, room_id: UUID, agent_type: str, seq: int
) -> int:
    """With the `interrupt` policy, flag (and commit at once, whatever the caller decides
    next) the agent's running turns in the room that do not see message `seq`. A flag is set
    once per turn and only on a running turn, so a duplicated or late job asks nothing twice.
    """
    if config.interrupt_policy is not InterruptPolicy.INTERRUPT:
        return 0
    flagged = await uow.turns.request_cancel(room_id, agent_type=agent_type, before_seq=seq)
    if flagged:
        await uow.commit()
    return flagged
