"""Settings read from the environment: DB_POOL_TIMEOUT, the agent runtime's limits."""

import pytest

from coagent.main.settings import SettingsError, load_settings

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


def test_agent_settings_default_as_documented() -> None:
    settings = load_settings(BASE)
    assert settings.agent_turns_per_minute == 6
    assert (settings.agent_mentions_per_user, settings.agent_mention_window_seconds) == (5, 60)
    assert settings.agent_lease_seconds == 15
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
