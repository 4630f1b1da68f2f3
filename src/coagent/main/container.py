"""The composition root: assembles the contexts (`coagent.main.compose`) on demand.

A process builds only what it runs: the web app asks for every context's HTTP services, a
worker for its tasks, the scheduler for the agent runtime, a CLI command for its one use
case. `build_container(settings, overrides=...)` is the seam tests put fakes through.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import cached_property

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from coagent.adapters.http.accounts.services import AccountServices
from coagent.adapters.http.admin.services import AdminServices
from coagent.adapters.http.agents.services import AgentServices
from coagent.adapters.http.chat.services import ChatServices
from coagent.adapters.http.config import HttpConfig
from coagent.adapters.http.courses.services import (
    AnnouncementServices,
    CourseServices,
    RoomServices,
)
from coagent.adapters.http.health import Readiness
from coagent.adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from coagent.adapters.realtime.agent_stream import HubAgentStream
from coagent.adapters.realtime.hub import RoomHub
from coagent.adapters.security.passwords import Argon2PasswordHasher
from coagent.adapters.worker.job_queue import TaskiqJobQueue
from coagent.adapters.worker.tasks import WorkerServices
from coagent.application.accounts.authenticate import Authenticate
from coagent.application.accounts.bootstrap_super_admin import BootstrapSuperAdmin
from coagent.application.accounts.create_admin import CreateAdmin
from coagent.application.accounts.create_user import AccountFactory
from coagent.application.agents.rotate_keys import RotateAgentKeys
from coagent.application.demo.seed_demo import SeedDemo
from coagent.application.ports.security import RevocationList
from coagent.main.agents_runtime import AgentsRuntime
from coagent.main.compose import accounts, admin, agents, chat, courses, demo, turns
from coagent.main.compose.analytics import Analytics
from coagent.main.compose.infra import (
    Infrastructure,
    Overrides,
    Publishing,
    Realtime,
    build_infrastructure,
    build_publishing,
    build_realtime,
    hub_publishing,
)
from coagent.main.settings import Settings

logger = logging.getLogger("coagent")

# The longest one close step of the container may take (see Container.aclose).
CLOSE_STEP_SECONDS = 2.5  # above the hub's own 2 s wait for publishes under way


class Container:
    """Shared infrastructure, built at once (no I/O), and each context, built when first asked
    for (`functools.cached_property`); `aclose` closes what was built.
    """

    def __init__(
        self,
        settings: Settings,
        overrides: Overrides | None = None,
        *,
        serves_sockets: bool = True,
    ) -> None:
        self.settings = settings
        self._overrides = overrides or Overrides()
        self._serves_sockets = serves_sockets
        self.infra: Infrastructure = build_infrastructure(settings, self._overrides)
        self._closed = False

    # Shared infrastructure, by name.
    @property
    def engine(self) -> AsyncEngine:
        return self.infra.engine

    @property
    def uow(self) -> SqlAlchemyUnitOfWorkFactory:
        return self.infra.uow

    @property
    def redis(self) -> Redis | None:
        return self.infra.redis

    @property
    def hasher(self) -> Argon2PasswordHasher:
        return self.infra.hasher

    @property
    def revocations(self) -> RevocationList:
        return self.infra.revocations

    @property
    def job_queue(self) -> TaskiqJobQueue:
        return self.infra.job_queue

    @cached_property
    def realtime(self) -> Realtime:
        return build_realtime(self.infra, self._overrides)

    @property
    def hub(self) -> RoomHub:
        return self.realtime.hub

    @cached_property
    def publishing(self) -> Publishing:
        """What agent turns, proposals and analytics publish through: the hub of a process
        that serves sockets (and, embedded, the only bus there is), else publish-only.
        """
        if self._serves_sockets or self.infra.redis is None:
            return hub_publishing(self.realtime)
        return build_publishing(self.infra)

    @property
    def agent_stream(self) -> HubAgentStream:
        return self.publishing.agent_stream

    # The contexts.
    @cached_property
    def authenticate(self) -> Authenticate:
        return accounts.authenticate(self.infra)

    @cached_property
    def accounts(self) -> AccountServices:
        return accounts.account_services(self.infra)

    @cached_property
    def account_factory(self) -> AccountFactory:
        return accounts.account_factory(self.infra)

    @cached_property
    def create_admin(self) -> CreateAdmin:
        return accounts.create_admin(self.infra)

    @cached_property
    def bootstrap_super_admin(self) -> BootstrapSuperAdmin:
        return accounts.bootstrap_super_admin(self.infra)

    @cached_property
    def seed_demo(self) -> SeedDemo:
        return demo.seed_demo(self.infra)

    @cached_property
    def courses(self) -> CourseServices:
        return courses.course_services(self.infra)

    @cached_property
    def rooms(self) -> RoomServices:
        return courses.room_services(self.infra)

    @cached_property
    def announcements(self) -> AnnouncementServices:
        return courses.announcement_services(self.infra, self.realtime.events)

    @cached_property
    def admin(self) -> AdminServices:
        return admin.admin_services(self.infra)

    @cached_property
    def chat(self) -> ChatServices:
        return chat.chat_services(self.infra, self.realtime)

    @cached_property
    def agents(self) -> AgentServices:
        return agents.agent_services(self.infra)

    @cached_property
    def rotate_keys(self) -> RotateAgentKeys:
        return agents.rotate_keys(self.infra)

    @cached_property
    def analytics(self) -> Analytics:
        return Analytics(self.infra, self.publishing)

    @cached_property
    def agents_runtime(self) -> AgentsRuntime:
        return turns.agents_runtime(self.infra, self.publishing)

    @cached_property
    def worker(self) -> WorkerServices:
        """What a worker (or, embedded, the web process) runs as tasks."""
        return WorkerServices(
            purge_expired_sessions=accounts.purge_expired_sessions(self.infra),
            turns=self.agents_runtime.tasks,
            run_analytics_job=self.analytics.run,
            reclaim_analytics_jobs=self.analytics.reclaim,
        )

    def http_services(self) -> list[object]:
        """Every context's services the web app's controllers declare (deps.services_of)."""
        return [
            self.accounts,
            self.courses,
            self.rooms,
            self.announcements,
            self.admin,
            self.chat,
            self.agents,
            self.analytics.http,
            self.agents_runtime.http,
            self.agents_runtime.proposals,
            Readiness(self.infra.readiness()),
        ]

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        infra = self.infra
        # Each step runs even when one before it fails: a skipped close leaks connections.
        steps: list[Callable[[], Awaitable[None]]] = [infra.kicker.drain]  # kicks reach the queue
        if "publishing" in self.__dict__:  # publish-only: its stream, publisher and bus
            steps.append(self.publishing.aclose)
        if "realtime" in self.__dict__:  # built: close the hub and its streams
            steps += [self.realtime.agent_stream.aclose, self.realtime.hub.close]
        steps += [infra.llm.aclose, infra.circuit.aclose]
        if infra.redis is not None:
            steps.append(infra.redis.aclose)
        steps.append(infra.engine.dispose)
        infra.hasher.close()
        for step in steps:
            try:
                # Bounded: a stuck close must not keep the process from exiting, and the
                # whole close must fit in a worker's stop budget (coagent.main.stopping:
                # its watchdog ends the process 7 s after the signal).
                await asyncio.wait_for(step(), CLOSE_STEP_SECONDS)
            except Exception:
                logger.exception("shutdown step failed", extra={"step": step.__qualname__})


def build_container(
    settings: Settings, overrides: Overrides | None = None, *, serves_sockets: bool = True
) -> Container:
    """Wire the shared infrastructure; contexts are built as they are first used. No I/O:
    connections open lazily on the running loop. A process that serves no socket (a worker,
    the scheduler) says so, and publishes without a room hub.
    """
    return Container(settings, overrides, serves_sockets=serves_sockets)


def http_config(settings: Settings) -> HttpConfig:
    return HttpConfig(
        allowed_origins=settings.allowed_origins,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        secure_cookies=settings.secure_cookies,
        access_log=settings.access_log,
        metrics_token=settings.metrics_token,
    )
