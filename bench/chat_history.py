"""P2: chat history pages of a 1,000,000-message room, newest page vs a deep page, in one run.

    source .venv/bin/activate && python bench/chat_history.py [--messages 1000000]

Recreates the PostgreSQL database `coagent_bench_chat`, migrates it, seeds one student in one
course and one room, bulk-inserts --messages messages with `generate_series` (one SQL
statement, then `room.last_seq` = the max seq and ANALYZE), starts `coagent run --workers 2`
on PostgreSQL + Redis (DB 11) and measures with wrk (64 connections, one thread):

- `GET /api/v1/chat/messages/{room}?limit=50` (newest page, page 1)
- `GET /api/v1/chat/messages/{room}?limit=50&before_seq=N` with N = messages/2 (page 10,000
  of a 1M room)

alternating (--rounds of each, --duration seconds per phase), and prints rps, latency and the
deep/newest ratio. Then EXPLAIN ANALYZE of both queries' SQL (the repository's query).
Goal (docs/benchmarks.md): >= 2,000 rps; deep page within +-20% of page 1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import signal
import sys
import time

from chat_common import Server, add_common_args, bench_env, login, machine_block, print_machine
from http_load import Load, PythonClient, Result, Wrk, _cpu_sample, _cpu_usage

GOAL_RPS = 2000
GOAL_RATIO = 0.20

SQL = """EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT message.id, message.room_id, message.seq, message.content, message.created_at,
       message.sender_id, message.agent_type, message.client_msg_id,
       user_account.full_name, user_account.username, user_account.email
