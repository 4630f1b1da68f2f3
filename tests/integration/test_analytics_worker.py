"""A real `coagent worker` SIGKILLed in the middle of an analytics job: the job is taken over
by another worker once its lease has expired (the periodic reclaim queues it again) and
produces exactly one report. PostgreSQL, Redis (the test database) and the real OpenAI SDK
against the scripted server of fake_llm_server.py.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from coagent.adapters.realtime.events import STAFF, open_addressed
from coagent.adapters.realtime.hub import room_channel
from coagent.application.analytics.await_job import AwaitAnalyticsJobCommand
from coagent.application.analytics.reclaim_jobs import ReclaimAnalyticsJobsCommand
from coagent.application.analytics.start_job import StartAnalyticsJobCommand
from coagent.domain.agents.config import AgentConfig, AgentType, Provider
from coagent.domain.agents.trigger import DEFAULT_TRIGGER
from coagent.domain.analytics.job import JobStatus
from coagent.main.broker import create_broker
from coagent.main.container import build_container
from tests.conftest import make_settings
from tests.integration.analytics_fixture import T0, build
from tests.integration.conftest import UserFactory, new_id, process_env
from tests.integration.fake_llm_server import FakeLLMServer, Reply, Seen, openai_completion

pytestmark = [pytest.mark.integration, pytest.mark.anyio, pytest.mark.slow]

COAGENT = str(Path(sys.executable).with_name("coagent"))
LEASE = 5


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own entry point
            [COAGENT, "worker"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


async def test_a_worker_killed_mid_job_leaves_exactly_one_report(
    pg: str, redis_url: str, tmp_path: Path
) -> None:
    first_call = asyncio.Event()
    slow = {"on": True}

    def answer(seen: Seen) -> Reply:
        first_call.set()
        # While the first worker lives, every call hangs (it dies holding the job).
        return Reply(json=openai_completion("**Summary**"), delay=60 if slow["on"] else 0)

    values: dict[str, Any] = {
        "DATABASE_URL": pg,
        "REDIS_URL": redis_url,
        "ANALYTICS_LEASE_SECONDS": LEASE,
        "ANALYTICS_CONCURRENCY": 1,
        "LLM_MAX_RETRIES": 0,
        "LOG_JSON": "false",
    }
    settings = make_settings(tmp_path, **values)
    env = process_env(**{key: str(value) for key, value in values.items()})
    container = build_container(settings)
    broker = create_broker(settings)
    await broker.startup()
    container.job_queue.bind(broker)
    log = tmp_path / "workers.log"
    try:
        async with FakeLLMServer(default=answer) as server:
            owner = UserFactory.build()
            fixture = await build(container.uow, owner)
            now = T0
            async with container.uow() as uow:
                await uow.agent_configs.add(
                    AgentConfig(
                        id=new_id(),
                        course_id=fixture.course.id,
                        type=AgentType.ANALYTICS,
                        name="Analyst",
                        provider=Provider.OPENAI,
                        model="gpt-analyst",
                        base_url=f"{server.url}/v1",  # a local server needs no key
                        system_prompt="Summarise.",
                        context_window=20,
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

            with worker(env, log) as doomed:
                started = await container.analytics.http.start.execute(
                    StartAnalyticsJobCommand(actor_id=owner.id, course_id=fixture.course.id)
                )
                job_id = started.job.id
                await asyncio.wait_for(first_call.wait(), 60)
                os.killpg(doomed.pid, signal.SIGKILL)
                await asyncio.to_thread(doomed.wait, 10)
            held = await container.analytics.http.wait.execute(
                AwaitAnalyticsJobCommand(job_id=job_id, timeout=0)
            )
            assert (held.status, held.attempts) == (JobStatus.RUNNING, 1), log.read_text()
            slow["on"] = False

            # Staff sockets in any web process get the job's events: listen on the room's
            # channel as a web process's hub does.
            listener = Redis.from_url(redis_url)
            channel = listener.pubsub()
            await channel.subscribe(room_channel(fixture.main.id))
            with worker(env, log):
                # The periodic reclaim (every minute in `coagent scheduler`), run here every
                # 100 ms until the dead worker's lease has expired: a wait on the clock.
                reclaim = container.worker.reclaim_analytics_jobs
                for _ in range(LEASE * 20):
                    if await reclaim.execute(ReclaimAnalyticsJobsCommand()):
                        break
                    await asyncio.sleep(0.1)
                ended = await container.analytics.http.wait.execute(
                    AwaitAnalyticsJobCommand(job_id=job_id, timeout=60)
                )
            assert ended.status is JobStatus.SUCCEEDED, log.read_text()
            frames = []
            deadline = asyncio.get_running_loop().time() + 20
            while not frames or json.loads(frames[-1][3])["type"] != "job.completed":
                # The worker publishes right after its commit: wait for the frame itself
                # (None: the subscription's own confirmation, or nothing yet).
                assert asyncio.get_running_loop().time() < deadline, frames
                message = await channel.get_message(ignore_subscribe_messages=True, timeout=5)
                if message is not None:
                    frames.append(open_addressed(message["data"]))
            await channel.aclose()
            await listener.aclose()
            kinds = [json.loads(frame)["type"] for _, audience, _, frame in frames]
            assert kinds[-1] == "job.completed", kinds
            assert "job.progress" in kinds
            assert {audience for _, audience, _, _ in frames} == {STAFF}
            assert ended.attempts == 2
            async with container.engine.connect() as connection:
                reports = (
                    await connection.execute(
                        text("SELECT id FROM analytics_report WHERE course_id = :c"),
                        {"c": fixture.course.id},
                    )
                ).all()
            assert [row[0] for row in reports] == [ended.report_id]
            # The room with chat was asked of the model by each worker in turn.
            assert len(server.seen) == 2
    finally:
        await broker.shutdown()
        await container.aclose()
