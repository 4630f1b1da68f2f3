"""Settings from the environment: pools, limits, proxies, LLM hosts, agents, analytics."""

import re
from dataclasses import Field
from pathlib import Path
from typing import Any

import pytest

from coagent.main.settings import SAME, SettingsError, Spec, declared, load_settings

# A PostgreSQL configuration with its secrets given: nothing is generated on disk.
BASE = {
    "DATABASE_URL": "postgresql://coagent@db.example/coagent",
    "SECRET_KEY": "s" * 40,
    "ENCRYPTION_KEYS": "yYk3VRSN9JcNS8Wd0yZmQb1WwzjbO5HhUlUixC1qC3I=",
}


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, 10.0), ("", 10.0), ("0.25", 0.25), ("3", 3.0), (" 30 ", 30.0)]
)
def test_db_pool_timeout_is_seconds_defaulting_to_10(raw: str | None, expected: float) -> None:
    env = dict(BASE) if raw is None else {**BASE, "DB_POOL_TIMEOUT": raw}
    assert load_settings(env).db_pool_timeout == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("0", "greater than 0"),
        ("-1", "greater than 0"),
        ("nan", "greater than 0"),
        ("inf", "greater than 0"),
        ("ten", "a number of seconds"),
        ("10s", "a number of seconds"),
    ],
)
def test_a_bad_db_pool_timeout_is_refused_by_name(raw: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=f"^DB_POOL_TIMEOUT must be .*{reason}"):
        load_settings({**BASE, "DB_POOL_TIMEOUT": raw})


def test_rate_and_login_throttle_defaults() -> None:
    settings = load_settings(BASE)
    assert (settings.chat_messages_per_window, settings.chat_window_seconds) == (20, 10)
    assert (settings.llm_calls_per_user_per_minute, settings.llm_calls_per_course_per_minute) == (
        10,
        60,
    )
    assert (
        settings.login_failures_per_pair,
        settings.login_failures_per_account,
        settings.login_failures_per_address,
    ) == (5, 50, 100)
    assert (settings.login_failure_window, settings.login_account_window) == (900, 86_400)
    assert (settings.login_backoff_first, settings.login_backoff_max) == (1, 300)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOGIN_BACKOFF_MAX_SECONDS": "900"}, "LOGIN_BACKOFF_MAX_SECONDS must be at least"),
        ({"LOGIN_ACCOUNT_WINDOW_SECONDS": "300"}, "LOGIN_BACKOFF_MAX_SECONDS must be at least"),
        ({"LOGIN_BACKOFF_FIRST_SECONDS": "301"}, "LOGIN_BACKOFF_MAX_SECONDS must be at least"),
        ({"LOGIN_FAILURES_PER_PAIR": "0"}, "LOGIN_FAILURES_PER_PAIR must be at least 1"),
        ({"LLM_CALLS_PER_USER_PER_MINUTE": "0"}, "LLM_CALLS_PER_USER_PER_MINUTE must be at"),
        ({"LLM_CALLS_PER_COURSE_PER_MINUTE": "x"}, "LLM_CALLS_PER_COURSE_PER_MINUTE must be an"),
    ],
)
def test_bad_limits_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=f"^{message}"):
        load_settings({**BASE, **env})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ("127.0.0.1", "::1")),
        ("", ("127.0.0.1", "::1")),
        ("10.0.0.2", ("10.0.0.2",)),
        (" 10.0.0.0/8, fd00::/8 ,", ("10.0.0.0/8", "fd00::/8")),
        ("*", ("*",)),
    ],
)
def test_forwarded_allow_ips_defaults_to_loopback(
    raw: str | None, expected: tuple[str, ...]
) -> None:
    env = dict(BASE) if raw is None else {**BASE, "FORWARDED_ALLOW_IPS": raw}
    assert load_settings(env).forwarded_allow_ips == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("proxy.internal", "not an IP address or a CIDR network"),
        ("10.0.0.0/33", "not an IP address or a CIDR network"),
        ("*, 10.0.0.2", 'either "\\*" or a list'),
    ],
)
def test_a_bad_forwarded_allow_ips_is_refused_by_name(raw: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=f"^FORWARDED_ALLOW_IPS.*{reason}"):
        load_settings({**BASE, "FORWARDED_ALLOW_IPS": raw})


