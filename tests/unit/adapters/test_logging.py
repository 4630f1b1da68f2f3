import json
import logging
import sys
from typing import Any

import pytest

from coagent.main.logging import JsonFormatter, TextFormatter, redact

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwidHlwIjoiYWNjZXNzIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
FERNET = "gAAAAABmZxYzAbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcdefgh=="
OPENAI_KEY = "sk-proj-AbCdEfGhIjKlMnOpQrSt1234"
GOOGLE_KEY = "AIzaSyA1234567890abcdefghijklmnopqrs"
ARGON = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
SECRETS = [JWT, FERNET, OPENAI_KEY, GOOGLE_KEY, ARGON]


def record(
    msg: str, *args: Any, extra: dict[str, Any] | None = None, **kw: Any
) -> logging.LogRecord:
    logger = logging.getLogger("coagent.test")
    return logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, msg, args, kw.get("exc_info"), extra=extra
    )


@pytest.mark.parametrize("secret", SECRETS, ids=["jwt", "fernet", "sk-key", "google", "argon2"])
def test_token_shaped_secrets_are_redacted(secret: str) -> None:
    text = redact(f"calling with {secret} now")

    assert secret not in text
    # The sk-/rk-/pk- pattern keeps its prefix ("sk[REDACTED]"); the secret part goes.
    assert text.startswith("calling with ")
    assert text.endswith("[REDACTED] now")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("password=hunter22", "password=[REDACTED]"),
        ("PASSWORD: 'hunter22' ok", "PASSWORD: '[REDACTED]' ok"),
        ('{"password": "hunter22"}', '{"password": "[REDACTED]"}'),
        ("refresh_token=abc.def next", "refresh_token=[REDACTED] next"),
        ("api_key=xyz123, other=1", "api_key=[REDACTED], other=1"),
        ("client_secret = s3cr3t", "client_secret = [REDACTED]"),
    ],
)
def test_key_value_secrets_keep_their_key(raw: str, expected: str) -> None:
    assert redact(raw) == expected


@pytest.mark.parametrize("text", ["user 42 logged in", "passwords must be long", "token bucket"])
def test_ordinary_text_is_untouched(text: str) -> None:
    assert redact(text) == text


def test_json_formatter_writes_one_json_object_with_extra_fields() -> None:
    line = JsonFormatter().format(
        record("user %s logged in", "alice", extra={"user_id": "u-1", "attempt": 2, "ok": True})
    )

    entry = json.loads(line)
    assert entry["msg"] == "user alice logged in"
    assert (entry["level"], entry["logger"]) == ("info", "coagent.test")
    assert (entry["user_id"], entry["attempt"], entry["ok"]) == ("u-1", 2, True)
    assert entry["ts"].endswith("+00:00")
    assert not {"args", "msecs", "levelno", "pathname"} & entry.keys()


def test_json_formatter_redacts_messages_and_extra_fields_and_stays_valid_json() -> None:
    line = JsonFormatter().format(
        record(
            "login with %s",
            JWT,
            extra={"password": "hunter22", "key": OPENAI_KEY, "box": FERNET},
        )
    )

    for secret in [JWT, "hunter22", OPENAI_KEY, FERNET]:
        assert secret not in line
    entry = json.loads(line)
    assert entry["msg"] == "login with [REDACTED]"
    assert entry["password"] == entry["box"] == "[REDACTED]"
    assert entry["key"].endswith("[REDACTED]")


def test_json_formatter_writes_the_traceback_without_secrets() -> None:
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        line = JsonFormatter().format(record("failed", exc_info=sys.exc_info()))

    entry = json.loads(line)
    assert entry["error"] == "ValueError"
    assert entry["traceback"].startswith("Traceback (most recent call last)")
    assert "ValueError: bad token [REDACTED]" in entry["traceback"]
    assert JWT not in line


