"""`coagent`: the one command-line entry point (web, worker, database, accounts)."""

import asyncio
import contextlib
import logging
import os
import signal
import socket
from pathlib import Path

import click

from coagent.main.settings import Settings, SettingsError, load_settings

# How long a new worker may take to answer uvicorn's health check (see `run`).
WORKER_READY_SECONDS = 30


def _settings() -> Settings:
    from coagent.main.logging import configure_logging  # noqa: PLC0415 - keep --help fast

    # Configure from the raw environment first, so warnings while loading are JSON too.
    configure_logging(os.environ.get("LOG_LEVEL", "INFO").upper(), json_output=True)
    try:
        return load_settings()
    except SettingsError as error:
        raise click.ClickException(str(error)) from error


def _configure(settings: Settings) -> None:
    from coagent.main.logging import configure_logging  # noqa: PLC0415 - keep --help fast

    configure_logging(settings.log_level, json_output=settings.log_json)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="coagent", prog_name="coagent", message="%(prog)s %(version)s")
def cli() -> None:
    """CoAgent Studio backend."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--workers", default=1, show_default=True, type=int, help="Web processes.")
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help="Apply migrations first (default: only for the embedded SQLite database).",
)
@click.option(
    "--reload",
    is_flag=True,
    help="Development: restart the server when a source file changes (one web process).",
)
def run(host: str, port: int, workers: int, migrate: bool | None, reload: bool) -> None:
    """Run the web server (HTTP and WebSocket API)."""
    if reload and workers > 1:
        raise click.ClickException(
            "--reload runs one web process; leave out --workers (or use --workers 1)"
        )
    settings = _settings()
    _configure(settings)
    if migrate or (migrate is None and settings.embedded):
        from coagent.main import migrations  # noqa: PLC0415

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrations.upgrade(settings.database_url)
    if workers > 1 and settings.embedded:
        raise click.ClickException(
            "The embedded SQLite mode runs one web process; set DATABASE_URL"
        )
    import uvicorn  # noqa: PLC0415
    from uvicorn.config import STARTUP_FAILURE  # noqa: PLC0415

    from coagent.main.workers import SocketPerWorker, metrics_directory  # noqa: PLC0415

    listeners = _listeners(host, port, workers, settings.stalled_peer_timeout_seconds)
    bound_host, bound_port = listeners[0].getsockname()[:2]
    address = f"[{bound_host}]" if ":" in bound_host else bound_host
    logging.getLogger("coagent.server").info(
        "listening on http://%s:%d (%d web process%s)",
        address,
        bound_port,
        workers,
        "" if workers == 1 else "es",
        extra={"host": bound_host, "port": bound_port, "workers": workers},
    )
    config = uvicorn.Config(
        "coagent.main.asgi:create_app",
        factory=True,
        host=host,  # only for uvicorn's "running on" line: it serves on `listeners`
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        # The app reads proxy headers itself, from FORWARDED_ALLOW_IPS only (adapters/http/
        # proxy.py): uvicorn's version hides whether the peer was a proxy at all.
        proxy_headers=False,
        server_header=False,
        # Frames between 64 KiB and 1 MiB get an `error` event from the chat handler; larger
        # ones are refused by the server outright (close 1009) before we buffer them.
        ws_max_size=1024 * 1024,
        ws_per_message_deflate=False,  # ~50 KiB per socket otherwise (goal P5: 40 KiB)
        # A new worker takes ~5 s to import and start the app on a 2-core box: uvicorn's 5 s
        # default made a SIGHUP restart give up ("not ready in time") about half the time.
        timeout_worker_healthcheck=WORKER_READY_SECONDS,
        reload=reload,
        # The package's own sources (an editable install: the work tree's src/coagent).
        reload_dirs=[str(Path(__file__).resolve().parents[1])] if reload else None,
    )
    # The socket object, not its fd: uvicorn reopens an `fd=` as a Unix socket, and the event
    # loop then skips TCP_NODELAY on accepted connections (40 ms per response, Nagle meeting
    # delayed ACKs).
    try:
        if reload:
            from uvicorn.supervisors import ChangeReload  # noqa: PLC0415

            ChangeReload(config, target=uvicorn.Server(config).run, sockets=listeners).run()
        elif workers > 1:
            with metrics_directory():
                SocketPerWorker(config, listeners).run()
        else:
            server = uvicorn.Server(config)
            server.run(sockets=listeners)
            if not server.started:
                raise SystemExit(STARTUP_FAILURE)
    except KeyboardInterrupt:
        # uvicorn re-raises the SIGINT it captured once it has shut down gracefully; Click
        # would print "Aborted!" and end with 1. Ended by Ctrl-C is 130 (128 + SIGINT), which
        # scripts/run.sh reports as a clean stop.
        raise SystemExit(128 + signal.SIGINT) from None


def _listeners(host: str, port: int, count: int, stalled_peer_timeout: int) -> list[socket.socket]:
    if count == 1:
        return [_listen(host, port, stalled_peer_timeout, reuse_port=False)]
    # With SO_REUSEPORT we could also join the sockets of another server of the same user on
    # this port and split its traffic unnoticed: first take the port alone, as a check.
    with _listen(host, port, stalled_peer_timeout, reuse_port=False) as alone:
        port = alone.getsockname()[1]  # the same port for every worker, also when asked for 0
    return [_listen(host, port, stalled_peer_timeout, reuse_port=True) for _ in range(count)]


def _listen(host: str, port: int, stalled_peer_timeout: int, *, reuse_port: bool) -> socket.socket:
    """A listening socket, made here for options uvicorn does not set. TCP_USER_TIMEOUT,
    which accepted connections inherit: a peer that acknowledges nothing for that long (a
    client that stopped reading: its window stays shut) is cut off by the kernel. Without it
    such a connection stays open for good, its send buffer full (megabytes): uvicorn's close
    waits for the buffer to drain, and so does a WebSocket close frame. SO_REUSEPORT, for a
    socket per worker (see workers.py).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT"):  # Linux
        listener.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, stalled_peer_timeout * 1000
        )
    try:
        listener.bind((host, port))
    except OSError as error:
        raise click.ClickException(f"Cannot listen on {host}:{port}: {error}") from error
    listener.set_inheritable(True)
    return listener


