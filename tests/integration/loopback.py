"""Loopback TCP facts for tests that run our server as a separate process."""

import contextlib
import socket


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_end(server_port: int, client_port: int) -> str | None:
    """The kernel's socket inode of the server's end of this loopback connection, as
    /proc/<pid>/fd links name it ("socket:[N]"); None once the server's end is gone.
    """
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                ports = (int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16))
                if ports == (server_port, client_port):
                    return f"socket:[{fields[9]}]"
    return None


def listening(port: int) -> int:
    """How many sockets listen on `port` (a socket bound but not yet listening is not one)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                count += local_port == port and fields[3] == "0A"  # TCP_LISTEN
    return count
