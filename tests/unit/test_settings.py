"""Settings read from the environment: DB_POOL_TIMEOUT, FORWARDED_ALLOW_IPS, limits, analytics."""

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
