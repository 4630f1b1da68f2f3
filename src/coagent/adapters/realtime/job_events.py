"""Analytics job events to the course's staff `coagent.v1` sockets, through the room hub's
bus (so a worker process reaches every web process; there `hub` is a publish-only
`BusRoomPublisher`), and in-process job wake-ups.
"""

import asyncio
import logging
from collections.abc import Sequence
from uuid import UUID

from coagent.adapters.realtime.events import STAFF, JobCompleted, JobFailed, JobProgress, encode
from coagent.adapters.realtime.room_publisher import RoomPublisher
from coagent.domain.analytics.job import AnalyticsJob

logger = logging.getLogger("coagent.realtime")


def job_frame(kind: str, job: AnalyticsJob) -> str:
    if kind == "job.progress":
        return encode(
            JobProgress(
                job_id=job.id,
                course_id=job.course_id,
                status=job.status.value,
                rooms_done=job.rooms_done,
                rooms_total=job.rooms_total,
            )
        )
    if kind == "job.completed":
        return encode(
            JobCompleted(
                job_id=job.id,
                course_id=job.course_id,
                status=job.status.value,
                rooms_done=job.rooms_done,
                rooms_total=job.rooms_total,
                report_id=job.report_id,
            )
        )
    return encode(
        JobFailed(
            job_id=job.id,
            course_id=job.course_id,
            status=job.status.value,
            error_code=job.error_code,
        )
    )


class HubJobEvents:
    """The `JobEvents` port: one staff-only frame per room of the course (best effort: a lost
    event loses nothing, `GET /jobs/{id}` tells the same).
    """

    def __init__(self, *, hub: RoomPublisher) -> None:
        self._hub = hub

    async def publish(self, kind: str, job: AnalyticsJob, room_ids: Sequence[UUID]) -> None:
        frame = job_frame(kind, job)
        for room_id in room_ids:
            try:
                await self._hub.publish_event(room_id, frame, STAFF)
            except Exception as error:  # noqa: BLE001 - events never fail the job
                logger.warning(
                    "job event not published", extra={"kind": kind, "error": type(error).__name__}
                )


class InProcessJobSignals:
    """The `JobSignals` port: waiters in this process wake when a runner here notifies."""

    def __init__(self) -> None:
        self._events: dict[UUID, asyncio.Event] = {}
        self._waiters: dict[UUID, int] = {}

    def notify(self, job_id: UUID) -> None:
        event = self._events.get(job_id)
        if event is not None:
            event.set()

    async def wait(self, job_id: UUID, seconds: float) -> None:
        event = self._events.setdefault(job_id, asyncio.Event())
        self._waiters[job_id] = self._waiters.get(job_id, 0) + 1
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            self._waiters[job_id] -= 1
            if not self._waiters[job_id]:
                del self._waiters[job_id]
                self._events.pop(job_id, None)
