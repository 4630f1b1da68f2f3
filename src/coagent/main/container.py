"""The composition root: every adapter is built here, and only here."""

from dataclasses import dataclass, field
from datetime import timedelta

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from coagent.adapters.http.services import (
    AccountServices,
    AdminServices,
    AnnouncementServices,
    CourseServices,
    HttpConfig,
    HttpServices,
    RoomServices,
)
from coagent.adapters.persistence.browser import SqlAlchemyDatabaseBrowser
from coagent.adapters.persistence.engine import create_engine, create_session_factory
from coagent.adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from coagent.adapters.realtime.publishers import InProcessEventPublisher, RedisEventPublisher
from coagent.adapters.security.memory import InMemoryAttemptLimiter, InMemoryRevocationList
from coagent.adapters.security.passwords import Argon2PasswordHasher
from coagent.adapters.security.redis_stores import RedisAttemptLimiter, RedisRevocationList
from coagent.adapters.security.secret_box import FernetSecretBox
from coagent.adapters.security.tokens import JwtTokenCodec
from coagent.adapters.system import SystemClock, Uuid7Generator
from coagent.adapters.worker.tasks import WorkerServices
from coagent.application.accounts.authenticate import Authenticate
from coagent.application.accounts.avatar import GetAvatar, SetAvatar
from coagent.application.accounts.bootstrap import BootstrapSuperAdmin, CreateAdmin
from coagent.application.accounts.create_user import AccountFactory, CreateUser
from coagent.application.accounts.delete_user import DeleteUser
from coagent.application.accounts.get_current_user import GetCurrentUser
from coagent.application.accounts.impersonate import Impersonate, StopImpersonating
from coagent.application.accounts.list_users import ListUsers, SearchUsers
from coagent.application.accounts.log_in import LogIn
from coagent.application.accounts.log_out import LogOut, LogOutEverywhere
from coagent.application.accounts.purge_sessions import PurgeExpiredSessions
from coagent.application.accounts.refresh_session import RefreshSession
from coagent.application.accounts.sessions import SessionIssuer, SessionPolicy
from coagent.application.accounts.update_user import UpdateUser
from coagent.application.admin.audit import ReadAuditLog
from coagent.application.admin.database import BrowseRows, BrowseTables
from coagent.application.courses.announcements import (
    DeleteAnnouncement,
    EditAnnouncement,
    ListAnnouncements,
    PostAnnouncement,
)
from coagent.application.courses.change_course import DeleteCourse, UpdateCourse
from coagent.application.courses.create_course import CreateCourse
from coagent.application.courses.members import ChangeMember, EnrollMember, ListMembers
from coagent.application.courses.read_courses import GetCourse, ListCourses
from coagent.application.courses.rooms import (
    AssignToRoom,
    CreateRoom,
    DeleteRoom,
    GetRoom,
    ListRooms,
    UpdateRoom,
)
from coagent.application.demo.seed_demo import SeedDemo
from coagent.application.ports.events import EventPublisher
from coagent.application.ports.security import AttemptLimiter, RevocationList
from coagent.main.settings import Settings


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
    _closed: bool = field(default=False, repr=False)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.hasher.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


def build_container(settings: Settings) -> Container:
    """Wire everything. Does no I/O: connections open lazily on the running loop."""
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    session_factory = create_session_factory(engine)
    uow = SqlAlchemyUnitOfWorkFactory(session_factory)
    browser = SqlAlchemyDatabaseBrowser(session_factory)
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    limits = {
        "login": (settings.login_failures_per_account, settings.login_failure_window),
        "addr": (settings.login_failures_per_address, settings.login_failure_window),
    }
    revocations: RevocationList
    limiter: AttemptLimiter
    if redis is not None:
        revocations, limiter = RedisRevocationList(redis), RedisAttemptLimiter(redis, limits)
    else:
        revocations, limiter = InMemoryRevocationList(), InMemoryAttemptLimiter(limits)
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
    events: EventPublisher = (
        RedisEventPublisher(redis) if redis is not None else InProcessEventPublisher()
    )

    async def database_ready() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    readiness = {"database": database_ready}
    if redis is not None:
        client = redis

        async def redis_ready() -> None:
            await client.ping()

        readiness["redis"] = redis_ready

    http = HttpServices(
        accounts=AccountServices(
            authenticate=Authenticate(tokens=tokens, revocations=revocations),
            log_in=LogIn(uow=uow, hasher=hasher, limiter=limiter, sessions=sessions),
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
        readiness=readiness,
    )
    return Container(
        settings=settings,
        engine=engine,
        redis=redis,
        hasher=hasher,
        http=http,
        worker=WorkerServices(purge_expired_sessions=PurgeExpiredSessions(uow=uow, clock=clock)),
        create_admin=CreateAdmin(uow=uow, accounts=accounts),
        bootstrap_super_admin=BootstrapSuperAdmin(uow=uow, accounts=accounts),
        secret_box=FernetSecretBox(list(settings.encryption_keys)),
        uow=uow,
        accounts=accounts,
        events=events,
        seed_demo=SeedDemo(uow=uow, accounts=accounts, clock=clock, ids=ids),
    )


def http_config(settings: Settings) -> HttpConfig:
    return HttpConfig(
        allowed_origins=settings.allowed_origins,
        secure_cookies=settings.secure_cookies,
        access_log=settings.access_log,
    )
