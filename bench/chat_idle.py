"""P5: idle WebSocket connections: server memory per socket and CPU while they idle.

    source .venv/bin/activate && python bench/chat_idle.py [--sockets 10000]

Recreates the PostgreSQL database `coagent_bench_chat` with --users students and --rooms
rooms, starts one `coagent run` process (one worker) on PostgreSQL + Redis (DB 11) with
CHAT_MAX_CONNECTIONS_PER_USER raised, and from one client process (bench/chat_wsclient.py,
`coagent.v1`, Bearer auth, sockets spread round-robin over the rooms; RLIMIT_NOFILE raised):

1. opens --warm sockets and waits until their join/presence frames stop (code paths loaded,
   pools filled), then reads the server's VmRSS;
2. opens --sockets more, waits for the join storm to settle, reads VmRSS again:
   per socket = (after - before) / sockets;
3. idles --idle seconds and reads the server process's CPU time from /proc/<pid>/stat
   (uvicorn pings every socket every 20 s; the client answers), and Redis's;
4. closes everything and reads VmRSS once more.

Goal (docs/benchmarks.md): 10,000 idle sockets on the box at <= 40 KiB each, <= 0.1 core.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import signal
import sys
import time
from pathlib import Path

from chat_common import (
    Server,
    add_common_args,
    bench_env,
    cpu_seconds,
    login,
    machine_block,
    print_machine,
    raise_nofile,
    rss_kib,
)
from chat_wsclient import connect

GOAL_KIB, GOAL_CORES = 40.0, 0.1


def _redis_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().startswith("redis-server"):
                    return int(entry.name)
            except OSError:
                continue
    return None


async def _open(port: int, rooms: list[str], tokens: list[str], n: int, offset: int) -> list:
    gate = asyncio.Semaphore(64)

    async def one(k: int):
        async with gate:
            return await connect(
                port, f"/api/v1/chat/ws/{rooms[k % len(rooms)]}", tokens[k % len(tokens)]
            )

    return list(await asyncio.gather(*(one(offset + k) for k in range(n))))


async def _settle(clients: list, limit: float = 300.0) -> float:
    started, last = time.perf_counter(), -1
    while time.perf_counter() - started < limit:
        total = sum(c.frames for c in clients)
        if total == last:
            break
        last = total
        await asyncio.sleep(1.0)
    return time.perf_counter() - started


async def _idle(port, pid, rooms, tokens, warm, sockets, idle) -> dict:
    out: dict = {}
    clients = await _open(port, rooms, tokens, warm, 0)
    await _settle(clients)
    await asyncio.sleep(1.0)
    out["rss_before"] = rss_kib(pid)
    started = time.perf_counter()
    clients += await _open(port, rooms, tokens, sockets, warm)
    out["connect_s"] = time.perf_counter() - started
    out["settle_s"] = await _settle(clients)
    await asyncio.sleep(2.0)
    out["rss_after"] = rss_kib(pid)
    out["storm_frames"] = sum(c.frames for c in clients)
    redis = _redis_pid()
    f0, c0, r0 = sum(c.frames for c in clients), cpu_seconds(pid), cpu_seconds(redis or pid)
    t0 = time.perf_counter()
    await asyncio.sleep(idle)
    wall = time.perf_counter() - t0
    out["idle_cores"] = (cpu_seconds(pid) - c0) / wall
    out["redis_cores"] = (cpu_seconds(redis) - r0) / wall if redis else 0.0
    out["idle_frames"] = sum(c.frames for c in clients) - f0
    out["open"] = sum(1 for c in clients if c.close_code is None)
    out["closed"] = sorted({c.close_code for c in clients if c.close_code is not None})
    for c in clients:
        c.close()
    await asyncio.sleep(5.0)
    out["rss_closed"] = rss_kib(pid)
    return out


def run(*a) -> dict:
    import uvloop  # noqa: PLC0415

    raise_nofile(a[5] + a[4] + 1000)
    return uvloop.run(_idle(*a))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--warm", type=int, default=200, help="sockets opened before 'before'")
    parser.add_argument("--rooms", type=int, default=100, help="the sockets spread over these")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle measured")
    add_common_args(parser)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    limit = raise_nofile(args.sockets + args.warm + 1000)  # inherited by the server
    print_machine(machine_block(args))
    print(f"  nofile limit  {limit}")
    ctx = multiprocessing.get_context("spawn")
    with (
        bench_env(args, users=args.users, rooms=args.rooms) as seeded,
        ctx.Pool(1) as pool,
        Server(seeded.env, 1, seeded.workdir, "idle") as server,
    ):
        tokens = [login(server.base_url, email) for email in seeded.emails]
        print(
            f"server up on {server.base_url} (pid {server.pgid}, RSS {rss_kib(server.pgid):,} "
            f"KiB); opening {args.warm} + {args.sockets:,} sockets over {args.rooms} rooms",
            flush=True,
        )
        r = pool.apply(
            run,
            (server.port, server.pgid, seeded.rooms, tokens, args.warm, args.sockets, args.idle),
        )
    per_socket = (r["rss_after"] - r["rss_before"]) / args.sockets
    print(
        f"\n  connect {r['connect_s']:.1f} s, join storm settled after {r['settle_s']:.1f} s "
        f"({r['storm_frames']:,} join/presence frames received); open at the end "
        f"{r['open']:,}, close codes {r['closed']}"
    )
    print(
        f"  server RSS: {r['rss_before']:,} KiB with {args.warm} sockets -> {r['rss_after']:,} "
        f"KiB with {args.warm + args.sockets:,} -> {r['rss_closed']:,} KiB after closing all"
    )
    print(
        f"  idle {args.idle:.0f} s: server {r['idle_cores']:.3f} cores, redis "
        f"{r['redis_cores']:.3f} cores, {r['idle_frames']} text frames to clients"
    )
    print(
        f"\nP5: {per_socket:.1f} KiB per socket (goal <= {GOAL_KIB:.0f}): "
        f"{'meets' if per_socket <= GOAL_KIB else 'misses'}; idle CPU {r['idle_cores']:.3f} "
        f"cores (goal <= {GOAL_CORES}): {'meets' if r['idle_cores'] <= GOAL_CORES else 'misses'}"
        f"; {args.sockets + args.warm:,} sockets held: "
        f"{'yes' if r['open'] >= args.sockets + args.warm else 'NO'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
