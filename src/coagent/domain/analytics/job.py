"""An analytics job: one run of report generation over a course's rooms."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final
from uuid import UUID


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every room summarised
    PARTIAL = "partial"  # a report, but some rooms' summaries failed (their codes are in it)
    FAILED = "failed"  # no report
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (JobStatus.QUEUED, JobStatus.RUNNING)


ACTIVE_STATUSES: Final = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


class ErrorCode(StrEnum):
    """Typed reasons, for a job and for one room of a report (never a provider's text)."""

    PROVIDER_AUTH = "provider_auth"
    PROVIDER_RATE_LIMITED = "provider_rate_limited"
    PROVIDER_TIMEOUT = "provider_timeout"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_BAD_REQUEST = "provider_bad_request"
    PROVIDER_ERROR = "provider_error"
    NO_API_KEY = "no_api_key"
    RATE_LIMITED = "rate_limited"  # our own model-call quota
    EMPTY_ANSWER = "empty_answer"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalyticsJob:
    id: UUID
    course_id: UUID
    status: JobStatus
    rooms_done: int
    rooms_total: int
    requested_by: UUID | None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    report_id: UUID | None = None
    error_code: str | None = None
    # Crash recovery: the worker running it holds it until `lease_expires_at`.
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    attempts: int = 0
