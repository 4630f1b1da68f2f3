"""Starting servers from the command line in tests."""

import http.client
import subprocess
import time
from pathlib import Path


def server_up(port: int) -> bool:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        client.request("GET", "/health")
        return client.getresponse().status == 200
    except OSError:
        return False
    finally:
        client.close()


def wait_until_up(
    server: subprocess.Popen[bytes], port: int, log: Path, seconds: float = 150
) -> None:
    """Until `/health` answers on `port`; fails with the log if the process ends first."""
    deadline = time.monotonic() + seconds
    while not server_up(port):
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.3)
