"""Provider-port overhead benchmark for P6 (first half): the same Chat Completions call made
directly with `AsyncOpenAI` and through `CallModel` + `ProviderRegistry` + `OpenAIProvider`.

Run on demand, never from the test suite (about 30 s):

    source .venv/bin/activate && python bench/llm_overhead.py [--rounds 20] [--json out.json]

A fake OpenAI-compatible server (tests/integration/fake_llm_server.py) runs in its own process
and answers every request after a fixed latency (--latency, 50 ms): non-streaming requests get
one JSON completion, streaming ones a role chunk, then --chunks text chunks, usage and [DONE].
Each round launches --concurrency (50) generations at once; rounds alternate between the direct
client and the port so drift on a shared machine hits both alike. Measured per generation:
non-streaming total time, and streaming time to the first text token (TTFT). The port path
includes decrypting the stored key (Fernet), the pooled-client lookup, the in-flight lease and
the event translation. Overhead = port percentile minus direct percentile, same run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from contextlib import aclosing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402
from tests.integration.fake_llm_server import (  # noqa: E402
    FakeLLMServer,
    Reply,
    Seen,
    openai_chunks,
    openai_completion,
)

from coagent.adapters.llm.endpoints import LOOPBACK, EndpointGuard  # noqa: E402
from coagent.adapters.llm.registry import ProviderRegistry  # noqa: E402
from coagent.adapters.security.secret_box import FernetSecretBox  # noqa: E402
from coagent.application.llm.call_model import CallModel, ModelChoice  # noqa: E402
from coagent.application.ports.llm import ChatMessage, LLMRequest, TextDelta  # noqa: E402

KEY = "sk-bench-0123456789"
MODEL = "gpt-fake"
MESSAGES = [
    {"role": "system", "content": "You are a helpful teaching assistant."},
    {"role": "user", "content": "Explain photosynthesis in two sentences.", "name": "Alice"},
]


def serve(
    latency: float,
    chunks: int,
    port_out: multiprocessing.connection.Connection,
    gap: float = 0.0,
) -> None:
    """The fake provider, in its own process (and uvloop when available); `gap` seconds
    between streamed chunks (a generation that lasts, as a real model's does)."""

    def answer(seen: Seen) -> Reply:
        if seen.body.get("stream"):
            texts = [f"word{i} " for i in range(chunks)]
            return Reply(sse=openai_chunks(texts), delay=latency, gap=gap)
        return Reply(json=openai_completion("Plants turn light into sugar."), delay=latency)

    async def main() -> None:
        async with FakeLLMServer(default=answer) as server:
            port_out.send(server.url)
            await asyncio.Event().wait()

    _run(main())


def _run(coroutine: object) -> None:
    try:
        import uvloop  # noqa: PLC0415

        uvloop.run(coroutine)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coroutine)  # type: ignore[arg-type]


async def direct_ttft(client: AsyncOpenAI) -> float:
    """One streamed call made directly, read to its end; seconds to its first text chunk."""
    start = time.perf_counter()
    first = None
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,  # type: ignore[arg-type]
        max_tokens=256,
        timeout=30,
        stream=True,
        stream_options={"include_usage": True},
    )
    async with stream:
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - start
    assert first is not None
    return first


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Bench:
    def __init__(self, url: str, args: argparse.Namespace) -> None:
        self.args = args
        self.base_url = f"{url}/v1"
        self.direct = AsyncOpenAI(api_key=KEY, base_url=self.base_url, max_retries=0)
        box = FernetSecretBox([Fernet.generate_key().decode()])
        self.ciphertexts = [box.encrypt(KEY)]
        self.registry = ProviderRegistry(guard=EndpointGuard(LOOPBACK))  # a local fake server
        self.call = CallModel(providers=self.registry, secrets=box)
        self.choice = ModelChoice(provider="openai", model=MODEL, base_url=self.base_url)
        self.request = LLMRequest(
            model=MODEL,
            messages=tuple(ChatMessage(**m) for m in MESSAGES),  # type: ignore[arg-type]
            max_tokens=256,
            timeout=30,
        )

    async def aclose(self) -> None:
        await self.direct.close()
        await self.registry.aclose()

    # One generation each; all return seconds.
    async def direct_complete(self) -> float:
        start = time.perf_counter()
        await self.direct.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            max_tokens=256,
            timeout=30,  # type: ignore[arg-type]
        )
        return time.perf_counter() - start

    async def port_complete(self) -> float:
        start = time.perf_counter()
        await self.call.complete(self.choice, self.ciphertexts, self.request)
        return time.perf_counter() - start

    async def direct_ttft(self) -> float:
        return await direct_ttft(self.direct)

    async def port_ttft(self) -> float:
        start = time.perf_counter()
        first = None
        async with aclosing(self.call.stream(self.choice, self.ciphertexts, self.request)) as s:
            async for event in s:
                if first is None and isinstance(event, TextDelta):
                    first = time.perf_counter() - start
        assert first is not None
        return first

    async def round(self, one: object, concurrency: int) -> list[float]:
        return list(await asyncio.gather(*(one() for _ in range(concurrency))))  # type: ignore[operator]


