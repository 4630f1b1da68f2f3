"""Structured JSON logs with a last line of defence against secrets."""

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

# JWTs, Fernet tokens, provider keys, password hashes, and "password=..."-style pairs.
_KEY = r"(?i)((?:password|passwd|secret|token|api_key|apikey|authorization)[\"']?\s*[:=]\s*"
_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "[REDACTED]"),
    (re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}"), "[REDACTED]"),
    (re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_-]{12,}"), "[REDACTED]"),
    (re.compile(r"AIza[0-9A-Za-z_-]{30,}"), "[REDACTED]"),
    (re.compile(r"\$argon2id?\$[^\s\"']+"), "[REDACTED]"),
    # The password of a URL's user info (a database or Redis URL in an error message).
    (re.compile(r"(://[^/\s:@\"']+:)[^/\s@\"']+@"), r"\1[REDACTED]@"),
    # A quoted value whole (spaces included), keeping the quotes so JSON stays valid ...
    (re.compile(_KEY + r"([\"']))(?:\\.|(?!\2).)*\2"), r"\1[REDACTED]\2"),
    # ... an auth scheme with its credentials, or a bare word.
    (re.compile(_KEY + r")(?:bearer|basic|token)\s+[^\s\"',}]+"), r"\1[REDACTED]"),
    (re.compile(_KEY + r")[^\s\"',}]+"), r"\1[REDACTED]"),
]
# `color_message`: uvicorn's copy of its message with ANSI colour codes, never for a JSON line.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


# Cheap substring tests first: most lines hold none of these, and skip the regexes.
_MARKERS = (
    "eyj",
    "gaaaaa",
    "sk-",
    "rk-",
    "pk-",
    "aiza",
    "$argon2",
    "pass",
    "secret",
    "token",
    "key",
    "authorization",
    "://",
)
# A query string: after a path (or scheme://host) up to the next space, quote or backslash,
# so a JSON line stays valid JSON. Query strings may carry tickets, tokens or keys
# (`?ticket=`, a provider's `?key=`), and uvicorn logs them with every WebSocket handshake.
_QUERY = re.compile(r"(/[^\s?\"'\\]*)\?[^\s\"'\\]*")
# The bound values SQLAlchemy appends to a database error: the data of whoever sent it.
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\n|$)", re.DOTALL)


def strip_queries(text: str) -> str:
    return _QUERY.sub(r"\1", text) if "?" in text else text


def scrub(text: str) -> str:
    """What a log line may hold: no query strings, no secrets."""
    return redact(strip_queries(text))


def format_traceback(exc_info: Any) -> str:
    """The traceback of a logged error, without the SQL parameters of a database error."""
    text = "".join(traceback.format_exception(*exc_info)).rstrip()
    return _SQL_PARAMETERS.sub("[parameters hidden]", text)


def redact(text: str) -> str:
    lowered = text.lower()
    if not any(marker in lowered for marker in _MARKERS):
        return text
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry.setdefault("error", record.exc_info[0].__name__)
            entry["traceback"] = format_traceback(record.exc_info)
        return scrub(json.dumps(entry, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # Another handler may have cached its own rendering of the traceback on the record.
        cached, record.exc_text = record.exc_text, None
        message = record.msg
        if record.name == "coagent.access" and hasattr(record, "status"):
            # The access line says what JSON logs carry as fields: method, route template
            # (else the path), status, duration, request id.
            fields = record.__dict__
            record.msg = (
                f"{fields.get('method')} {fields.get('route') or fields.get('path')} "
                f"{fields.get('status')} {fields.get('ms')} ms "
                f"request_id={fields.get('request_id')}"
            )
        try:
            return scrub(super().format(record))
        finally:
            record.exc_text = cached
            record.msg = message

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return format_traceback(ei)


def configure_logging(level: str = "INFO", *, json_output: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_output
        else TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "taskiq"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Request lines come from our access log, which never includes query strings.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("sqlalchemy.engine", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
