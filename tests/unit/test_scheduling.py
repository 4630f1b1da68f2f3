"""Periodic housekeeping is declared once, on the task, and read by the scheduler."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from coagent.adapters.worker.tasks import PURGE_EXPIRED_SESSIONS, RECLAIM_ANALYTICS_JOBS
from coagent.main.broker import create_scheduler
from coagent.main.cli import cli
from tests.conftest import make_settings


@pytest.mark.anyio
async def test_scheduler_kicks_the_purge_and_the_analytics_reclaim(tmp_path: Path):
    settings = make_settings(tmp_path, REDIS_URL="redis://127.0.0.1:6379/13")
    scheduler = create_scheduler(settings)
    schedules = []
    for source in scheduler.sources:
        await source.startup()
        schedules += await source.get_schedules()
    assert sorted((s.task_name, s.cron) for s in schedules) == [
        (PURGE_EXPIRED_SESSIONS, "*/15 * * * *"),
        (RECLAIM_ANALYTICS_JOBS, "* * * * *"),
    ]


def test_scheduler_and_worker_refuse_to_run_without_redis(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    for command in ("scheduler", "worker"):
        result = CliRunner().invoke(cli, [command])
        assert result.exit_code != 0
        assert "REDIS_URL is required" in result.output
