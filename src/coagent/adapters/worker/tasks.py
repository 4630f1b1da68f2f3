"""taskiq tasks: thin, idempotent adapters over use cases, with primitive arguments."""

from dataclasses import dataclass
from typing import Annotated

from taskiq import AsyncBroker, Context, TaskiqDepends

from coagent.application.accounts.purge_sessions import (
    PurgeExpiredSessions,
    PurgeExpiredSessionsCommand,
)

PURGE_EXPIRED_SESSIONS = "accounts.purge_expired_sessions"


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerServices:
    purge_expired_sessions: PurgeExpiredSessions


def services_of(context: Context) -> WorkerServices:
    services: WorkerServices = context.state.services
    return services


async def purge_expired_sessions(context: Annotated[Context, TaskiqDepends()]) -> int:
    """Delete sessions that ended more than a day ago; returns how many."""
    return await services_of(context).purge_expired_sessions.execute(PurgeExpiredSessionsCommand())


def register_tasks(broker: AsyncBroker) -> None:
    broker.register_task(
        purge_expired_sessions,
        task_name=PURGE_EXPIRED_SESSIONS,
        schedule=[{"cron": "*/15 * * * *"}],
    )
