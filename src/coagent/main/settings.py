"""Configuration, read from the environment once, in the composition root only.

Each setting is declared once, as a field of `Settings` made by `setting()`: its environment
variable, type (the annotation), default and bounds. `load_settings` reads every declared
field the same way, and a test checks the README's configuration table against the
declarations. To add one, add a field (and its README row).
"""

import ipaddress
import logging
import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet

logger = logging.getLogger("coagent.settings")

T = TypeVar("T")
_SPEC = "coagent.setting"


class SettingsError(ValueError):
    """The environment does not describe a runnable configuration."""


class _Same:
    """`Spec.embedded_default` when the embedded mode has no default of its own."""


SAME = _Same()


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """How one field of `Settings` is read from its environment variable.

    Integers are at least 1 unless `minimum` says otherwise; numbers of seconds (floats) are
    greater than 0, and within `minimum`..`maximum` when given. `parse(name, raw)` reads the
    other kinds; it returns None for "as if unset". `documented` is the README's default cell
    (a part of it) where the default is not a plain value: it depends on the mode, or is
    derived (`derived`: read by `load_settings` itself). `internal`: not for operators, kept
    out of the README.
    """

    env: str
    minimum: float | None = None
    maximum: float | None = None
    parse: Callable[[str, str], object] | None = None
    embedded_default: object = SAME
    documented: str | None = None
    derived: bool = False
    internal: bool = False


def setting(
    env: str,
    default: T,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    parse: Callable[[str, str], object] | None = None,
    embedded_default: object = SAME,
    documented: str | None = None,
    derived: bool = False,
    internal: bool = False,
    secret: bool = False,
) -> T:
    """A field of `Settings` read from `env` (see `Spec`); `secret`: kept out of its repr."""
    spec = Spec(
        env=env,
        minimum=minimum,
        maximum=maximum,
        parse=parse,
        embedded_default=embedded_default,
        documented=documented,
        derived=derived,
        internal=internal,
    )
    return field(default=default, repr=not secret, metadata={_SPEC: spec})


def declared() -> tuple[tuple[Field[Any], Spec], ...]:
    """Every field of `Settings` read from the environment, with its `Spec`, in order."""
    return tuple(
        (item, item.metadata[_SPEC]) for item in fields(Settings) if _SPEC in item.metadata
    )


def _list(_name: str, raw: str) -> tuple[str, ...] | None:
    return tuple(item.strip().rstrip("/") for item in raw.split(",") if item.strip()) or None


def _upper(_name: str, raw: str) -> str:
    return raw.upper()


def _forwarded_allow_ips(name: str, raw: str) -> tuple[str, ...] | None:
    """As uvicorn's option of the same name: comma-separated IPs and CIDR networks, or "*"."""
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if not items:
        return None
    if "*" in items:
        if len(items) > 1:
            raise SettingsError(f'{name} is either "*" or a list of addresses')
        return items
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as error:
            raise SettingsError(
                f"{name}: {item!r} is not an IP address or a CIDR network"
            ) from error
    return items


def _metrics_token(name: str, raw: str) -> str:
    """METRICS_TOKEN: at least 16 printable characters without spaces."""
    if len(raw) < 16 or not raw.isprintable() or any(ch.isspace() for ch in raw):
        raise SettingsError(f"{name} must be at least 16 characters, without spaces")
    return raw


