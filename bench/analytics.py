"""Analytics report generation at size (issue 18): figures in SQL, then one model call per
room with bounded concurrency.

    source .venv/bin/activate && python bench/analytics.py [--rooms 50 --messages 2000
        --students 200 --latency 0.2]

Recreates the PostgreSQL database `coagent_bench_analytics`, migrates it, and inserts (COPY)
a course with --rooms rooms with analytics on, --students students and --messages messages per
room (students in turn, every 10th message by the teacher agent, 1 to 40 words), plus a
second course with 10 students and the same shape (for the statement counts). Then, in one
process without Redis:
- time to the figures (no model): `SqlAnalyticsStore.figures` over every room, --rounds times;
- time to the full report: `RunAnalyticsJob` (the worker's use case) with an analytics
  configuration on the real OpenAI SDK against the scripted server of
  tests/integration/fake_llm_server.py answering every call after --latency seconds, at
  ANALYTICS_CONCURRENCY 1 and 4;
- statements sent for the figures and for a whole job, 10 vs 200 students.
"""

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from sqlalchemy import event  # noqa: E402
from tests.integration.fake_llm_server import FakeLLMServer, Reply, openai_completion  # noqa: E402

from coagent.application.analytics.run_job import RunAnalyticsJobCommand  # noqa: E402
from coagent.domain.agents.config import AgentConfig, AgentType, Provider  # noqa: E402
from coagent.domain.agents.trigger import DEFAULT_TRIGGER  # noqa: E402
from coagent.domain.analytics.job import AnalyticsJob, JobStatus  # noqa: E402
from coagent.main import migrations  # noqa: E402
from coagent.main.container import Container, build_container  # noqa: E402
from coagent.main.settings import load_settings  # noqa: E402

DATABASE = "coagent_bench_analytics"
WORDS = [
    "virtue",
    "justice",
    "reason",
    "good",
    "life",
    "state",
    "soul",
    "knowledge",
    "courage",
    "law",
]


async def _recreate(admin_dsn: str) -> None:
    connection = await asyncpg.connect(f"{admin_dsn}/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await connection.close()


async def _course(
    connection: asyncpg.Connection, *, rooms: int, students: int, messages: int, tag: str
) -> tuple[uuid.UUID, uuid.UUID]:
    """A course of the given shape; (course id, owner id)."""
    now = datetime.now(UTC)
    start = now - timedelta(days=7)
    owner = uuid.uuid4()
    people = [uuid.uuid4() for _ in range(students)]
    users = [(owner, f"owner-{tag}@example.test", f"Owner {tag}")] + [
        (pid, f"s{n}-{tag}@example.test", f"Student {n} {tag}") for n, pid in enumerate(people)
    ]
    await connection.copy_records_to_table(
        "user_account",
        records=[(u, e, n, "student", True, now, now) for u, e, n in users],
        columns=["id", "email", "full_name", "role", "is_active", "created_at", "updated_at"],
    )
    course = uuid.uuid4()
    await connection.execute(
        "INSERT INTO course (id, title, owner_id, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $4)",
        course,
        f"Bench {tag}",
        owner,
        now,
    )
    await connection.copy_records_to_table(
        "course_membership",
        records=[(uuid.uuid4(), course, pid, "student", now, now) for pid in people],
        columns=["id", "course_id", "user_id", "role", "created_at", "updated_at"],
    )
    rng = random.Random(7)
    room_rows, message_rows = [], []
    for index in range(rooms):
        room = uuid.uuid4()
        room_rows.append(
            (room, course, f"Room {index}", "teacher_only", 0.5, True, True, messages, now, now)
        )
        for seq in range(1, messages + 1):
            agent = seq % 10 == 0
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))
            message_rows.append(
                (
                    uuid.uuid4(),
                    room,
                    seq,
                    None if agent else people[(seq + index) % students],
                    "teacher" if agent else None,
                    text,
                    start + timedelta(seconds=seq * 30 + rng.randint(0, 20)),
                    now,
                )
            )
    await connection.copy_records_to_table(
        "room",
        records=room_rows,
        columns=[
            "id",
            "course_id",
            "name",
            "ai_mode",
            "ai_frequency",
            "is_ai_active",
            "is_analytics_active",
            "last_seq",
            "created_at",
            "updated_at",
        ],
    )
    await connection.copy_records_to_table(
        "message",
        records=message_rows,
        columns=[
            "id",
            "room_id",
            "seq",
            "sender_id",
            "agent_type",
            "content",
            "created_at",
            "updated_at",
        ],
    )
    return course, owner


