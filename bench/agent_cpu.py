"""P6: where the agent path's CPU goes, phase by phase (one generation at a time).

Run on demand, never from the test suite (about 30 s):

    source .venv/bin/activate && python bench/agent_cpu.py [--rounds 200]

Runs `bench/agent_turns.py`'s measurement with --concurrency 1 after wrapping the turn
path's steps: each wrapper adds the process's CPU time (`time.process_time`, user and
system) spent between the step's start and its end. One generation at a time nothing else
runs in the meantime except the hub's own delivery of what the step published, so each
figure is that step's CPU. Nested steps (indented) are part of the step above them.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import inspect
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from agent_turns import measure  # noqa: E402
from llm_overhead import serve  # noqa: E402

CPU: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def _timed(owner: Any, name: str, label: str) -> None:
    original = inspect.getattr_static(owner, name)
    is_static = isinstance(original, staticmethod)
    function = getattr(owner, name)
    if inspect.isasyncgenfunction(function):

        @functools.wraps(function)
        async def generator(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            inner = function(*args, **kwargs).__aiter__()
            CALLS[label] += 1
            try:
                while True:
                    before = time.process_time()
                    try:
                        item = await inner.__anext__()
                    except StopAsyncIteration:
                        CPU[label] += time.process_time() - before
                        return
                    CPU[label] += time.process_time() - before
                    yield item
            finally:
                await inner.aclose()

        wrapped: Any = generator
    elif inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def coroutine(*args: Any, **kwargs: Any) -> Any:
            before = time.process_time()
            try:
                return await function(*args, **kwargs)
            finally:
                CPU[label] += time.process_time() - before
                CALLS[label] += 1

        wrapped = coroutine
    else:

        @functools.wraps(function)
        def plain(*args: Any, **kwargs: Any) -> Any:
            before = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                CPU[label] += time.process_time() - before
                CALLS[label] += 1

        wrapped = plain
    setattr(owner, name, staticmethod(wrapped) if is_static else wrapped)


def install() -> list[str]:
    from coagent.adapters.persistence import turns, unit_of_work  # noqa: PLC0415
    from coagent.adapters.persistence.agents import (  # noqa: PLC0415
        SqlAlchemyAgentConfigRepository,
    )
    from coagent.adapters.persistence.messages import (  # noqa: PLC0415
        SqlAlchemyMessageRepository,
    )
    from coagent.adapters.realtime import agent_stream  # noqa: PLC0415
    from coagent.application.chat import post_message  # noqa: PLC0415
    from coagent.application.llm import call_model  # noqa: PLC0415
    from coagent.application.turns import consider_message, run_turns  # noqa: PLC0415

    repo = turns.SqlAlchemyAgentTurnRepository
    steps = [
        (post_message.PostMessage, "execute", "send (PostMessage)"),
        (consider_message.ConsiderMessage, "_consider", "decide (ConsiderMessage, teacher)"),
        (repo, "decision_inputs", "  decision inputs read"),
        (repo, "add", "  turn insert"),
        (consider_message, "mark_considered", "mark_considered"),
        (run_turns.RunTurns, "_start_next", "start (lease, start, merge, setup reads)"),
        (repo, "take_room", "  take_room"),
        (repo, "next_to_start", "  next_to_start read"),
        (repo, "start", "  start"),
        (repo, "merge_seen", "  merge_seen"),
        (SqlAlchemyMessageRepository, "page", "  history page"),
        (SqlAlchemyAgentConfigRepository, "keys_of", "  keys read"),
        (run_turns.RunTurns, "_trace_turn", "turn trace (started)"),
        (run_turns, "build_prompt", "prompt build"),
        (call_model.CallModel, "stream", "provider stream (SDK, all chunks)"),
        (agent_stream.HubAgentStream, "delta", "relay: deltas (all chunks)"),
        (agent_stream.HubAgentStream, "end", "relay: end"),
        (repo, "complete", "complete (store reply)"),
        (repo, "release_room_unless_queued", "release unless queued (same transaction)"),
        (unit_of_work.SqlAlchemyUnitOfWork, "commit", "(every commit)"),
        (unit_of_work.SqlAlchemyUnitOfWork, "__aenter__", "(every uow enter)"),
        (unit_of_work.SqlAlchemyUnitOfWork, "__aexit__", "(every uow exit)"),
    ]
    for owner, name, label in steps:
        _timed(owner, name, label)
    return [label for _, _, label in steps]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--chunks", type=int, default=20)
    args = parser.parse_args()
    labels = install()
    import multiprocessing  # noqa: PLC0415

    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(
        target=serve, args=(args.latency, args.chunks, send), daemon=True
    )
    server.start()
    try:
        url = receive.recv()
        ns = argparse.Namespace(
            rounds=args.rounds, concurrency=1, pool=20, profile=None, json=None, workers=0
        )
        CPU.clear()
        samples = asyncio.run(measure(url, ns))
    finally:
        server.terminate()
    # Warm-up round included in the wrappers' totals: one more generation.
    generations = args.rounds + 1
    pipeline, direct, _ = samples["cpu_ms"]
    print(f"CPU per generation: pipeline {pipeline:.2f} ms, direct {direct:.2f} ms")
    print(f"{'step':45} {'ms/gen':>7} {'calls/gen':>9}")
    for label in labels:
        print(
            f"{label:45} {1000 * CPU[label] / generations:7.2f} {CALLS[label] / generations:9.2f}"
        )


if __name__ == "__main__":
    main()
