"""Settings read from the environment: DB_POOL_TIMEOUT, LLM_ALLOWED_HOSTS."""

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