async def _config(container: Container, course: uuid.UUID, url: str) -> None:
    now = datetime.now(UTC)
    async with container.uow() as uow:
        await uow.agent_configs.add(
            AgentConfig(
                id=uuid.uuid4(),
                course_id=course,
                type=AgentType.ANALYTICS,
                name="Analyst",
                provider=Provider.OPENAI,
                model="gpt-bench",
                base_url=f"{url}/v1",
                system_prompt="Summarise the room.",
                context_window=50,
                trigger=DEFAULT_TRIGGER,
                schedule=None,
                settings={},
                is_active=True,
                created_by=None,
                created_at=now,
                updated_at=now,
            )
        )
        await uow.commit()


class Statements:
    def __init__(self, container: Container) -> None:
        self.count = 0
        self._engine = container.engine.sync_engine

    def _seen(self, *_: Any) -> None:
        self.count += 1

    def __enter__(self) -> "Statements":
        event.listen(self._engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)


async def _job(container: Container, course: uuid.UUID, owner: uuid.UUID) -> tuple[float, Any]:
    store = container.worker.run_analytics_job._store
    job, _ = await store.create_job(
        AnalyticsJob(
            id=uuid.uuid4(),
            course_id=course,
            status=JobStatus.QUEUED,
            rooms_done=0,
            rooms_total=0,
            requested_by=owner,
            created_at=datetime.now(UTC),
        )
    )
    started = time.perf_counter()
    status = await container.worker.run_analytics_job.execute(RunAnalyticsJobCommand(job_id=job.id))
    return time.perf_counter() - started, status


async def main(args: argparse.Namespace) -> None:
    await _recreate(args.pg)
    url = f"{args.pg.replace('postgresql://', 'postgresql+asyncpg://')}/{DATABASE}"
    await asyncio.to_thread(migrations.upgrade, url)
    connection = await asyncpg.connect(f"{args.pg}/{DATABASE}")
    began = time.perf_counter()
    try:
        big, big_owner = await _course(
            connection,
            rooms=args.rooms,
            students=args.students,
            messages=args.messages,
            tag="big",
        )
        small, small_owner = await _course(
            connection, rooms=args.rooms, students=10, messages=args.messages, tag="small"
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    print(
        f"seeded {2 * args.rooms * args.messages:,} messages in {time.perf_counter() - began:.1f} s"
    )

    data = Path(args.data_dir or tempfile.mkdtemp(prefix="coagent-bench-analytics-"))
    env = {
        "DATABASE_URL": url,
        "DATA_DIR": str(data),
        "SECRET_KEY": "b" * 40,
        "ENCRYPTION_KEYS": "q3N5e0tCmUcR4a2m0J3VhTn9e8kYV3mR0hT1k8iGx2E=",
        "LLM_CALLS_PER_USER_PER_MINUTE": "100000",
        "LLM_CALLS_PER_COURSE_PER_MINUTE": "100000",
        "LOG_LEVEL": "WARNING",
        "SEED_DEMO": "false",
    }
    async with FakeLLMServer(
        default=Reply(json=openai_completion("**Participation**: fine."), delay=args.latency)
    ) as server:
        containers = {
            c: build_container(load_settings({**env, "ANALYTICS_CONCURRENCY": str(c)}))
            for c in (1, 4)
        }
        try:
            one = containers[1]
            store = one.worker.run_analytics_job._store
            rooms = list(await store.room_ids(big))
            times = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                figures = await store.figures(rooms, teacher_name="Teacher")
                times.append(time.perf_counter() - started)
            print(
                f"figures, {len(rooms)} rooms x {args.messages} messages x {args.students} "
                f"students: median {statistics.median(times) * 1000:.0f} ms, "
                f"min {min(times) * 1000:.0f} ms ({len(figures.students)} student rows)"
            )
            counts = {}
            for course, label in ((small, "10"), (big, str(args.students))):
                course_rooms = list(await store.room_ids(course))
                with Statements(one) as seen:
                    await store.figures(course_rooms, teacher_name="Teacher")
                counts[label] = seen.count
            print(f"statements for the figures, by students: {counts}")

            await _config(one, big, server.url)
            await _config(one, small, server.url)
            job_counts = {}
            for course, owner, label in (
                (small, small_owner, "10"),
                (big, big_owner, str(args.students)),
            ):
                with Statements(one) as seen:
                    elapsed, status = await _job(one, course, owner)
                job_counts[label] = seen.count
                print(f"job, {label} students, concurrency 1: {elapsed:.2f} s, {status}")
            print(f"statements for a whole job ({args.rooms} rooms), by students: {job_counts}")
            elapsed, status = await _job(containers[4], big, big_owner)
            print(f"job, {args.students} students, concurrency 4: {elapsed:.2f} s, {status}")
            print(f"model calls made: {len(server.seen)} at {args.latency * 1000:.0f} ms each")
        finally:
            for container in containers.values():
                await container.aclose()
    connection = await asyncpg.connect(f"{args.pg}/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    finally:
        await connection.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data-dir", default=None, help="default: a new temporary directory")
    asyncio.run(main(parser.parse_args()))
