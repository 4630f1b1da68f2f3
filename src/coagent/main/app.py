"""create_app: the web application, its container and (embedded) broker in one lifespan."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from uuid import UUID

from litestar import Litestar
from taskiq import AsyncBroker, InMemoryBroker

from coagent.adapters.http.app import build_app
from coagent.adapters.worker.tasks import PURGE_EXPIRED_SESSIONS, RECLAIM_ANALYTICS_JOBS
from coagent.application.accounts.bootstrap_super_admin import BootstrapSuperAdminCommand
from coagent.application.chat.join_room import JoinRoom, JoinRoomCommand
from coagent.domain.errors import CoagentError, NotAuthenticated, NotFound
from coagent.main.broker import create_broker
from coagent.main.compose.infra import Overrides
from coagent.main.container import Container, build_container, http_config
from coagent.main.demo import keep_credentials
from coagent.main.settings import Settings, load_settings

logger = logging.getLogger("coagent")


async def bootstrap(container: Container) -> None:
    """First-start steps; safe to run in every process at once."""
    settings = container.settings
    if settings.seed_demo:
        try:
            seeded = await container.seed_demo.execute()
        except CoagentError as error:  # e.g. a demo address already taken: start anyway
            logger.error("demo course not seeded", extra={"reason": error.detail})
        else:
            if seeded is not None:
                keep_credentials(settings.data_dir, seeded)
    if settings.super_admin and settings.super_admin_password:
        try:
            created = await container.bootstrap_super_admin.execute(
                BootstrapSuperAdminCommand(
                    login=settings.super_admin, password=settings.super_admin_password
                )
            )
        except CoagentError as error:
            # E.g. the address belongs to an ordinary account: never take it over, never
            # refuse to start; say so and let an operator use `coagent users create-admin`.
            logger.error("first super admin not created", extra={"reason": error.detail})
            return
        if created is not None:
            logger.warning("created the first super admin", extra={"user_id": str(created.id)})


def create_app(settings: Settings | None = None, overrides: Overrides | None = None) -> Litestar:
    """The web app; `overrides` puts fakes in place of real adapters (tests)."""
    settings = settings or load_settings()
    container = build_container(settings, overrides)
    broker = create_broker(settings)
    container.agents_runtime.bind(broker)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await bootstrap(container)
        await start_broker(broker, container)
        container.hub.start()
        sweeper = asyncio.create_task(
            _close_revoked_sockets(
                container, access_every=max(1, settings.chat_access_recheck_seconds // 2)
            )
        )
        # Embedded mode has no scheduler process: this one process does its housekeeping.
        housekeeping = (
            None if settings.redis_url else asyncio.create_task(_embedded_housekeeping(broker))
        )
        # ... and the agents' scheduler tick (time triggers, recovery).
        agent_ticks = (
            None
            if settings.redis_url
            else asyncio.create_task(container.agents_runtime.run_ticks())
        )
        try:
            yield
        finally:
            sweeper.cancel()
            with suppress(asyncio.CancelledError):
                await sweeper
            for task in (housekeeping, agent_ticks):
                if task is not None:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task
            await container.agents_runtime.kicker.drain()  # before the broker goes
            await _finish_in_process_tasks(broker)
            try:
                await asyncio.wait_for(broker.shutdown(), 10)
            except Exception:  # noqa: BLE001 - still close the rest
                logger.warning("task broker did not shut down cleanly")
            await container.aclose()

    app = build_app(
        services=container.http_services(),
        authenticate=container.authenticate,
        config=http_config(settings),
        lifespan=[lifespan],
    )
    app.state.container = container
    app.state.broker = broker
    return app


async def _finish_in_process_tasks(broker: AsyncBroker, grace: float = 5.0) -> None:
    """Embedded: tasks (agent turns) run in this process; let them end before the database
    closes under them, and cancel what is still running after `grace` (a turn's lease then
    expires and the next start's tick takes it up again).
    """
    if not isinstance(broker, InMemoryBroker):
        return
    try:
        await asyncio.wait_for(broker.wait_all(), grace)
    except TimeoutError:
        # taskiq keeps its running tasks private; wait_all has no cancel of its own.
        running = list(getattr(broker, "_running_tasks", ()))
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def _embedded_housekeeping(broker: AsyncBroker, every: float = 900.0) -> None:
    # Analytics jobs this process was running when it stopped restart now (their lease has
    # expired or will: the next request for the course, or the next round, queues them).
    reclaim = broker.find_task(RECLAIM_ANALYTICS_JOBS)
    if reclaim is not None:
        await reclaim.kiq()
    while True:
        await asyncio.sleep(every)
        task = broker.find_task(PURGE_EXPIRED_SESSIONS)
        if task is not None:
            await task.kiq()


def socket_access(join: JoinRoom) -> Callable[[UUID, UUID], Awaitable[bool | None]]:
    """The hub's access re-check: None when the user may no longer read the room, else
    whether they are course staff (whose sockets receive agent traces).
    """

    async def access(user_id: UUID, room_id: UUID) -> bool | None:
        try:
            granted = await join.execute(JoinRoomCommand(actor_id=user_id, room_id=room_id))
        except (NotFound, NotAuthenticated):
            return None
        return granted.is_staff

    return access


async def _close_revoked_sockets(
    container: Container, every: float = 2.0, access_every: int = 15
) -> None:
    """Sockets outlive the checks made when they opened: close those whose session was revoked
    since (logout, password change, deactivation) every `every` seconds; those whose user lost
    access to the room (removed, unassigned) every `access_every` rounds. The revocation list
    answers from memory for a second; the access check is one short unit of work per
    (user, room) pair.
    """
    access = socket_access(container.chat.join)
    rounds = 0
    while True:
        await asyncio.sleep(every)
        rounds += 1
        try:
            await container.hub.drop_revoked(container.revocations.is_revoked)
            if rounds % access_every == 0:
                await container.hub.drop_unauthorized(access)
        except Exception:  # noqa: BLE001 - Redis or the database may be down; next round
            logger.warning("socket access sweep failed")


async def start_broker(broker: AsyncBroker, container: Container) -> None:
    # The embedded in-process broker runs tasks here, so it needs the services too.
    container.job_queue.bind(broker)
    broker.state.container = container
    broker.state.services = container.worker
    try:
        await broker.startup()
    except Exception as error:  # noqa: BLE001 - Redis may be down; /ready reports it
        logger.warning(
            "task broker not reachable at start; kicking tasks will retry",
            extra={"error": type(error).__name__},
        )
