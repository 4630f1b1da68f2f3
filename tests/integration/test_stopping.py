"""`coagent worker` and `coagent scheduler` end within 10 s of SIGTERM, as real processes."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import process_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COAGENT = str(Path(sys.executable).with_name("coagent"))
BOUND_SECONDS = 10.0
START_SECONDS = 120.0  # imports take long on a busy 2-core machine


class Service:
    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 - our own entry point
                [COAGENT, *command],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: the worker's children with it
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_SECONDS
        while not ready():
            assert self.process.poll() is None, f"exited before {what}:\n{self.text()}"
            assert time.monotonic() < deadline, f"no {what} in {START_SECONDS} s:\n{self.text()}"
            time.sleep(0.05)

    def catches_sigterm(self) -> bool:
        """Whether the process has installed its own SIGTERM handler (Linux /proc)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
        return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))

    def stop(self, *, group: bool) -> tuple[int, float]:
        """SIGTERM to the main process (as `docker stop`) or to its whole group (as systemd);
        returns its status and how long it took.
        """
        began = time.monotonic()
        if group:
            os.killpg(self.process.pid, signal.SIGTERM)
        else:
            self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=BOUND_SECONDS + 20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {BOUND_SECONDS + 20} s after SIGTERM:\n{self.text()}")
        return status, time.monotonic() - began

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        else:  # its workers, should any outlive it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def start(pg: str, redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def launch(*command: str) -> Service:
        env = process_env(DATABASE_URL=pg, REDIS_URL=redis_url, LOG_JSON="false")
        service = Service(list(command), env, tmp_path / f"{command[0]}-{len(started)}.log")
        started.append(service)
        return service

    yield launch
    for service in started:
        service.kill()


@pytest.mark.parametrize(("workers", "group"), [(1, False), (2, True)])
def test_the_worker_ends_within_10_s_of_sigterm(
    start: Callable[..., Service], workers: int, group: bool
) -> None:
    worker = start("worker", "--workers", str(workers))
    worker.wait_until(lambda: worker.text().count("Listening started") == workers, "listening")

    status, took = worker.stop(group=group)

    log = worker.text()
    assert status == 0, log
    assert took < BOUND_SECONDS, log
    assert log.count("Shutting down the broker.") == workers, log
    assert "Traceback" not in log
    assert "did not stop in time" not in log


@pytest.mark.parametrize("moment", ["manager starting", "worker starting"])
def test_the_worker_stopped_while_starting_ends_at_once(
    start: Callable[..., Service], moment: str
) -> None:
    worker = start("worker")
    if moment == "manager starting":  # its handler is in, it is still importing
        worker.wait_until(worker.catches_sigterm, "SIGTERM handler")
    else:  # the worker process was just forked
        worker.wait_until(lambda: "Started process worker-0" in worker.text(), "worker")

    status, took = worker.stop(group=True)

    assert status == 0, worker.text()
    assert took < BOUND_SECONDS, worker.text()
    assert "Listening started" not in worker.text() or moment == "worker starting"


def test_the_scheduler_ends_within_10_s_of_sigterm(start: Callable[..., Service]) -> None:
    scheduler = start("scheduler")
    scheduler.wait_until(lambda: "Startup completed." in scheduler.text(), "start-up")

    status, took = scheduler.stop(group=False)

    log = scheduler.text()
    assert status == 0, log
    assert took < BOUND_SECONDS, log
    assert "Scheduler shut down" in log
    assert "Traceback" not in log


def test_the_scheduler_stopped_while_starting_ends_at_once(start: Callable[..., Service]) -> None:
    scheduler = start("scheduler")
    scheduler.wait_until(scheduler.catches_sigterm, "SIGTERM handler")

    status, took = scheduler.stop(group=False)

    assert status == 0, scheduler.text()
    assert took < BOUND_SECONDS, scheduler.text()
