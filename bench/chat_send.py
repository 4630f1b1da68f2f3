"""P3: sending chat messages (persist with seq, publish): maximum rate, then latency at half.

    source .venv/bin/activate && python bench/chat_send.py [--duration 10]

Recreates the PostgreSQL database `coagent_bench_chat`, seeds --senders students of one course
and --rooms rooms, starts `coagent run --workers 2` on PostgreSQL + Redis (DB 11; fan-out goes
through Redis PUBLISH) with the chat rate limits raised, logs every sender in, then:

1. max, several rooms: wrk (one thread, --connections connections) POSTs
   `/api/v1/chat/messages/{room}` round-robin over the rooms and senders, no client_msg_id.
2. max, one room: the same into one room (every send takes that room's row lock).
3. half rate, several rooms: an open-loop asyncio client (its own process) sends at half of
   phase 1's rate on a fixed schedule; latency counts from the scheduled time, so queueing in
   the client is included (no coordinated omission).
4. WebSocket: --ws-clients `coagent.v1` sockets spread over the rooms each send
   `message.send` with a client_msg_id and wait for their own `message` event back (send ->
   stored -> published -> received), closed loop; sends/s and that round trip's p50/p99.

Goal (docs/benchmarks.md): >= 1,000 sends/s; p50 <= 8 ms, p99 <= 40 ms at half load.
Then checks the database: every room's last_seq equals its message count and max seq.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shutil
import signal
import subprocess
import sys
import time
import uuid

import websockets

from chat_common import (
    Server,
    add_common_args,
    bench_env,
    login,
    machine_block,
    percentile,
    print_machine,
)
from http_load import _cpu_sample, _cpu_usage

GOAL_RPS, GOAL_P50, GOAL_P99 = 1000, 8.0, 40.0

LUA = r"""
local paths = {%(paths)s}
local tokens = {%(tokens)s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", paths[(i %% #paths) + 1],
    {["Authorization"] = "Bearer " .. tokens[(i %% #tokens) + 1],
     ["Content-Type"] = "application/json"},
    '{"content":"bench message ' .. i .. ' lorem ipsum dolor sit amet"}')
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests":%%d,"duration_us":%%d,"p50_us":%%d,' ..
    '"p99_us":%%d,"errors":%%d,"status":%%d}\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout,
    e.status))