# The embedded default of LLM_ALLOWED_HOSTS: a local Ollama or test server needs no set-up.
EMBEDDED_LLM_HOSTS = ("localhost", "127.0.0.0/8", "::1")
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _allowed_hosts(name: str, raw: str) -> tuple[str, ...] | None:
    """LLM_ALLOWED_HOSTS: comma-separated host names and CIDR ranges."""
    entries = tuple(item.strip().lower() for item in raw.split(",") if item.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            if not _HOST_NAME.match(entry):
                raise SettingsError(
                    f"{name}: {entry!r} is neither a host name nor a CIDR range"
                ) from None
    return entries or None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    data_dir: Path = setting(  # noqa: RUF009 - a field, as dataclasses.field() is
        "DATA_DIR", Path("data"), derived=True, documented="`./data`"
    )
    database_url: str = setting("DATABASE_URL", "", derived=True, documented="SQLite in `DATA_DIR`")
    redis_url: str | None = setting("REDIS_URL", None)
    secret_key: str = setting(
        "SECRET_KEY",
        "",
        derived=True,
        secret=True,
        documented="generated into `DATA_DIR` (embedded only)",
    )
    encryption_keys: tuple[str, ...] = setting(
        "ENCRYPTION_KEYS", (), derived=True, secret=True, documented="generated (embedded only)"
    )
    allowed_origins: tuple[str, ...] = setting("ALLOWED_ORIGINS", (), parse=_list)
    # Peers whose X-Forwarded-* / Forwarded headers count (IP addresses, CIDR networks or "*").
    forwarded_allow_ips: tuple[str, ...] = setting(
        "FORWARDED_ALLOW_IPS", ("127.0.0.1", "::1"), parse=_forwarded_allow_ips
    )
    secure_cookies: bool = setting("SECURE_COOKIES", False)  # noqa: FBT003
    super_admin: str | None = setting("SUPER_ADMIN", None)
    super_admin_password: str | None = setting("SUPER_ADMIN_PASSWORD", None, secret=True)
    access_token_ttl: int = setting("ACCESS_TOKEN_TTL_SECONDS", 600, minimum=30)
    refresh_token_ttl: int = setting("REFRESH_TOKEN_TTL_SECONDS", 14 * 24 * 3600, minimum=60)
    impersonation_ttl: int = setting("IMPERSONATION_TTL_SECONDS", 3600, minimum=60)
    jwt_issuer: str = "coagent"
    jwt_audience: str = "coagent-api"
    # Login throttling (docs/adr/0008-throttling.md): failures free per account and address
    # pair and per address in `login_failure_window`, per account from every address in
    # `login_account_window`; past them, a wait of `login_backoff_first` seconds after the
    # latest failure, doubled per further failure, at most `login_backoff_max`.
    login_failures_per_pair: int = setting("LOGIN_FAILURES_PER_PAIR", 5)
    login_failures_per_account: int = setting("LOGIN_FAILURES_PER_ACCOUNT", 50)
    login_failures_per_address: int = setting("LOGIN_FAILURES_PER_ADDRESS", 100)
    login_failure_window: int = setting("LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=2)
    login_account_window: int = setting("LOGIN_ACCOUNT_WINDOW_SECONDS", 86_400, minimum=2)
    login_backoff_first: int = setting("LOGIN_BACKOFF_FIRST_SECONDS", 1)
    login_backoff_max: int = setting("LOGIN_BACKOFF_MAX_SECONDS", 300)
    password_hash_concurrency: int = setting("PASSWORD_HASH_CONCURRENCY", 2)
    # argon2id cost (KiB, passes); OWASP minimum by default, lowered only in tests.
    password_hash_memory_kib: int = setting(
        "PASSWORD_HASH_MEMORY_KIB", 19 * 1024, minimum=8, internal=True
    )
    password_hash_time_cost: int = setting("PASSWORD_HASH_TIME_COST", 2, internal=True)
    db_pool_size: int = setting("DB_POOL_SIZE", 20)
    # Seconds a unit of work waits for a pooled PostgreSQL connection before it fails as
    # Unavailable (HTTP 503 with Retry-After).
    db_pool_timeout: float = setting("DB_POOL_TIMEOUT", 10.0)
    log_level: str = setting("LOG_LEVEL", "INFO", parse=_upper)
    access_log: bool = setting("ACCESS_LOG", True)  # noqa: FBT003
    log_json: bool = setting("LOG_JSON", True)  # noqa: FBT003
    # Seed the demo course on start (default: only for the embedded database).
    seed_demo: bool = setting(
        "SEED_DEMO",
        False,  # noqa: FBT003
        embedded_default=True,
        documented="`true` when embedded, else `false`",
    )
    # Chat limits (per connection unless said otherwise).
    chat_max_message_length: int = setting("CHAT_MAX_MESSAGE_LENGTH", 8000)
    chat_max_frame_bytes: int = 64 * 1024
    # New messages per user and room, over HTTP and WebSocket, in every process together.
    chat_messages_per_window: int = setting("CHAT_MESSAGES_PER_WINDOW", 20)
    chat_window_seconds: int = setting("CHAT_WINDOW_SECONDS", 10)
    # per web process
    chat_max_connections_per_user: int = setting("CHAT_MAX_CONNECTIONS_PER_USER", 10)
    chat_socket_queue: int = setting("CHAT_SOCKET_QUEUE", 256, minimum=16)
    # History pages kept per process for readers of the same room (0 turns the cache off).
    chat_history_cache_mb: int = setting("CHAT_HISTORY_CACHE_MB", 32, minimum=0)
    chat_ticket_ttl: int = setting("CHAT_TICKET_TTL_SECONDS", 30, minimum=5)
    # How often open sockets are re-checked against course membership and room assignment.
    chat_access_recheck_seconds: int = setting("CHAT_ACCESS_RECHECK_SECONDS", 30, minimum=2)
    stalled_peer_timeout_seconds: int = setting("STALLED_PEER_TIMEOUT_SECONDS", 30)
    # Provider calls: seconds per attempt (agents put it in each request), transient retries.
    llm_timeout: int = setting("LLM_TIMEOUT_SECONDS", 60)
    llm_max_retries: int = setting("LLM_MAX_RETRIES", 2, minimum=0)
    # Model calls (the design agent, later agent turns) per user and per course, per minute.
    llm_calls_per_user_per_minute: int = setting("LLM_CALLS_PER_USER_PER_MINUTE", 10)
    llm_calls_per_course_per_minute: int = setting("LLM_CALLS_PER_COURSE_PER_MINUTE", 60)
    # Analytics: how long a generate request waits for its report before answering 202;
    # rooms summarised at once per job; a job runner's lease (a dead runner's job restarts
    # once it has expired).
    analytics_wait_seconds: int = setting("ANALYTICS_WAIT_SECONDS", 30, minimum=0, maximum=300)
    analytics_concurrency: int = setting("ANALYTICS_CONCURRENCY", 4, maximum=64)
    analytics_lease_seconds: int = setting("ANALYTICS_LEASE_SECONDS", 60, minimum=5, maximum=3600)

    # Host names and CIDR ranges provider calls may reach although they are internal
    # (loopback, private, link-local...). Default: loopback when embedded, nothing otherwise.
    llm_allowed_hosts: tuple[str, ...] = setting(
        "LLM_ALLOWED_HOSTS",
        (),
        parse=_allowed_hosts,
        embedded_default=EMBEDDED_LLM_HOSTS,
        documented="`localhost,127.0.0.0/8,::1` when embedded, else none",
    )

    # Agent turns: per room per minute; mentions of an agent per user per window.
    agent_turns_per_minute: int = setting("AGENT_TURNS_PER_MINUTE", 6, maximum=600)
    agent_mentions_per_user: int = setting("AGENT_MENTIONS_PER_USER", 5, maximum=1000)
    agent_mention_window_seconds: int = setting("AGENT_MENTION_WINDOW_SECONDS", 60, maximum=3600)
    # A turn runner's lease on a room (renewed every third of it while it works).
    agent_lease_seconds: int = setting("AGENT_LEASE_SECONDS", 15, minimum=3, maximum=300)
    # Rounds of tool calls one agent turn may make before it fails `tool_loop_exhausted`.
    agent_max_tool_steps: int = setting("AGENT_MAX_TOOL_STEPS", 4, maximum=16)

    # How long a peer-agent proposal waits for a decision before it expires (never posted).
    agent_proposal_ttl_seconds: int = setting(
        "AGENT_PROPOSAL_TTL_SECONDS", 600, minimum=5, maximum=86400
    )
    # How often the scheduler checks time triggers and reclaims stalled turns (a time trigger
    # must fire within 2 s of its time).
    scheduler_tick_seconds: float = setting("SCHEDULER_TICK_SECONDS", 1.0, minimum=0.1, maximum=2.0)
    # Bearer token for GET /metrics; unset: /metrics answers loopback callers only (404 else).
    # Tasks one worker process (or, embedded, the web process) runs at once. An agent turn
    # holds its slot for its whole stream, so this bounds the generations per process.
    worker_max_tasks: int = setting("WORKER_MAX_TASKS", 100, maximum=1000)
    metrics_token: str | None = setting(
        "METRICS_TOKEN", None, parse=_metrics_token, secret=True, documented="unset"
    )

    @property
    def embedded(self) -> bool:
        return self.database_url.startswith("sqlite")


def _flag(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be a boolean: true or false (or 1/0, yes/no, on/off)")


def _int(name: str, raw: str, spec: Spec) -> int:
    try:
        value = int(raw)
    except ValueError as error:
        raise SettingsError(f"{name} must be an integer") from error
    minimum = 1 if spec.minimum is None else spec.minimum
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise SettingsError(f"{name} must be at most {spec.maximum:g}")
    return value


def _seconds(name: str, raw: str, spec: Spec) -> float:
    try:
        value = float(raw)
    except ValueError as error:
        raise SettingsError(f"{name} must be a number of seconds") from error
    if spec.minimum is not None and spec.maximum is not None:
        if not (math.isfinite(value) and spec.minimum <= value <= spec.maximum):
            raise SettingsError(
                f"{name} must be a number of seconds between {spec.minimum:g} and {spec.maximum:g}"
            )
    elif not math.isfinite(value) or value <= 0:
        raise SettingsError(f"{name} must be a number of seconds greater than 0")
    return value


def _read(item: Field[Any], spec: Spec, raw: str) -> object:
    if spec.parse is not None:
        return spec.parse(spec.env, raw)
    if item.type is bool:
        return _flag(spec.env, raw)
    if item.type is int:
        return _int(spec.env, raw, spec)
    if item.type is float:
        return _seconds(spec.env, raw, spec)
    return raw  # text


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
    keys = _list("ENCRYPTION_KEYS", env.get("ENCRYPTION_KEYS") or "") or ()
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

    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "secret_key": secret_key,
        "encryption_keys": keys,
    }
    for item, spec in declared():
        if spec.derived:
            continue
        raw = env.get(spec.env)
        value = None if raw is None or raw == "" else _read(item, spec, raw)
        if value is None:
            use_embedded = embedded and spec.embedded_default is not SAME
            value = spec.embedded_default if use_embedded else item.default
        values[item.name] = value
    settings = Settings(**values)

    shortest_window = min(settings.login_failure_window, settings.login_account_window)
    if not settings.login_backoff_first <= settings.login_backoff_max < shortest_window:
        raise SettingsError(
            "LOGIN_BACKOFF_MAX_SECONDS must be at least LOGIN_BACKOFF_FIRST_SECONDS and less "
            "than LOGIN_FAILURE_WINDOW_SECONDS and LOGIN_ACCOUNT_WINDOW_SECONDS (a wait "
            "cannot outlast the failures it counts)"
        )
    return settings
