"""Containerfile and compose.yaml: real `coagent` commands, a non-root image, no default secret.

Docker is not available where the tests run, so these read the files instead of building them.
The structural compose checks need PyYAML and are skipped without it; the command and secret
checks also work from the text alone.
"""

import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from coagent.main.cli import cli
from coagent.main.liveness import SCHEDULER_ALIVE, WORKER_ALIVE

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML is a transitive dependency, not a declared one
    yaml = None

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
COMPOSE = ROOT / "compose.yaml"
APP_SERVICES = ("migrate", "web", "worker", "scheduler")
SECRETS = ("SECRET_KEY", "ENCRYPTION_KEYS")
needs_yaml = pytest.mark.skipif(yaml is None, reason="PyYAML is not installed")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in CONTAINERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Containerfile ends inside a continued line"
    result = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        result.append((instruction.upper(), arguments.strip()))
    return result


def _only(instruction: str) -> list[str]:
    return [args for name, args in _instructions() if name == instruction]


def _exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), f"not the exec (JSON) form: {arguments}"
    assert all(isinstance(item, str) for item in value)
    return value


def _compose() -> dict[str, Any]:
    assert yaml is not None
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def _compose_commands() -> dict[str, list[str]]:
    """Service -> command; from the YAML, or from the flow sequences in the text."""
    if yaml is not None:
        services = _compose()["services"]
        return {
            name: service["command"]
            for name, service in services.items()
            if name in APP_SERVICES and "command" in service
        }
    commands, service = {}, None
    for line in COMPOSE.read_text().splitlines():
        if match := re.match(r"^  ([a-z][\w-]*):\s*$", line):
            service = match.group(1)
        elif (match := re.match(r"^\s+command:\s*(\[.*\])\s*$", line)) and service in APP_SERVICES:
            commands[service] = json.loads(match.group(1))
    return commands


def _container_command() -> list[str]:
    entrypoint = _exec_form(_only("ENTRYPOINT")[-1])
    assert entrypoint == ["coagent"]
    return _exec_form(_only("CMD")[-1])


def _resolve(arguments: list[str]) -> tuple[list[str], click.Command, list[str]]:
    """Split `coagent` arguments into the subcommand path, its command and its options."""
    command: click.Command = cli
    path: list[str] = []
    rest = list(arguments)
    context = click.Context(cli, info_name="coagent")
    while isinstance(command, click.Group):
        assert rest, f"{path} needs a subcommand"
        found = command.get_command(context, rest[0])
        assert found is not None, f"`coagent {' '.join([*path, rest[0]])}` is not a command"
        path.append(rest.pop(0))
        command = found
    return path, command, rest


def _used_commands() -> dict[str, list[str]]:
    return {"Containerfile CMD": _container_command(), **_compose_commands()}


def test_every_deployed_command_is_a_real_coagent_subcommand():
    used = _used_commands()
    assert set(used) == {"Containerfile CMD", *APP_SERVICES}
    runner = CliRunner()
    for where, arguments in used.items():
        path, command, options = _resolve(arguments)
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, f"{where}: coagent {' '.join(path)} --help\n{result.output}"
        # The options parse too (without running the command).
        command.make_context(" ".join(["coagent", *path]), list(options))


def test_the_expected_commands_are_deployed():
    used = _used_commands()
    assert used["Containerfile CMD"][:1] == ["run"]
    assert used["migrate"] == ["db", "upgrade"]
    assert used["web"][:1] == ["run"]
    assert used["worker"][:1] == ["worker"]
    assert used["scheduler"] == ["scheduler"]
    for where in ("Containerfile CMD", "web"):
        arguments = used[where]
        assert arguments[arguments.index("--host") + 1] == "0.0.0.0", where  # noqa: S104
        assert arguments[arguments.index("--port") + 1] == "8000", where
    web = used["web"]
    assert int(web[web.index("--workers") + 1]) >= 2


def test_containerfile_builds_with_the_lock_and_runs_unprivileged():
    froms = _only("FROM")
    assert len(froms) >= 2, "multi-stage build expected"
    assert all(line.split()[0] == "python:3.11-slim" for line in froms)
    runs = " ".join(_only("RUN"))
    assert re.search(r"\bpip install\b[^&]*\buv\b", runs), "uv comes from PyPI through pip"
    assert re.search(r"\buv sync\b[^&]*--frozen", runs)
    assert re.search(r"\buv sync\b[^&]*--no-dev", runs)
    copied = " ".join(_only("COPY"))
    for item in ("src/", "migrations/", "pyproject.toml", "uv.lock", "README.md"):
        assert item in copied, item

    # The last stage (the image) switches to a user that is not root.
    instructions = _instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    users = [args for name, args in instructions[last_from:] if name == "USER"]
    assert users, "the runtime stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0", ""}


def test_container_healthcheck_and_port():
    assert _only("EXPOSE") == ["8000"]
    (healthcheck,) = _only("HEALTHCHECK")
    assert "urllib" in healthcheck
    assert "http://127.0.0.1:8000/health" in healthcheck


def test_no_default_secret_in_the_deploy_files():
    compose = COMPOSE.read_text()
    for name in SECRETS:
        values = re.findall(rf"^\s*{name}:\s*(.+?)\s*$", compose, flags=re.MULTILINE)
        assert values, f"{name} is not passed to the services"
        for value in values:
            assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", value), f"{name}: {value}"
    containerfile = CONTAINERFILE.read_text()
    for name in SECRETS:
        assert not re.search(rf"^\s*(ENV|ARG)\b.*\b{name}\b", containerfile, re.MULTILINE)
    # Nothing that looks like a Fernet key or a long literal secret in either file.
    for text in (compose, containerfile):
        assert not re.search(r"[A-Za-z0-9_-]{43}=", text)


@needs_yaml
def test_compose_services_and_their_order():
    services = _compose()["services"]
    assert {"postgres", "redis", *APP_SERVICES} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["image"].startswith("redis:7")
    assert services["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]

    def condition(service: str, on: str) -> str:
        return str(services[service]["depends_on"][on]["condition"])

    assert condition("migrate", "postgres") == "service_healthy"
    assert condition("web", "migrate") == "service_completed_successfully"
    assert condition("web", "redis") == "service_healthy"
    assert condition("worker", "redis") == "service_healthy"
    assert condition("scheduler", "redis") == "service_healthy"
    assert services["scheduler"]["deploy"]["replicas"] == 1  # two would kick tasks twice
    assert services["migrate"].get("restart") == "no"
    assert "/health" in " ".join(services["web"]["healthcheck"]["test"])
    # The image's HEALTHCHECK probes the web port; the migration does not serve it.
    assert services["migrate"]["healthcheck"] == {"disable": True}
    # The scheduler and workers are healthy while they keep touching their files.
    for name, alive in (("scheduler", SCHEDULER_ALIVE), ("worker", WORKER_ALIVE)):
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert f"getmtime('{alive}')" in probe


@needs_yaml
def test_app_services_share_one_environment():
    services = _compose()["services"]
    environments = [services[name]["environment"] for name in APP_SERVICES]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    assert env["DATABASE_URL"] == "postgresql+asyncpg://coagent:coagent@postgres:5432/coagent"
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert {"ALLOWED_ORIGINS", "SECURE_COOKIES", *SECRETS} <= set(env)
    for name in SECRETS:
        assert str(env[name]).startswith(f"${{{name}:?")
