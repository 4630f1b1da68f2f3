"""/api/v1/analytics (reports) and /api/v1/jobs (the jobs that write them).

`POST /analytics/{course_id}/generate` starts a job (or finds the one under way) and waits
up to ANALYTICS_WAIT_SECONDS for its report: 200 with the report, as the original client
expects; 202 with the job and a `Location` when it is not done by then, or at once when the
client sends `Prefer: respond-async` (RFC 7240; answered with `Preference-Applied`).
"""

from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Controller, MediaType, Request, Response, delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, QueryParameter

from coagent.adapters.http.analytics.schemas import (
    JobRead,
    ReportRead,
    student_rows,
    students_csv,
)
from coagent.adapters.http.analytics.services import Analytics, AnalyticsServices
from coagent.adapters.http.auth import SECURITY
from coagent.adapters.http.deps import Current, services_of
from coagent.adapters.http.paging import Limit, Offset, paged
from coagent.adapters.http.problems import problem_response, problems
from coagent.application.analytics.await_job import AwaitAnalyticsJobCommand
from coagent.application.analytics.cancel_job import CancelAnalyticsJobCommand
from coagent.application.analytics.get_job import GetAnalyticsJobCommand
from coagent.application.analytics.get_report import GetAnalyticsReportCommand
from coagent.application.analytics.list_reports import ListAnalyticsReportsCommand
from coagent.application.analytics.start_job import StartAnalyticsJobCommand
from coagent.domain.analytics.job import AnalyticsJob, JobStatus

JOBS = "/api/v1/jobs/"


def wants_async(prefer: str | None) -> bool:
    """RFC 7240: preferences are comma-separated tokens, each maybe with `=value` and
    `;` parameters; names compare case-insensitively.
    """
    if not prefer:
        return False
    for preference in prefer.split(","):
        name = preference.split(";", 1)[0].split("=", 1)[0].strip().lower()
        if name == "respond-async":
            return True
    return False


def _accepted(job: AnalyticsJob, applied: bool) -> Response[Any]:
    headers = {"Location": f"{JOBS}{job.id}"}
    if applied:
        headers["Preference-Applied"] = "respond-async"
    return Response(JobRead.of(job), status_code=202, headers=headers)


