"""P4: WebSocket fan-out across two processes, and max deliveries/s beside a bare-ASGI baseline.

    source .venv/bin/activate && python bench/chat_fanout.py [--members 1000]

Recreates the PostgreSQL database `coagent_bench_chat` with --users students and 2 rooms, and
starts two `coagent run` processes (one worker each, different ports) sharing PostgreSQL and
Redis (DB 11). The clients (bench/chat_wsclient.py, one uvloop process; the load generator
shares the 2 cores with the servers, PostgreSQL and Redis) speak `coagent.v1`.

1. Latency: --members sockets in room 1, half on each process (the --users accounts reused,
   CHAT_MAX_CONNECTIONS_PER_USER raised). After the join storm settles, --senders of them
   (half on each process) send `message.send` at --rate msg/s in total, round-robin, the content
   starting with the send time; every socket notes send -> receive for every message.
   deliveries/s, p50/p99/max,
   lost (expected = sent x sockets still open).
2. Max throughput, small events: --max-clients sockets in room 2 on process A only; in steps, a
   growing number of them send `typing` once every 1.05 s (the server forwards at most one per
   second per socket), each forwarded to every socket (a ~140 B `typing` event, no database).
   Deliveries/s counted at the clients during --step seconds, and the process's CPU.
3. Baseline: the same harness and steps against bench/chat_baseline_asgi.py (one uvicorn
   process, raw ASGI, broadcasts each received frame to every socket), frames of the same size.

Goals (docs/benchmarks.md): >= 50,000 deliveries/s per process for <= 256 B events and >= 0.25x
the baseline; p99 send -> receive <= 50 ms in a 1,000-member room at 20 msg/s over 2 processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from chat_common import (
    Server,
    add_common_args,
    bench_env,
    cpu_seconds,
    login,
    machine_block,
    percentile,
    print_machine,
    raise_nofile,
)
from chat_wsclient import connect
from http_load import _free_port

GOAL_PER_PROCESS, GOAL_RATIO, GOAL_P99 = 50_000, 0.25, 50.0
BENCH = Path(__file__).resolve().parent


async def _open(port: int, path: str, tokens: list[str], n: int, on_text=None) -> list:
    gate = asyncio.Semaphore(32)

    async def one(k: int):
        async with gate:
            return await connect(
                port[k % len(port)] if isinstance(port, list) else port,
                path,
                tokens[k % len(tokens)] if tokens else None,
                on_text,
            )

    return list(await asyncio.gather(*(one(k) for k in range(n))))


async def _settle(clients: list, limit: float = 120.0) -> float:
    """Wait until no frame arrived for a second (the join storm is over); returns seconds."""
    started, last = time.perf_counter(), -1
    while time.perf_counter() - started < limit:
        total = sum(c.frames for c in clients)
        if total == last:
            break
        last = total
        await asyncio.sleep(1.0)
    return time.perf_counter() - started


async def _latency(ports, room, tokens, members, rate, duration, pids, senders) -> dict:
    latencies: list[float] = []
    marker = b'"content":"t='

    def on_text(payload: bytes) -> None:
        i = payload.find(marker)
        if i >= 0:
            latencies.append(time.perf_counter() - float(payload[i + 13 : payload.index(b";", i)]))

    started = time.perf_counter()
    clients = await _open(ports, f"/api/v1/chat/ws/{room}", tokens, members, on_text)
    connected = time.perf_counter() - started
    settled = await _settle(clients)
    storm = sum(c.frames for c in clients)
    latencies.clear()
    cpu0, t0, me0 = [cpu_seconds(p) for p in pids], time.perf_counter(), time.process_time()
    sent, pad = 0, "x" * 60
    while (slot := t0 + sent / rate) < t0 + duration:
        await asyncio.sleep(max(0.0, slot - time.perf_counter()))
        content = f"t={time.perf_counter():.6f};{pad}"
        clients[sent % senders].send_text(
            json.dumps(
                {"type": "message.send", "content": content, "client_msg_id": uuid.uuid4().hex}
            )
        )
        sent += 1
    await asyncio.sleep(3.0)
    wall = time.perf_counter() - t0
    cpu = [(cpu_seconds(p) - c) / wall for p, c in zip(pids, cpu0, strict=True)]
    client = (time.process_time() - me0) / wall
    alive = sum(1 for c in clients if c.close_code is None)
    for c in clients:
        c.close()
    ordered = sorted(x * 1000 for x in latencies)
    return {
        "members": members,
        "connect_s": connected,
        "settle_s": settled,
        "storm_frames": storm,
        "sent": sent,
        "received": len(ordered),
        "expected": sent * alive,
        "alive": alive,
        "rate": len(ordered) / duration,
        "p50": percentile(ordered, 50),
        "p99": percentile(ordered, 99),
        "max": ordered[-1] if ordered else 0.0,
        "cpu": cpu,
        "client": client,
        "closed": sorted({c.close_code for c in clients if c.close_code is not None}),
    }


async def _max(port, room, tokens, n, fractions, step, pid, payload) -> dict:
    path = f"/api/v1/chat/ws/{room}" if room else "/ws"
    clients = await _open(port, path, tokens, n)
    await _settle(clients)
    steps = []
    for fraction in fractions:
        typers = max(1, int(n * fraction))
        interval = 1.05 / typers
        f0, c0, t0 = sum(c.frames for c in clients), cpu_seconds(pid), time.perf_counter()
        me0 = time.process_time()
        i = 0
        while (slot := t0 + i * interval) < t0 + step:
            await asyncio.sleep(max(0.0, slot - time.perf_counter()))
            clients[i % typers].send_text(payload)
            i += 1
        wall = time.perf_counter() - t0
        delivered = sum(c.frames for c in clients) - f0
        steps.append(
            {
                "typers": typers,
                "offered": i * n / wall,
                "delivered": delivered / wall,
                "cpu": (cpu_seconds(pid) - c0) / wall,
                "client": (time.process_time() - me0) / wall,
                "open": sum(1 for c in clients if c.close_code is None),
            }
        )
        await _settle(clients, 30.0)
    for c in clients:
        c.close()
    return {
        "steps": steps,
        "best": max(s["delivered"] for s in steps),
        "per_cpu": max(s["delivered"] / max(s["cpu"], 1e-9) for s in steps),
    }


def run(coro_name: str, *a) -> dict:
    import uvloop  # noqa: PLC0415

    raise_nofile(20000)
    return uvloop.run(globals()[coro_name](*a))


@contextlib.contextmanager
def baseline_server(workdir: Path):
    port = _free_port()
    log = (workdir / "baseline.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own fixed command line
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(BENCH),
            "chat_baseline_asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        process_group=0,
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            time.sleep(0.1)
        yield port, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


def _show_steps(name: str, result: dict) -> None:
    for s in result["steps"]:
        print(
            f"  {name:<9} typers {s['typers']:4d}  offered {s['offered']:9,.0f}/s  delivered "
            f"{s['delivered']:9,.0f}/s  process {s['cpu']:.2f} cores "
            f"({s['delivered'] / max(s['cpu'], 1e-9):,.0f} per CPU-second)  client "
            f"{s['client']:.2f} cores  sockets open {s['open']}",
            flush=True,
        )


def print_latency(lat: dict | None, args: argparse.Namespace, size: int = 0) -> None:
    event = f"; event {size} B" if size else ""
    print(f"\nP4 (load generator, PostgreSQL and Redis on the same 2 cores{event})")
    if lat:
        ok = lat["p99"] <= GOAL_P99 and lat["received"] >= lat["expected"]
        print(
            f"  {lat['members']} sockets over 2 processes, {args.rate:.0f} msg/s from "
            f"{min(args.senders, lat['members'])} sockets: "
            f"{lat['rate']:,.0f} deliveries/s, p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} "
            f"ms, max {lat['max']:.1f} ms; received {lat['received']:,} of "
            f"{lat['expected']:,} expected; process cores {lat['cpu'][0]:.2f}+"
            f"{lat['cpu'][1]:.2f}, client {lat['client']:.2f} (goal p99 <= {GOAL_P99:.0f} ms): "
            f"{'meets' if ok else 'misses'}"
        )
        print(
            f"  join storm: connect {lat['connect_s']:.1f} s, settle {lat['settle_s']:.1f} s, "
            f"{lat['storm_frames']:,} join/presence frames; close codes seen {lat['closed']}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=1000, help="sockets in the latency room")
    parser.add_argument("--users", type=int, default=20, help="accounts the sockets log in as")
    parser.add_argument("--rate", type=float, default=20.0, help="messages/s, latency run")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds, latency run")
    parser.add_argument("--senders", type=int, default=20, help="sending sockets, latency run")
    parser.add_argument("--max-clients", type=int, default=500, help="sockets, max run")
    parser.add_argument("--fractions", default="0.1,0.25,0.5,1.0", help="typers per step")
    parser.add_argument("--step", type=float, default=5.0, help="seconds per max-run step")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-max", action="store_true", help="latency run only")
    add_common_args(parser)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print_machine(machine_block(args))
    fractions = [float(x) for x in args.fractions.split(",")]
    ctx = multiprocessing.get_context("spawn")
    with bench_env(args, users=args.users, rooms=2) as seeded, ctx.Pool(1) as pool:
        with (
            Server(seeded.env, 1, seeded.workdir, "a") as a,
            Server(seeded.env, 1, seeded.workdir, "b") as b,
        ):
            tokens = [login(a.base_url, email) for email in seeded.emails]
            print(
                f"processes A :{a.port} (pid {a.pgid}) and B :{b.port} (pid {b.pgid}), "
                f"{len(tokens)} accounts",
                flush=True,
            )
            lat = None
            if not args.skip_latency:
                lat = pool.apply(
                    run,
                    (
                        "_latency",
                        [a.port, b.port],
                        seeded.rooms[0],
                        tokens,
                        args.members,
                        args.rate,
                        args.duration,
                        [a.pgid, b.pgid],
                        min(args.senders, args.members),
                    ),
                )
                print(f"  latency run: {json.dumps(lat)}", flush=True)
            if args.skip_max:
                ours = None
            else:
                ours = pool.apply(
                    run,
                    (
                        "_max",
                        a.port,
                        seeded.rooms[1],
                        tokens,
                        args.max_clients,
                        fractions,
                        args.step,
                        a.pgid,
                        '{"type":"typing"}',
                    ),
                )
                _show_steps("ours", ours)
        # Same size as our typing event: {"type":"typing","room_id":..,"user":{"id":..,"name":..}}
        sample = json.dumps(
            {
                "type": "typing",
                "room_id": str(uuid.uuid4()),
                "user": {"id": str(uuid.uuid4()), "name": "Student 10"},
            },
            separators=(",", ":"),
        )
        with contextlib.ExitStack() if ours is None else baseline_server(seeded.workdir) as bs:
            if ours is None:
                print_latency(lat, args)
                return 0
            port, pid = bs
            base = pool.apply(
                run, ("_max", port, None, None, args.max_clients, fractions, args.step, pid, sample)
            )
            _show_steps("baseline", base)
    print_latency(lat, args, len(sample))
    ratio = ours["best"] / base["best"]
    print(
        f"  deliveries per CPU-second of the serving process (best step): ours "
        f"{ours['per_cpu']:,.0f}, baseline {base['per_cpu']:,.0f}, ratio "
        f"{ours['per_cpu'] / base['per_cpu']:.2f}"
    )
    print(
        f"  max deliveries/s, one process: ours {ours['best']:,.0f}, baseline "
        f"{base['best']:,.0f}, ratio {ratio:.2f} (goal >= {GOAL_PER_PROCESS:,}/s and >= "
        f"{GOAL_RATIO}x): "
        f"{'meets' if ours['best'] >= GOAL_PER_PROCESS and ratio >= GOAL_RATIO else 'misses'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
