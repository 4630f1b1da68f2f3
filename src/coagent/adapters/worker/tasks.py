"""taskiq tasks: thin, idempotent adapters over use cases, with primitive arguments."""

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from taskiq import AsyncBroker, Context, TaskiqDepends

from coagent.application.accounts.purge_sessions import (
    PurgeExpiredSessions,
    PurgeExpiredSessionsCommand,
)
from coagent.application.analytics.reclaim_jobs import (
    ReclaimAnalyticsJobs,
    ReclaimAnalyticsJobsCommand,
)
from coagent.application.analytics.run_job import RunAnalyticsJob, RunAnalyticsJobCommand
from coagent.application.proposals.agent_decide import (
    AgentDecideProposal,
    AgentDecideProposalCommand,
)
from coagent.application.turns.consider_message import ConsiderMessage, ConsiderMessageCommand
from coagent.application.turns.run_turns import RunTurns, RunTurnsCommand

PURGE_EXPIRED_SESSIONS = "accounts.purge_expired_sessions"
CONSIDER_MESSAGE = "agents.consider_message"
RUN_TURNS = "agents.run_turns"
RUN_ANALYTICS_JOB = "analytics.run_job"
RECLAIM_ANALYTICS_JOBS = "analytics.reclaim_jobs"
DECIDE_PROPOSAL = "agents.decide_proposal"


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnTasks:
    consider_message: ConsiderMessage
    run_turns: RunTurns
    decide_proposal: AgentDecideProposal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerServices:
    purge_expired_sessions: PurgeExpiredSessions
    turns: TurnTasks | None = None

    run_analytics_job: RunAnalyticsJob
    reclaim_analytics_jobs: ReclaimAnalyticsJobs


def services_of(context: Context) -> WorkerServices:
    services: WorkerServices = context.state.services
    return services


async def purge_expired_sessions(context: Annotated[Context, TaskiqDepends()]) -> int:
    """Delete sessions that ended more than a day ago; returns how many."""
    return await services_of(context).purge_expired_sessions.execute(PurgeExpiredSessionsCommand())


def _turns(context: Context) -> TurnTasks:
    turns = services_of(context).turns
    if turns is None:  # pragma: no cover - the composition root always wires them
        raise RuntimeError("agent turn tasks are not wired")
    return turns


async def consider_message(
    room_id: str, seq: int, context: Annotated[Context, TaskiqDepends()]
) -> str | None:
    """Does the teacher agent answer message `seq` of the room? Returns the turn id, if any.
    Idempotent: a duplicate or retried job decides the same and adds nothing.
    """
    considered = await _turns(context).consider_message.execute(
        ConsiderMessageCommand(room_id=UUID(room_id), seq=seq)
    )
    return str(considered.turn_id) if considered.turn_id else None


async def run_turns(room_id: str, context: Annotated[Context, TaskiqDepends()]) -> int:
    """Run the room's queued turns, unless another runner holds the room; how many ran."""
    ran = await _turns(context).run_turns.execute(RunTurnsCommand(room_id=UUID(room_id)))
    return ran.ran


async def run_analytics_job(job_id: str, context: Annotated[Context, TaskiqDepends()]) -> None:
    """Run one analytics job (idempotent: a job claimed or ended already is left alone)."""
    await services_of(context).run_analytics_job.execute(
        RunAnalyticsJobCommand(job_id=UUID(job_id))
    )


async def reclaim_analytics_jobs(context: Annotated[Context, TaskiqDepends()]) -> int:
    """Queue again the analytics jobs whose worker died; returns how many."""
    return await services_of(context).reclaim_analytics_jobs.execute(ReclaimAnalyticsJobsCommand())


async def decide_proposal(
    proposal_id: str, context: Annotated[Context, TaskiqDepends()]
) -> str | None:
    """The teacher agent's decision on a peer-agent proposal; its outcome. Idempotent: a
    duplicate or retried job finds the proposal decided and does nothing.
    """
    use_case = _turns(context).decide_proposal
    if use_case is None:  # pragma: no cover - the composition root always wires it
        raise RuntimeError("the proposal decision task is not wired")
    decided = await use_case.execute(AgentDecideProposalCommand(proposal_id=UUID(proposal_id)))
    return decided.outcome


def register_tasks(broker: AsyncBroker) -> None:
    broker.register_task(
        purge_expired_sessions,
        task_name=PURGE_EXPIRED_SESSIONS,
        schedule=[{"cron": "*/15 * * * *"}],
    )
    broker.register_task(consider_message, task_name=CONSIDER_MESSAGE)
    broker.register_task(run_turns, task_name=RUN_TURNS)

    broker.register_task(run_analytics_job, task_name=RUN_ANALYTICS_JOB)
    broker.register_task(
        reclaim_analytics_jobs,
        task_name=RECLAIM_ANALYTICS_JOBS,
        schedule=[{"cron": "* * * * *"}],
    )

    broker.register_task(decide_proposal, task_name=DECIDE_PROPOSAL)
