"""The README's commands as a newcomer types them: the bootstrap on Debian's system Python in
a clean home, `./scripts/coagent`, and `make run` with options and Ctrl-C.
"""

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.cli_helpers import wait_until_up
from tests.integration.conftest import process_env
from tests.integration.loopback import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DEBIAN_PYTHON = Path("/usr/bin/python3")
# What the bootstrap needs of the repository (the rest of it plays no part).
PROJECT = ("pyproject.toml", "uv.lock", "README.md", "src", "scripts", "migrations")


def _debian_python_without_uv() -> bool:
    managed = list(Path("/usr/lib").glob("python3*/EXTERNALLY-MANAGED"))
    return DEBIAN_PYTHON.exists() and bool(managed)


def _real_cache(name: str, variable: str) -> str:
    return os.environ.get(variable) or str(Path.home() / ".cache" / name)


@pytest.mark.skipif(not _debian_python_without_uv(), reason="needs Debian's system Python")
def test_readme_commands_work_after_the_bootstrap_in_a_clean_home(tmp_path: Path) -> None:
    project, home = tmp_path / "project", tmp_path / "home"
    home.mkdir()
    project.mkdir()
    for name in PROJECT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, project / name)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("UV_", "PYTHON", "VIRTUAL_ENV", "COAGENT", "DATABASE_URL"))
    }
    env.update(
        HOME=str(home),
        PATH="/usr/bin:/bin",  # Debian's python3, and no uv anywhere on it
        # The caches of this machine, outside the clean home: what was downloaded once (uv's
        # wheel, the locked packages) is not downloaded again; PyPI only for what is missing.
        UV_CACHE_DIR=_real_cache("uv", "UV_CACHE_DIR"),
        PIP_CACHE_DIR=_real_cache("pip", "PIP_CACHE_DIR"),
        DATA_DIR=str(tmp_path / "data"),
        COAGENT_ADMIN_PASSWORD="a long passphrase for the test",
        PASSWORD_HASH_MEMORY_KIB="64",
        PASSWORD_HASH_TIME_COST="1",
    )
    assert shutil.which("uv", path=env["PATH"]) is None
    no_uv = subprocess.run(  # noqa: S603 - the machine's python3
        [str(DEBIAN_PYTHON), "-m", "uv", "--version"], env=env, capture_output=True, check=False
    )
    assert no_uv.returncode != 0, "Debian's python3 already has uv: nothing left to test"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own script
            ["./scripts/coagent", *args],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    first = run("--version")
    upgraded = run("db", "upgrade")
    admin = run("users", "create-admin", "--email", "you@example.org")

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("coagent ")
    assert (home / ".local" / "bin" / "uv").exists()
    assert "not on your PATH" in first.stderr
    assert "./scripts/coagent" in first.stderr
    assert "Running pip as the 'root' user" not in first.stderr
    assert "WARNING" not in first.stderr
    assert upgraded.returncode == 0, upgraded.stderr
    assert admin.returncode == 0, admin.stderr
    assert "created super_admin you@example.org" in admin.stdout
    # Only the first run installed anything.
    assert "installing uv" in first.stderr
    assert "installing uv" not in upgraded.stderr + admin.stderr


@pytest.mark.parametrize(
    "command",
    [["make", "run"], ["./scripts/run.sh"]],
    ids=["make run ARGS", "scripts/run.sh"],
)
def test_run_takes_options_and_ctrl_c_ends_it_cleanly(tmp_path: Path, command: list[str]) -> None:
    port = free_port()
    options = ["--port", str(port)]
    argv = [*command, f"ARGS={' '.join(options)}"] if command[0] == "make" else command + options
    env = process_env(DATA_DIR=str(tmp_path / "data"), SEED_DEMO="false")
    env.pop("PYTHONWARNINGS")  # for pip and uv's own Python entry point, not ours
    log = tmp_path / "log"
    with log.open("w") as output:
        # Its own process group, which a terminal's Ctrl-C signals as a whole.
        server = subprocess.Popen(  # noqa: S603 - our own scripts
            argv, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_up(server, port, log)
        os.killpg(server.pid, signal.SIGINT)
        server.wait(60)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    text = log.read_text()
    assert f"listening on http://127.0.0.1:{port}" in text  # the option went through
    assert "Application shutdown complete" in text  # stopped gracefully
    assert "make: ***" not in text
    assert "Error 130" not in text
    assert "Traceback" not in text
    if command[0] == "make":
        # make re-raises the SIGINT it got itself (no "*** Error 130" line): what an
        # interrupted program does, which a shell shows as a plain ^C.
        assert server.returncode == -signal.SIGINT
    else:
        assert server.returncode == 0