# --- LLM_ALLOWED_HOSTS ----------------------------------------------------------------------


def test_llm_allowed_hosts_default_to_nothing_with_a_database_url() -> None:
    assert load_settings(BASE).llm_allowed_hosts == ()


def test_the_embedded_default_allows_loopback(tmp_path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path), "SECRET_KEY": "s" * 40})
    assert settings.embedded
    assert settings.llm_allowed_hosts == ("localhost", "127.0.0.0/8", "::1")


def test_llm_allowed_hosts_are_names_and_ranges() -> None:
    raw = " Ollama.LAN, 10.0.0.0/8 ,fd00::/8,[::1], 192.168.1.5 ,"
    assert load_settings({**BASE, "LLM_ALLOWED_HOSTS": raw}).llm_allowed_hosts == (
        "ollama.lan",
        "10.0.0.0/8",
        "fd00::/8",
        "[::1]",
        "192.168.1.5",
    )


@pytest.mark.parametrize("entry", ["http://ollama.lan", "10.0.0.0/33", "*.example.org", "a b"])
def test_a_bad_llm_allowed_host_is_refused_by_name(entry: str) -> None:
    with pytest.raises(SettingsError, match=r"^LLM_ALLOWED_HOSTS: .* neither a host name"):
        load_settings({**BASE, "LLM_ALLOWED_HOSTS": f"localhost,{entry}"})


def test_agent_settings_default_as_documented() -> None:
    settings = load_settings(BASE)
    assert settings.agent_turns_per_minute == 6
    assert (settings.agent_mentions_per_user, settings.agent_mention_window_seconds) == (5, 60)
    assert settings.agent_lease_seconds == 15
    assert settings.agent_proposal_ttl_seconds == 600
    assert settings.scheduler_tick_seconds == 1.0


@pytest.mark.parametrize(
    ("name", "raw", "reason"),
    [
        ("AGENT_TURNS_PER_MINUTE", "0", "at least 1"),
        ("AGENT_TURNS_PER_MINUTE", "601", "at most 600"),
        ("AGENT_MENTIONS_PER_USER", "1001", "at most 1000"),
        ("AGENT_MENTION_WINDOW_SECONDS", "3601", "at most 3600"),
        ("AGENT_LEASE_SECONDS", "2", "at least 3"),
        ("AGENT_LEASE_SECONDS", "301", "at most 300"),
        ("AGENT_PROPOSAL_TTL_SECONDS", "4", "at least 5"),
        ("AGENT_PROPOSAL_TTL_SECONDS", "86401", "at most 86400"),
        ("SCHEDULER_TICK_SECONDS", "0.05", "between 0.1 and 2"),
        ("SCHEDULER_TICK_SECONDS", "5", "between 0.1 and 2"),
        ("SCHEDULER_TICK_SECONDS", "soon", "a number of seconds"),
    ],
)
def test_agent_settings_out_of_bounds_are_refused_by_name(name: str, raw: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name} must be .*{reason}"):
        load_settings({**BASE, name: raw})


def test_agent_settings_within_bounds_are_read() -> None:
    env = {**BASE, "AGENT_TURNS_PER_MINUTE": "2", "SCHEDULER_TICK_SECONDS": "0.5"}
    settings = load_settings(env)
    assert (settings.agent_turns_per_minute, settings.scheduler_tick_seconds) == (2, 0.5)


