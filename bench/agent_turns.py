"""P6 end to end: a human message in → the agent's first streamed token out to a socket,
minus the same provider call made directly (time to first token), at 50 concurrent
generations.

Run on demand, never from the test suite (about a minute):

    source .venv/bin/activate && python bench/agent_turns.py [--rounds 10] [--json out.json]

One process plays the web process and the worker (PostgreSQL, the in-process task broker
and bus: `REDIS_URL` unset), with the fake OpenAI-compatible server of `llm_overhead.py` in a
process of its own (first chunk after --latency, 50 ms). Each of --concurrency (50) rooms has
a teacher agent on that server and one socket in the hub (a recording subscriber, the shape
the hub serves). A round posts one mention in every room at once (through PostMessage, as
HTTP and the socket do) and times, per room, the send until the socket is offered its first
`message.delta`. Direct rounds time the same streamed call with `AsyncOpenAI` until its first
text chunk. Rounds alternate, so drift on a shared machine hits both alike. Overhead =
pipeline percentile minus direct percentile, same run.

`--sustained S --gap 0.1` instead keeps --concurrency closed loops running for S seconds per
phase (mention, first delta, stored reply, next mention; the direct path loops around the
streamed call), with the fake provider's chunks 0.1 s apart: about 50 generations of ~2 s
stream at any moment, starts spread out, which is what "at 50 concurrent generations" means
in the quality bar; the rounds above are 50 arrivals in the same instant, a stress figure.

What the pipeline adds: the send's commit, the kick, ConsiderMessage (5 reads, the decision,
one insert), RunTurns (lease, start, setup reads, the prompt), CallModel, the first delta
through the hub. With `REDIS_URL` set the kicks and deltas add a Redis round trip each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import multiprocessing
import os
import platform
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import asyncpg  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402

from coagent.application.chat.post_message import PostMessageCommand  # noqa: E402
from coagent.domain.accounts.roles import Role  # noqa: E402
from coagent.domain.accounts.user import User  # noqa: E402
from coagent.domain.agents.config import AgentConfig, AgentType, Provider  # noqa: E402
from coagent.domain.agents.trigger import Trigger, TriggerType  # noqa: E402
from coagent.domain.courses.course import Course  # noqa: E402
from coagent.domain.courses.policy import CourseRole  # noqa: E402
from coagent.domain.courses.room import AiMode, Room  # noqa: E402
from coagent.main import migrations  # noqa: E402
from coagent.main.app import start_broker  # noqa: E402
from coagent.main.broker import create_broker  # noqa: E402
from coagent.main.container import Container, build_container  # noqa: E402
from coagent.main.settings import load_settings  # noqa: E402
from llm_overhead import MODEL, direct_ttft, pct, serve  # noqa: E402

# --workers: the bench process is the web process only; `coagent worker --workers N`
# consumes the kicks from Redis and its deltas reach the bench's hub over the Redis bus.
PG_ADMIN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


class RoundTrips:
    """Counts this process's database round trips: statements through SQLAlchemy's asyncpg
    adapter, BEGIN, COMMIT and ROLLBACK, and hot reads run straight on asyncpg
    (`Connection.fetch`). Prepares of statements not cached yet are not counted.
    """

    count = 0

    @classmethod
    def install(cls) -> None:
        from sqlalchemy.dialects.postgresql import asyncpg as dialect  # noqa: PLC0415

        def counted(owner: Any, name: str) -> None:
            original = getattr(owner, name)

            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                cls.count += 1
                return await original(*args, **kwargs)

            setattr(owner, name, wrapper)

        counted(dialect.AsyncAdapt_asyncpg_cursor, "_prepare_and_execute")
        counted(dialect.AsyncAdapt_asyncpg_connection, "_start_transaction")
        counted(dialect.AsyncAdapt_asyncpg_connection, "_commit_and_discard")
        counted(dialect.AsyncAdapt_asyncpg_connection, "_rollback_and_discard")
        counted(asyncpg.Connection, "fetch")


class Socket:
    """A hub subscriber that notes when its first `message.delta` of a turn arrives."""

    def __init__(self) -> None:
        self.user_id, self.session_id, self.seen = uuid.uuid4(), uuid.uuid4(), 0
        self.v1, self.staff = True, False
        self.first_delta: asyncio.Future[float] | None = None
        self.replied: asyncio.Future[None] | None = None
        self.trips_at_first_delta = 0

    def offer(self, frame: str) -> bool:
        if self.first_delta is None:
            return True
        if not self.first_delta.done() and '"type":"message.delta"' in frame:
            self.first_delta.set_result(time.perf_counter())
            self.trips_at_first_delta = RoundTrips.count
        elif (
            self.first_delta.done()
            and self.replied is not None
            and not self.replied.done()
            and '"type":"message"' in frame
        ):
            self.replied.set_result(None)  # the stored reply: the turn is over
        return True

    def drop(self, code: int, reason: str) -> None:
        raise RuntimeError(f"dropped: {code} {reason}")


async def seed(container: Container, base_url: str, rooms: int) -> list[tuple[Room, User]]:
    at = datetime.now(UTC)
    owner = _user("owner", Role.TEACHER, at)
    seeded = []
    async with container.uow() as uow:
        await uow.users.add(owner)
        course = Course(
            id=uuid.uuid4(),
            title="Bench",
            description=None,
            owner_id=owner.id,
            created_at=at,
            updated_at=at,
        )
        await uow.courses.add(course)
        await uow.agent_configs.add(
            AgentConfig(
                id=uuid.uuid4(),
                course_id=course.id,
                type=AgentType.TEACHER,
                name="Prof",
                provider=Provider.OPENAI,
                model=MODEL,
                base_url=base_url,
                system_prompt="You are a helpful teaching assistant.",
                context_window=10,
                trigger=Trigger(type=TriggerType.MENTION),
                schedule=None,
                settings={},
                is_active=True,
                created_by=owner.id,
                created_at=at,
                updated_at=at,
            )
        )
        for index in range(rooms):
            student = _user(f"s{index}", Role.STUDENT, at)
            await uow.users.add(student)
            await uow.courses.add_member(course.id, student.id, CourseRole.STUDENT)
            room = Room(
                id=uuid.uuid4(),
                course_id=course.id,
                name=f"Room {index}",
                description=None,
                ai_mode=AiMode.TEACHER_ONLY,
                ai_frequency=0.0,
                is_ai_active=True,
                is_analytics_active=False,
                created_at=at,
                updated_at=at,
            )
            await uow.rooms.add(room)
            seeded.append((room, student))
        await uow.commit()
    return seeded


def _user(name: str, role: Role, at: Any) -> User:
    return User(
        id=uuid.uuid4(),
        email=f"{name}-{uuid.uuid4().hex[:8]}@bench.test",
        username=None,
        full_name=name,
        role=role,
        is_active=True,
        password_hash=None,
        avatar_url=None,
        created_at=at,
        updated_at=at,
    )


async def pipeline_round(
    container: Container, rooms: list[tuple[Room, User, Socket]], trips: list[int]
) -> list[float]:
    loop = asyncio.get_running_loop()

    async def one(room: Room, student: User, socket: Socket) -> float:
        socket.first_delta = loop.create_future()
        socket.replied = loop.create_future()
        start, before = time.perf_counter(), RoundTrips.count
        await container.chat.post.execute(
            PostMessageCommand(
                actor_id=student.id, room_id=room.id, content="@teacher explain photosynthesis"
            )
        )
        took = await asyncio.wait_for(socket.first_delta, 30) - start
        trips.append(socket.trips_at_first_delta - before)
        return took

    return list(await asyncio.gather(*(one(*entry) for entry in rooms)))


async def direct_round(client: AsyncOpenAI, concurrency: int) -> list[float]:
    return list(await asyncio.gather(*(direct_ttft(client) for _ in range(concurrency))))


async def pipeline_sustained(
    container: Container,
    rooms: list[tuple[Room, User, Socket]],
    args: argparse.Namespace,
    generations: list[int],
) -> list[float]:
    """--sustained: every room in a closed loop (post a mention, wait for the first delta,
    then for the stored reply, post the next); see `_closed_loops`."""
    loop = asyncio.get_running_loop()

    def room_loop(room: Room, student: User, socket: Socket) -> Callable[[], Awaitable[float]]:
        async def one() -> float:
            socket.first_delta = loop.create_future()
            socket.replied = loop.create_future()
            start = time.perf_counter()
            await container.chat.post.execute(
                PostMessageCommand(
                    actor_id=student.id, room_id=room.id, content="@teacher explain photosynthesis"
                )
            )
            took = await asyncio.wait_for(socket.first_delta, 30) - start
            await asyncio.wait_for(socket.replied, 60)
            return took

        return one

    return await _closed_loops([room_loop(*entry) for entry in rooms], args, generations)


async def direct_sustained(
    client: AsyncOpenAI, args: argparse.Namespace, generations: list[int]
) -> list[float]:
    """--sustained, direct: the same closed loops around the streamed call itself."""
    return await _closed_loops([lambda: direct_ttft(client)] * args.concurrency, args, generations)


async def _closed_loops(
    loops: list[Callable[[], Awaitable[float]]],
    args: argparse.Namespace,
    generations: list[int],
) -> list[float]:
    """Run each generation function over and over for --sustained seconds, each loop started
    at a random offset within one generation's length, so about --concurrency generations
    stream at any moment and the starts are spread out as real traffic's are. Each loop's
    first generation is not a sample (the load is still building)."""
    deadline = time.perf_counter() + args.sustained
    samples: list[float] = []

    async def run(generation: Callable[[], Awaitable[float]]) -> None:
        await asyncio.sleep(random.uniform(0, _generation_length(args)))
        first = True
        while time.perf_counter() < deadline:
            took = await generation()
            generations.append(1)
            if not first:
                samples.append(took)
            first = False

    await asyncio.gather(*(run(generation) for generation in loops))
    return samples


def _generation_length(args: argparse.Namespace) -> float:
    return float(args.latency + args.chunks * args.gap)


async def settle(container: Container, broker: Any, rooms: list[Any], *, local: bool) -> None:
    """Until every turn of the round stored its reply (and, in-process, every task ended)."""
    await asyncio.wait_for(
        asyncio.gather(*(socket.replied for _, _, socket in rooms if socket.replied)), 60
    )
    await container.agents_runtime.kicker.drain()
    if local:
        for _ in range(3):
            await container.agents_runtime.kicker.drain()
            await broker.wait_all()


class WorkerProcesses:
    """`coagent worker --workers N` against the bench's database and Redis (--workers);
    their CPU is read from /proc (the process tree: the supervisor and its workers).
    """

    def __init__(self, count: int, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own CLI
            [str(Path(sys.executable).parent / "coagent"), "worker", "--workers", str(count)],
            env=os.environ | env,
            stdout=subprocess.DEVNULL,
        )

    def tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    children.setdefault(int(fields[1]), []).append(int(entry.name))
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    def cpu(self) -> float:
        """CPU seconds (user + system) of the worker processes so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.tree():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / ticks

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def measure(url: str, args: argparse.Namespace) -> dict[str, list[float]]:
    database = f"coagent_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    db_url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    db_url = f"{db_url}/{database}"
    try:
        await asyncio.to_thread(migrations.upgrade, db_url)
        env = {
            "DATABASE_URL": db_url,
            "SECRET_KEY": "b" * 40,
            "ENCRYPTION_KEYS": "yYk3VRSN9JcNS8Wd0yZmQb1WwzjbO5HhUlUixC1qC3I=",
            "AGENT_TURNS_PER_MINUTE": "600",
            "AGENT_MENTIONS_PER_USER": "1000",
            "CHAT_MESSAGES_PER_WINDOW": "100000",
            "DB_POOL_SIZE": str(args.pool),
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "false",
            # The fake provider listens on loopback, refused by default off the embedded
            # mode (LLM_ALLOWED_HOSTS).
            "LLM_ALLOWED_HOSTS": "127.0.0.1",
        }
        if args.workers:
            env["REDIS_URL"] = args.redis
        settings = load_settings(env)
        RoundTrips.install()
        workers = WorkerProcesses(args.workers, env) if args.workers else None
        container = build_container(settings)
        broker = create_broker(settings)
        await start_broker(broker, container)
        container.agents_runtime.bind(broker)
        container.hub.start()
        if workers is not None:
            await asyncio.sleep(args.worker_start)  # the workers' brokers and services
        direct = AsyncOpenAI(api_key="unused", base_url=f"{url}/v1", max_retries=0)
        try:
            seeded = await seed(container, f"{url}/v1", args.concurrency)
            rooms = []
            for room, student in seeded:
                socket = Socket()
                await container.hub.join(room.id, room.course_id, socket, since=None)
                rooms.append((room, student, socket))
            samples: dict[str, list[float]] = {"pipeline": [], "direct": []}
            cpu = {"pipeline": 0.0, "direct": 0.0, "workers": 0.0}
            trips: list[int] = []
            # --profile: cProfile over the pipeline rounds only (warm-up excluded).
            profiler = cProfile.Profile() if args.profile else None
            generations: dict[str, list[int]] = {"pipeline": [], "direct": []}
            for index in range(args.rounds + 1):  # the first round warms both paths
                order = ["pipeline", "direct"] if index % 2 == 0 else ["direct", "pipeline"]
                for label in order:
                    cpu_before = time.process_time()
                    workers_before = workers.cpu() if workers is not None else 0.0
                    done = generations[label] if index else []
                    if label == "pipeline":
                        if profiler is not None and index:
                            profiler.enable()
                        if args.sustained:
                            got = await pipeline_sustained(container, rooms, args, done)
                        else:
                            got = await pipeline_round(container, rooms, trips if index else [])
                            done += [1] * len(got)
                        await settle(container, broker, rooms, local=workers is None)
                        if profiler is not None:
                            profiler.disable()
                    elif args.sustained:
                        got = await direct_sustained(direct, args, done)
                    else:
                        got = await direct_round(direct, args.concurrency)
                        done += [1] * len(got)
                    if index:
                        samples[label] += got
                        cpu[label] += time.process_time() - cpu_before
                        if workers is not None and label == "pipeline":
                            cpu["workers"] += workers.cpu() - workers_before
            # This process's CPU per generation, each path whole (the pipeline: the send,
            # the turn and its whole stream, the stored reply); database round trips from
            # the send until the first delta (exact one at a time; under concurrency they
            # include other turns' trips in the meantime).
            count = {k: max(1, len(v)) for k, v in generations.items()}
            samples["generations"] = [float(count["pipeline"]), float(count["direct"])]
            samples["cpu_ms"] = [
                1000 * cpu["pipeline"] / count["pipeline"],
                1000 * cpu["direct"] / count["direct"],
                1000 * cpu["workers"] / count["pipeline"],
            ]
            samples["trips"] = [float(sorted(trips)[len(trips) // 2])] if trips else [0.0]
            if profiler is not None:
                profiler.dump_stats(args.profile)
            return samples
        finally:
            await direct.close()
            if workers is not None:
                workers.stop()
            await broker.shutdown()
            await container.aclose()
    finally:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument(
        "--gap", type=float, default=0.0, help="seconds between streamed chunks (sustained: 0.1)"
    )
    parser.add_argument(
        "--sustained",
        type=float,
        default=0.0,
        help="seconds per phase of closed loops (about --concurrency generations always"
        " streaming) instead of rounds of --concurrency mentions sent at once",
    )
    parser.add_argument("--pool", type=int, default=20)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run the turns in `coagent worker --workers N` processes (Redis broker and bus)",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--worker-start", type=float, default=4.0)
    parser.add_argument(
        "--profile", type=Path, help="write a cProfile of the pipeline rounds to this file"
    )
    args = parser.parse_args()
    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(
        target=serve, args=(args.latency, args.chunks, send, args.gap), daemon=True
    )
    server.start()
    try:
        url = receive.recv()
        samples = asyncio.run(measure(url, args))
    finally:
        server.terminate()
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "latency_ms": args.latency * 1000,
        "chunk_gap_ms": args.gap * 1000,
        "mode": f"sustained, {args.sustained:g} s per phase" if args.sustained else "bursts",
        "samples": {"pipeline": len(samples["pipeline"]), "direct": len(samples["direct"])},
    }
    if args.sustained:  # how busy the loops kept the pipeline
        report["pipeline_generations_per_s"] = round(
            samples["generations"][0] / (args.rounds * args.sustained), 1
        )
    for q in (0.5, 0.99):
        pipeline, direct = pct(samples["pipeline"], q), pct(samples["direct"], q)
        name = f"p{round(q * 100)}"
        report[name] = {
            "pipeline_ms": round(pipeline * 1000, 1),
            "direct_ms": round(direct * 1000, 1),
            "overhead_ms": round((pipeline - direct) * 1000, 1),
        }
    pipeline_cpu, direct_cpu, workers_cpu = samples["cpu_ms"]
    report["workers"] = args.workers
    report["cpu_ms_per_generation"] = {
        "pipeline": round(pipeline_cpu, 2),
        "direct": round(direct_cpu, 2),
    }
    if args.workers:  # the bench process is the web process; the turns ran in the workers
        report["cpu_ms_per_generation"]["pipeline_workers"] = round(workers_cpu, 2)
    report["round_trips_to_first_delta_p50"] = int(samples["trips"][0])
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"report": report, "samples": samples}))


if __name__ == "__main__":
    main()
