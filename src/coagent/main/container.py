"""The composition root: every adapter is built here, and only here."""

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from coagent.adapters.http.agents.services import AgentServices
from coagent.adapters.http.analytics.services import AnalyticsServices
from coagent.adapters.http.services import (
    AccountServices,
    AdminServices,
    AnnouncementServices,
    ChatLimits,
    ChatServices,
    CourseServices,
    HttpConfig,
    HttpServices,
    RoomServices,
)
from coagent.adapters.limits.memory import InMemoryRateLimiter
from coagent.adapters.limits.redis import RedisRateLimiter
from coagent.adapters.llm.endpoints import EndpointGuard
from coagent.adapters.llm.registry import ProviderRegistry
from coagent.adapters.persistence.analytics import SqlAnalyticsStore
from coagent.adapters.persistence.browser import SqlAlchemyDatabaseBrowser
from coagent.adapters.persistence.engine import create_engine, create_session_factory
from coagent.adapters.persistence.history_cache import InMemoryHistoryCache
from coagent.adapters.persistence.revocation_record import SqlRevocationRecord
from coagent.adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from coagent.adapters.realtime.agent_stream import HubAgentStream
from coagent.adapters.realtime.bus import InMemoryRoomBus, RedisRoomBus, RoomBus
from coagent.adapters.realtime.hub import RoomHub
from coagent.adapters.realtime.job_events import HubJobEvents, InProcessJobSignals
from coagent.adapters.realtime.publishers import InProcessEventPublisher, RedisEventPublisher
from coagent.adapters.realtime.tickets import InMemoryTicketStore, RedisTicketStore
from coagent.adapters.redis_circuit import RedisCircuit
from coagent.adapters.security.fallback_limiter import FallbackAttemptLimiter, FallbackRateLimiter
from coagent.adapters.security.memory import InMemoryAttemptLimiter, InMemoryRevocationList
from coagent.adapters.security.passwords import Argon2PasswordHasher
from coagent.adapters.security.redis_stores import RedisAttemptLimiter, RedisRevocationList
from coagent.adapters.security.secret_box import FernetSecretBox
from coagent.adapters.security.tokens import JwtTokenCodec
from coagent.adapters.system import SystemClock, Uuid7Generator
from coagent.adapters.worker.job_queue import TaskiqJobQueue
from coagent.adapters.worker.tasks import WorkerServices
from coagent.application.accounts.authenticate import Authenticate
from coagent.application.accounts.bootstrap_super_admin import BootstrapSuperAdmin
from coagent.application.accounts.create_admin import CreateAdmin
from coagent.application.accounts.create_user import AccountFactory, CreateUser
from coagent.application.accounts.delete_user import DeleteUser
from coagent.application.accounts.get_avatar import GetAvatar
from coagent.application.accounts.get_current_user import GetCurrentUser
from coagent.application.accounts.impersonate import Impersonate
from coagent.application.accounts.list_users import ListUsers
from coagent.application.accounts.log_in import LogIn, LoginThrottle
from coagent.application.accounts.log_out import LogOut
from coagent.application.accounts.log_out_everywhere import LogOutEverywhere
from coagent.application.accounts.purge_sessions import PurgeExpiredSessions
from coagent.application.accounts.refresh_session import RefreshSession
from coagent.application.accounts.search_users import SearchUsers
from coagent.application.accounts.sessions import SessionIssuer, SessionPolicy
from coagent.application.accounts.set_avatar import SetAvatar
from coagent.application.accounts.stop_impersonating import StopImpersonating
from coagent.application.accounts.update_user import UpdateUser
from coagent.application.admin.audit import ReadAuditLog
from coagent.application.admin.browse_rows import BrowseRows
from coagent.application.admin.browse_tables import BrowseTables
from coagent.application.agents.activate_config import ActivateAgentConfig
from coagent.application.agents.create_config import CreateAgentConfig
from coagent.application.agents.delete_config import DeleteAgentConfig
from coagent.application.agents.generate_prompt import GeneratePrompt
from coagent.application.agents.list_configs import ListAgentConfigs
from coagent.application.agents.list_system_configs import ListSystemAgentConfigs
from coagent.application.agents.list_versions import ListAgentConfigVersions
from coagent.application.agents.read_keys import ReadAgentKeys
from coagent.application.agents.restore_version import RestoreAgentConfigVersion
from coagent.application.agents.rotate_keys import RotateAgentKeys
from coagent.application.agents.save_version import SaveAgentConfigVersion
from coagent.application.agents.set_keys import SetAgentKeys
from coagent.application.agents.update_config import UpdateAgentConfig
from coagent.application.agents.upsert_config import UpsertAgentConfig
from coagent.application.analytics.await_job import AwaitAnalyticsJob
from coagent.application.analytics.cancel_job import CancelAnalyticsJob
from coagent.application.analytics.get_job import GetAnalyticsJob
from coagent.application.analytics.get_report import GetAnalyticsReport
from coagent.application.analytics.list_reports import ListAnalyticsReports
from coagent.application.analytics.reclaim_jobs import ReclaimAnalyticsJobs
from coagent.application.analytics.run_job import RunAnalyticsJob, RunSettings
from coagent.application.analytics.start_job import StartAnalyticsJob
from coagent.application.chat.issue_chat_ticket import IssueChatTicket
from coagent.application.chat.join_room import JoinRoom
from coagent.application.chat.post_message import PostMessage
from coagent.application.chat.read_history import ReadHistory
from coagent.application.chat.redeem_chat_ticket import RedeemChatTicket
from coagent.application.chat.replay_messages import ReplayMessages
from coagent.application.courses.assign_to_room import AssignToRoom
from coagent.application.courses.change_member import ChangeMember
from coagent.application.courses.create_course import CreateCourse
from coagent.application.courses.create_room import CreateRoom
from coagent.application.courses.delete_announcement import DeleteAnnouncement
from coagent.application.courses.delete_course import DeleteCourse
from coagent.application.courses.delete_room import DeleteRoom
from coagent.application.courses.edit_announcement import EditAnnouncement
from coagent.application.courses.enroll_member import EnrollMember
from coagent.application.courses.get_course import GetCourse
from coagent.application.courses.get_room import GetRoom
from coagent.application.courses.list_announcements import ListAnnouncements
from coagent.application.courses.list_courses import ListCourses
from coagent.application.courses.list_members import ListMembers
from coagent.application.courses.list_rooms import ListRooms
from coagent.application.courses.post_announcement import PostAnnouncement
from coagent.application.courses.update_course import UpdateCourse
from coagent.application.courses.update_room import UpdateRoom
from coagent.application.demo.seed_demo import SeedDemo
from coagent.application.limits import LlmCallQuota, Rate
from coagent.application.llm.call_model import CallModel, RetryPolicy
from coagent.application.ports.chat import TicketStore
from coagent.application.ports.events import CourseEvent, EventPublisher
from coagent.application.ports.limits import RateLimiter
from coagent.application.ports.security import AttemptLimiter, RevocationList
from coagent.domain.accounts.throttle import Backoff
from coagent.main.agents_runtime import AgentsRuntime, build_agents_runtime
from coagent.main.settings import Settings

