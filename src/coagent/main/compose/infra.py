"""Shared infrastructure: the adapters every context's use cases are built from.

Building does no I/O: connections open lazily on the running loop. `Overrides` is the seam
tests use to put fakes in place of real adapters (no patching of globals).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from coagent.adapters.limits.memory import InMemoryRateLimiter
from coagent.adapters.limits.redis import RedisRateLimiter
from coagent.adapters.llm.endpoints import EndpointGuard
from coagent.adapters.llm.registry import ProviderRegistry
from coagent.adapters.persistence.engine import create_engine, create_session_factory
from coagent.adapters.persistence.revocation_record import SqlRevocationRecord
from coagent.adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from coagent.adapters.realtime.agent_stream import HubAgentStream
from coagent.adapters.realtime.bus import InMemoryRoomBus, RedisRoomBus, RoomBus
from coagent.adapters.realtime.hub import MessageSource, RoomHub
from coagent.adapters.realtime.publishers import InProcessEventPublisher, RedisEventPublisher
from coagent.adapters.realtime.room_publisher import BusRoomPublisher, RoomPublisher
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
from coagent.adapters.worker.kicker import TaskiqTurnKicker
from coagent.application.chat.replay_messages import ReplayMessages
from coagent.application.limits import LlmCallQuota, Rate
from coagent.application.llm.call_model import CallModel, RetryPolicy
from coagent.application.ports.chat import ChatPublisher, TicketStore
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.events import CourseEvent, EventPublisher
from coagent.application.ports.limits import RateLimiter
from coagent.application.ports.llm import LLMProviders
from coagent.application.ports.security import AttemptLimiter, RevocationList
from coagent.main.settings import Settings

Probe = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Overrides:
    """Fakes for tests, in place of the real adapter of the same port (None: the real one)."""

    llm: LLMProviders | None = None
    clock: Clock | None = None
    ids: IdGenerator | None = None
    # Builds the room hub from its bus and message source (e.g. with a smaller resume window).
    hub: Callable[[RoomBus, MessageSource], RoomHub] | None = None


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


@dataclass(kw_only=True)
class Infrastructure:
    """What every context shares; one per process."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    uow: SqlAlchemyUnitOfWorkFactory
    redis: Redis | None
    # One per process: once Redis fails, every Redis user here degrades at once (ADR 0007).
    circuit: RedisCircuit
    clock: Clock
    ids: IdGenerator
    hasher: Argon2PasswordHasher
    tokens: JwtTokenCodec
    revocations: RevocationList
    attempt_limiter: AttemptLimiter
    rate_limiter: RateLimiter
    secret_box: FernetSecretBox
    endpoints: EndpointGuard
    llm: LLMProviders
    call_model: CallModel
    llm_quota: LlmCallQuota
    # Bound to the broker of this process once it exists (create_app, a worker's start).
    kicker: TaskiqTurnKicker
    job_queue: TaskiqJobQueue

    def readiness(self) -> dict[str, Probe]:
        """Readiness probes: name -> check raising on failure."""
        engine = self.engine

        async def database_ready() -> None:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

        probes: dict[str, Probe] = {"database": database_ready}
        if self.redis is not None:
            client = self.redis

            async def redis_ready() -> None:
                await client.ping()

            probes["redis"] = redis_ready
        return probes


def build_infrastructure(settings: Settings, overrides: Overrides) -> Infrastructure:
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout,
    )
    session_factory = create_session_factory(engine)
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    circuit = RedisCircuit(probe=redis.ping if redis is not None else None)
    revocations, attempt_limiter, rate_limiter = _security_stores(
        settings, redis, session_factory, circuit
    )
    clock: Clock = overrides.clock or SystemClock()
    secret_box = FernetSecretBox(list(settings.encryption_keys))
    endpoints = EndpointGuard(settings.llm_allowed_hosts)
    llm: LLMProviders = overrides.llm or ProviderRegistry(guard=endpoints)
    return Infrastructure(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        uow=SqlAlchemyUnitOfWorkFactory(session_factory),
        redis=redis,
        circuit=circuit,
        clock=clock,
        ids=overrides.ids or Uuid7Generator(),
        hasher=Argon2PasswordHasher(
            memory_cost=settings.password_hash_memory_kib,
            time_cost=settings.password_hash_time_cost,
            max_concurrency=settings.password_hash_concurrency,
        ),
        tokens=JwtTokenCodec(
            secret=settings.secret_key,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            clock=clock,
        ),
        revocations=revocations,
        attempt_limiter=attempt_limiter,
        rate_limiter=rate_limiter,
        secret_box=secret_box,
        endpoints=endpoints,
        llm=llm,
        call_model=CallModel(
            providers=llm,
            secrets=secret_box,
            policy=RetryPolicy(max_retries=settings.llm_max_retries),
        ),
        llm_quota=LlmCallQuota(
            limiter=rate_limiter,
            per_user=Rate(settings.llm_calls_per_user_per_minute, 60),
            per_course=Rate(settings.llm_calls_per_course_per_minute, 60),
        ),
        kicker=TaskiqTurnKicker(),
        job_queue=TaskiqJobQueue(),
    )


