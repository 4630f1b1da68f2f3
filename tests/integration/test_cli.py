"""The `coagent` command line, run as the installed entry point."""

import contextlib
import ctypes
import http.client
import importlib.metadata
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from coagent.main import migrations
from coagent.main.cli import cli
from tests.integration.conftest import process_env, sqlite_url
from tests.integration.loopback import free_port, listening, server_end

pytestmark = pytest.mark.integration

COAGENT = str(Path(sys.executable).with_name("coagent"))
PASSWORD = "correct horse battery staple"
PIDFD_GETFD = 438  # the syscall number, the same on every Linux architecture

# Every command and the options its help must mention.
HELP = {
    (): ["run", "worker", "scheduler", "db", "seed", "users", "keys", "--version"],
    ("run",): ["--host", "--port", "--workers", "--migrate", "--reload"],
    ("worker",): ["--workers", "REDIS_URL"],
    ("scheduler",): ["REDIS_URL"],
    ("db",): ["upgrade", "downgrade", "check"],
    ("db", "upgrade"): ["--revision"],
    ("db", "downgrade"): ["--revision"],
    ("db", "check"): ["models and the migrated schema"],
    ("seed",): ["demo"],
    ("seed", "demo"): ["demo course", "once per database", "--reset-passwords"],
    ("keys",): ["rotate"],
    ("keys", "rotate"): ["ENCRYPTION_KEYS", "Safe to run again"],
    ("users",): ["create-admin"],
    ("users", "create-admin"): [
        "--email",
        "--username",
        "--full-name",
        "--role",
        "prompted",
        "COAGENT_ADMIN_PASSWORD",
    ],
}


def coagent(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own entry point
        [COAGENT, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    paths = {prefix}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths |= command_paths(command, (*prefix, name))
        else:
            paths.add((*prefix, name))
    return paths


def test_every_command_has_its_help_checked() -> None:
    assert command_paths(cli) == set(HELP)


@pytest.mark.parametrize("path", sorted(HELP), ids=lambda p: " ".join(p) or "coagent")
def test_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])

    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    for expected in HELP[path]:
        assert expected in result.output


def test_version_names_the_installed_package() -> None:
    result = CliRunner().invoke(cli, ["--version"])

    assert result.exit_code == 0, result.output
    assert result.output == f"coagent {importlib.metadata.version('coagent')}\n"


@pytest.mark.slow
def test_the_installed_entry_point_answers_help() -> None:
    result = coagent("--help", env=process_env())

    assert result.returncode == 0, result.stderr
    assert "CoAgent Studio backend" in result.stdout
    assert "worker" in result.stdout


@pytest.fixture(scope="module")
def unmigrated_check(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, subprocess.CompletedProcess]:
    """`coagent db check` on a fresh SQLite file, run once for the tests that read it."""
    url = sqlite_url(tmp_path_factory.mktemp("cli") / "fresh.db")
    return url, coagent("db", "check", env=process_env(DATABASE_URL=url))


@pytest.mark.slow
def test_db_check_fails_before_upgrade_and_passes_after(
    unmigrated_check: tuple[str, subprocess.CompletedProcess],
) -> None:
    url, before = unmigrated_check
    env = process_env(DATABASE_URL=url)

    upgraded = coagent("db", "upgrade", env=env)
    after = coagent("db", "check", env=env)

    assert before.returncode != 0
    assert "not up to date" in before.stderr
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded to head" in upgraded.stdout
    assert after.returncode == 0, after.stderr
    assert "models and migrations agree" in after.stdout


@pytest.mark.slow
def test_db_check_on_an_unmigrated_database_explains_without_a_traceback(
    unmigrated_check: tuple[str, subprocess.CompletedProcess],
) -> None:
    _, result = unmigrated_check

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "Error:" in result.stderr


@pytest.fixture
def migrated_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "admin.db"
    migrations.upgrade(sqlite_url(path))
    return path


