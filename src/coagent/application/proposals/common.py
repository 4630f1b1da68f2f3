"""What every proposal decision does after its commit: publish the posted message, trace."""

from coagent.application.ports.agent_events import AgentDecisionTrace, AgentStream
from coagent.application.ports.chat import ChatPublisher
from coagent.application.ports.proposals import Decided
from coagent.domain.agents.config import AgentType
from coagent.domain.agents.proposal import Proposal, ProposalStatus
from coagent.domain.chat.message import Message, agent_display_name

VERBS = {
    ProposalStatus.APPROVED: "approve",
    ProposalStatus.EDITED: "edit",
    ProposalStatus.REJECTED: "reject",
    ProposalStatus.EXPIRED: "expire",
}


def audit_action(status: ProposalStatus) -> str:
    return f"agent_proposal.{status.value}"


async def announce(
    decided: Decided, *, publisher: ChatPublisher, stream: AgentStream, verb: str | None = None
) -> None:
    """Publish the message an approved or edited proposal became (to everyone, like any
    message), then the staff-only `agent.decision` trace.
    """
    proposal = decided.proposal
    if decided.seq is not None and proposal.message_id is not None:
        await publisher.message_posted(posted_message(proposal, decided.seq))
    await trace_decision(proposal, stream=stream, verb=verb or VERBS[proposal.status])


async def trace_decision(proposal: Proposal, *, stream: AgentStream, verb: str) -> None:
    await stream.trace(
        AgentDecisionTrace(
            room_id=proposal.room_id,
            proposal_id=proposal.id,
            decision=verb,
            decided_by=proposal.decided_by,
            decided_by_agent=proposal.decided_by_agent or verb == "screen",
            reason=proposal.reason,
            message_id=proposal.message_id,
        )
    )


def posted_message(proposal: Proposal, seq: int) -> Message:
    assert proposal.message_id is not None  # noqa: S101 - only posted proposals get here
    agent = AgentType.STUDENT.value
    return Message(
        id=proposal.message_id,
        room_id=proposal.room_id,
        seq=seq,
        content=proposal.content,
        created_at=proposal.decided_at or proposal.created_at,
        sender_id=None,
        sender_name=proposal.sender_name or agent_display_name(agent),
        agent_type=agent,
        turn_id=proposal.turn_id,
    )