@cli.command()
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes.")
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve GET /metrics (task runs, LLM calls) on this port (METRICS_TOKEN as for the web).",
)
@click.option(
    "--metrics-host", default="127.0.0.1", show_default=True, help="Interface for --metrics-port."
)
def worker(workers: int, metrics_port: int | None, metrics_host: str) -> None:
    """Run a task worker (needs REDIS_URL; the embedded mode runs tasks in the web process).

    Ends within 10 s of SIGTERM or SIGINT (see coagent.main.stopping): 0, or 1 when a worker
    process had to be killed or to force its own exit.
    """
    from coagent.main import stopping  # noqa: PLC0415

    stopping.exit_while_starting()
    settings = _settings()
    if not settings.redis_url:
        raise click.ClickException("REDIS_URL is required to run a separate worker")
    from taskiq.cli.worker.args import WorkerArgs  # noqa: PLC0415
    from taskiq.cli.worker.run import run_worker  # noqa: PLC0415

    from coagent.main.workers import metrics_directory  # noqa: PLC0415

    with contextlib.ExitStack() as stack:
        if metrics_port is not None:
            # Before prometheus_client is first imported: every worker process writes its
            # values in the directory, and this one serves their sum.
            stack.enter_context(metrics_directory())
            from coagent.adapters.observability.metrics import serve  # noqa: PLC0415

            try:
                server = serve(metrics_host, metrics_port, settings.metrics_token)
            except OSError as error:
                raise click.ClickException(
                    f"Cannot serve metrics on {metrics_host}:{metrics_port}: {error}"
                ) from error
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
        # Imported once here, so the worker processes fork with it and start in a second.
        import coagent.main.container  # noqa: F401, PLC0415

        status = run_worker(
            WorkerArgs(
                broker="coagent.main.broker:create_worker_broker",
                modules=[],
                workers=workers,
                configure_logging=False,
                max_async_tasks=settings.worker_max_tasks,
                wait_tasks_timeout=stopping.TASK_GRACE_SECONDS,
                shutdown_timeout=stopping.SHUTDOWN_SECONDS,
            )
        )
    reaped = stopping.reap_workers()
    stopping.leave(1 if status else reaped)


