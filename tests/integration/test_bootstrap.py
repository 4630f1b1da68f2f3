"""First start: several processes bootstrap the same fresh database at the same moment."""

import asyncio
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from coagent.adapters.persistence.engine import create_engine
from coagent.application.accounts.bootstrap_super_admin import BOOTSTRAP_KEY
from coagent.domain.accounts.roles import Role
from coagent.main.app import bootstrap
from coagent.main.container import build_container
from tests.conftest import make_settings
from tests.integration.conftest import UserFactory, process_env

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

PROCESSES = 4

# Each process builds its container and opens a connection, says it is ready, then waits for
# the common start signal, so the bootstraps really overlap.
BOOTSTRAP = """
import asyncio, os, pathlib, sys, time
from sqlalchemy import text
from coagent.main.app import bootstrap
from coagent.main.container import build_container
from coagent.main.settings import load_settings

async def main():
    container = build_container(load_settings())
    try:
        async with container.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        pathlib.Path(os.environ["READY_FILE"]).touch()
        go, deadline = pathlib.Path(os.environ["GO_FILE"]), time.monotonic() + 60
        while not go.exists():
            if time.monotonic() > deadline:
                sys.exit("no start signal")
            await asyncio.sleep(0.005)
        await bootstrap(container)
    finally:
        await container.aclose()

asyncio.run(main())
"""


async def start(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BOOTSTRAP,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str]:
    output, _ = await asyncio.wait_for(process.communicate(), timeout=90)
    return process.returncode, output.decode(errors="replace")


async def super_admins(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT email, password_hash FROM user_account WHERE role = 'super_admin'")
            )
            return [tuple(row) for row in rows]
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_concurrent_first_starts_create_one_super_admin(pg: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    base = {
        "DATABASE_URL": pg,
        "SUPER_ADMIN": "root@example.test",
        "SUPER_ADMIN_PASSWORD": "first start password",
        "GO_FILE": str(go),
    }
    ready = [tmp_path / f"ready-{n}" for n in range(PROCESSES)]
    processes = [await start(process_env(**base, READY_FILE=str(marker))) for marker in ready]
    deadline = time.monotonic() + 60
    while not all(marker.exists() for marker in ready) and time.monotonic() < deadline:
        if any(p.returncode is not None for p in processes):
            break
        await asyncio.sleep(0.02)
    go.touch()
    results = await asyncio.gather(*(finish(p) for p in processes))

    assert [code for code, _ in results] == [0] * PROCESSES, results
    assert all(marker.exists() for marker in ready)
    admins = await super_admins(pg)
    assert len(admins) == 1
    email, first_hash = admins[0]
    assert email == "root@example.test"
    assert first_hash.startswith("$argon2")
    assert sum("created the first super admin" in output for _, output in results) == 1
    assert not any("first start password" in output for _, output in results)

    # A later start, even with another password configured, changes nothing.
    container = build_container(
        make_settings(
            tmp_path,
            DATABASE_URL=pg,
            SUPER_ADMIN="root@example.test",
            SUPER_ADMIN_PASSWORD="another password",
        )
    )
    try:
        await bootstrap(container)
    finally:
        await container.aclose()

    assert await super_admins(pg) == [("root@example.test", first_hash)]


async def test_first_start_never_takes_over_an_existing_account(pg: str, tmp_path: Path) -> None:
    container = build_container(
        make_settings(
            tmp_path,
            DATABASE_URL=pg,
            SUPER_ADMIN="taken@example.test",
            SUPER_ADMIN_PASSWORD="would be the new password",
        )
    )
    try:
        student = UserFactory.build(email="taken@example.test")
        async with container.uow() as uow:
            await uow.users.add(student)
            await uow.commit()

        await bootstrap(container)  # logs and carries on: a start never fails over this

        async with container.uow() as uow:
            assert await uow.users.get(student.id) == student
            assert not await uow.users.exists_with_role(Role.SUPER_ADMIN)
        # The one-time marker went back with the failed account, so a corrected
        # SUPER_ADMIN still works on a later start.
        async with container.uow() as uow:
            assert await uow.system.claim(BOOTSTRAP_KEY)
    finally:
        await container.aclose()
    assert await super_admins(pg) == []
