"""How `coagent worker` and `coagent scheduler` stop: within 10 s of SIGTERM (or SIGINT).

The worker is taskiq's process manager and its worker processes. On a signal the manager
forwards SIGINT to its workers (its loop polls once a second) and returns. A worker stops
fetching, gives running tasks `TASK_GRACE_SECONDS` to finish, cancels those still running so
their own clean-up hands back what they hold (a task's unacknowledged message stays pending
in the stream for another worker), and closes its connections within `SHUTDOWN_SECONDS`.

Nothing below may wait without a bound (before, the manager joined its workers and a worker
joined its threads for as long as they took):

- a worker still alive `WORKER_EXIT_SECONDS` after its signal exits by itself (status
  `FORCED_EXIT`), whatever it waits for (a non-daemon thread, a close that never returns);
- the manager kills a worker still alive `REAP_SECONDS` after it forwarded the signal, and
  then exits 1;
- a signal while a process is still starting (importing, connecting) ends it at once with
  status 0, since it holds nothing yet; before, a worker finished starting first, which took
  10-20 s on a busy 2-core machine.

The scheduler runs its coroutine until a signal, then cancels it and gives it
`SHUTDOWN_SECONDS` to close (taskiq's scheduler shuts its broker down on cancellation).
"""

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any, Final, NoReturn

logger = logging.getLogger("coagent.stopping")

STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
TASK_GRACE_SECONDS: Final = 2.5
SHUTDOWN_SECONDS: Final = 3.0
# Within a shutdown: how long cancelled tasks get to run their clean-up.
HAND_BACK_SECONDS: Final = 1.0
WORKER_EXIT_SECONDS: Final = 7.0
REAP_SECONDS: Final = 8.0
# The status of a worker process that had to end itself (its watchdog), as sysexits' EX_SOFTWARE.
FORCED_EXIT: Final = 70

_Handler = Callable[[int, FrameType | None], Any] | int | None


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001, S112 - exiting anyway; a broken stream must not stop it
            continue


def leave(status: int) -> NoReturn:
    """End the process now, once everything it held is closed: flush the logs and skip the
    interpreter's teardown of its modules (1-3 s for this application's on a busy 2-core
    machine, a third of the stop budget).
    """
    _flush_logs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


def exit_while_starting() -> None:
    """Until the process installs its graceful handlers, a stop signal exits it (status 0)."""

    def exit_now(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    for stop in STOP_SIGNALS:
        signal.signal(stop, exit_now)


def worker_starting() -> Callable[[], None]:
    """In a worker process, before it connects: a stop signal ends it at once (os._exit(0):
    it fetched nothing yet). Returns `ready`, to call once the worker has started: then the
    signal goes back to taskiq's graceful handler, and also arms the exit watchdog.
    """
    graceful: dict[int, _Handler] = {stop: signal.getsignal(stop) for stop in STOP_SIGNALS}

    def exit_now(signum: int, _frame: FrameType | None) -> None:
        logger.info("worker stopped while starting", extra={"signal": signum})
        _flush_logs()
        os._exit(0)

    for stop in STOP_SIGNALS:
        signal.signal(stop, exit_now)

    def ready() -> None:
        armed = False

        def stop_gracefully(signum: int, frame: FrameType | None) -> None:
            nonlocal armed
            if not armed:
                armed = True
                _arm_watchdog(WORKER_EXIT_SECONDS)
            handler = graceful.get(signum)
            if callable(handler):
                handler(signum, frame)

        for stop in STOP_SIGNALS:
            signal.signal(stop, stop_gracefully)

    return ready


def _arm_watchdog(seconds: float) -> None:
    def expire() -> None:
        logger.error(
            "worker process did not stop in time; exiting", extra={"after_seconds": seconds}
        )
        _flush_logs()
        os._exit(FORCED_EXIT)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True  # never what keeps the process alive
    timer.start()


def reap_workers(deadline_seconds: float = REAP_SECONDS) -> int:
    """In the manager, once it told its workers to stop: wait for them, kill any still alive
    at the deadline. Returns 1 when a worker had to be killed or to force its own exit, else
    0 (a worker ending with another status, e.g. interrupted while it was being forked, is
    logged).
    """
    end = time.monotonic() + deadline_seconds
    status = 0
    for child in multiprocessing.active_children():
        child.join(max(0.0, end - time.monotonic()))
        if child.is_alive():
            logger.error(
                "worker process did not stop in time; killing it", extra={"pid": child.pid}
            )
            child.kill()
            child.join()
            status = 1
        elif child.exitcode == FORCED_EXIT:
            status = 1
        elif child.exitcode != 0:
            logger.warning(
                "worker process ended with a status",
                extra={"pid": child.pid, "status": child.exitcode},
            )
    return status


def run_until_signalled(
    main: Callable[[], Coroutine[Any, Any, None]], *, grace: float = SHUTDOWN_SECONDS
) -> int:
    """Run `main` until SIGTERM or SIGINT, then cancel it and wait at most `grace` seconds.

    Returns 0 after a signal when `main` ended within the grace, 1 when it did not or when
    it failed or ended by itself (a service is meant to run until stopped).
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_serve(main, grace))
    finally:
        leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in leftovers:
            task.cancel()
        if leftovers:  # bounded: an uncooperative task is abandoned, not waited for
            loop.run_until_complete(asyncio.wait(leftovers, timeout=HAND_BACK_SECONDS))
        loop.close()


async def _serve(main: Callable[[], Coroutine[Any, Any, None]], grace: float) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    work = asyncio.create_task(main())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if work.done():
        stopped.cancel()
        if work.cancelled() or work.exception() is not None:
            logger.error(
                "stopped by an error", exc_info=None if work.cancelled() else work.exception()
            )
        else:
            logger.error("ended without being stopped")
        return 1
    logger.info("stopping", extra={"grace_seconds": grace})
    work.cancel()
    done, _ = await asyncio.wait({work}, timeout=grace)
    if not done:
        logger.error("did not stop in time", extra={"grace_seconds": grace})
        return 1
    if not work.cancelled() and work.exception() is not None:
        logger.error("failed while stopping", exc_info=work.exception())
        return 1
    return 0