class AnalyticsController(Controller):
    path = "/api/v1/analytics"
    tags = ["analytics"]
    security = SECURITY
    dependencies = {"analytics": services_of(AnalyticsServices)}

    @post(
        "/{course_id:uuid}/generate",
        operation_id="analytics_generate",
        description=(
            "Course staff (TAs and above) and admins. Starts a report of the course's rooms "
            "with analytics on, or finds the job already under way. Waits up to "
            "ANALYTICS_WAIT_SECONDS: 200 with the report; else 202 with the job and "
            "`Location` (at once with `Prefer: respond-async`). A job that failed: 502; "
            "cancelled meanwhile: 409."
        ),
        responses={
            **problems(401, 403, 404, 409, 502),
            202: ResponseSpec(
                data_container=JobRead,
                description="Accepted: the job runs on; poll `Location` or watch job events",
            ),
        },
        status_code=200,
    )
    async def generate(
        self,
        course_id: FromPath[UUID],
        analytics: Analytics,
        current: Current,
        prefer: Annotated[
            str | None,
            HeaderParameter(name="Prefer", required=False, pattern=r"^[^\x00]*$", max_length=1000),
        ] = None,
    ) -> Response[ReportRead]:
        started = await analytics.start.execute(
            StartAnalyticsJobCommand(actor_id=current.user_id, course_id=course_id)
        )
        if wants_async(prefer):
            return _accepted(started.job, applied=True)
        job = await analytics.wait.execute(
            AwaitAnalyticsJobCommand(job_id=started.job.id, timeout=analytics.wait_seconds)
        )
        if job.status.active:
            return _accepted(job, applied=False)
        if job.status is JobStatus.CANCELLED:
            return problem_response(409, "The analytics job was cancelled")  # type: ignore[return-value]
        if job.report_id is None:
            return problem_response(  # type: ignore[return-value]
                502,
                f"The analytics job failed (error code {job.error_code or 'internal'}); "
                f"see {JOBS}{job.id}",
            )
        report = await analytics.report.execute(
            GetAnalyticsReportCommand(actor_id=current.user_id, report_id=job.report_id)
        )
        return Response(ReportRead.of(report), headers={"Content-Location": _report_url(report.id)})

    @get(
        "/{course_id:uuid}",
        operation_id="analytics_list",
        description=(
            "Course staff and admins (students: 403): the course's reports, newest first, "
            "paged (`X-Total-Count`, `Link`)."
        ),
        responses=problems(401, 403, 404),
    )
    async def list_reports(
        self,
        request: Request[Any, Any, Any],
        course_id: FromPath[UUID],
        analytics: Analytics,
        current: Current,
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> Response[list[ReportRead]]:
        page = await analytics.list.execute(
            ListAnalyticsReportsCommand(
                actor_id=current.user_id, course_id=course_id, offset=offset, limit=limit
            )
        )
        return paged(request, page, offset, limit, ReportRead.of)

    @get(
        "/reports/{report_id:uuid}",
        operation_id="analytics_report_get",
        description="Course staff and admins (students: 403): one report with its figures.",
        responses=problems(401, 403, 404),
    )
    async def get_report(
        self, report_id: FromPath[UUID], analytics: Analytics, current: Current
    ) -> ReportRead:
        report = await analytics.report.execute(
            GetAnalyticsReportCommand(actor_id=current.user_id, report_id=report_id)
        )
        return ReportRead.of(report)

    @get(
        "/reports/{report_id:uuid}/students",
        operation_id="analytics_report_students",
        description=(
            "Course staff and admins (students: 403): the per-student figures of a report, "
            "one row per student and room, as JSON (default) or CSV (`format=csv`)."
        ),
        responses=problems(401, 403, 404),
    )
    async def students(
        self,
        report_id: FromPath[UUID],
        analytics: Analytics,
        current: Current,
        format: Annotated[Literal["json", "csv"], QueryParameter()] = "json",
    ) -> Response[Any]:
        report = await analytics.report.execute(
            GetAnalyticsReportCommand(actor_id=current.user_id, report_id=report_id)
        )
        rows = student_rows(report)
        if format == "csv":
            return Response(
                students_csv(rows),
                media_type="text/csv; charset=utf-8",
                headers={
                    "Content-Disposition": f'attachment; filename="report-{report.id}-students.csv"'
                },
            )
        return Response(rows, media_type=MediaType.JSON)


class JobsController(Controller):
    path = "/api/v1/jobs"
    tags = ["analytics"]
    security = SECURITY
    dependencies = {"analytics": services_of(AnalyticsServices)}

    @get(
        "/{job_id:uuid}",
        operation_id="jobs_get",
        description=(
            "Course staff who may run analytics, and admins; 404 for everyone else. Progress "
            "as rooms done / total; `report_url` once the report is stored."
        ),
        responses=problems(401, 404),
    )
    async def get_job(
        self, job_id: FromPath[UUID], analytics: Analytics, current: Current
    ) -> JobRead:
        job = await analytics.job.execute(
            GetAnalyticsJobCommand(actor_id=current.user_id, job_id=job_id)
        )
        return JobRead.of(job)

    @delete(
        "/{job_id:uuid}",
        operation_id="jobs_cancel",
        description=(
            "Cancel a queued or running job (who: as GET); no report is stored. A job that "
            "has ended is returned unchanged."
        ),
        responses=problems(401, 404),
        status_code=200,
    )
    async def cancel(
        self, job_id: FromPath[UUID], analytics: Analytics, current: Current
    ) -> JobRead:
        job = await analytics.cancel.execute(
            CancelAnalyticsJobCommand(actor_id=current.user_id, job_id=job_id)
        )
        return JobRead.of(job)


def _report_url(report_id: UUID) -> str:
    return f"/api/v1/analytics/reports/{report_id}"
