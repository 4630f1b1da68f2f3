"""An SDK generated from our OpenAPI document with `openapi-python-client`'s default settings
imports, type-checks (`mypy --strict`) and runs a full scenario against the real server
(issue 19): log in, create a course, enroll, create a room, send (and replay) and read
messages, create and activate an agent configuration, read problems as typed errors.

The scenario is `generated_client_scenario.py`, copied beside the generated package so that
mypy checks it against the SDK's types.
"""

import http.client
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import process_env
from tests.integration.loopback import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent
COAGENT = str(BIN / "coagent")
GENERATOR = str(BIN / "openapi-python-client")
PACKAGE = "co_agent_studio_api_client"  # from the document's title
SCENARIO = Path(__file__).with_name("generated_client_scenario.py")
ADMIN = "sdk-admin@example.org"
ADMIN_PASSWORD = "an sdk admin passphrase"


def _run(*command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own tools
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _get(port: int, path: str) -> tuple[int, bytes]:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        client.request("GET", path)
        response = client.getresponse()
        return response.status, response.read()
    finally:
        client.close()


def _wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert server.poll() is None, "the server exited"
        assert time.monotonic() < deadline, "the server did not come up"
        try:
            if _get(port, "/health")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)


@pytest.fixture
def server(tmp_path: Path):
    port = free_port()
    env = process_env(
        DATA_DIR=str(tmp_path / "data"),
        SEED_DEMO="false",
        SUPER_ADMIN=ADMIN,
        SUPER_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own entry point
            [COAGENT, "run", "--port", str(port)], env=env, stdout=log, stderr=log
        )
        try:
            _wait_until_up(port, process)
            yield port
        finally:
            process.terminate()
            process.wait(30)


def test_a_generated_client_imports_type_checks_and_runs_the_scenario(
    server: int, tmp_path: Path
) -> None:
    status, document = _get(server, "/api/v1/openapi.json")
    assert status == 200
    (tmp_path / "openapi.json").write_bytes(document)
    # The generator's post-hooks call ruff; our environment's tools come first on PATH.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONWARNINGS", None)

    generated = _run(
        GENERATOR, "generate", "--path", "openapi.json", "--output-path", "sdk",
        cwd=tmp_path, env=env,
    )  # fmt: skip

    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Duplicate key" not in generated.stdout
    sdk = tmp_path / "sdk"
    assert (sdk / PACKAGE / "api" / "meta" / "list_timezones.py").is_file()
    shutil.copy(SCENARIO, sdk / SCENARIO.name)

    # Every generated module imports.
    imported = _run(
        sys.executable,
        "-c",
        "import importlib, pkgutil, sys\n"
        f"import {PACKAGE} as package\n"
        "for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "    importlib.import_module(module.name)\n",
        cwd=sdk,
        env=env,
    )
    assert imported.returncode == 0, imported.stderr

    checked = _run(
        sys.executable, "-m", "mypy", "--strict", "--no-incremental",
        "--cache-dir", str(tmp_path / "mypy-cache"), PACKAGE, SCENARIO.name,
        cwd=sdk, env=env,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr

    ran = _run(
        sys.executable, SCENARIO.name, f"http://127.0.0.1:{server}", ADMIN, ADMIN_PASSWORD,
        cwd=sdk, env=env,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "scenario passed" in ran.stdout
