"""The analytics use cases the HTTP adapter calls (`services_of(AnalyticsServices)`)."""

from dataclasses import dataclass

from litestar.di import NamedDependency

from coagent.application.analytics.await_job import AwaitAnalyticsJob
from coagent.application.analytics.cancel_job import CancelAnalyticsJob
from coagent.application.analytics.get_job import GetAnalyticsJob
from coagent.application.analytics.get_report import GetAnalyticsReport
from coagent.application.analytics.list_reports import ListAnalyticsReports
from coagent.application.analytics.start_job import StartAnalyticsJob


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalyticsServices:
    start: StartAnalyticsJob
    wait: AwaitAnalyticsJob
    job: GetAnalyticsJob
    cancel: CancelAnalyticsJob
    list: ListAnalyticsReports
    report: GetAnalyticsReport
    # How long a generate request waits for its report (ANALYTICS_WAIT_SECONDS).
    wait_seconds: float = 30.0


Analytics = NamedDependency[AnalyticsServices]