def test_analytics_defaults_and_values() -> None:
    settings = load_settings(BASE)
    assert (
        settings.analytics_wait_seconds,
        settings.analytics_concurrency,
        settings.analytics_lease_seconds,
    ) == (30, 4, 60)
    chosen = load_settings(
        {
            **BASE,
            "ANALYTICS_WAIT_SECONDS": "0",
            "ANALYTICS_CONCURRENCY": "64",
            "ANALYTICS_LEASE_SECONDS": "5",
        }
    )
    assert (
        chosen.analytics_wait_seconds,
        chosen.analytics_concurrency,
        chosen.analytics_lease_seconds,
    ) == (0, 64, 5)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ANALYTICS_WAIT_SECONDS": "-1"}, "ANALYTICS_WAIT_SECONDS must be at least 0"),
        ({"ANALYTICS_WAIT_SECONDS": "301"}, "ANALYTICS_WAIT_SECONDS must be at most 300"),
        ({"ANALYTICS_CONCURRENCY": "0"}, "ANALYTICS_CONCURRENCY must be at least 1"),
        ({"ANALYTICS_CONCURRENCY": "65"}, "ANALYTICS_CONCURRENCY must be at most 64"),
        ({"ANALYTICS_LEASE_SECONDS": "4"}, "ANALYTICS_LEASE_SECONDS must be at least 5"),
        ({"ANALYTICS_LEASE_SECONDS": "x"}, "ANALYTICS_LEASE_SECONDS must be an integer"),
    ],
)
def test_bad_analytics_settings_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=f"^{message}"):
        load_settings({**BASE, **env})


# --- every declared setting, table-driven ----------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"
DECLARED = declared()
# Their errors are checked above: a window at its minimum fails the back-off cross-check.
CROSS_CHECKED = {
    "LOGIN_FAILURE_WINDOW_SECONDS",
    "LOGIN_ACCOUNT_WINDOW_SECONDS",
    "LOGIN_BACKOFF_FIRST_SECONDS",
    "LOGIN_BACKOFF_MAX_SECONDS",
}


def _bad_values() -> list[tuple[str, str, str]]:
    """(variable, value, what the error says) for every int, float and bool setting."""
    cases = []
    for item, spec in DECLARED:
        if spec.derived or spec.parse is not None:
            continue
        name = spec.env
        if item.type is bool:
            cases.append((name, "maybe-xyzzy", "a boolean"))
        elif item.type is int:
            minimum = 1 if spec.minimum is None else int(spec.minimum)
            cases += [(name, "ten-xyzzy", "an integer"), (name, "1.5", "an integer")]
            cases.append((name, str(minimum - 1), f"at least {minimum}"))
            if spec.maximum is not None:
                cases.append((name, str(int(spec.maximum) + 1), f"at most {spec.maximum:g}"))
        elif item.type is float:
            cases += [
                (name, "soon-xyzzy", "a number of seconds"),
                (name, "nan", "a number of seconds"),
            ]
            cases.append((name, "0", "a number of seconds"))
            if spec.maximum is not None:
                cases.append((name, str(spec.maximum * 10), f"and {spec.maximum:g}"))
    return cases