async def measure(url: str, args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    bench = Bench(url, args)
    pairs = {
        "complete": (bench.direct_complete, bench.port_complete),
        "stream TTFT": (bench.direct_ttft, bench.port_ttft),
    }
    results: dict[str, dict[str, list[float]]] = {}
    try:
        for name, (direct, port) in pairs.items():
            # Warm both paths (connections, imports, first-call costs) before measuring.
            await bench.round(direct, args.concurrency)
            await bench.round(port, args.concurrency)
            samples: dict[str, list[float]] = {
                "direct": [],
                "port": [],
                "seq direct": [],
                "seq port": [],
            }
            for index in range(args.rounds):
                order = [("direct", direct), ("port", port)]
                for label, one in order if index % 2 == 0 else reversed(order):
                    samples[label] += await bench.round(one, args.concurrency)
            # Client CPU per generation (this process only): what queues up under concurrency.
            for label, one in (("direct", direct), ("port", port)):
                cpu = time.process_time()
                await bench.round(one, args.concurrency * args.cpu_rounds)
                cpu_per_call = (time.process_time() - cpu) / (args.concurrency * args.cpu_rounds)
                samples[f"cpu {label}"] = [cpu_per_call]
            # Sequential calls isolate the per-call cost from queueing on the loop.
            for index in range(args.sequential):
                for label, one in (("seq direct", direct), ("seq port", port))[
                    :: 1 if index % 2 else -1
                ]:
                    samples[label].append(await one())
            results[name] = samples
    finally:
        await bench.aclose()
    return results


def versions() -> str:
    names = ["openai", "httpx2", "google-genai", "cryptography"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        found.append(f"uvloop {importlib.metadata.version('uvloop')}")
    except importlib.metadata.PackageNotFoundError:
        found.append("asyncio loop")
    return f"Python {platform.python_version()}, " + ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20, help="rounds per path and mode")
    parser.add_argument("--sequential", type=int, default=200, help="one-at-a-time calls per path")
    parser.add_argument("--latency", type=float, default=0.050, help="fake provider latency, s")
    parser.add_argument("--chunks", type=int, default=20, help="text chunks per stream")
    parser.add_argument("--cpu-rounds", type=int, default=10, help="rounds to measure CPU")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()

    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(args.latency, args.chunks, send), daemon=True
    )
    server.start()
    try:
        url = receive.recv()
        holder: dict[str, dict[str, dict[str, list[float]]]] = {}

        async def run() -> None:
            holder["r"] = await measure(url, args)

        _run(run())
        results = holder["r"]
    finally:
        server.terminate()
        server.join(5)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"versions: {versions()}")
    print(
        f"fake provider latency {args.latency * 1000:.0f} ms, {args.concurrency} concurrent, "
        f"{args.rounds} rounds per path, {args.chunks} chunks per stream; times in ms"
    )
    header = f"{'mode':<13} {'path':<11} {'n':>5} {'p50':>8} {'p90':>8} {'p99':>8} {'mean':>8}"
    print(header)
    print("-" * len(header))
    summary: dict[str, dict[str, float]] = {}
    for mode, samples in results.items():
        for path, values in samples.items():
            if path.startswith("cpu "):
                continue
            ms = [v * 1000 for v in values]
            p50, p90, p99 = pct(ms, 0.5), pct(ms, 0.9), pct(ms, 0.99)
            print(
                f"{mode:<13} {path:<11} {len(ms):>5} {p50:>8.2f} {p90:>8.2f} {p99:>8.2f} "
                f"{statistics.fmean(ms):>8.2f}"
            )
            summary[f"{mode} {path}"] = {"p50": p50, "p90": p90, "p99": p99}
    print()
    for mode in results:
        for prefix in ("", "seq "):
            d, p = summary[f"{mode} {prefix}direct"], summary[f"{mode} {prefix}port"]
            label = f"{mode}{' (one at a time)' if prefix else f' ({args.concurrency} concurrent)'}"
            print(
                f"overhead {label}: p50 {p['p50'] - d['p50']:+.2f} ms, "
                f"p99 {p['p99'] - d['p99']:+.2f} ms"
            )
    for mode, samples in results.items():
        d, p = samples["cpu direct"][0] * 1e6, samples["cpu port"][0] * 1e6
        print(
            f"client CPU per generation, {mode}: direct {d:.0f} us, port {p:.0f} us "
            f"({p - d:+.0f} us)"
        )
    print("goal (P6 first half, the port's share of 15 ms p50 / 50 ms p99): see docs/benchmarks.md")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"args": vars(args) | {"json": str(args.json)}, "summary": summary}, indent=2
            )
        )


if __name__ == "__main__":
    main()
