"""`coagent run --workers N`: uvicorn's supervisor, with a listening socket per worker."""

import contextlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

logger = logging.getLogger("uvicorn.error")

# prometheus_client's multiprocess mode (adapters/observability/metrics.py) reads this.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextlib.contextmanager
def metrics_directory() -> Iterator[str]:
    """A fresh directory where every worker writes its metric values (set in the environment
    the workers inherit, before any of them imports prometheus_client), removed at the end.
    One the operator set in PROMETHEUS_MULTIPROC_DIR is used as it is and left in place.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        yield given
        return
    path = tempfile.mkdtemp(prefix="coagent-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def _forget_metrics_of(pid: int | None) -> None:
    """A worker that ended no longer holds sockets: drop its live gauge files."""
    if pid is None:
        return
    from coagent.adapters.observability.metrics import process_died  # noqa: PLC0415

    with contextlib.suppress(OSError):
        process_died(pid)


class SocketPerWorker(Multiprocess):
    """Worker i accepts only on `listeners[i]`, all SO_REUSEPORT sockets on one address, so
    the kernel spreads new connections over the workers by hash. With one shared socket, the
    first worker to wake accepts a whole burst (wrk's 64 connections went 64/0 at times), and
    keep-alive connections stay where they landed: one core served while the other idled.

    The parent keeps every socket open, so while a worker is being replaced the connections
    hashed to its socket wait in that socket's backlog. A replacement, after a crash or on
    SIGHUP, takes its predecessor's socket. The number of workers is fixed: a worker added by
    SIGTTIN would have no socket, and one removed by SIGTTOU would leave one unserved.
    """

    def __init__(self, config: Config, listeners: list[socket.socket]) -> None:
        super().__init__(config, sockets=listeners)
        self._listeners = listeners
        self.processes_num = len(listeners)

    def _spawn(self, index: int) -> Process:
        process = Process(self.config, [self._listeners[index]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._spawn(index) for index in range(self.processes_num)]

    def keep_subprocess_alive(self) -> None:
        # Multiprocess.keep_subprocess_alive, replacing a worker on its own socket.
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung: kill it
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # It failed before serving (the app or its settings are broken): every
                # replacement would fail the same way.
                logger.error("Child process [%s] failed to start, stopping.", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info("Child process [%s] died", process.pid)
            _forget_metrics_of(process.pid)
            self.processes[index] = self._spawn(index)

    def restart_all(self) -> None:
        # Multiprocess.restart_all: the replacement serves before its predecessor retires,
        # sharing its socket meanwhile.
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._spawn(index)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error(
                        "New child process [%s] was not ready in time; keeping worker [%s] "
                        "and aborting the restart.",
                        new.pid,
                        old.pid,
                    )
                return
            old.terminate()
            old.join()
            _forget_metrics_of(old.pid)
            self.processes[index] = new

    def handle_ttin(self) -> None:
        logger.info("Received SIGTTIN; the number of workers is fixed (--workers).")

    def handle_ttou(self) -> None:
        logger.info("Received SIGTTOU; the number of workers is fixed (--workers).")
