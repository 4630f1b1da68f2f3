"""The HTTP adapter's own configuration (from the composition root)."""

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpConfig:
    allowed_origins: tuple[str, ...] = ()
    # Peers whose proxy headers count (see proxy.py); uvicorn's default.
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    secure_cookies: bool = False
    access_log: bool = True
    title: str = "CoAgent Studio API"
    version: str = "0.1.0"
    # Bearer token for GET /metrics; None: /metrics only for loopback callers.
    metrics_token: str | None = field(default=None, repr=False)
