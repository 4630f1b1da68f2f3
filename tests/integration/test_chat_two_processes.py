"""Two web processes sharing PostgreSQL and a private Redis server, over real sockets.

A message sent through one process reaches a client of the other; after Redis restarts
under open sockets, delivery resumes by itself and clients are told to `resync`.
"""

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from coagent.application.accounts.create_user import NewAccount
from coagent.domain.accounts.roles import Role
from coagent.main.container import build_container
from tests.conftest import TEST_FERNET, TEST_SECRET, make_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PASSWORD = "two processes, one room"
COAGENT = str(Path(sys.executable).with_name("coagent"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(check: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come up within {timeout} s")


class RedisServer:
    def __init__(self, port: int, workdir: Path) -> None:
        self.port, self.workdir = port, workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed local binary
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--bind",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(
            lambda: socket.create_connection(("127.0.0.1", self.port), 0.2).close() or True,
            "redis-server",
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(_free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def web(pg: str, redis_server: RedisServer, tmp_path: Path) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "DATABASE_URL": pg,
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "SECRET_KEY": TEST_SECRET,
        "ENCRYPTION_KEYS": TEST_FERNET,
        "DATA_DIR": str(tmp_path / "data"),
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "WARNING",
        "PASSWORD_HASH_MEMORY_KIB": "64",
        "PASSWORD_HASH_TIME_COST": "1",
        "SEED_DEMO": "false",
    }
    ports = [_free_port(), _free_port()]
    processes = [
        subprocess.Popen(  # noqa: S603 - our own entry point
            [COAGENT, "run", "--port", str(port), "--no-migrate"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base in bases:
            _wait_for(lambda b=base: httpx.get(f"{b}/health").status_code == 200, base, timeout=120)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _seed(pg: str, tmp_path: Path) -> dict[str, str]:
    """A teacher with a course and room, and a student in it; returns their ids."""

    async def seed() -> dict[str, str]:
        container = build_container(make_settings(tmp_path, DATABASE_URL=pg))
        try:
            async with container.uow() as uow:
                teacher = await container.accounts.add(
                    uow,
                    NewAccount(
                        email="t@two.test",
                        username=None,
                        password=PASSWORD,
                        role=Role.TEACHER,
                        full_name="Teacher",
                        is_active=True,
                    ),
                    actor_id=None,
                    via="test",
                )
                student = await container.accounts.add(
                    uow,
                    NewAccount(
                        email="s@two.test",
                        username=None,
                        password=PASSWORD,
                        role=Role.STUDENT,
                        full_name="Student",
                        is_active=True,
                    ),
                    actor_id=None,
                    via="test",
                )
                await uow.commit()
            return {"teacher": str(teacher.id), "student": str(student.id)}
        finally:
            await container.aclose()

    return asyncio.run(seed())


def _token(base: str, email: str) -> str:
    response = httpx.post(
        f"{base}/api/v1/login/access-token", data={"username": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def room(web: list[str], pg: str, tmp_path: Path) -> dict[str, Any]:
    ids = _seed(pg, tmp_path)
    teacher, student = _token(web[0], "t@two.test"), _token(web[1], "s@two.test")
    auth = {"Authorization": f"Bearer {teacher}"}
    course = httpx.post(f"{web[0]}/api/v1/courses/", json={"title": "Two"}, headers=auth).json()
    enrolled = httpx.post(
        f"{web[0]}/api/v1/courses/{course['id']}/enroll",
        json={"user_id": ids["student"], "role": "student"},
        headers=auth,
    )
    assert enrolled.status_code == 200, enrolled.text
    created = httpx.post(
        f"{web[0]}/api/v1/rooms/", json={"name": "R", "course_id": course["id"]}, headers=auth
    )
    return {"id": created.json()["id"], "teacher": teacher, "student": student}


async def _next(ws: Any, kind: str, timeout: float = 10) -> dict[str, Any]:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        async with asyncio.timeout(max(left, 0.01)):
            event = json.loads(await ws.recv())
        if event["type"] == kind:
            return dict(event)


def _ws(base: str, room_id: str, token: str) -> Any:
    return websockets.connect(
        base.replace("http", "ws") + f"/api/v1/chat/ws/{room_id}",
        additional_headers={"Authorization": f"Bearer {token}"},
        subprotocols=[websockets.Subprotocol("coagent.v1")],
    )


def _send(base: str, room: dict[str, Any], content: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/chat/messages/{room['id']}",
        json={"content": content},
        headers={"Authorization": f"Bearer {room['teacher']}"},
        timeout=10,
    )


def test_a_message_sent_through_one_process_reaches_a_client_of_the_other(web, room) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with _ws(web[1], room["id"], room["student"]) as ws:
            for number in range(5):
                assert _send(web[0], room, f"m{number}").status_code == 201
            return [await _next(ws, "message") for _ in range(5)]

    received = asyncio.run(scenario())
    assert [e["seq"] for e in received] == [1, 2, 3, 4, 5]
    assert [e["content"] for e in received] == [f"m{n}" for n in range(5)]


def test_delivery_resumes_after_a_redis_restart_and_clients_get_resync(
    web, room, redis_server: RedisServer
) -> None:
    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with _ws(web[1], room["id"], room["student"]) as ws:
            assert _send(web[0], room, "before").status_code == 201
            assert (await _next(ws, "message"))["content"] == "before"
            redis_server.stop()
            await asyncio.sleep(1)
            redis_server.start()
            resync = await _next(ws, "resync", timeout=15)
            sent: list[dict[str, Any]] = []
            deadline = time.monotonic() + 15
            while not sent and time.monotonic() < deadline:
                # The sending process may need a moment to reconnect as well.
                with contextlib.suppress(httpx.HTTPError):
                    if _send(web[0], room, "after").status_code == 201:
                        sent.append(await _next(ws, "message"))
                await asyncio.sleep(0.2)
            return resync, sent

    resync, after = asyncio.run(scenario())
    assert resync["last_seq"] == 1
    assert [e["content"] for e in after] == ["after"]
    assert after[0]["seq"] == 2