end
"""


def wrk_max(args, base_url, paths, tokens, workdir, name) -> dict:
    script = workdir / f"{name}.lua"
    script.write_text(
        LUA
        % {
            "paths": ", ".join(json.dumps(p) for p in paths),
            "tokens": ", ".join(json.dumps(t) for t in tokens),
        }
    )
    command = [
        shutil.which("wrk") or "wrk",
        "-t1",
        f"-c{args.connections}",
        f"-d{int(args.duration)}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base_url,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    data = json.loads(next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))[11:])
    return {
        "rps": data["requests"] / (data["duration_us"] / 1e6),
        "p50": data["p50_us"] / 1000,
        "p99": data["p99_us"] / 1000,
        "n": data["requests"],
        "errors": data["errors"],
        "non2xx": data["status"],
    }


async def _open_loop(
    port: int, paths: list[str], tokens: list[str], rate: float, duration: float, connections: int
) -> dict:
    idle: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    bad = [0]

    async def one(i: int, slot: float) -> None:
        reader, writer = await idle.get()
        body = json.dumps({"content": f"paced message {i} lorem ipsum dolor sit amet"}).encode()
        writer.write(
            f"POST {paths[i % len(paths)]} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {tokens[i % len(tokens)]}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        latencies.append((time.perf_counter() - slot) * 1000)
        if status[9:10] != b"2":
            bad[0] += 1
        idle.put_nowait((reader, writer))

    started = time.perf_counter()
    tasks, i = [], 0
    while (slot := started + i / rate) < started + duration:
        if slot > time.perf_counter():
            await asyncio.sleep(slot - time.perf_counter())
        tasks.append(asyncio.ensure_future(one(i, slot)))
        i += 1
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / wall,
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p99": percentile(ordered, 99),
        "max": ordered[-1],
        "n": len(ordered),
        "non2xx": bad[0],
    }


def open_loop(*a) -> dict:
    import uvloop  # noqa: PLC0415

    return uvloop.run(_open_loop(*a))


async def _ws_round_trips(
    port: int, rooms: list[str], tokens: list[str], clients: int, duration: float
) -> dict:
    latencies: list[float] = []
    deadline = time.perf_counter() + duration + 1.0  # +1 s for connecting

    async def client(k: int) -> None:
        url = f"ws://127.0.0.1:{port}/api/v1/chat/ws/{rooms[k % len(rooms)]}"
        async with websockets.connect(
            url,
            subprotocols=["coagent.v1"],
            compression=None,
            max_queue=None,
            additional_headers={"Authorization": f"Bearer {tokens[k % len(tokens)]}"},
        ) as ws:
            while time.perf_counter() < deadline:
                mine = uuid.uuid4().hex
                sent = time.perf_counter()
                await ws.send(
                    json.dumps(
                        {
                            "type": "message.send",
                            "client_msg_id": mine,
                            "content": f"ws message {mine}",
                        }
                    )
                )
                while True:
                    event = json.loads(await ws.recv())
                    if event.get("type") == "error":
                        raise RuntimeError(event)
                    if event.get("client_msg_id") == mine:
                        break
                latencies.append((time.perf_counter() - sent) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    ordered = sorted(latencies)
    wall = time.perf_counter() - started - 1.0
    return {
        "rps": len(ordered) / wall,
        "p50": percentile(ordered, 50),
        "p99": percentile(ordered, 99),
        "n": len(ordered),
    }


def ws_round_trips(*a) -> dict:
    import uvloop  # noqa: PLC0415

    return uvloop.run(_ws_round_trips(*a))


async def _check_db(seeded) -> str:
    db = await seeded.connect()
    try:
        rows = await db.fetch(
            """SELECT r.id, r.last_seq, count(m.id) AS n, coalesce(max(m.seq), 0) AS top
               FROM room r LEFT JOIN message m ON m.room_id = r.id GROUP BY r.id"""
        )
        bad = [r for r in rows if not r["last_seq"] == r["n"] == r["top"]]
        total = sum(r["n"] for r in rows)
        return f"{total:,} messages stored; rooms with a seq gap or mismatch: {len(bad)}"
    finally:
        await db.close()


def _show(name: str, r: dict, cpu: dict | None = None) -> None:
    extra = ""
    if cpu:
        extra = (
            f"  server {cpu['server']:.2f} ({cpu['worker_a']:.2f}+{cpu['worker_b']:.2f}) "
            f"pg {cpu['postgres']:.2f} redis {cpu['redis']:.2f} "
            f"other {cpu.get('other', 0):.2f} cores; per send: server "
            f"{1000 * cpu['server'] / max(r['rps'], 1e-9):.2f} ms CPU, pg "
            f"{1000 * max(cpu['postgres'], 0) / max(r['rps'], 1e-9):.2f} ms CPU"
        )
    print(
        f"  {name:<34} {r['rps']:8.1f}/s  p50 {r['p50']:7.2f}  p99 {r['p99']:7.2f} ms  "
        f"n {r['n']}  non-2xx/err {r.get('non2xx', 0)}/{r.get('errors', 0)}{extra}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--senders", type=int, default=16, help="seeded users who send")
    parser.add_argument("--rooms", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--half-rate", type=float, default=0.0, help="default: half of max")
    parser.add_argument("--ws-clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    add_common_args(parser)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print_machine(machine_block(args))
    ctx = multiprocessing.get_context("spawn")
    with (
        bench_env(args, users=args.senders, rooms=args.rooms) as seeded,
        Server(seeded.env, args.workers, seeded.workdir, "send") as server,
    ):
        tokens = [login(server.base_url, email) for email in seeded.emails]
        paths = [f"/api/v1/chat/messages/{room}" for room in seeded.rooms]
        print(
            f"server up on {server.base_url}, {args.workers} workers, {len(tokens)} senders, "
            f"{len(paths)} rooms",
            flush=True,
        )
        saved, args.duration = args.duration, 3.0
        wrk_max(args, server.base_url, paths, tokens, seeded.workdir, "warm")
        args.duration = saved

        def phase(name: str, run, *a) -> dict:
            before, started = _cpu_sample(server.pgid), time.monotonic()
            result = run(*a)
            _show(
                name,
                result,
                _cpu_usage(before, _cpu_sample(server.pgid), time.monotonic() - started),
            )
            return result

        many = phase(
            f"max, {len(paths)} rooms, {args.connections} conns",
            wrk_max,
            args,
            server.base_url,
            paths,
            tokens,
            seeded.workdir,
            "many",
        )
        one = phase(
            f"max, 1 room, {args.connections} conns",
            wrk_max,
            args,
            server.base_url,
            paths[:1],
            tokens,
            seeded.workdir,
            "one",
        )
        rate = args.half_rate or many["rps"] / 2
        with ctx.Pool(1) as pool:
            half = phase(
                f"paced {rate:.0f}/s, {len(paths)} rooms",
                pool.apply,
                open_loop,
                (server.port, paths, tokens, rate, args.duration, args.connections),
            )
            ws = phase(
                f"WebSocket, {args.ws_clients} sockets",
                pool.apply,
                ws_round_trips,
                (server.port, seeded.rooms, tokens, args.ws_clients, args.duration),
            )
        print("  " + asyncio.run(_check_db(seeded)), flush=True)
    print(
        f"\nP3 ({args.workers} web processes, PostgreSQL + Redis, load generator on the same "
        "2 cores):"
    )
    verdict = "meets" if many["rps"] >= GOAL_RPS else "misses"
    print(f"  max sends/s, {len(paths)} rooms: {many['rps']:,.0f} (goal {GOAL_RPS:,}): {verdict}")
    print(f"  max sends/s, one room: {one['rps']:,.0f}")
    ok = half["p50"] <= GOAL_P50 and half["p99"] <= GOAL_P99
    print(
        f"  at {half['rps']:,.0f}/s (half): p50 {half['p50']:.2f} ms, p99 {half['p99']:.2f} ms "
        f"(goal {GOAL_P50:.0f} / {GOAL_P99:.0f} ms): {'meets' if ok else 'misses'}"
    )
    print(
        f"  WebSocket send -> own echo: {ws['rps']:,.0f}/s, p50 {ws['p50']:.2f} ms, "
        f"p99 {ws['p99']:.2f} ms ({args.ws_clients} sockets, closed loop)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