FROM message LEFT OUTER JOIN user_account ON user_account.id = message.sender_id
WHERE message.room_id = $1 {extra}
ORDER BY message.seq DESC LIMIT 50"""


async def _fill(seeded, messages: int, size: int) -> float:
    started = time.monotonic()
    db = await seeded.connect()
    try:
        room = seeded.rooms[0]
        sender = await db.fetchval("SELECT id FROM user_account WHERE email = $1", seeded.emails[0])
        await db.execute("SET synchronous_commit = off")
        await db.execute(
            """INSERT INTO message (id, room_id, seq, sender_id, content, created_at, updated_at)
               SELECT gen_random_uuid(), $1::uuid, i, $2::uuid,
                      rpad('message ' || i || ' ', $4, 'lorem ipsum '),
                      now() - make_interval(secs => $3 - i), now() - make_interval(secs => $3 - i)
               FROM generate_series(1, $3) AS i""",
            room,
            sender,
            messages,
            size,
        )
        await db.execute("UPDATE room SET last_seq = $2 WHERE id = $1::uuid", room, messages)
        await db.execute("VACUUM ANALYZE message")
    finally:
        await db.close()
    return time.monotonic() - started


async def _explain(seeded, deep: int) -> dict[str, str]:
    db = await seeded.connect()
    try:
        plans = {}
        for name, extra, params in (
            ("newest", "", ()),
            ("deep", "AND message.seq < $2", (deep,)),
        ):
            sql = SQL.format(extra=extra)
            await db.fetch(sql, seeded.rooms[0], *params)  # warm
            rows = await db.fetch(sql, seeded.rooms[0], *params)
            plans[name] = "\n".join(r[0] for r in rows)
        return plans
    finally:
        await db.close()


def _load(name: str, path: str, token: str, args: argparse.Namespace) -> Load:
    return Load(
        name=name,
        method="GET",
        path=path,
        headers={"Authorization": f"Bearer {token}"},
        connections=args.connections,
        duration=args.duration,
    )


def _line(r: Result, cpu: dict[str, float]) -> str:
    return (
        f"  {r.name:<22} {r.rps:9,.1f} rps  p50 {r.p50_ms:6.2f}  p90 {r.p90_ms:6.2f}  "
        f"p99 {r.p99_ms:6.2f}  max {r.max_ms:6.1f} ms  err {r.errors}/{r.bad_status}  "
        f"server {cpu['server']:.2f} ({cpu['worker_a']:.2f}+{cpu['worker_b']:.2f}) "
        f"pg {cpu['postgres']:.2f} wrk {cpu['bench']:.2f} other {cpu.get('other', 0):.2f} cores; "
        f"per request: server {1000 * cpu['server'] / max(r.rps, 1e-9):.2f} ms CPU, "
        f"pg {1000 * max(cpu['postgres'], 0) / max(r.rps, 1e-9):.2f} ms CPU"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--content-bytes", type=int, default=120, help="message length")
    parser.add_argument("--deep-seq", type=int, default=0, help="before_seq (default half)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=2, help="alternations newest/deep")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    parser.add_argument(
        "--history-cache-mb",
        type=int,
        default=None,
        help="CHAT_HISTORY_CACHE_MB for the server (0: every page read from PostgreSQL)",
    )
    add_common_args(parser)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = None if args.python_client else shutil.which("wrk")
    info = machine_block(args)
    print_machine(info)
    deep = args.deep_seq or args.messages // 2
    with bench_env(args, users=1, rooms=1) as seeded:
        print(f"inserting {args.messages:,} messages ...", flush=True)
        took = asyncio.run(_fill(seeded, args.messages, args.content_bytes))
        print(f"  done in {took:.1f} s (insert + VACUUM ANALYZE)", flush=True)
        client = Wrk(wrk, seeded.workdir) if wrk else PythonClient()
        room = seeded.rooms[0]
        newest = f"/api/v1/chat/messages/{room}?limit=50"
        deep_path = f"{newest}&before_seq={deep}"
        env = dict(seeded.env)
        if args.history_cache_mb is not None:
            env["CHAT_HISTORY_CACHE_MB"] = str(args.history_cache_mb)
        with Server(env, args.workers, seeded.workdir, "history") as server:
            token = login(server.base_url, seeded.emails[0])
            print(f"server up on {server.base_url}, {args.workers} workers; warming up", flush=True)
            warm = [_load("warm", newest, token, args), _load("warm", deep_path, token, args)]
            for load in warm:
                client.run_many([dataclasses.replace(load, duration=2.0)], server.base_url)
            totals: dict[str, list[Result]] = {"newest": [], "deep": []}
            for _ in range(args.rounds):
                for name, path in (("newest", newest), ("deep", deep_path)):
                    before, started = _cpu_sample(server.pgid), time.monotonic()
                    label = "newest 50 (page 1)" if name == "newest" else f"before_seq={deep:,}"
                    result = client.run_many([_load(label, path, token, args)], server.base_url)[0]
                    cpu = _cpu_usage(before, _cpu_sample(server.pgid), time.monotonic() - started)
                    totals[name].append(result)
                    print(_line(result, cpu), flush=True)
        plans = asyncio.run(_explain(seeded, deep))

    def summed(results: list[Result]) -> tuple[float, float, float]:
        rps = sum(r.requests for r in results) / sum(r.seconds for r in results)
        return rps, max(r.p50_ms for r in results), max(r.p99_ms for r in results)

    new_rps, new_p50, new_p99 = summed(totals["newest"])
    deep_rps, deep_p50, deep_p99 = summed(totals["deep"])
    ratio = deep_rps / new_rps
    print("\nEXPLAIN ANALYZE, newest page:\n" + plans["newest"])
    print(f"\nEXPLAIN ANALYZE, before_seq={deep}:\n" + plans["deep"])
    print(
        f"\nP2 ({args.messages:,} messages, {args.connections} connections, history cache "
        f"{'default' if args.history_cache_mb is None else f'{args.history_cache_mb} MB'}, wrk "
        f"{'1 thread' if wrk else 'fallback'}, {args.rounds}x{args.duration:.0f} s each):\n"
        f"  newest page   {new_rps:9,.1f} rps  p50 {new_p50:.2f} ms  p99 {new_p99:.2f} ms\n"
        f"  deep page     {deep_rps:9,.1f} rps  p50 {deep_p50:.2f} ms  p99 {deep_p99:.2f} ms\n"
        f"  deep/newest   {ratio:.3f} (goal 0.80-1.20): "
        f"{'meets' if abs(ratio - 1) <= GOAL_RATIO else 'misses'}\n"
        f"  throughput    {min(new_rps, deep_rps):,.0f} rps vs goal {GOAL_RPS:,}: "
        f"{'meets' if min(new_rps, deep_rps) >= GOAL_RPS else 'misses'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