@cli.command()
def scheduler() -> None:
    """Run the scheduler: periodic tasks and the agents' tick (run exactly one; needs REDIS_URL).

    Ends within 10 s of SIGTERM or SIGINT: 0, or 1 when it failed or did not stop in time.
    """
    from coagent.main import stopping  # noqa: PLC0415

    stopping.exit_while_starting()
    settings = _settings()
    if not settings.redis_url:
        raise click.ClickException(
            "REDIS_URL is required; the embedded mode schedules in the web process"
        )
    from taskiq.cli.scheduler.args import SchedulerArgs  # noqa: PLC0415
    from taskiq.cli.scheduler.run import run_scheduler  # noqa: PLC0415

    from coagent.main.agents_runtime import with_agent_ticks  # noqa: PLC0415
    from coagent.main.broker import create_scheduler  # noqa: PLC0415

    async def main() -> None:
        periodic = create_scheduler(settings)
        await with_agent_ticks(
            settings,
            periodic.broker,
            run_scheduler(SchedulerArgs(scheduler=periodic, modules=[], configure_logging=False)),
        )

    stopping.leave(stopping.run_until_signalled(main))


@cli.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command()
@click.option("--revision", default="head", show_default=True)
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from coagent.main import migrations  # noqa: PLC0415

    settings = _settings()
    if settings.embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.database_url, revision)
    click.echo(f"database upgraded to {revision}")


@db.command()
@click.option("--revision", default="-1", show_default=True)
def downgrade(revision: str) -> None:
    """Revert migrations down to REVISION."""
    from coagent.main import migrations  # noqa: PLC0415

    migrations.downgrade(_settings().database_url, revision)
    click.echo(f"database downgraded to {revision}")


@db.command()
def check() -> None:
    """Fail when the models and the migrated schema disagree."""
    from alembic.util.exc import AutogenerateDiffsDetected, CommandError  # noqa: PLC0415

    from coagent.main import migrations  # noqa: PLC0415

    try:
        migrations.check(_settings().database_url)
    except AutogenerateDiffsDetected as error:
        raise click.ClickException(f"models and migrations disagree: {error}") from error
    except CommandError as error:  # e.g. "Target database is not up to date."
        raise click.ClickException(f"cannot check: {error}; run `coagent db upgrade`") from error
    click.echo("models and migrations agree")


@cli.group()
def seed() -> None:
    """Sample data."""


@seed.command("demo")
@click.option(
    "--reset-passwords",
    is_flag=True,
    help="Give the demo accounts new passwords (when the credentials file is lost); they are "
    "written to the credentials file only, never printed.",
)
def seed_demo(reset_passwords: bool) -> None:
    """Create the demo course, room, teacher and two students (once per database)."""
    from coagent.main.container import build_container  # noqa: PLC0415
    from coagent.main.demo import credentials_text, keep_credentials  # noqa: PLC0415

    settings = _settings()
    if reset_passwords:
        _reset_demo_passwords(settings)
        return

    async def run_seed() -> object:
        container = build_container(settings)
        try:
            return await container.seed_demo.execute()
        finally:
            await container.aclose()

    seeded = asyncio.run(run_seed())
    if seeded is None:
        raise click.ClickException("the demo was already seeded in this database")
    path = keep_credentials(settings.data_dir, seeded)  # type: ignore[arg-type]
    click.echo(credentials_text(seeded))  # type: ignore[arg-type]
    click.echo(f"(also written to {path})")


