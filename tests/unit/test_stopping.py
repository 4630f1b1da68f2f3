"""The stop mechanics of `coagent worker` and `coagent scheduler`, one at a time."""

import asyncio
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import pytest
from taskiq import InMemoryBroker

from coagent.main import stopping
from coagent.main.broker import RunningTasks

FORK = multiprocessing.get_context("fork")


# --- a worker's running tasks are cancelled and run their clean-up --------------------------


@pytest.mark.anyio
async def test_running_tasks_are_cancelled_and_run_their_clean_up() -> None:
    broker = InMemoryBroker(await_inplace=False)
    running = RunningTasks()
    broker.add_middlewares(running)
    started, handed_back = asyncio.Event(), asyncio.Event()

    async def long_turn() -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # an LLM stream that never ends
        finally:
            handed_back.set()  # e.g. release the room's lease

    task = broker.register_task(long_turn, task_name="test.long_turn")
    await broker.startup()
    try:
        await task.kiq()
        await asyncio.wait_for(started.wait(), 5)

        cancelled = await running.hand_back(seconds=2)

        assert cancelled == 1
        assert handed_back.is_set()
        assert await running.hand_back(seconds=2) == 0  # nothing left
    finally:
        await broker.shutdown()


@pytest.mark.anyio
async def test_finished_tasks_are_forgotten() -> None:
    broker = InMemoryBroker(await_inplace=False)
    running = RunningTasks()
    broker.add_middlewares(running)
    done = asyncio.Event()

    async def quick() -> None:
        done.set()

    task = broker.register_task(quick, task_name="test.quick")
    await broker.startup()
    try:
        await (await task.kiq()).wait_result(timeout=5)

        assert done.is_set()
        assert await running.hand_back(seconds=1) == 0
    finally:
        await broker.shutdown()


# --- the manager reaps its workers within a deadline ----------------------------------------


def _exit_with(status: int) -> None:
    time.sleep(0.2)  # still running when the reaping begins, as right after the signal
    os._exit(status)


def _hang() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    time.sleep(60)


@pytest.mark.parametrize(
    ("target", "args", "expected", "killed"),
    [
        (_exit_with, (0,), 0, False),
        (_exit_with, (stopping.FORCED_EXIT,), 1, False),
        (_exit_with, (3,), 0, False),  # logged, not a failure of the stop
        (_hang, (), 1, True),
    ],
)
def test_reap_workers(
    target: Callable[..., None], args: tuple[Any, ...], expected: int, killed: bool
) -> None:
    child = FORK.Process(target=target, args=args)
    child.start()

    began = time.monotonic()
    status = stopping.reap_workers(deadline_seconds=0.5)

    assert status == expected
    assert not child.is_alive()
    assert (child.exitcode == -signal.SIGKILL) is killed
    assert time.monotonic() - began < 5


# --- a worker stopped while starting ends at once; once ready, stops gracefully -------------


def _worker_process(ready_first: bool, report: Connection) -> None:
    graceful_calls: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: graceful_calls.append(signum))
    ready = stopping.worker_starting()
    if ready_first:
        ready()
    os.kill(os.getpid(), signal.SIGTERM)
    report.send(graceful_calls)  # only reached when the signal did not end the process
    os._exit(5)


@pytest.mark.parametrize("ready_first", [False, True])
def test_a_worker_signal_before_ready_exits_after_ready_is_graceful(ready_first: bool) -> None:
    receiver, sender = FORK.Pipe(duplex=False)
    child = FORK.Process(target=_worker_process, args=(ready_first, sender))
    child.start()
    child.join(10)

    if ready_first:
        assert receiver.recv() == [signal.SIGTERM]  # taskiq's handler ran, the process went on
        assert child.exitcode == 5
    else:
        assert not receiver.poll()
        assert child.exitcode == 0


def _starting_process() -> None:
    stopping.exit_while_starting()
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
    os._exit(5)


def test_a_signal_while_starting_exits_zero() -> None:
    child = FORK.Process(target=_starting_process)
    child.start()
    child.join(10)

    assert child.exitcode == 0


# --- the scheduler's loop: cancelled on a signal, bounded --------------------------------------


def _signal_soon() -> None:
    asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)


def test_run_until_signalled_cancels_and_returns_zero() -> None:
    cleaned: list[str] = []

    async def service() -> None:
        _signal_soon()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("closed")

    assert stopping.run_until_signalled(service, grace=2) == 0
    assert cleaned == ["closed"]


def _stubborn_service(report: Connection) -> None:
    async def stubborn() -> None:
        _signal_soon()
        while True:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                continue

    began = time.monotonic()
    status = stopping.run_until_signalled(stubborn, grace=0.2)
    report.send((status, time.monotonic() - began))
    os._exit(0)  # as `coagent scheduler` does: the abandoned task is not torn down


def test_a_service_that_ignores_cancellation_is_abandoned_after_the_grace() -> None:
    receiver, sender = FORK.Pipe(duplex=False)
    child = FORK.Process(target=_stubborn_service, args=(sender,))
    child.start()
    child.join(20)

    status, took = receiver.recv()
    assert status == 1
    assert took < 5  # the grace, then at most HAND_BACK_SECONDS for the leftovers


def test_a_failing_or_finishing_service_is_status_one(caplog: pytest.LogCaptureFixture) -> None:
    async def failing() -> None:
        raise RuntimeError("Redis is gone")

    async def finishing() -> None:
        return None

    with caplog.at_level(logging.ERROR, logger="coagent.stopping"):
        assert stopping.run_until_signalled(failing) == 1
        assert stopping.run_until_signalled(finishing) == 1

    assert "stopped by an error" in caplog.text
    assert "ended without being stopped" in caplog.text
