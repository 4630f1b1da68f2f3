"""Configuration, read from the environment once, in the composition root only."""

import ipaddress
import logging
import math
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

logger = logging.getLogger("coagent.settings")


class SettingsError(ValueError):
    """The environment does not describe a runnable configuration."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None
    secret_key: str = field(repr=False)
    encryption_keys: tuple[str, ...] = field(repr=False)
    allowed_origins: tuple[str, ...] = ()
    # Peers whose X-Forwarded-* / Forwarded headers count (IP addresses, CIDR networks or "*").
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    secure_cookies: bool = False
    super_admin: str | None = None
    super_admin_password: str | None = field(default=None, repr=False)
    access_token_ttl: int = 600
    refresh_token_ttl: int = 14 * 24 * 3600
    impersonation_ttl: int = 3600
    jwt_issuer: str = "coagent"
    jwt_audience: str = "coagent-api"
    # Login throttling (docs/adr/0008-throttling.md): failures free per account and address
    # pair and per address in `login_failure_window`, per account from every address in
    # `login_account_window`; past them, a wait of `login_backoff_first` seconds after the
    # latest failure, doubled per further failure, at most `login_backoff_max`.
    login_failures_per_pair: int = 5
    login_failures_per_account: int = 50
    login_failures_per_address: int = 100
    login_failure_window: int = 900
    login_account_window: int = 86_400
    login_backoff_first: int = 1
    login_backoff_max: int = 300
    password_hash_concurrency: int = 2
    # argon2id cost (KiB, passes); OWASP minimum by default, lowered only in tests.
    password_hash_memory_kib: int = 19 * 1024
    password_hash_time_cost: int = 2
    db_pool_size: int = 20
    # Seconds a unit of work waits for a pooled PostgreSQL connection before it fails as
    # Unavailable (HTTP 503 with Retry-After).
    db_pool_timeout: float = 10.0
    log_level: str = "INFO"
    access_log: bool = True
    log_json: bool = True
    # Seed the demo course on start (default: only for the embedded database).
    seed_demo: bool = False
    # Chat limits (per connection unless said otherwise).
    chat_max_message_length: int = 8000
    chat_max_frame_bytes: int = 64 * 1024
    # New messages per user and room, over HTTP and WebSocket, in every process together.
    chat_messages_per_window: int = 20
    chat_window_seconds: int = 10
    chat_max_connections_per_user: int = 10  # per web process
    chat_socket_queue: int = 256
    # History pages kept per process for readers of the same room (0 turns the cache off).
    chat_history_cache_mb: int = 32
    chat_ticket_ttl: int = 30
    # How often open sockets are re-checked against course membership and room assignment.
    chat_access_recheck_seconds: int = 30
    stalled_peer_timeout_seconds: int = 30
    # Provider calls: seconds per attempt (agents put it in each request), transient retries.
    llm_timeout: int = 60
    llm_max_retries: int = 2
    # Model calls (the design agent, later agent turns) per user and per course, per minute.
    llm_calls_per_user_per_minute: int = 10
    llm_calls_per_course_per_minute: int = 60
    # Analytics: how long a generate request waits for its report before answering 202;
    # rooms summarised at once per job; a job runner's lease (a dead runner's job restarts
    # once it has expired).
    analytics_wait_seconds: int = 30
    analytics_concurrency: int = 4
    analytics_lease_seconds: int = 60

    # Host names and CIDR ranges provider calls may reach although they are internal
    # (loopback, private, link-local...). Default: loopback when embedded, nothing otherwise.
    llm_allowed_hosts: tuple[str, ...] = ()

    # Agent turns: per room per minute; mentions of an agent per user per window.
    agent_turns_per_minute: int = 6
    agent_mentions_per_user: int = 5
    agent_mention_window_seconds: int = 60
    # A turn runner's lease on a room (renewed every third of it while it works).
    agent_lease_seconds: int = 15
    # Rounds of tool calls one agent turn may make before it fails `tool_loop_exhausted`.
    agent_max_tool_steps: int = 4

    # How long a peer-agent proposal waits for a decision before it expires (never posted).
    agent_proposal_ttl_seconds: int = 600
    # How often the scheduler checks time triggers and reclaims stalled turns.
    scheduler_tick_seconds: float = 1.0
    # Tasks one worker process (or, embedded, the web process) runs at once. An agent turn
    # holds its slot for its whole stream, so this bounds the generations per process.
    worker_max_tasks: int = 100

    @property
    def embedded(self) -> bool:
        return self.database_url.startswith("sqlite")


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"Expected a boolean, got {value!r}")


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 1, maximum: int | None = None
) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise SettingsError(f"{name} must be an integer") from error
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be at most {maximum}")
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise SettingsError(f"{name} must be a number of seconds") from error
    if not math.isfinite(value) or value <= 0:
        raise SettingsError(f"{name} must be a number of seconds greater than 0")
    return value


def _tick(env: Mapping[str, str]) -> float:
    """SCHEDULER_TICK_SECONDS: 0.1 to 2 (a time trigger must fire within 2 s of its time)."""
    value = _positive_float(env, "SCHEDULER_TICK_SECONDS", 1.0)
    if not 0.1 <= value <= 2.0:
        raise SettingsError("SCHEDULER_TICK_SECONDS must be between 0.1 and 2")
    return value


def _list(raw: str | None) -> tuple[str, ...]:
    return tuple(item.strip().rstrip("/") for item in (raw or "").split(",") if item.strip())


def _forwarded_allow_ips(raw: str | None) -> tuple[str, ...]:
    """As uvicorn's option of the same name: comma-separated IPs and CIDR networks, or "*"."""
    items = tuple(item.strip() for item in (raw or "").split(",") if item.strip())
    if not items:
        return ("127.0.0.1", "::1")
    if "*" in items:
        if len(items) > 1:
            raise SettingsError('FORWARDED_ALLOW_IPS is either "*" or a list of addresses')
        return items
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as error:
            raise SettingsError(
                f"FORWARDED_ALLOW_IPS: {item!r} is not an IP address or a CIDR network"
            ) from error
    return items


