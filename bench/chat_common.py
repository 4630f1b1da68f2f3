"""Shared setup for the chat benchmarks (chat_history, chat_send, chat_fanout, chat_idle).

Not a benchmark itself. Reuses `http_load.py`'s server runner, database and Redis helpers and
machine block, and adds what the chat benches need: a fresh database seeded by SQL (one
argon2id hash made by `coagent users create-admin`, copied to every seeded student), a course,
rooms, logins, and /proc readings for server processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_load import (
    Server,
    _clear_redis,
    _coagent,
    _command,
    _machine,
    _machine_busy,
    _recreate_database,
    _redis_version,
    _server_version,
)

__all__ = ["Seeded", "Server", "add_common_args", "bench_env", "login", "machine_block"]

PASSWORD = "bench-" + secrets.token_urlsafe(12)
ADMIN_EMAIL = "chat-bench-admin@example.com"


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pg-admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="coagent_bench_chat", help="recreated, then dropped")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")


@dataclass
class Seeded:
    dsn: str  # plain asyncpg DSN of the bench database
    env: dict[str, str]  # the server's environment
    workdir: Path
    course_id: str = ""
    rooms: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn, timeout=10)


def _server_env(args: argparse.Namespace, workdir: Path, chat: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PASSWORD_HASH_", "LOGIN_", "SUPER_ADMIN", "ACCESS_", "LOG_", "CHAT_"))
        and k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ENCRYPTION_KEYS"}
        and not k.startswith("DB_POOL_")  # DB_POOL_SIZE, DB_POOL_TIMEOUT
    }
    env.update(
        DATA_DIR=str(workdir / "data"),
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        SECRET_KEY=secrets.token_urlsafe(48),
        ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        LOGIN_FAILURES_PER_ADDRESS="1000000",
        LOGIN_FAILURES_PER_ACCOUNT="1000000",
        ACCESS_LOG="false",
        LOG_LEVEL="INFO",  # http_load.Server waits for uvicorn's startup line
        LOG_JSON="true",
        # Benches measure throughput, not the abuse limits: raise them.
        CHAT_MESSAGES_PER_WINDOW="1000000",
        CHAT_WINDOW_SECONDS="1",
        CHAT_MAX_CONNECTIONS_PER_USER="1000000",
        **chat,
    )
    return env


@contextlib.contextmanager
def bench_env(
    args: argparse.Namespace,
    *,
    users: int,
    rooms: int,
    chat: dict[str, str] | None = None,
    coagent: str | None = None,
) -> Iterator[Seeded]:
    """A fresh database with `users` students of one course and `rooms` rooms, migrated by
    `coagent` (another checkout's command; by default this one's)."""
    command = coagent or _coagent()
    base = args.pg_admin_dsn.rsplit("/", 1)[0]
    args.database_url = f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{args.database}"
    with tempfile.TemporaryDirectory(prefix="coagent-chat-bench-") as tmp:
        workdir = Path(tmp)
        asyncio.run(_recreate_database(args.pg_admin_dsn, args.database))
        _clear_redis(args.redis_url)
        env = _server_env(args, workdir, chat or {})
        seeded = Seeded(dsn=f"{base}/{args.database}", env=env, workdir=workdir)
        try:
            _command([command, "db", "upgrade"], env)
            _command(
                [command, "users", "create-admin", "--email", ADMIN_EMAIL],
                {**env, "COAGENT_ADMIN_PASSWORD": PASSWORD},
            )
            asyncio.run(_seed(seeded, users, rooms))
            yield seeded
        finally:
            _clear_redis(args.redis_url)
            if not args.keep_database:
                asyncio.run(_recreate_database(args.pg_admin_dsn, args.database, drop_only=True))


async def _seed(seeded: Seeded, users: int, rooms: int) -> None:
    db = await seeded.connect()
    try:
        async with db.transaction():
            await db.execute(
                """INSERT INTO user_account (id, email, username, full_name, role, is_active,
                       password_hash, created_at, updated_at)
                   SELECT gen_random_uuid(), 'student' || i || '@example.com', 'student' || i,
                          'Student ' || i, 'student', true,
                          (SELECT password_hash FROM user_account WHERE email = $1), now(), now()
                   FROM generate_series(1, $2) AS i""",
                ADMIN_EMAIL,
                users,
            )
            seeded.course_id = str(
                await db.fetchval(
                    """INSERT INTO course (id, title, owner_id, created_at, updated_at)
                       SELECT gen_random_uuid(), 'Bench course', id, now(), now()
                       FROM user_account WHERE email = $1 RETURNING id""",
                    ADMIN_EMAIL,
                )
            )
            await db.execute(
                """INSERT INTO course_membership (id, course_id, user_id, role, created_at,
                       updated_at)
                   SELECT gen_random_uuid(), $1::uuid, id, 'student', now(), now()
                   FROM user_account WHERE role = 'student'""",
                seeded.course_id,
            )
            rows = await db.fetch(
                """INSERT INTO room (id, course_id, name, ai_mode, ai_frequency, is_ai_active,
                       is_analytics_active, created_at, updated_at, last_seq)
                   SELECT gen_random_uuid(), $1::uuid, 'room ' || i, 'off', 0, false, false,
                          now(), now(), 0
                   FROM generate_series(1, $2) AS i RETURNING id""",
                seeded.course_id,
                rooms,
            )
            seeded.rooms = [str(r["id"]) for r in rows]
        seeded.emails = [f"student{i}@example.com" for i in range(1, users + 1)]
    finally:
        await db.close()


def login(base_url: str, email: str) -> str:
    body = urllib.parse.urlencode({"username": email, "password": PASSWORD}).encode()
    request = urllib.request.Request(  # noqa: S310 - our own loopback server
        base_url + "/api/v1/login/access-token",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
        return str(json.loads(answer.read())["access_token"])


def machine_block(args: argparse.Namespace) -> dict[str, str]:
    info = _machine()
    for package in ("websockets", "aiohttp", "sqlalchemy"):
        with contextlib.suppress(Exception):
            import importlib.metadata  # noqa: PLC0415

            info[package] = importlib.metadata.version(package)
    info["postgres"] = asyncio.run(_server_version(args.pg_admin_dsn))
    info["redis-server"] = _redis_version(args.redis_url)
    info["load average"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    info["busy before"] = f"{_machine_busy():.2f} cores busy in the second before the bench"
    return info


def print_machine(info: dict[str, str]) -> None:
    print("Machine and versions:")
    for key, value in info.items():
        print(f"  {key:<13} {value}")


# --- /proc readings for the server processes -------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def group_pids(pgid: int) -> list[int]:
    """Every live process in process group `pgid` (uvicorn's supervisor and its workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                raw = (entry / "stat").read_text()
                if int(raw[raw.rindex(")") + 2 :].split()[2]) == pgid:
                    found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def raise_nofile(want: int) -> int:
    import resource  # noqa: PLC0415

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, want), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target