@pytest.mark.parametrize(("name", "raw", "says"), _bad_values(), ids=str)
def test_every_bad_value_is_refused_naming_the_variable(name: str, raw: str, says: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({**BASE, name: raw})

    message = str(refused.value)
    assert message.startswith(f"{name} must be "), message
    assert says in message
    assert "xyzzy" not in message  # the value is not echoed


def _bounds() -> list[tuple[str, str, str]]:
    """(field, variable, value) at each declared bound, which is accepted."""
    cases = []
    for item, spec in DECLARED:
        if item.type not in (int, float) or spec.env in CROSS_CHECKED or spec.parse:
            continue
        low = spec.minimum if spec.minimum is not None else (1 if item.type is int else 0.001)
        bounds = (low, spec.maximum)
        cases += [(item.name, spec.env, f"{bound:g}") for bound in bounds if bound is not None]
    return cases


@pytest.mark.parametrize(("field", "name", "raw"), _bounds(), ids=str)
def test_every_bound_is_accepted(field: str, name: str, raw: str) -> None:
    assert getattr(load_settings({**BASE, name: raw}), field) == float(raw)


READ_ALIKE = [(item, spec) for item, spec in DECLARED if not spec.derived]


@pytest.mark.parametrize(("item", "spec"), READ_ALIKE, ids=[spec.env for _, spec in READ_ALIKE])
def test_unset_and_empty_mean_the_declared_default(item: Field[Any], spec: Spec) -> None:
    unset, empty = load_settings(BASE), load_settings({**BASE, spec.env: ""})

    assert getattr(unset, item.name) == getattr(empty, item.name) == item.default


def test_the_embedded_defaults_differ_where_declared(tmp_path: Path) -> None:
    embedded = load_settings({"DATA_DIR": str(tmp_path), "SECRET_KEY": "s" * 40})
    different = {spec.env for _, spec in DECLARED if spec.embedded_default is not SAME}

    assert different == {"SEED_DEMO", "LLM_ALLOWED_HOSTS"}
    for item, spec in DECLARED:
        expected = item.default if spec.embedded_default is SAME else spec.embedded_default
        if not spec.derived:
            assert getattr(embedded, item.name) == expected, spec.env


@pytest.mark.parametrize(
    ("env", "secret"),
    [
        ({"SECRET_KEY": "short-but-secret"}, "short-but-secret"),
        ({"ENCRYPTION_KEYS": "not-a-fernet-key-but-secret"}, "not-a-fernet-key-but-secret"),
    ],
)
def test_a_refused_secret_is_not_echoed(env: dict[str, str], secret: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({**BASE, **env})

    assert next(iter(env)) in str(refused.value)
    assert secret not in str(refused.value)


def _readme_table() -> dict[str, str]:
    """Variable -> its default cell, from the README's configuration table."""
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    table: dict[str, str] = {}
    for row in rows:
        names_cell, default_cell = (cell.strip() for cell in row.split(" | ")[:2])
        names = re.findall(r"`([A-Z0-9_]+)`", names_cell)
        values = re.findall(r"`([^`]*)`", default_cell)
        if len(names) > 1 and len(values) == len(names):  # `A` / `B` | `1` / `2`
            table.update({name: f"`{value}`" for name, value in zip(names, values, strict=True)})
        else:
            table.update(dict.fromkeys(names, default_cell))
    return table


def _as_documented(value: object) -> str:
    if value is None or value == ():
        return "unset|none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, tuple):
        return f"`{','.join(value)}`"
    return f"`{value}`"


def test_the_readme_table_lists_every_setting_with_its_default() -> None:
    table = _readme_table()
    operators = {spec.env: (item, spec) for item, spec in DECLARED if not spec.internal}

    assert set(table) - set(operators) == set(), "README rows without a setting"
    assert set(operators) - set(table) == set(), "settings missing from the README"
    for name, (item, spec) in operators.items():
        cell = table[name]
        if spec.documented is not None:
            assert spec.documented in cell, (name, cell)
        else:
            expected = _as_documented(item.default)
            assert re.match(f"^(?:{re.escape(expected)})(?: |$)", cell) or cell in expected.split(
                "|"
            ), (name, cell, expected)


def test_metrics_token_is_unset_by_default_and_never_printed() -> None:
    assert load_settings(BASE).metrics_token is None
    token = "scrape-me-0123456789abcdef"
    chosen = load_settings({**BASE, "METRICS_TOKEN": token})
    assert chosen.metrics_token == token
    assert token not in repr(chosen)


@pytest.mark.parametrize("raw", ["short-token", "with a space 0123456789", "tab\there-0123456789"])
def test_a_weak_metrics_token_is_refused_by_name(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^METRICS_TOKEN must be at least 16 characters"):
        load_settings({**BASE, "METRICS_TOKEN": raw})


def test_worker_max_tasks_defaults_to_100_and_is_bounded() -> None:
    assert load_settings(BASE).worker_max_tasks == 100
    assert load_settings({**BASE, "WORKER_MAX_TASKS": "250"}).worker_max_tasks == 250
    with pytest.raises(SettingsError, match=r"^WORKER_MAX_TASKS must be at least 1"):
        load_settings({**BASE, "WORKER_MAX_TASKS": "0"})
    with pytest.raises(SettingsError, match=r"^WORKER_MAX_TASKS must be at most 1000"):
        load_settings({**BASE, "WORKER_MAX_TASKS": "1001"})