# The embedded default of LLM_ALLOWED_HOSTS: a local Ollama or test server needs no set-up.
EMBEDDED_LLM_HOSTS = ("localhost", "127.0.0.0/8", "::1")
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _allowed_hosts(raw: str | None, embedded: bool) -> tuple[str, ...]:
    """LLM_ALLOWED_HOSTS: comma-separated host names and CIDR ranges (unset: the default)."""
    entries = tuple(item.strip().lower() for item in (raw or "").split(",") if item.strip())
    if not entries:
        return EMBEDDED_LLM_HOSTS if embedded else ()
    for entry in entries:
        try:
            ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            if not _HOST_NAME.match(entry):
                raise SettingsError(
                    f"LLM_ALLOWED_HOSTS: {entry!r} is neither a host name nor a CIDR range"
                ) from None
    return entries


def _kept_secret(path: Path, generate: str) -> str:
    """Read a generated secret from the data directory, creating it once (mode 600)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    logger.warning(
        "Generated %s and kept it in %s; set it in the environment for production",
        path.name,
        path.parent,
    )
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data_dir = Path(env.get("DATA_DIR") or "./data").resolve()
    database_url = env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'coagent.db'}"
    if database_url.startswith(("postgres://", "postgresql://")):
        database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
    embedded = database_url.startswith("sqlite")

    secret_key = env.get("SECRET_KEY") or ""
    keys = _list(env.get("ENCRYPTION_KEYS"))
    if not embedded and (not secret_key or not keys):
        raise SettingsError("SECRET_KEY and ENCRYPTION_KEYS are required with DATABASE_URL set")
    if embedded and not secret_key:
        secret_key = _kept_secret(data_dir / "secret_key", secrets.token_urlsafe(48))
    if embedded and not keys:
        keys = (_kept_secret(data_dir / "encryption_key", Fernet.generate_key().decode()),)
    if len(secret_key) < 32:
        raise SettingsError("SECRET_KEY must have at least 32 characters")
    for key in keys:
        try:
            Fernet(key.encode())
        except ValueError as error:
            raise SettingsError(
                "ENCRYPTION_KEYS must be Fernet keys (url-safe base64, 32 bytes)"
            ) from error

    login_failure_window = _int(env, "LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=2)
    login_account_window = _int(env, "LOGIN_ACCOUNT_WINDOW_SECONDS", 86_400, minimum=2)
    login_backoff_first = _int(env, "LOGIN_BACKOFF_FIRST_SECONDS", 1)
    login_backoff_max = _int(env, "LOGIN_BACKOFF_MAX_SECONDS", 300)
    shortest_window = min(login_failure_window, login_account_window)
    if not login_backoff_first <= login_backoff_max < shortest_window:
        raise SettingsError(
            "LOGIN_BACKOFF_MAX_SECONDS must be at least LOGIN_BACKOFF_FIRST_SECONDS and less "
            "than LOGIN_FAILURE_WINDOW_SECONDS and LOGIN_ACCOUNT_WINDOW_SECONDS (a wait "
            "cannot outlast the failures it counts)"
        )

    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=env.get("REDIS_URL") or None,
        secret_key=secret_key,
        encryption_keys=keys,
        allowed_origins=_list(env.get("ALLOWED_ORIGINS")),
        forwarded_allow_ips=_forwarded_allow_ips(env.get("FORWARDED_ALLOW_IPS")),
        secure_cookies=_flag(env.get("SECURE_COOKIES"), default=False),
        super_admin=env.get("SUPER_ADMIN") or None,
        super_admin_password=env.get("SUPER_ADMIN_PASSWORD") or None,
        access_token_ttl=_int(env, "ACCESS_TOKEN_TTL_SECONDS", 600, minimum=30),
        refresh_token_ttl=_int(env, "REFRESH_TOKEN_TTL_SECONDS", 14 * 24 * 3600, minimum=60),
        impersonation_ttl=_int(env, "IMPERSONATION_TTL_SECONDS", 3600, minimum=60),
        login_failures_per_pair=_int(env, "LOGIN_FAILURES_PER_PAIR", 5),
        login_failures_per_account=_int(env, "LOGIN_FAILURES_PER_ACCOUNT", 50),
        login_failures_per_address=_int(env, "LOGIN_FAILURES_PER_ADDRESS", 100),
        login_failure_window=login_failure_window,
        login_account_window=login_account_window,
        login_backoff_first=login_backoff_first,
        login_backoff_max=login_backoff_max,
        password_hash_concurrency=_int(env, "PASSWORD_HASH_CONCURRENCY", 2),
        password_hash_memory_kib=_int(env, "PASSWORD_HASH_MEMORY_KIB", 19 * 1024, minimum=8),
        password_hash_time_cost=_int(env, "PASSWORD_HASH_TIME_COST", 2),
        db_pool_size=_int(env, "DB_POOL_SIZE", 20),
        db_pool_timeout=_positive_float(env, "DB_POOL_TIMEOUT", 10.0),
        log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
        access_log=_flag(env.get("ACCESS_LOG"), default=True),
        log_json=_flag(env.get("LOG_JSON"), default=True),
        seed_demo=_flag(env.get("SEED_DEMO"), default=embedded),
        chat_max_message_length=_int(env, "CHAT_MAX_MESSAGE_LENGTH", 8000),
        chat_messages_per_window=_int(env, "CHAT_MESSAGES_PER_WINDOW", 20),
        chat_window_seconds=_int(env, "CHAT_WINDOW_SECONDS", 10),
        chat_max_connections_per_user=_int(env, "CHAT_MAX_CONNECTIONS_PER_USER", 10),
        chat_socket_queue=_int(env, "CHAT_SOCKET_QUEUE", 256, minimum=16),
        chat_history_cache_mb=_int(env, "CHAT_HISTORY_CACHE_MB", 32, minimum=0),
        chat_ticket_ttl=_int(env, "CHAT_TICKET_TTL_SECONDS", 30, minimum=5),
        chat_access_recheck_seconds=_int(env, "CHAT_ACCESS_RECHECK_SECONDS", 30, minimum=2),
        stalled_peer_timeout_seconds=_int(env, "STALLED_PEER_TIMEOUT_SECONDS", 30, minimum=1),
        llm_timeout=_int(env, "LLM_TIMEOUT_SECONDS", 60),
        llm_max_retries=_int(env, "LLM_MAX_RETRIES", 2, minimum=0),
        llm_calls_per_user_per_minute=_int(env, "LLM_CALLS_PER_USER_PER_MINUTE", 10),
        llm_calls_per_course_per_minute=_int(env, "LLM_CALLS_PER_COURSE_PER_MINUTE", 60),
        llm_allowed_hosts=_allowed_hosts(env.get("LLM_ALLOWED_HOSTS"), embedded),
        agent_turns_per_minute=_int(env, "AGENT_TURNS_PER_MINUTE", 6, maximum=600),
        agent_mentions_per_user=_int(env, "AGENT_MENTIONS_PER_USER", 5, maximum=1000),
        agent_mention_window_seconds=_int(env, "AGENT_MENTION_WINDOW_SECONDS", 60, maximum=3600),
        agent_lease_seconds=_int(env, "AGENT_LEASE_SECONDS", 15, minimum=3, maximum=300),
        agent_max_tool_steps=_int(env, "AGENT_MAX_TOOL_STEPS", 4, minimum=1, maximum=16),
        agent_proposal_ttl_seconds=_int(
            env, "AGENT_PROPOSAL_TTL_SECONDS", 600, minimum=5, maximum=86400
        ),
        scheduler_tick_seconds=_tick(env),
        analytics_wait_seconds=_bounded(env, "ANALYTICS_WAIT_SECONDS", 30, 0, 300),
        analytics_concurrency=_bounded(env, "ANALYTICS_CONCURRENCY", 4, 1, 64),
        analytics_lease_seconds=_bounded(env, "ANALYTICS_LEASE_SECONDS", 60, 5, 3600),
        worker_max_tasks=_bounded(env, "WORKER_MAX_TASKS", 100, 1, 1000),
    )


def _bounded(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    value = _int(env, name, default, minimum=minimum)
    if value > maximum:
        raise SettingsError(f"{name} must be at most {maximum}")
    return value
