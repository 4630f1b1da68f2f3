"""Who may see analytics: course staff (policy actions `analytics.run` / `analytics.read`)."""

from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.courses.access import authorize
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import Action
from coagent.domain.errors import Forbidden, NotFound

JOB_NOT_FOUND = "Job not found"
REPORT_NOT_FOUND = "Report not found"


async def authorized_course(
    uow_factory: UnitOfWorkFactory, actor_id: UUID, course_id: UUID, action: Action
) -> Course:
    async with uow_factory() as uow:
        actor = await load_actor(uow, actor_id)
        return await authorize(uow, actor, course_id, action)


async def check_job_visible(
    uow_factory: UnitOfWorkFactory, actor_id: UUID, course_id: UUID
) -> None:
    """Jobs are visible to course staff (`analytics.job`); everyone else gets NotFound."""
    try:
        await authorized_course(uow_factory, actor_id, course_id, Action.ANALYTICS_JOB)
    except (Forbidden, NotFound) as error:
        raise NotFound(JOB_NOT_FOUND) from error