def test_tracebacks_leave_out_the_parameters_of_a_database_error() -> None:
    try:
        raise RuntimeError(
            "(asyncpg.exceptions.UniqueViolationError) duplicate key\n"
            "[SQL: INSERT INTO account (email, password_hash) VALUES ($1, $2)]\n"
            "[parameters: ('alice@example.test', 'hunter2-in-a-tuple')]\n"
            "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
        )
    except RuntimeError:
        line = JsonFormatter().format(record("failed", exc_info=sys.exc_info()))
        text = TextFormatter("%(message)s").format(record("failed", exc_info=sys.exc_info()))

    for output in (line, text):
        assert "hunter2-in-a-tuple" not in output
        assert "alice@example.test" not in output
        assert "[parameters hidden]" in output
        assert "INSERT INTO account" in output  # the statement stays: it is our code


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            '127.0.0.1:5 - "WebSocket /api/v1/chat/ws/r1?ticket=abc.def" [accepted]',
            '127.0.0.1:5 - "WebSocket /api/v1/chat/ws/r1" [accepted]',
        ),
        (
            "GET http://host:8000/v1/models?key=secret-ish HTTP/1.1",
            "GET http://host:8000/v1/models HTTP/1.1",
        ),
        ("calling http://host?x=1 now", "calling http://host now"),
        ("is it right? yes", "is it right? yes"),
    ],
)
def test_query_strings_are_stripped_from_every_line(message: str, expected: str) -> None:
    text = TextFormatter("%(message)s").format(record(message))
    entry = json.loads(JsonFormatter().format(record(message, extra={"path": "/a?ticket=t"})))

    assert text == expected
    assert entry["msg"] == expected
    assert entry["path"] == "/a"


def test_url_passwords_are_redacted() -> None:
    text = redact("cannot connect to postgresql+asyncpg://coagent:s3cret-pw@db:5432/coagent")

    assert "s3cret-pw" not in text
    assert "postgresql+asyncpg://coagent:[REDACTED]@db:5432/coagent" in text


def test_text_formatter_redacts_too() -> None:
    line = TextFormatter("%(levelname)s %(message)s").format(record("password=hunter22"))

    assert line == "INFO password=[REDACTED]"


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ('{"password": "correct horse battery staple"}', "battery staple"),
        ("Authorization: Basic YWxpY2U6aHVudGVyMjI=", "YWxpY2U6aHVudGVyMjI="),
    ],
    ids=["passphrase", "basic-auth"],
)
def test_secrets_with_spaces_are_redacted_whole(text: str, leak: str) -> None:
    assert leak not in redact(text)


def test_the_text_formatter_renders_the_traceback_itself_not_a_cached_one() -> None:
    try:
        raise RuntimeError("x\n[parameters: ('the-data',)]")
    except RuntimeError:
        entry = record("failed", exc_info=sys.exc_info())
    entry.exc_text = "Traceback ...\n[parameters: ('the-data',)]"  # another handler's rendering

    text = TextFormatter("%(message)s").format(entry)

    assert "the-data" not in text
    assert "[parameters hidden]" in text
    assert entry.exc_text.endswith("('the-data',)]")  # the other handler's cache is left alone


def test_the_text_access_line_shows_method_route_status_and_duration() -> None:
    logger = logging.getLogger("coagent.access")
    entry = logger.makeRecord(
        logger.name,
        logging.INFO,
        __file__,
        1,
        "request",
        (),
        None,
        extra={
            "method": "GET",
            "path": "/api/v1/rooms/0b1c",
            "route": "/api/v1/rooms/{room_id}",
            "status": 404,
            "ms": 3.21,
            "request_id": "abc",
        },
    )

    line = TextFormatter("%(levelname)s %(name)s %(message)s").format(entry)

    assert line == "INFO coagent.access GET /api/v1/rooms/{room_id} 404 3.21 ms request_id=abc"
    assert entry.msg == "request"  # JSON logs and other handlers see the record unchanged
    entry.__dict__["route"] = None  # no route matched: the path
    assert "GET /api/v1/rooms/0b1c 404" in TextFormatter("%(message)s").format(entry)


def test_json_lines_hold_no_ansi_colour_codes() -> None:
    # uvicorn passes a coloured copy of its message as `color_message`.
    entry = record(
        "Started server process [%d]",
        42,
        extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
    )

    line = JsonFormatter().format(entry)

    assert "\\u001b" not in line
    assert "\x1b" not in line
    assert json.loads(line)["msg"] == "Started server process [42]"
