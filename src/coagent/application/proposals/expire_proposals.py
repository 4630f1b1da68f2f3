"""ExpireProposals: the scheduler tick's step that retires proposals nobody decided in time."""

from dataclasses import dataclass

from coagent.application.ports.agent_events import AgentStream
from coagent.application.ports.clock import Clock
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.proposals.common import audit_action, trace_decision
from coagent.domain.agents.proposal import ProposalStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpireProposalsCommand:
    limit: int = 200


class ExpireProposals:
    """Pending proposals past `expires_at` → `expired` (never posted: the conversation moved
    on), audited and traced to staff; how many. Decisions check the expiry themselves, so a
    proposal is never approved late even between two ticks.
    """

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, stream: AgentStream) -> None:
        self._uow = uow
        self._clock = clock
        self._stream = stream

    async def execute(self, command: ExpireProposalsCommand) -> int:
        async with self._uow() as uow:
            expired = await uow.proposals.expire(self._clock.now(), limit=command.limit)
            for proposal in expired:
                await uow.audit.record(
                    actor_id=None,
                    action=audit_action(ProposalStatus.EXPIRED),
                    target_type="agent_proposal",
                    target_id=str(proposal.id),
                    details={"room_id": str(proposal.room_id), "turn_id": str(proposal.turn_id)},
                )
            await uow.commit()
        for proposal in expired:
            await trace_decision(proposal, stream=self._stream, verb="expire")
        return len(expired)