logger = logging.getLogger("coagent")

# The longest one close step of the container may take (see Container.aclose).
CLOSE_STEP_SECONDS = 2.5  # above the hub's own 2 s wait for publishes under way


def create_redis(url: str, *, max_connections: int = 64) -> Redis:
    """A client whose callers wait for a free connection instead of failing (the default pool
    raises past its size), and which retries through a Redis restart (from_url does not).
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), 6),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=15,
    )
    return Redis.from_pool(pool)  # the client owns the pool and closes it


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    redis: Redis | None
    hasher: Argon2PasswordHasher
    http: HttpServices
    worker: WorkerServices
    create_admin: CreateAdmin
    bootstrap_super_admin: BootstrapSuperAdmin
    secret_box: FernetSecretBox
    uow: SqlAlchemyUnitOfWorkFactory
    accounts: AccountFactory
    events: EventPublisher
    seed_demo: SeedDemo
    hub: RoomHub
    # Live agent output (the AgentStream port) over the hub's bus; works without sockets.
    agent_stream: HubAgentStream
    revocations: RevocationList
    rotate_keys: RotateAgentKeys
    llm: ProviderRegistry
    call_model: CallModel
    agents_runtime: AgentsRuntime

    # Bound to the broker of this process once it exists (create_app, a worker's start).
    job_queue: TaskiqJobQueue = field(default_factory=TaskiqJobQueue)
    redis_circuit: RedisCircuit = field(default_factory=RedisCircuit)
    _closed: bool = field(default=False, repr=False)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Each step runs even when one before it fails: a skipped close leaks connections.
        steps: list[Callable[[], Awaitable[None]]] = [
            self.agents_runtime.kicker.drain,  # kicks under way reach the queue first
            self.agent_stream.aclose,
            self.hub.close,
            self.llm.aclose,
            self.redis_circuit.aclose,
        ]
        if self.redis is not None:
            steps.append(self.redis.aclose)
        steps.append(self.engine.dispose)
        self.hasher.close()
        for step in steps:
            try:
                # Bounded: a stuck close must not keep the process from exiting, and the
                # whole close must fit in a worker's stop budget (coagent.main.stopping:
                # its watchdog ends the process 7 s after the signal).
                await asyncio.wait_for(step(), CLOSE_STEP_SECONDS)
            except Exception:
                logger.exception("shutdown step failed", extra={"step": step.__qualname__})


def build_container(settings: Settings) -> Container:
    """Wire everything. Does no I/O: connections open lazily on the running loop."""
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout,
    )
    session_factory = create_session_factory(engine)
    uow = SqlAlchemyUnitOfWorkFactory(session_factory)
    browser = SqlAlchemyDatabaseBrowser(session_factory)
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    stores = _security_stores(settings, redis, session_factory)
    revocations, limiter, rate_limiter, circuit = stores
    llm_quota = LlmCallQuota(
        limiter=rate_limiter,
        per_user=Rate(settings.llm_calls_per_user_per_minute, 60),
        per_course=Rate(settings.llm_calls_per_course_per_minute, 60),
    )
    hasher = Argon2PasswordHasher(
        memory_cost=settings.password_hash_memory_kib,
        time_cost=settings.password_hash_time_cost,
        max_concurrency=settings.password_hash_concurrency,
    )
    tokens = JwtTokenCodec(
        secret=settings.secret_key, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    clock, ids = SystemClock(), Uuid7Generator()
    sessions = SessionIssuer(
        policy=SessionPolicy(
            access_ttl=timedelta(seconds=settings.access_token_ttl),
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl),
            impersonation_ttl=timedelta(seconds=settings.impersonation_ttl),
        ),
        tokens=tokens,
        revocations=revocations,
        clock=clock,
        ids=ids,
    )
    accounts = AccountFactory(hasher=hasher, clock=clock, ids=ids)
    bus: RoomBus
    tickets: TicketStore
    if redis is not None and settings.redis_url:
        events: EventPublisher = RedisEventPublisher(redis, circuit=circuit)
        # The listener's own client must not retry: its supervisor has to see every
        # disconnect, to re-subscribe and recover what pub/sub dropped meanwhile.
        listener = Redis.from_url(
            settings.redis_url, socket_connect_timeout=2, health_check_interval=10
        )
        bus = RedisRoomBus(listener=listener, publisher=redis, circuit=circuit)
        tickets = RedisTicketStore(redis, circuit=circuit)
        hub = RoomHub(bus=bus, source=ReplayMessages(uow=uow))
    else:
        in_process = InProcessEventPublisher()
        bus, tickets, events = InMemoryRoomBus(), InMemoryTicketStore(), in_process
        hub = RoomHub(bus=bus, source=ReplayMessages(uow=uow))
        in_process.subscribe(_deliver_to(hub))

    async def database_ready() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    readiness = {"database": database_ready}
    if redis is not None:
        client = redis

        async def redis_ready() -> None:
            await client.ping()

        readiness["redis"] = redis_ready

    secret_box = FernetSecretBox(list(settings.encryption_keys))
    endpoints = EndpointGuard(settings.llm_allowed_hosts)
    llm = ProviderRegistry(guard=endpoints)
    call_model = CallModel(
        providers=llm,
        secrets=secret_box,
        policy=RetryPolicy(max_retries=settings.llm_max_retries),
    )
    agent_stream = HubAgentStream(hub=hub)
    agents_runtime = build_agents_runtime(
        settings,
        uow=uow,
        clock=clock,
        ids=ids,
        call_model=call_model,
        publisher=hub,
        stream=agent_stream,
        limiter=rate_limiter,
    )
    analytics, worker_analytics, job_queue = _analytics(
        settings,
        engine=engine,
        uow=uow,
        hub=hub,
        call_model=call_model,
        quota=llm_quota,
        clock=clock,
        ids=ids,
    )
    http = HttpServices(
        accounts=AccountServices(
            authenticate=Authenticate(tokens=tokens, revocations=revocations),
            log_in=LogIn(
                uow=uow,
                hasher=hasher,
                limiter=limiter,
                throttle=login_throttle(settings),
                sessions=sessions,
            ),
            refresh=RefreshSession(uow=uow, tokens=tokens, sessions=sessions, clock=clock),
            log_out=LogOut(uow=uow, tokens=tokens, sessions=sessions),
            log_out_everywhere=LogOutEverywhere(uow=uow, sessions=sessions),
            impersonate=Impersonate(uow=uow, sessions=sessions),
            stop_impersonating=StopImpersonating(uow=uow, sessions=sessions, clock=clock),
            current_user=GetCurrentUser(uow=uow),
            update_user=UpdateUser(uow=uow, hasher=hasher, sessions=sessions),
            create_user=CreateUser(uow=uow, accounts=accounts),
            delete_user=DeleteUser(uow=uow, sessions=sessions),
            list_users=ListUsers(uow=uow),
            search_users=SearchUsers(uow=uow),
            set_avatar=SetAvatar(uow=uow, clock=clock, ids=ids),
            get_avatar=GetAvatar(uow=uow),
        ),
        courses=CourseServices(
            create=CreateCourse(uow=uow, clock=clock, ids=ids),
            list=ListCourses(uow=uow),
            get=GetCourse(uow=uow),
            update=UpdateCourse(uow=uow, clock=clock),
            delete=DeleteCourse(uow=uow),
            enroll=EnrollMember(uow=uow),
            members=ListMembers(uow=uow),
            change_member=ChangeMember(uow=uow),
        ),
        rooms=RoomServices(
            create=CreateRoom(uow=uow, clock=clock, ids=ids),
            list=ListRooms(uow=uow),
            get=GetRoom(uow=uow),
            update=UpdateRoom(uow=uow, clock=clock),
            delete=DeleteRoom(uow=uow),
            assign=AssignToRoom(uow=uow),
        ),
        announcements=AnnouncementServices(
            post=PostAnnouncement(uow=uow, events=events, clock=clock, ids=ids),
            list=ListAnnouncements(uow=uow),
            edit=EditAnnouncement(uow=uow, events=events, clock=clock),
            delete=DeleteAnnouncement(uow=uow, events=events),
        ),
        admin=AdminServices(
            tables=BrowseTables(uow=uow, browser=browser),
            rows=BrowseRows(uow=uow, browser=browser),
            audit=ReadAuditLog(uow=uow),
        ),
        chat=ChatServices(
            post=PostMessage(
                uow=uow,
                publisher=hub,
                clock=clock,
                ids=ids,
                max_length=settings.chat_max_message_length,
                limiter=rate_limiter,
                rate=Rate(settings.chat_messages_per_window, settings.chat_window_seconds),
                agents=agents_runtime.kicker,
            ),
            history=ReadHistory(
                uow=uow,
                cache=InMemoryHistoryCache(max_bytes=settings.chat_history_cache_mb * 1024 * 1024),
            ),
            join=JoinRoom(uow=uow),
            issue_ticket=IssueChatTicket(store=tickets, ttl_seconds=settings.chat_ticket_ttl),
            redeem_ticket=RedeemChatTicket(store=tickets, revocations=revocations),
            hub=hub,
            limits=ChatLimits(
                max_frame_bytes=settings.chat_max_frame_bytes,
                messages_per_window=settings.chat_messages_per_window,
                window_seconds=settings.chat_window_seconds,
                connections_per_user=settings.chat_max_connections_per_user,
                queue_size=settings.chat_socket_queue,
            ),
            allowed_origins=settings.allowed_origins,
        ),
        agents=_agent_services(
            uow,
            secret_box,
            clock,
            ids,
            call_model=call_model,
            llm_timeout=settings.llm_timeout,
            llm_quota=llm_quota,
            endpoints=endpoints,
        ),
        analytics=analytics,
        readiness=readiness,
    )
    return Container(
        settings=settings,
        engine=engine,
        redis=redis,
        hasher=hasher,
        http=http,
        worker=WorkerServices(
            purge_expired_sessions=PurgeExpiredSessions(uow=uow, clock=clock),
            turns=agents_runtime.tasks,
            run_analytics_job=worker_analytics[0],
            reclaim_analytics_jobs=worker_analytics[1],
        ),
        create_admin=CreateAdmin(uow=uow, accounts=accounts),
        bootstrap_super_admin=BootstrapSuperAdmin(uow=uow, accounts=accounts),
        secret_box=secret_box,
        uow=uow,
        accounts=accounts,
        events=events,
        seed_demo=SeedDemo(uow=uow, accounts=accounts, clock=clock, ids=ids),
        hub=hub,
        agent_stream=agent_stream,
        revocations=revocations,
        rotate_keys=RotateAgentKeys(uow=uow, secrets=secret_box),
        llm=llm,
        call_model=call_model,
        job_queue=job_queue,
        redis_circuit=circuit,
        agents_runtime=agents_runtime,
    )


def _analytics(
    settings: Settings,
    *,
    engine: AsyncEngine,
    uow: SqlAlchemyUnitOfWorkFactory,
    hub: RoomHub,
    call_model: CallModel,
    quota: LlmCallQuota,
    clock: SystemClock,
    ids: Uuid7Generator,
) -> tuple[AnalyticsServices, tuple[RunAnalyticsJob, ReclaimAnalyticsJobs], TaskiqJobQueue]:
    store = SqlAnalyticsStore(engine, create_session_factory(engine))
    queue = TaskiqJobQueue()
    events = HubJobEvents(hub=hub)
    signals = InProcessJobSignals()
    lease = settings.analytics_lease_seconds
    services = AnalyticsServices(
        start=StartAnalyticsJob(
            uow=uow, store=store, queue=queue, clock=clock, ids=ids, lease_seconds=lease
        ),
        wait=AwaitAnalyticsJob(store=store, signals=signals),
        job=GetAnalyticsJob(uow=uow, store=store),
        cancel=CancelAnalyticsJob(uow=uow, store=store, events=events, clock=clock),
        list=ListAnalyticsReports(uow=uow, store=store),
        report=GetAnalyticsReport(uow=uow, store=store),
        wait_seconds=settings.analytics_wait_seconds,
    )
    run = RunAnalyticsJob(
        uow=uow,
        store=store,
        call_model=call_model,
        quota=quota,
        events=events,
        signals=signals,
        clock=clock,
        ids=ids,
        settings=RunSettings(
            concurrency=settings.analytics_concurrency,
            lease_seconds=lease,
            llm_timeout=settings.llm_timeout,
            owner=f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        ),
    )
    reclaim = ReclaimAnalyticsJobs(store=store, queue=queue, clock=clock, lease_seconds=lease)
    return services, (run, reclaim), queue


def login_throttle(settings: Settings) -> LoginThrottle:
    """The free failures of each key, then back-off doubling from the first wait to the cap."""

    def backoff(free: int, window: int) -> Backoff:
        return Backoff(
            free=free,
            window_seconds=window,
            first_wait_seconds=settings.login_backoff_first,
            max_wait_seconds=settings.login_backoff_max,
        )

    return LoginThrottle(
        pair=backoff(settings.login_failures_per_pair, settings.login_failure_window),
        account=backoff(settings.login_failures_per_account, settings.login_account_window),
        address=backoff(settings.login_failures_per_address, settings.login_failure_window),
    )


def _security_stores(
    settings: Settings, redis: Redis | None, session_factory: async_sessionmaker[AsyncSession]
) -> tuple[RevocationList, AttemptLimiter, RateLimiter, RedisCircuit]:
    """Revocations and limiters: shared through Redis (falling back to this process's own, or
    to the database, while Redis is down: ADR 0007), or in this process when embedded.
    """
    revocations: RevocationList
    limiter: AttemptLimiter
    rate_limiter: RateLimiter
    # One per process: once Redis fails, every Redis user here degrades at once (ADR 0007).
    circuit = RedisCircuit(probe=redis.ping if redis is not None else None)
    if redis is not None:
        revocations = RedisRevocationList(
            redis,
            record=SqlRevocationRecord(session_factory),
            access_ttl=timedelta(seconds=settings.access_token_ttl),
            circuit=circuit,
        )
        limiter = FallbackAttemptLimiter(
            shared=RedisAttemptLimiter(redis), local=InMemoryAttemptLimiter(), circuit=circuit
        )
        rate_limiter = FallbackRateLimiter(
            shared=RedisRateLimiter(redis), local=InMemoryRateLimiter(), circuit=circuit
        )
    else:
        revocations = InMemoryRevocationList(
            record=SqlRevocationRecord(session_factory),
            access_ttl=timedelta(seconds=settings.access_token_ttl),
        )
        limiter = InMemoryAttemptLimiter()
        rate_limiter = InMemoryRateLimiter()
    return revocations, limiter, rate_limiter, circuit


def _deliver_to(hub: RoomHub) -> Callable[[CourseEvent], Awaitable[None]]:
    async def deliver(event: CourseEvent) -> None:
        hub.deliver_course_event(event)

    return deliver


def http_config(settings: Settings) -> HttpConfig:
    return HttpConfig(
        allowed_origins=settings.allowed_origins,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        secure_cookies=settings.secure_cookies,
        access_log=settings.access_log,
        metrics_token=settings.metrics_token,
    )


def _agent_services(
    uow: SqlAlchemyUnitOfWorkFactory,
    secrets: FernetSecretBox,
    clock: SystemClock,
    ids: Uuid7Generator,
    *,
    call_model: CallModel,
    llm_timeout: float,
    llm_quota: LlmCallQuota,
    endpoints: EndpointGuard,
) -> AgentServices:
    return AgentServices(
        create=CreateAgentConfig(
            uow=uow, secrets=secrets, clock=clock, ids=ids, endpoints=endpoints
        ),
        list=ListAgentConfigs(uow=uow),
        list_system=ListSystemAgentConfigs(uow=uow),
        update=UpdateAgentConfig(uow=uow, secrets=secrets, clock=clock, endpoints=endpoints),
        upsert=UpsertAgentConfig(
            uow=uow, secrets=secrets, clock=clock, ids=ids, endpoints=endpoints
        ),
        delete=DeleteAgentConfig(uow=uow),
        activate=ActivateAgentConfig(uow=uow),
        read_keys=ReadAgentKeys(uow=uow),
        set_keys=SetAgentKeys(uow=uow, secrets=secrets, clock=clock),
        save_version=SaveAgentConfigVersion(uow=uow, clock=clock, ids=ids),
        list_versions=ListAgentConfigVersions(uow=uow),
        restore_version=RestoreAgentConfigVersion(uow=uow, clock=clock, endpoints=endpoints),
        generate=GeneratePrompt(
            uow=uow, call_model=call_model, secrets=secrets, timeout=llm_timeout, quota=llm_quota
        ),
    )
