"""The revocation check's cost in its three states (docs/adr/0007): Redis answers, Redis lost
the list (a rebuild from the database), Redis is down (the database answers).

    source .venv/bin/activate && python bench/revocations.py [--sessions 100000 --revoked 2000]

Recreates the PostgreSQL database `coagent_bench_revocations`, migrates it, inserts one account
with --sessions sessions of which --revoked were revoked within the last 10 minutes (and as
many an hour ago), uses Redis DB 14 (flushed), and times `RedisRevocationList.is_revoked` in
one process, one check at a time (latency, not throughput):
- a check remembered from the last second (the common case of a busy session),
- a check that asks Redis (`MGET` of the session's key and the marker),
- the rebuild after Redis lost the list (one read of auth_session + one MULTI),
- a check while Redis is down (the circuit is open: one primary-key read in the database).
"""

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from coagent.adapters.persistence.engine import create_engine, create_session_factory
from coagent.adapters.persistence.revocation_record import SqlRevocationRecord
from coagent.adapters.redis_circuit import RedisCircuit, RedisDown
from coagent.adapters.security.redis_stores import COMPLETE, RedisRevocationList
from coagent.main import migrations
from coagent.main.compose.infra import create_redis

DATABASE = "coagent_bench_revocations"
TTL = timedelta(minutes=10)


async def _recreate(admin_dsn: str, *, create: bool = True) -> None:
    connection = await asyncpg.connect(f"{admin_dsn}/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        if create:
            await connection.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await connection.close()


async def _fill(admin_dsn: str, sessions: int, revoked: int) -> list[uuid.UUID]:
    connection = await asyncpg.connect(f"{admin_dsn}/{DATABASE}")
    try:
        user = uuid.uuid4()
        now = datetime.now(UTC)
        await connection.execute(
            "INSERT INTO user_account (id, email, full_name, role, is_active, created_at,"
            " updated_at) VALUES ($1, 'bench@example.test', 'Bench', 'student', true, $2, $2)",
            user,
            now,
        )
        ids = [uuid.uuid4() for _ in range(sessions)]
        rows = []
        for index, sid in enumerate(ids):
            at = None
            if index < revoked:
                at = now - timedelta(seconds=index % 600)
            elif index < 2 * revoked:
                at = now - timedelta(hours=1)
            rows.append((sid, user, "jti", now, now, now + timedelta(days=14), at))
        await connection.copy_records_to_table(
            "auth_session",
            records=rows,
            columns=[
                "id",
                "user_id",
                "refresh_jti",
                "created_at",
                "updated_at",
                "expires_at",
                "revoked_at",
            ],
        )
        await connection.execute("ANALYZE auth_session")
        return ids
    finally:
        await connection.close()


async def _refused() -> None:
    raise ConnectionError("Connection refused")


async def _time(check, sids: list[uuid.UUID], count: int) -> float:
    started = time.perf_counter()
    for index in range(count):
        await check(sids[index % len(sids)])
    return (time.perf_counter() - started) / count * 1e6


async def _measure(args: argparse.Namespace, sids: list[uuid.UUID]) -> None:
    url = f"{args.pg.replace('postgresql://', 'postgresql+asyncpg://')}/{DATABASE}"
    engine = create_engine(url, pool_size=5)
    record = SqlRevocationRecord(create_session_factory(engine))
    redis = create_redis(args.redis)
    circuit = RedisCircuit(cool_off=3600)  # no probe: stays open once tripped
    revocations = RedisRevocationList(
        redis, record=record, access_ttl=TTL, circuit=circuit, recheck_after=0
    )
    remembered = RedisRevocationList(redis, record=record, access_ttl=TTL, circuit=circuit)
    live = sids[2 * args.revoked :][:1000]
    try:
        rebuilds = []
        for _ in range(args.rounds):
            await redis.flushdb()
            started = time.perf_counter()
            await revocations.is_revoked(live[0])  # finds the marker gone: rebuilds
            rebuilds.append((time.perf_counter() - started) * 1000)
        keys = await redis.dbsize()
        asked = [await _time(revocations.is_revoked, live, args.checks) for _ in range(args.rounds)]
        await _time(remembered.is_revoked, live, len(live))
        cached = [
            await _time(remembered.is_revoked, live, args.checks * 10) for _ in range(args.rounds)
        ]
        await redis.delete(COMPLETE)
        with contextlib.suppress(RedisDown):  # as after a failed command
            await circuit.call(_refused)
        down = [await _time(revocations.is_revoked, live, args.checks) for _ in range(args.rounds)]
        # The same primary-key read straight, for scale.
        direct = [await _time(record.is_revoked, live, args.checks) for _ in range(args.rounds)]
    finally:
        await redis.flushdb()
        await redis.aclose()
        await engine.dispose()

    def line(name: str, values: list[float], unit: str) -> None:
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:44s} median {statistics.median(values):9.1f} {unit}   ({runs})")

    print(
        f"auth_session: {len(sids):,} rows, {args.revoked:,} revoked in the last 10 min "
        f"(rebuilt into {keys - 1:,} keys + the marker)"
    )
    line("remembered check (last second)", cached, "us")
    line("check asking Redis (MGET key + marker)", asked, "us")
    line("rebuild after Redis lost the list", rebuilds, "ms")
    line("check while Redis is down (database)", down, "us")
    line("  of which the primary-key read alone", direct, "us")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--revoked", type=int, default=2_000)
    parser.add_argument("--checks", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(_recreate(args.pg))
    migrations.upgrade(f"{args.pg.replace('postgresql://', 'postgresql+asyncpg://')}/{DATABASE}")
    sids = asyncio.run(_fill(args.pg, args.sessions, args.revoked))
    asyncio.run(_measure(args, sids))
    asyncio.run(_recreate(args.pg, create=False))


if __name__ == "__main__":
    main()
