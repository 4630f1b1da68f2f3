"""/api/v1/rooms/{room_id}/proposals and /api/v1/proposals/{id}/approve|reject: the peer
agent's proposals, for course staff only (ADR 0012).

The controller declares its own dependency (`proposals`: `services_of(ProposalServices)`),
which the composition root registers with the app.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, QueryParameter

from coagent.adapters.http.auth import SECURITY
from coagent.adapters.http.deps import Current, services_of
from coagent.adapters.http.paging import Limit, Offset, paged
from coagent.adapters.http.problems import problems
from coagent.application.proposals.decide_proposal import DecideProposal, DecideProposalCommand
from coagent.application.proposals.list_proposals import ListProposals, ListProposalsCommand
from coagent.domain.agents.proposal import Proposal, ProposalStatus

Text = Annotated[str, msgspec.Meta(min_length=1, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$")]
Reason = Annotated[str, msgspec.Meta(max_length=500, pattern=r"^[^\x00]*$")]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalServices:
    list: ListProposals
    decide: DecideProposal


Proposals = NamedDependency[ProposalServices]


class ProposalRead(msgspec.Struct):
    """A peer-agent draft and its decision: `decided_by` is the staff user (null for the
    teacher agent, `decided_by_agent` true, or for an expiry); `screened_by_agent` is the
    teacher agent's pre-screen approval in `agent_then_human` (still pending); `message_id`
    is the posted message once approved or edited.
    """

    id: UUID
    room_id: UUID
    turn_id: UUID
    content: str
    status: ProposalStatus
    decided_by: UUID | None
    decided_by_agent: bool
    screened_by_agent: bool
    reason: str | None
    message_id: UUID | None
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, proposal: Proposal) -> "ProposalRead":
        return cls(
            id=proposal.id,
            room_id=proposal.room_id,
            turn_id=proposal.turn_id,
            content=proposal.content,
            status=proposal.status,
            decided_by=proposal.decided_by,
            decided_by_agent=proposal.decided_by_agent,
            screened_by_agent=proposal.screened_by_agent,
            reason=proposal.reason,
            message_id=proposal.message_id,
            created_at=proposal.created_at,
            expires_at=proposal.expires_at,
            decided_at=proposal.decided_at,
        )


class ApproveRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`content` edits the draft before it is posted (the proposal becomes `edited`)."""

    content: Text | None = None


class RejectRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason | None = None


_DECIDE = (
    "Course staff (TA and above) and admins, in every approval mode. Only a pending, "
    "unexpired proposal can be decided: 409 otherwise (of two staff deciding at once, one "
    "gets 409). Audited."
)


class ProposalsController(Controller):
    path = "/api/v1"
    tags = ["agents"]
    security = SECURITY
    dependencies = {"proposals": services_of(ProposalServices)}

    @get(
        "/rooms/{room_id:uuid}/proposals",
        operation_id="proposals_list",
        description=(
            "Course staff (TA and above) and admins: the peer agent's proposals in the room, "
            "newest first, optionally of one `status`, paged (`X-Total-Count`, `Link`)."
        ),
        responses=problems(401, 403, 404),
    )
    async def list_proposals(
        self,
        request: Request[Any, Any, Any],
        room_id: FromPath[UUID],
        proposals: Proposals,
        current: Current,
        status: Annotated[ProposalStatus | None, QueryParameter()] = None,
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> Response[list[ProposalRead]]:
        page = await proposals.list.execute(
            ListProposalsCommand(
                actor_id=current.user_id,
                room_id=room_id,
                status=status,
                offset=offset,
                limit=limit,
            )
        )
        return paged(request, page, offset, limit, ProposalRead.of)

    @post(
        "/proposals/{proposal_id:uuid}/approve",
        operation_id="proposals_approve",
        status_code=200,
        description="Post the proposal as the peer agent's message (edited first with "
        "`content`). " + _DECIDE,
        responses=problems(401, 403, 404, 409, 422),
    )
    async def approve(
        self,
        proposal_id: FromPath[UUID],
        proposals: Proposals,
        current: Current,
        data: Annotated[ApproveRequest | None, Body()] = None,
    ) -> ProposalRead:
        proposal = await proposals.decide.execute(
            DecideProposalCommand(
                actor_id=current.user_id,
                proposal_id=proposal_id,
                approve=True,
                content=data.content if data is not None else None,
            )
        )
        return ProposalRead.of(proposal)

    @post(
        "/proposals/{proposal_id:uuid}/reject",
        operation_id="proposals_reject",
        status_code=200,
        description="Reject the proposal (never posted), with an optional `reason`. " + _DECIDE,
        responses=problems(401, 403, 404, 409, 422),
    )
    async def reject(
        self,
        proposal_id: FromPath[UUID],
        proposals: Proposals,
        current: Current,
        data: Annotated[RejectRequest | None, Body()] = None,
    ) -> ProposalRead:
        proposal = await proposals.decide.execute(
            DecideProposalCommand(
                actor_id=current.user_id,
                proposal_id=proposal_id,
                approve=False,
                reason=data.reason if data is not None else None,
            )
        )
        return ProposalRead.of(proposal)
