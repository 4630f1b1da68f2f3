"""What the real server (`coagent run`) writes to its log: never a query string (issue 14, item 9).

uvicorn logs every WebSocket handshake with its path and query string ("WebSocket
/api/v1/chat/ws/<room>?ticket=..." [accepted]) from its own logger, so a ticket sat in the
log before it was redeemed. The server runs as a subprocess here and its whole output is read.
"""

import http.client
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.integration.conftest import process_env
from tests.integration.loopback import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COAGENT = str(Path(sys.executable).with_name("coagent"))
QUERY_SECRET = "query-secret-5f0e"
TICKET = "ticket-secret-9a7b"


def _wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert server.poll() is None, "the server exited"
        assert time.monotonic() < deadline, "the server did not come up"
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            client.request("GET", "/health")
            if client.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
        finally:
            client.close()


def _handshake(url: str) -> None:
    """Open a socket, read until the server closes it (or refuses the handshake)."""
    try:
        with connect(url, open_timeout=10, close_timeout=5) as socket:
            while True:
                socket.recv(timeout=10)
    except (ConnectionClosed, InvalidStatus):
        return


def test_no_query_string_reaches_the_log_uvicorns_lines_included(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    env = process_env(
        DATA_DIR=str(tmp_path / "data"), SEED_DEMO="false", LOG_LEVEL="INFO", ACCESS_LOG="true"
    )
    room = uuid.uuid4()
    with log.open("wb") as output:
        server = subprocess.Popen(  # noqa: S603 - our own entry point
            [COAGENT, "run", "--port", str(port)], env=env, stdout=output, stderr=output
        )
        try:
            _wait_until_up(port, server)
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            client.request("GET", f"/health?token={QUERY_SECRET}&x=1")
            assert client.getresponse().status == 200
            client.close()
            # Accepted (to say why), then closed: not authenticated.
            _handshake(f"ws://127.0.0.1:{port}/api/v1/chat/ws/{room}?ticket={TICKET}")
            # Refused during the handshake: no such route.
            _handshake(f"ws://127.0.0.1:{port}/api/v1/nowhere?ticket={TICKET}")
        finally:
            server.terminate()
            server.wait(30)
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]

    assert QUERY_SECRET not in text
    assert TICKET not in text
    # Not vacuous: the request and both handshakes were logged, without their queries.
    assert any(line.get("path") == "/health" and line.get("status") == 200 for line in lines)
    assert any(f"WebSocket /api/v1/chat/ws/{room}" in line["msg"] for line in lines), text
    assert any("WebSocket /api/v1/nowhere" in line["msg"] for line in lines), text
    # The address it listens on, and no ANSI colour codes (uvicorn's `color_message`).
    assert any(
        line.get("logger") == "coagent.server"
        and line["msg"] == f"listening on http://127.0.0.1:{port} (1 web process)"
        and line["port"] == port
        for line in lines
    ), text
    assert "\\u001b" not in text
    assert "color_message" not in text