def _security_stores(
    settings: Settings,
    redis: Redis | None,
    session_factory: async_sessionmaker[AsyncSession],
    circuit: RedisCircuit,
) -> tuple[RevocationList, AttemptLimiter, RateLimiter]:
    """Revocations and limiters: shared through Redis (falling back to this process's own, or
    to the database, while Redis is down: ADR 0007), or in this process when embedded.
    """
    access_ttl = timedelta(seconds=settings.access_token_ttl)
    record = SqlRevocationRecord(session_factory)
    if redis is not None:
        return (
            RedisRevocationList(redis, record=record, access_ttl=access_ttl, circuit=circuit),
            FallbackAttemptLimiter(
                shared=RedisAttemptLimiter(redis), local=InMemoryAttemptLimiter(), circuit=circuit
            ),
            FallbackRateLimiter(
                shared=RedisRateLimiter(redis), local=InMemoryRateLimiter(), circuit=circuit
            ),
        )
    return (
        InMemoryRevocationList(record=record, access_ttl=access_ttl),
        InMemoryAttemptLimiter(),
        InMemoryRateLimiter(),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Realtime:
    """The room hub and what goes through it: course events, chat tickets, agent output."""

    hub: RoomHub
    events: EventPublisher
    tickets: TicketStore
    # Live agent output (the AgentStream port) over the hub's bus; works without sockets.
    agent_stream: HubAgentStream


def build_realtime(infra: Infrastructure, overrides: Overrides) -> Realtime:
    settings = infra.settings
    source = ReplayMessages(uow=infra.uow)
    make_hub = overrides.hub or _room_hub
    bus: RoomBus
    tickets: TicketStore
    events: EventPublisher
    if infra.redis is not None and settings.redis_url:
        events = RedisEventPublisher(infra.redis, circuit=infra.circuit)
        bus = _redis_bus(infra, infra.redis, settings.redis_url)
        tickets = RedisTicketStore(infra.redis, circuit=infra.circuit)
        hub = make_hub(bus, source)
    else:
        in_process = InProcessEventPublisher()
        bus, tickets, events = InMemoryRoomBus(), InMemoryTicketStore(), in_process
        hub = make_hub(bus, source)
        in_process.subscribe(_deliver_to(hub))
    return Realtime(hub=hub, events=events, tickets=tickets, agent_stream=HubAgentStream(hub=hub))


class RoomPublishing(ChatPublisher, RoomPublisher, Protocol):
    """Messages, events and agent stream pieces to the rooms' sockets (the hub, or a
    publish-only `BusRoomPublisher`).
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class Publishing:
    """What agent turns, proposals and analytics publish through: the hub where this process
    serves sockets, else (a worker, the scheduler) a publish-only adapter on its own bus.
    """

    publisher: RoomPublishing
    agent_stream: HubAgentStream
    # The publish-only adapter's own bus (None: the hub's, closed with the hub).
    bus: RoomBus | None = None

    async def aclose(self) -> None:
        """Close the publish-only adapter and its bus (nothing when they are the hub's)."""
        if self.bus is None:
            return
        await self.agent_stream.aclose()
        if isinstance(self.publisher, BusRoomPublisher):
            await self.publisher.close()
        await self.bus.close()


def hub_publishing(realtime: Realtime) -> Publishing:
    return Publishing(publisher=realtime.hub, agent_stream=realtime.agent_stream)


def build_publishing(infra: Infrastructure) -> Publishing:
    """Publish-only (no hub, no sockets, no subscription): needs Redis, whose subscribers
    (the web processes' hubs) deliver.
    """
    if infra.redis is None or not infra.settings.redis_url:
        raise ValueError("publishing without a room hub needs REDIS_URL")
    bus = _redis_bus(infra, infra.redis, infra.settings.redis_url)
    publisher = BusRoomPublisher(bus=bus)
    return Publishing(publisher=publisher, agent_stream=HubAgentStream(hub=publisher), bus=bus)


def _redis_bus(infra: Infrastructure, redis: Redis, url: str) -> RedisRoomBus:
    # The listener's own client must not retry: its supervisor has to see every disconnect,
    # to re-subscribe and recover what pub/sub dropped meanwhile. It connects only when the
    # bus starts listening (a hub's `start`), never for publishing.
    listener = Redis.from_url(url, socket_connect_timeout=2, health_check_interval=10)
    return RedisRoomBus(listener=listener, publisher=redis, circuit=infra.circuit)


def _room_hub(bus: RoomBus, source: MessageSource) -> RoomHub:
    return RoomHub(bus=bus, source=source)


def _deliver_to(hub: RoomHub) -> Callable[[CourseEvent], Awaitable[None]]:
    async def deliver(event: CourseEvent) -> None:
        hub.deliver_course_event(event)

    return deliver
