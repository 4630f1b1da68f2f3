"""CPU per chat request, one request at a time: figures that a busy machine does not move much.

    source .venv/bin/activate && python bench/chat_cpu.py [--requests 2000]

Recreates the PostgreSQL database `coagent_bench_chat`, seeds one student in one course and one
room holding --messages messages, starts `coagent run --workers 1` (PostgreSQL + Redis DB 11,
access log off) and sends --requests requests of each kind, one after another on one keep-alive
connection:

- `GET /api/v1/login/session` (authenticated, no database: the floor of an API request)
- `GET /api/v1/chat/messages/{room}?limit=1` and `?limit=50`
- `POST /api/v1/chat/messages/{room}` (a 120-byte message)

For each it prints the web process's CPU per request (from /proc), PostgreSQL's CPU per
request, and the mean wall time. Throughput on two cores is bounded by
2 / (web CPU + PostgreSQL CPU + the load generator's share) per request, so these figures say
whether P2 (2,000 rps) and P3 (1,000 sends/s) are reachable before any load test is run.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import signal
import sys
import time
import urllib.parse

from chat_common import Server, add_common_args, bench_env, login, machine_block, print_machine
from chat_history import _fill
from http_load import _cpu_sample


def _measure(
    server: Server,
    conn: http.client.HTTPConnection,
    request: tuple[str, str, bytes | None],
    headers: dict[str, str],
    count: int,
) -> tuple[float, float, float]:
    method, path, body = request
    for _ in range(min(200, count)):  # warm caches, the pool and the statement cache
        _call(conn, method, path, body, headers)
    before, started = _cpu_sample(server.pgid), time.perf_counter()
    for _ in range(count):
        _call(conn, method, path, body, headers)
    wall = time.perf_counter() - started
    after = _cpu_sample(server.pgid)
    web = sum(after.server.values()) - sum(before.server.values())
    return (
        web / count * 1000,
        (after.postgres - before.postgres) / count * 1000,
        wall / count * 1000,
    )


def _call(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
) -> None:
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    if response.status >= 300:
        raise SystemExit(f"{method} {path}: {response.status} {payload[:300]!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000, help="per kind of request")
    parser.add_argument("--messages", type=int, default=10_000, help="in the room before")
    add_common_args(parser)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    info = machine_block(args)
    print_machine(info)
    with bench_env(args, users=1, rooms=1) as seeded:
        asyncio.run(_fill(seeded, args.messages, 120))
        room = seeded.rooms[0]
        with Server(seeded.env, 1, seeded.workdir, "cpu") as server:
            token = login(server.base_url, seeded.emails[0])
            host = urllib.parse.urlsplit(server.base_url)
            conn = http.client.HTTPConnection(host.hostname or "", host.port, timeout=30)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            send = json.dumps({"content": "x" * 120}).encode()
            kinds = {
                "GET /login/session": ("GET", "/api/v1/login/session", None),
                "history limit=1": ("GET", f"/api/v1/chat/messages/{room}?limit=1", None),
                "history limit=50": ("GET", f"/api/v1/chat/messages/{room}?limit=50", None),
                "send (HTTP)": ("POST", f"/api/v1/chat/messages/{room}", send),
            }
            print(f"\n{args.requests} sequential requests of each kind, 1 worker\n")
            print("| request | web CPU ms | PostgreSQL CPU ms | wall ms |\n|---|---|---|---|")
            for name, request in kinds.items():
                web, pg, wall = _measure(server, conn, request, headers, args.requests)
                print(f"| {name} | {web:.3f} | {pg:.3f} | {wall:.3f} |", flush=True)
            conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
