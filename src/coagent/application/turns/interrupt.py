"""The interrupt policy's signal: a new human message asks the running turns of an agent
whose active configuration says `interrupt` to stop (see `RunTurns`, which withdraws the
partial reply and requeues the turn so that it runs again seeing both messages).
"""

from uuid import UUID

from coagent.application.ports.repositories import UnitOfWork, UnitOfWorkFactory
from coagent.domain.agents.config import AgentConfig, AgentType
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


async def interrupt_peer(uow_factory: UnitOfWorkFactory, *, room_id: UUID, seq: int) -> int:
    """The peer (student) agent's own policy for message `seq` when the teacher agent
    answers it: the peer is not considered for that message, but a draft it is still
    writing does not see it either, so under `interrupt` that draft is stopped too (and
    written again seeing the message).
    """
    async with uow_factory() as uow:
        room = await uow.rooms.get(room_id)
        if room is None:
            return 0
        config = await uow.agent_configs.active_for(room.course_id, AgentType.STUDENT)
        if config is None:
            return 0
        return await interrupt_running(
            uow, config, room_id=room_id, agent_type=AgentType.STUDENT.value, seq=seq
        )