def _reset_demo_passwords(settings: Settings) -> None:
    from coagent.adapters.system import SystemClock  # noqa: PLC0415
    from coagent.application.demo.reset_demo_passwords import ResetDemoPasswords  # noqa: PLC0415
    from coagent.application.demo.seed_demo import DemoAccount  # noqa: PLC0415
    from coagent.main.container import build_container  # noqa: PLC0415
    from coagent.main.demo import reset_credentials_text, write_credentials  # noqa: PLC0415

    async def reset() -> tuple[DemoAccount, ...]:
        container = build_container(settings)
        try:
            use_case = ResetDemoPasswords(
                uow=container.uow, hasher=container.hasher, clock=SystemClock()
            )
            return await use_case.execute()
        finally:
            await container.aclose()

    accounts = asyncio.run(reset())
    if not accounts:
        raise click.ClickException("no demo account in this database; run `coagent seed demo`")
    path = write_credentials(settings.data_dir, reset_credentials_text(accounts))
    click.echo(
        f"new passwords for {len(accounts)} demo account(s) written to {path} "
        "(readable by you only); sessions of these accounts were ended"
    )


@cli.group()
def keys() -> None:
    """Provider keys stored encrypted (ENCRYPTION_KEYS)."""


@keys.command("rotate")
def rotate_keys() -> None:
    """Re-encrypt every stored provider key under the first of ENCRYPTION_KEYS.

    Put the new server key first and keep the old ones after it; once this reports every key
    rotated, the old server keys can be removed. Safe to run again.
    """
    from coagent.main.container import build_container  # noqa: PLC0415

    settings = _settings()

    async def rotate() -> tuple[int, int]:
        container = build_container(settings)
        try:
            report = await container.rotate_keys.execute()
            return report.rotated, report.undecryptable
        finally:
            await container.aclose()

    rotated, undecryptable = asyncio.run(rotate())
    click.echo(f"rotated {rotated} provider key(s) to the newest encryption key")
    if undecryptable:
        raise click.ClickException(
            f"{undecryptable} key(s) cannot be decrypted with ENCRYPTION_KEYS; left unchanged"
        )


@cli.group()
def users() -> None:
    """Accounts."""


@users.command("create-admin")
@click.option("--email", required=True)
@click.option("--username", default=None)
@click.option("--full-name", default=None)
@click.option(
    "--role", type=click.Choice(["super_admin", "admin"]), default="super_admin", show_default=True
)
def create_admin(email: str, username: str | None, full_name: str | None, role: str) -> None:
    """Create an admin or super admin account.

    The password is prompted for, or read from COAGENT_ADMIN_PASSWORD; never an argument
    (a command line is visible to every user of the machine and kept in shell histories).
    """
    password = os.environ.get("COAGENT_ADMIN_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    from coagent.application.accounts.create_admin import CreateAdminCommand  # noqa: PLC0415
    from coagent.domain.accounts.roles import Role  # noqa: PLC0415
    from coagent.domain.errors import CoagentError  # noqa: PLC0415
    from coagent.main.container import build_container  # noqa: PLC0415

    settings = _settings()

    async def create() -> str:
        container = build_container(settings)
        try:
            user = await container.create_admin.execute(
                CreateAdminCommand(
                    email=email,
                    username=username,
                    full_name=full_name,
                    password=password,
                    role=Role(role),
                )
            )
            return str(user.id)
        finally:
            await container.aclose()

    try:
        user_id = asyncio.run(create())
    except CoagentError as error:
        raise click.ClickException(error.detail) from error
    click.echo(f"created {role} {email} ({user_id})")
