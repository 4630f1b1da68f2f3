"""RunAnalyticsJob: the task worker's side of a job: figures, one summary per room, a report."""

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Final
from uuid import UUID

from coagent.application.analytics.prompt import analysis_prompt
from coagent.application.limits import LlmCallQuota
from coagent.application.llm.call_model import CallModel, ModelChoice
from coagent.application.ports.analytics import (
    AnalyticsStore,
    CourseFigures,
    JobEvents,
    JobSignals,
)
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.llm import (
    LLMRequest,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.agents.config import DEFAULT_MODELS, AgentConfig, AgentType, Provider
from coagent.domain.analytics.figures import RoomFigures
from coagent.domain.analytics.job import AnalyticsJob, ErrorCode, JobStatus
from coagent.domain.analytics.report import Report, RoomSection
from coagent.domain.courses.room import Room
from coagent.domain.errors import TooManyAttempts

logger = logging.getLogger("coagent.analytics")

MAX_OUTPUT_TOKENS: Final = 1500
NO_MESSAGES: Final = "_No messages in this room yet._"
NO_ROOMS: Final = (
    "_No room of this course has analytics turned on (`is_analytics_active`): "
    "nothing was analysed._"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunAnalyticsJobCommand:
    job_id: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSettings:
    concurrency: int = 4
    lease_seconds: float = 60.0
    llm_timeout: float = 60.0
    owner: str = "worker"  # this runner's name in the lease (process and a random part)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    course_title: str
    choice: ModelChoice
    keys: Sequence[str]
    instructions: str
    context_window: int
    teacher_name: str | None
    keyless_ok: bool


class _Lost(Exception):
    """The job was cancelled or taken over: stop, write nothing more."""


def error_code(error: Exception) -> ErrorCode:
    """The typed code of a failed summary (the error's text never goes into a report)."""
    codes: list[tuple[type[Exception], ErrorCode]] = [
        (TooManyAttempts, ErrorCode.RATE_LIMITED),
        (ProviderAuthError, ErrorCode.PROVIDER_AUTH),
        (ProviderRateLimited, ErrorCode.PROVIDER_RATE_LIMITED),
        (ProviderTimeout, ErrorCode.PROVIDER_TIMEOUT),
        (ProviderUnavailable, ErrorCode.PROVIDER_UNAVAILABLE),
        (ProviderBadRequest, ErrorCode.PROVIDER_BAD_REQUEST),
        (ProviderError, ErrorCode.PROVIDER_ERROR),
    ]
    return next((code for kind, code in codes if isinstance(error, kind)), ErrorCode.INTERNAL)


class RunAnalyticsJob:
    """Claims the job (a lease renewed every third of its length), computes every figure
    in a fixed number of statements, asks the model for a summary of each room with
    analytics on, at most `concurrency` at once, and stores the report and the job's end
    together. Idempotent: a second delivery of the same job finds it claimed or ended.

    Which model: the course's active `analytics` configuration, else the system one, else
    the offline provider; its keys in order through `CallModel`. Each room's call is charged
    to the requester's and the course's model-call quota first.

    Ends: `succeeded` (every summary written), `partial` (some rooms failed: their typed
    codes are in the report, their figures too), `failed` (no report: an internal error),
    `cancelled` (by a caller; the runner stops). Progress goes to the course's staff sockets.
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        store: AnalyticsStore,
        call_model: CallModel,
        quota: LlmCallQuota,
        events: JobEvents,
        signals: JobSignals,
        clock: Clock,
        ids: IdGenerator,
        settings: RunSettings,
    ) -> None:
        self._uow = uow
        self._store = store
        self._call_model = call_model
        self._quota = quota
        self._events = events
        self._signals = signals
        self._clock = clock
        self._ids = ids
        self._settings = settings

    async def execute(self, command: RunAnalyticsJobCommand) -> JobStatus | None:
        """The job's end status, or None when this runner did not run it to its end."""
        owner = self._settings.owner
        lease = timedelta(seconds=self._settings.lease_seconds)
        now = self._clock.now()
        job = await self._store.claim(command.job_id, owner=owner, now=now, lease_until=now + lease)
        if job is None:
            return None
        room_ids = await self._store.room_ids(job.course_id)
        heartbeat = asyncio.ensure_future(self._heartbeat(job.id))
        try:
            status = await self._run(job, room_ids, heartbeat)
        except _Lost:
            status = None
        except asyncio.CancelledError:
            raise  # the worker is stopping: the lease expires, another worker restarts it
        except Exception:
            logger.exception("analytics job failed", extra={"job_id": str(job.id)})
            status = JobStatus.FAILED
            ended = await self._store.finish(
                job.id,
                owner=owner,
                status=status,
                now=self._clock.now(),
                report=None,
                error_code=ErrorCode.INTERNAL.value,
            )
            if ended:
                failed = replace(
                    job,
                    status=status,
                    error_code=ErrorCode.INTERNAL.value,
                    lease_owner=None,
                    lease_expires_at=None,
                )
                await self._events.publish("job.failed", failed, room_ids)
            else:
                status = None
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, _Lost):
                await heartbeat
            self._signals.notify(job.id)
        return status

    async def _heartbeat(self, job_id: UUID) -> None:
        period = self._settings.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            lease_until = self._clock.now() + timedelta(seconds=self._settings.lease_seconds)
            # Shielded: the heartbeat is cancelled when the job ends; a renewal under way
            # still completes and hands its connection back.
            renewal = self._store.renew(job_id, owner=self._settings.owner, lease_until=lease_until)
            if not await asyncio.shield(renewal):
                raise _Lost

    async def _run(
        self, job: AnalyticsJob, room_ids: Sequence[UUID], heartbeat: "asyncio.Future[Any]"
    ) -> JobStatus | None:
        owner = self._settings.owner
        plan = await self._plan(job.course_id)
        if plan is None:  # the course is gone (its jobs with it)
            raise _Lost
        rooms = await self._store.analysed_rooms(job.course_id)
        if not await self._store.progress(
            job.id, owner=owner, rooms_done=0, rooms_total=len(rooms)
        ):
            raise _Lost
        await self._events.publish(
            "job.progress",
            replace(job, status=JobStatus.RUNNING, rooms_done=0, rooms_total=len(rooms)),
            room_ids,
        )
        figures = await self._store.figures(
            [room.id for room in rooms], teacher_name=plan.teacher_name
        )
        done = 0
        gate = asyncio.Semaphore(self._settings.concurrency)

        async def one(room: Room) -> RoomSection:
            nonlocal done
            async with gate:
                section = await self._section(job, plan, room, figures)
            done += 1
            if not await self._store.progress(
                job.id, owner=owner, rooms_done=done, rooms_total=len(rooms)
            ):
                raise _Lost
            await self._events.publish(
                "job.progress",
                replace(job, status=JobStatus.RUNNING, rooms_done=done, rooms_total=len(rooms)),
                room_ids,
            )
            return section

        tasks = [asyncio.ensure_future(one(room)) for room in rooms]
        work: asyncio.Future[Any] = asyncio.gather(*tasks)
        lost = True
        try:
            # A lost lease (the heartbeat ends with _Lost) stops the rooms still running.
            await asyncio.wait({work, heartbeat}, return_when=asyncio.FIRST_COMPLETED)
            lost = not work.done()
        finally:
            if lost or work.exception() is not None:
                # A room that found the job cancelled, a failure, the lease lost, or this
                # runner cancelled: the other rooms stop too.
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if work.done() and not work.cancelled():
                    work.exception()  # retrieved: what matters is raised below
        if lost:
            raise _Lost
        sections = tuple(work.result())
        status = (
            JobStatus.PARTIAL
            if any(section.error_code for section in sections)
            else JobStatus.SUCCEEDED
        )
        report = Report(
            id=self._ids.new_id(),
            course_id=job.course_id,
            job_id=job.id,
            created_at=self._clock.now(),
            created_by=job.requested_by,
            content=markdown(plan.course_title, sections),
            rooms=sections,
            provider=plan.choice.provider,
            model=plan.choice.model,
        )
        now = self._clock.now()
        if not await self._store.finish(job.id, owner=owner, status=status, now=now, report=report):
            raise _Lost
        # As stored (no second read: nothing after the commit touches the database, so a
        # process stopping right after it interrupts no statement).
        ended = replace(
            job,
            status=status,
            rooms_done=len(rooms),
            rooms_total=len(rooms),
            finished_at=now,
            report_id=report.id,
            lease_owner=None,
            lease_expires_at=None,
        )
        await self._events.publish("job.completed", ended, room_ids)
        return status

    async def _plan(self, course_id: UUID) -> _Plan | None:
        async with self._uow() as uow:
            course = await uow.courses.get(course_id)
            if course is None:
                return None
            config: AgentConfig | None = await uow.agent_configs.active_for(
                course_id, AgentType.ANALYTICS
            )
            if config is None:
                config = await uow.agent_configs.active_for(None, AgentType.ANALYTICS)
            keys = await uow.agent_configs.keys_of(config.id) if config is not None else ()
            teacher = await uow.agent_configs.active_for(course_id, AgentType.TEACHER)
        provider = config.provider if config is not None else Provider.OFFLINE
        base_url = config.base_url if config is not None else None
        return _Plan(
            course_title=course.title,
            choice=ModelChoice(
                provider=provider.value,
                model=(config.model if config is not None else None) or DEFAULT_MODELS[provider],
                base_url=base_url,
            ),
            keys=keys,
            instructions=config.system_prompt if config is not None else "",
            context_window=config.context_window if config is not None else 50,
            teacher_name=teacher.name if teacher is not None else None,
            keyless_ok=provider == Provider.OFFLINE
            or (provider == Provider.OPENAI and base_url is not None),
        )

    async def _section(
        self, job: AnalyticsJob, plan: _Plan, room: Room, figures: CourseFigures
    ) -> RoomSection:
        room_figures = next(
            (f for f in figures.rooms if f.room_id == room.id),
            RoomFigures(room_id=room.id, messages=0, human_messages=0, humans_active=0),
        )
        students = tuple(s for s in figures.students if s.room_id == room.id)
        summary: str | None = None
        code: str | None = None
        if room_figures.messages == 0:
            summary = NO_MESSAGES
        elif not plan.keys and not plan.keyless_ok:
            code = ErrorCode.NO_API_KEY.value
        else:
            try:
                summary = await self._summarise(job, plan, room)
            except (ProviderError, TooManyAttempts) as error:
                code = error_code(error).value
                logger.warning(
                    "analytics room failed",
                    extra={"job_id": str(job.id), "room_id": str(room.id), "code": code},
                )
        return RoomSection(
            room_id=room.id,
            room_name=room.name,
            figures=room_figures,
            students=students,
            summary=summary,
            error_code=code,
        )

    async def _summarise(self, job: AnalyticsJob, plan: _Plan, room: Room) -> str:
        messages = await self._store.recent_messages(room.id, limit=plan.context_window)
        await self._quota.charge(user_id=job.requested_by or job.course_id, course_id=job.course_id)
        request = LLMRequest(
            model=plan.choice.model,
            messages=analysis_prompt(
                instructions=plan.instructions,
                course_title=plan.course_title,
                room_name=room.name,
                messages=messages,
            ),
            max_tokens=MAX_OUTPUT_TOKENS,
            timeout=self._settings.llm_timeout,
        )
        completion = await self._call_model.complete(plan.choice, plan.keys, request)
        text = completion.text.strip()
        if not text:
            raise ProviderError("empty answer")
        return text


def markdown(course_title: str, sections: Sequence[RoomSection]) -> str:
    """The report as the original clients show it: `# Course Analytics Report: <title>`,
    then `## Room: <name>` per room, with its figures and the model's summary.
    """
    parts = [f"# Course Analytics Report: {' '.join(course_title.split())}"]
    if not sections:
        parts.append(NO_ROOMS)
    for section in sections:
        f = section.figures
        parts.append(f"## Room: {' '.join(section.room_name.split())}")
        agents = ", ".join(f"{kind}: {count}" for kind, count in sorted(f.agent_messages.items()))
        gap = "n/a" if f.median_gap_seconds is None else f"{f.median_gap_seconds:.0f} s"
        parts.append(
            f"- Messages: {f.messages} ({f.human_messages} by people, "
            f"{f.humans_active} active)\n- Agent messages: {agents or 'none'}\n"
            f"- Median time between messages: {gap}"
        )
        if section.error_code:
            parts.append(f"_Summary unavailable (error code `{section.error_code}`)._")
        elif section.summary:
            parts.append(section.summary)
    return "\n\n".join(parts)
