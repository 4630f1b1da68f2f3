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

PURGE_EXPIRED_SESSIONS = "accounts.purge_expired_sessions"
RUN_ANALYTICS_JOB = "analytics.run_job"
RECLAIM_ANALYTICS_JOBS = "analytics.reclaim_jobs"


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerServices:
    purge_expired_sessions: PurgeExpiredSessions
    run_analytics_job: RunAnalyticsJob
    reclaim_analytics_jobs: ReclaimAnalyticsJobs


def services_of(context: Context) -> WorkerServices:
    services: WorkerServices = context.state.services
    return services


async def purge_expired_sessions(context: Annotated[Context, TaskiqDepends()]) -> int:
    """Delete sessions that ended more than a day ago; returns how many."""
    return await services_of(context).purge_expired_sessions.execute(PurgeExpiredSessionsCommand())


async def run_analytics_job(job_id: str, context: Annotated[Context, TaskiqDepends()]) -> None:
    """Run one analytics job (idempotent: a job claimed or ended already is left alone)."""
    await services_of(context).run_analytics_job.execute(
        RunAnalyticsJobCommand(job_id=UUID(job_id))
    )


async def reclaim_analytics_jobs(context: Annotated[Context, TaskiqDepends()]) -> int:
    """Queue again the analytics jobs whose worker died; returns how many."""
    return await services_of(context).reclaim_analytics_jobs.execute(ReclaimAnalyticsJobsCommand())


def register_tasks(broker: AsyncBroker) -> None:
    broker.register_task(
        purge_expired_sessions,
        task_name=PURGE_EXPIRED_SESSIONS,
        schedule=[{"cron": "*/15 * * * *"}],
    )
    broker.register_task(run_analytics_job, task_name=RUN_ANALYTICS_JOB)
    broker.register_task(
        reclaim_analytics_jobs,
        task_name=RECLAIM_ANALYTICS_JOBS,
        schedule=[{"cron": "* * * * *"}],
    )
