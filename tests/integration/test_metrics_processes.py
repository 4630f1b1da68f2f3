"""/metrics of `coagent run --workers 2` and `coagent worker --metrics-port`: the values of
every process summed, from the multiprocess directory the command sets up and removes.
"""

import asyncio
import http.client
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from coagent.adapters.worker.tasks import PURGE_EXPIRED_SESSIONS
from coagent.main.broker import create_broker
from tests.conftest import make_settings
from tests.integration.conftest import process_env
from tests.integration.loopback import free_port, listening

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COAGENT = str(Path(sys.executable).with_name("coagent"))
TOKEN = "worker-metrics-token-0123456789"


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One request on a new connection (so SO_REUSEPORT spreads them over the workers)."""
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        client.request("GET", path, headers=headers or {})
        response = client.getresponse()
        return response.status, response.read().decode()
    finally:
        client.close()


def value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found += [int(child), *children(int(child))]
    return found


def multiproc_dir(pid: int) -> str | None:
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
            return entry.split(b"=", 1)[1].decode()
    return None


@contextmanager
def started(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(  # noqa: S603 - our own entry point
        [COAGENT, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(30)


def until(process: subprocess.Popen[bytes], check, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert process.poll() is None, f"{what}: the process exited {process.returncode}"
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_two_web_workers_serve_the_sum_of_both(tmp_path, pg, redis_url):
    port = free_port()
    env = process_env(
        DATA_DIR=str(tmp_path / "data"),
        SEED_DEMO="false",
        LOG_LEVEL="WARNING",
        DATABASE_URL=pg,
        REDIS_URL=redis_url,
    )
    with started(["run", "--port", str(port), "--workers", "2", "--no-migrate"], env) as server:

        def up() -> bool:
            try:
                return listening(port) >= 2 and get(port, "/health")[0] == 200
            except OSError:
                return False

        until(server, up, "the server did not come up")
        workers = [pid for pid in children(server.pid) if multiproc_dir(pid)]
        directory = multiproc_dir(server.pid) or multiproc_dir(workers[0])
        assert directory is not None
        assert Path(directory).is_dir()

        # No token configured: loopback callers may read it.
        status, before = get(port, "/metrics")
        assert status == 200
        for _ in range(40):  # new connections: the kernel spreads them over both workers
            assert get(port, "/api/v1/meta/timezones")[0] == 200
        assert get(port, "/api/v1/no-such-thing/1234")[0] == 404
        _, text = get(port, "/metrics")

        count = "coagent_http_request_duration_seconds_count"
        zones = {"method": "GET", "route": "/api/v1/meta/timezones", "status": "200"}
        # Each worker served some of the 40: only a sum over both processes reaches 40.
        assert value(text, count, **zones) - value(before, count, **zones) == 40
        served_by = {path.name for path in Path(directory).glob("histogram_*.db")}
        assert len(served_by) == 2, served_by
        unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
        assert value(text, count, **unmatched) - value(before, count, **unmatched) == 1
        assert "no-such-thing" not in text
        assert "coagent_ws_open_sockets" in text
    assert not Path(directory).exists()  # removed when the server stopped


def test_a_worker_serves_its_task_runs_with_the_token(tmp_path, pg, redis_url):
    port = free_port()
    env = process_env(
        DATA_DIR=str(tmp_path / "data"),
        LOG_LEVEL="WARNING",
        DATABASE_URL=pg,
        REDIS_URL=redis_url,
        METRICS_TOKEN=TOKEN,
    )
    with started(["worker", "--workers", "2", "--metrics-port", str(port)], env) as worker:

        def serving() -> bool:
            try:
                return get(port, "/metrics")[0] == 401
            except OSError:
                return False

        until(worker, serving, "the worker's metrics did not come up")
        assert get(port, "/metrics", {"Authorization": "Bearer wrong-token-0123456789"})[0] == 401
        assert get(port, "/elsewhere", {"Authorization": f"Bearer {TOKEN}"})[0] == 404

        async def kick() -> None:
            broker = create_broker(make_settings(tmp_path, DATABASE_URL=pg, REDIS_URL=redis_url))
            await broker.startup()
            try:
                task = broker.find_task(PURGE_EXPIRED_SESSIONS)
                assert task is not None
                await task.kiq()
            finally:
                await broker.shutdown()

        asyncio.run(kick())
        runs = "coagent_task_runs_total"
        labels = {"task": PURGE_EXPIRED_SESSIONS, "outcome": "ok"}

        def ran() -> bool:
            status, text = get(port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
            return status == 200 and value(text, runs, **labels) >= 1

        until(worker, ran, "the task run was not counted", seconds=60)