def accounts(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT email, role, password_hash FROM user_account")
        return [tuple(row) for row in rows]


@pytest.mark.slow
def test_create_admin_reads_the_password_from_the_environment(migrated_sqlite: Path) -> None:
    env = process_env(DATABASE_URL=sqlite_url(migrated_sqlite), COAGENT_ADMIN_PASSWORD=PASSWORD)

    created = coagent("users", "create-admin", "--email", "Root@Example.test", env=env)
    duplicate = coagent(
        "users", "create-admin", "--email", "root@example.test", "--role", "admin", env=env
    )

    assert created.returncode == 0, created.stderr
    assert "created super_admin" in created.stdout
    [(email, role, password_hash)] = accounts(migrated_sqlite)
    assert (email, role) == ("root@example.test", "super_admin")
    assert PasswordHasher().verify(password_hash, PASSWORD)

    assert duplicate.returncode != 0
    assert "already exists" in duplicate.stderr
    assert "Traceback" not in duplicate.stderr
    assert len(accounts(migrated_sqlite)) == 1

    for result in (created, duplicate):
        assert PASSWORD not in result.stdout + result.stderr
        assert password_hash not in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", ["worker", "scheduler"])
def test_without_redis_refuses_to_start(tmp_path: Path, command: str) -> None:
    result = coagent(command, env=process_env(DATABASE_URL=sqlite_url(tmp_path / "w.db")))

    assert result.returncode != 0
    assert "REDIS_URL is required" in result.stderr


@pytest.mark.slow
def test_seed_demo_once_and_never_logs_the_passwords(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "demo.db")
    env = process_env(DATABASE_URL=url, DATA_DIR=str(tmp_path / "data"))
    assert coagent("db", "upgrade", env=env).returncode == 0

    first = coagent("seed", "demo", env=env)
    again = coagent("seed", "demo", env=env)

    assert first.returncode == 0, first.stderr
    assert "teacher@demo.coagent" in first.stdout
    credentials = tmp_path / "data" / "demo-credentials.txt"
    assert credentials.stat().st_mode & 0o077 == 0
    passwords = [
        line.rsplit(" ", 1)[1]
        for line in credentials.read_text().splitlines()
        if "password" in line
    ]
    assert len(passwords) == 3
    assert all(password in first.stdout for password in passwords)  # shown to the operator
    assert not any(password in first.stderr for password in passwords)  # never in the log
    assert again.returncode != 0
    assert "already seeded" in again.stderr


@pytest.mark.parametrize(
    ("workers", "shared"),
    [
        ("1", False),
        # SO_REUSEPORT would let `coagent run --workers 2` join the sockets of another server
        # of the same user on that port and take half its connections: refused too.
        ("2", True),
    ],
)
def test_run_on_a_port_in_use_says_so_without_a_traceback(
    tmp_path: Path, pg: str, workers: str, shared: bool
) -> None:
    with socket.socket() as taken:
        if shared:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(  # noqa: S603 - our own entry point
            [COAGENT, "run", "--port", str(port), "--workers", workers, "--no-migrate"],
            env=process_env(DATA_DIR=str(tmp_path / "data"), DATABASE_URL=pg),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def _accepted_socket(server_port: int, client_port: int, pids: list[int]) -> socket.socket:
    """A duplicate of the server's end of one loopback connection, taken from whichever of
    `pids` holds it (pidfd_getfd), to read the options the server really runs with.
    """
    inode = server_end(server_port, client_port)
    assert inode is not None
    for pid in pids:
        for fd, link in _fd_links(pid):
            if link == inode:
                pidfd = os.pidfd_open(pid)
                try:
                    copy = ctypes.CDLL(None, use_errno=True).syscall(PIDFD_GETFD, pidfd, fd, 0)
                finally:
                    os.close(pidfd)
                assert copy >= 0, os.strerror(ctypes.get_errno())
                return socket.socket(fileno=copy)
    raise AssertionError(f"no process of {pids} holds the server's end")


def _fd_links(pid: int) -> list[tuple[int, str]]:
    """(fd, what it links to) for each open file of `pid` ("socket:[inode]" for sockets)."""
    links = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            links.append((int(fd.name), os.readlink(fd)))
    return links


def _process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(child) for child in children)]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_run_serves_tcp_with_nodelay_and_the_stalled_peer_timeout(
    tmp_path: Path, pg: str, redis_url: str, workers: int
) -> None:
    port = free_port()
    env = process_env(
        DATA_DIR=str(tmp_path / "data"),
        STALLED_PEER_TIMEOUT_SECONDS="7",
        SEED_DEMO="false",
        LOG_LEVEL="WARNING",
        **({"DATABASE_URL": pg, "REDIS_URL": redis_url} if workers > 1 else {}),
    )
    server = subprocess.Popen(  # noqa: S603 - our own entry point
        [COAGENT, "run", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = None
        deadline = time.monotonic() + 120
        while client is None:
            assert time.monotonic() < deadline, "the server did not come up"
            try:
                client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                client.request("GET", "/health")
            except OSError:
                client = None
                time.sleep(0.2)
        with contextlib.closing(client):
            client.getresponse().read()
            assert client.sock is not None
            accepted = _accepted_socket(
                port, client.sock.getsockname()[1], _process_tree(server.pid)
            )
        with accepted:
            assert accepted.family == socket.AF_INET
            # Without TCP_NODELAY a response written in two parts waits ~40 ms for an ACK.
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 7000
    finally:
        server.terminate()
        server.wait(30)


def _workers(server: subprocess.Popen[bytes]) -> list[int]:
    """The worker processes of `coagent run --workers N` (not multiprocessing's helpers)."""
    return [
        pid
        for pid in _process_tree(server.pid)[1:]
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def server_up(port: int) -> bool:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        client.request("GET", "/health")
        return client.getresponse().status == 200
    except OSError:
        return False
    finally:
        client.close()


def _connections_per_worker(port: int, pids: list[int], count: int) -> list[int]:
    """Open `count` keep-alive connections at once, get one answer on each, and count the
    ones each of `pids` holds. Every connection must be answered (none left unserved).
    """
    clients = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(count)]
    try:
        for client in clients:
            client.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        for client in clients:
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        ends = {server_end(port, client.getsockname()[1]) for client in clients}
        return [sum(1 for _fd, link in _fd_links(pid) if link in ends) for pid in pids]
    finally:
        for client in clients:
            client.close()


@pytest.mark.slow
def test_workers_share_connections_and_replacements_take_over_their_sockets(
    tmp_path: Path, pg: str, redis_url: str
) -> None:
    port = free_port()
    env = process_env(
        DATA_DIR=str(tmp_path / "data"),
        SEED_DEMO="false",
        LOG_LEVEL="WARNING",
        DATABASE_URL=pg,
        REDIS_URL=redis_url,
    )
    server = subprocess.Popen(  # noqa: S603 - our own entry point
        [COAGENT, "run", "--port", str(port), "--workers", "2", "--no-migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        # Each worker listens on its socket once its app is loaded; until then the kernel
        # sends every connection to the others.
        while len(_workers(server)) < 2 or listening(port) < 2 or not server_up(port):
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        workers = _workers(server)
        # By hash over a socket per worker: 64 at once land 32 +- 4 (outside 16..48 about
        # once in 15,000 runs). One shared socket let the first worker awake take a burst.
        for _ in range(2):
            held = _connections_per_worker(port, workers, 64)
            assert sum(held) == 64
            assert all(16 <= count <= 48 for count in held), held

        os.kill(workers[0], signal.SIGKILL)
        # Connections hashed to the dead worker's socket wait in its backlog until the
        # replacement takes that socket over: all are answered, and the new worker holds some.
        held = _connections_per_worker(port, [workers[1]], 64)
        assert held[0] < 64
        deadline = time.monotonic() + 120
        while len(_workers(server)) < 2:
            assert time.monotonic() < deadline, "the dead worker was not replaced"
            time.sleep(0.2)
        (replacement,) = set(_workers(server)) - {workers[1]}
        held = _connections_per_worker(port, [replacement, workers[1]], 64)
        assert sum(held) == 64
        assert all(16 <= count <= 48 for count in held), held

        # SIGHUP replaces each worker in turn, the new one on its predecessor's socket.
        before = {replacement, workers[1]}
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 120
        while len(_workers(server)) != 2 or set(_workers(server)) & before:
            assert time.monotonic() < deadline, "SIGHUP did not replace both workers"
            time.sleep(0.2)
        held = _connections_per_worker(port, _workers(server), 64)
        assert sum(held) == 64
        assert all(16 <= count <= 48 for count in held), held
    finally:
        server.terminate()
        server.wait(30)


def test_create_admin_takes_no_password_argument_and_prompts_for_one(
    migrated_sqlite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COAGENT_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_url(migrated_sqlite))
    runner = CliRunner()

    refused = runner.invoke(
        cli, ["users", "create-admin", "--email", "a@example.test", "--password", PASSWORD]
    )
    mismatch = runner.invoke(
        cli, ["users", "create-admin", "--email", "a@example.test"], input="one\ntwo\n"
    )

    assert refused.exit_code == 2
    assert "No such option '--password'" in refused.output
    assert mismatch.exit_code != 0
    assert "Password:" in mismatch.output
    assert "do not match" in mismatch.output
    assert accounts(migrated_sqlite) == []


def _passwords(credentials: Path) -> dict[str, str]:
    """E-mail -> password, from a demo credentials file."""
    return {
        line.split()[1]: line.rsplit(" ", 1)[1]
        for line in credentials.read_text().splitlines()
        if " password " in line
    }


@pytest.mark.slow
def test_seed_demo_reset_passwords_writes_new_ones_to_the_file_only(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    env = process_env(DATABASE_URL=sqlite_url(db), DATA_DIR=str(tmp_path / "data"))
    assert coagent("db", "upgrade", env=env).returncode == 0
    assert coagent("seed", "demo", env=env).returncode == 0
    credentials = tmp_path / "data" / "demo-credentials.txt"
    old = _passwords(credentials)
    credentials.unlink()  # lost
    # A file left with wider permissions is narrowed too.
    credentials.write_text("stale\n")
    credentials.chmod(0o644)

    reset = coagent("seed", "demo", "--reset-passwords", env=env)

    assert reset.returncode == 0, reset.stderr
    assert str(credentials) in reset.stdout
    assert credentials.stat().st_mode & 0o777 == 0o600
    new = _passwords(credentials)
    assert (
        sorted(new)
        == sorted(old)
        == sorted(["teacher@demo.coagent", "alice@demo.coagent", "bob@demo.coagent"])
    )
    assert not set(new.values()) & set(old.values())
    hashes = {email: password_hash for email, _, password_hash in accounts(db)}
    for email, password in new.items():
        assert PasswordHasher().verify(hashes[email], password)
        assert password not in reset.stdout + reset.stderr  # neither printed nor logged


def test_seed_demo_reset_passwords_without_a_demo_says_so(
    migrated_sqlite: Path, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": sqlite_url(migrated_sqlite), "DATA_DIR": str(tmp_path / "data")}

    result = CliRunner().invoke(cli, ["seed", "demo", "--reset-passwords"], env=env)

    assert result.exit_code == 1
    assert "no demo account in this database" in result.output
    assert not (tmp_path / "data" / "demo-credentials.txt").exists()


def test_run_refuses_reload_with_several_workers() -> None:
    result = CliRunner().invoke(cli, ["run", "--reload", "--workers", "2"])

    assert result.exit_code == 1
    assert "--reload runs one web process" in result.output


def _server_pids(log: Path) -> list[str]:
    return [
        line.split("[")[1].split("]")[0]
        for line in log.read_text().splitlines()
        if "Started server process" in line
    ]


@pytest.mark.slow
def test_run_reload_restarts_the_server_when_a_source_file_changes(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "log"
    env = process_env(DATA_DIR=str(tmp_path / "data"), SEED_DEMO="false")
    source = Path(migrations.__file__)  # a module of the package the reloader watches
    with log.open("w") as output:
        server = subprocess.Popen(  # noqa: S603 - our own entry point
            [COAGENT, "run", "--reload", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 150
        while not server_up(port):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.3)
        [first] = _server_pids(log)

        os.utime(source)  # "saved" without a change
        while len(_server_pids(log)) < 2 or not server_up(port):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not restart"
            time.sleep(0.3)
        assert "Reloading" in log.read_text()
        assert _server_pids(log)[1] != first
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
    assert server.returncode == 0
