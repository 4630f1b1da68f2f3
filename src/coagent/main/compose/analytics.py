"""The analytics context: jobs that summarise a course's rooms, and their reports.

The web process serves `http`; workers run `run` and `reclaim`. Both share one store and,
in one process, one set of job signals (a waiting request hears its job finish).
"""

import os
import socket
import uuid
from functools import cached_property

from coagent.adapters.http.analytics.services import AnalyticsServices
from coagent.adapters.persistence.analytics import SqlAnalyticsStore
from coagent.adapters.realtime.job_events import HubJobEvents, InProcessJobSignals
from coagent.application.analytics.reclaim_jobs import ReclaimAnalyticsJobs
from coagent.application.analytics.run_job import RunAnalyticsJob, RunSettings
from coagent.main.compose.infra import Infrastructure, Publishing
from coagent.main.compose.wiring import assemble


class Analytics:
    def __init__(self, infra: Infrastructure, publishing: Publishing) -> None:
        self._infra = infra
        self._store = SqlAnalyticsStore(infra.engine, infra.session_factory)
        self._events = HubJobEvents(hub=publishing.publisher)
        self._signals = InProcessJobSignals()
        self._lease = infra.settings.analytics_lease_seconds

    @cached_property
    def http(self) -> AnalyticsServices:
        infra = self._infra
        ports = {
            "uow": infra.uow,
            "store": self._store,
            "queue": infra.job_queue,
            "signals": self._signals,
            "events": self._events,
            "clock": infra.clock,
            "ids": infra.ids,
            "lease_seconds": self._lease,
        }
        return assemble(
            AnalyticsServices, ports, wait_seconds=infra.settings.analytics_wait_seconds
        )

    @cached_property
    def run(self) -> RunAnalyticsJob:
        infra = self._infra
        return RunAnalyticsJob(
            uow=infra.uow,
            store=self._store,
            call_model=infra.call_model,
            quota=infra.llm_quota,
            events=self._events,
            signals=self._signals,
            clock=infra.clock,
            ids=infra.ids,
            settings=RunSettings(
                concurrency=infra.settings.analytics_concurrency,
                lease_seconds=self._lease,
                llm_timeout=infra.settings.llm_timeout,
                owner=f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
            ),
        )

    @cached_property
    def reclaim(self) -> ReclaimAnalyticsJobs:
        infra = self._infra
        return ReclaimAnalyticsJobs(
            store=self._store, queue=infra.job_queue, clock=infra.clock, lease_seconds=self._lease
        )
