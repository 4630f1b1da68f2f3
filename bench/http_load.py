"""HTTP load benchmark for P1 (no-database endpoint) and P8 (hot path while logins hash).

Run on demand, never from the test suite (about 2 minutes on a quiet machine):

    source .venv/bin/activate && python bench/http_load.py [--json results.json]

It recreates the PostgreSQL database `coagent_bench`, migrates it, creates one account with the
real argon2id cost (m=19 MiB, t=2, p=1), starts `coagent run --workers 2` on a free port with
PostgreSQL and Redis (DB 15 by default; only its `coagent:*` keys are deleted), logs in and
measures with `wrk` (Debian's package: `apt-get install wrk`). Without wrk it falls back to a
small asyncio HTTP/1.1 client in separate processes, whose figures are lower bounds.
Phases (10 s each unless --duration says otherwise; the baseline and crowd phases half that):

1. Baseline: `GET /health` (no auth, no I/O) at maximum throughput, for the ratio.
2. P1 at maximum throughput: `GET /api/v1/login/session` with a bearer token.
3. P1 paced at half the rate of phase 2 (wrk's `delay()` hook on a fixed schedule), p99.
4. Login throughput: `POST /api/v1/login/access-token` (form), a new connection per login.
5. P8: phase 3 again while phase 4 runs beside it.
6. Controls for phase 5: phase 3 beside the same number of argon2id hashing loops run outside
   the server, at normal priority and at nice 10 (CPU contention vs. a blocked event loop).
7. Crowd: phase 2 with --crowd (400) connections; counts failed answers.
8. Phases 2 and 3 again on a server with the access log on (the production default).

A phase during which other programs used more than --max-other cores is repeated (--retries).
The server, the database and Redis keys are cleaned up on exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import importlib.metadata
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import asyncpg
import redis
from cryptography.fernet import Fernet

SESSION_PATH = "/api/v1/login/session"
HEALTH_PATH = "/health"
LOGIN_PATH = "/api/v1/login/access-token"
EMAIL = "bench@example.com"
# Real argon2id cost: the OWASP minimum the service uses by default.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
# P1 goal from docs/benchmarks.md.
P1_RPS_GOAL = 8000
P1_P99_GOAL_MS = 15.0
ORIGINAL_LOGIN_RPS = 4.3
IDLE_THRESHOLD = 0.25  # cores busy before the start that count as "not quiet"
HASH_CONCURRENCY = 2  # PASSWORD_HASH_CONCURRENCY, the service's default

# ---------------------------------------------------------------------------------------------
# Load generation: wrk with a Lua script, or the asyncio fallback.
# ---------------------------------------------------------------------------------------------

_LUA_COMMON = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

wrk.method = METHOD
wrk.body = BODY
wrk.headers = HEADERS

-- Pacing: every request takes the next slot of a fixed schedule (per thread); a connection
-- that is done early waits for its slot. RATE = 0 means as fast as possible.
local interval, next_slot = 0, nil
if RATE > 0 then
  interval = 1000.0 * THREADS / RATE
  function delay()
    local now = now_ms()
    if next_slot == nil or next_slot < now - 1000 then next_slot = now end
    local slot = next_slot
    next_slot = next_slot + interval
    local wait = slot - now
    if wait < 0 then return 0 end
    return wait
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclasses.dataclass(frozen=True)
class Load:
    """One load: a single request repeated on `connections` keep-alive connections."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: str = ""
    connections: int = 64
    duration: float = 10.0
    rate: float = 0.0  # requests per second in total; 0 = as fast as possible


@dataclasses.dataclass
class Result:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # socket errors and timeouts
    bad_status: int  # answers other than 2xx/3xx
    tool: str
    connections: int = 0
    attempts: int = 1
    target_rps: float = 0.0  # 0 = as fast as possible
    cpu: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(value: str) -> str:
    if not value.isascii():
        raise ValueError("the wrk script takes ASCII values only")
    return json.dumps(value)  # an ASCII JSON string is a valid Lua string literal


def _lua_script(load: Load, threads: int) -> str:
    headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in load.headers.items())
    return (
        f"METHOD = {_lua_string(load.method)}\nBODY = {_lua_string(load.body)}\n"
        f"HEADERS = {{{headers}}}\nRATE = {float(load.rate)!r}\nTHREADS = {threads}\n" + _LUA_COMMON
    )


class Wrk:
    tool = "wrk"

    def __init__(self, executable: str, workdir: Path) -> None:
        self.executable = executable
        self.workdir = workdir
        self.scripts = 0

    def start(self, load: Load, base_url: str) -> subprocess.Popen[str]:
        threads = 1  # one wrk thread: on 2 cores every core it takes is taken from the server
        self.scripts += 1
        script = self.workdir / f"load-{self.scripts}.lua"
        script.write_text(_lua_script(load, threads))
        command = [
            self.executable,
            f"-t{threads}",
            f"-c{load.connections}",
            f"-d{max(1, round(load.duration))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base_url + load.path,
        ]
        return subprocess.Popen(  # noqa: S603 - our own fixed command line
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def finish(self, load: Load, process: subprocess.Popen[str]) -> Result:
        output, _ = process.communicate(timeout=load.duration + 60)
        line = next((x for x in output.splitlines() if x.startswith("BENCH_JSON ")), None)
        if process.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({process.returncode}):\n{output}")
        data = json.loads(line.removeprefix("BENCH_JSON "))
        return Result(
            name=load.name,
            requests=data["requests"],
            seconds=data["duration_us"] / 1e6,
            p50_ms=data["p50_us"] / 1000,
            p90_ms=data["p90_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            max_ms=data["max_us"] / 1000,
            errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
            bad_status=data["status"],
            tool=self.tool,
        )

    def run_many(self, loads: list[Load], base_url: str) -> list[Result]:
        processes = [self.start(load, base_url) for load in loads]
        return [self.finish(load, p) for load, p in zip(loads, processes, strict=True)]


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def _python_load(load: Load, host: str, port: int) -> Result:
    """HTTP/1.1 client: enough for fixed small requests and Content-Length answers."""
    headers = {"Host": f"{host}:{port}", **load.headers}
    if load.body:
        headers["Content-Length"] = str(len(load.body.encode()))
    head = f"{load.method} {load.path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    request = (head + "\r\n" + load.body).encode()
    latencies: list[float] = []
    counts = {"errors": 0, "bad_status": 0}
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + load.duration
    interval = 1.0 / load.rate if load.rate else 0.0
    schedule = {"next": started}

    close = load.headers.get("Connection", "").lower() == "close"

    async def connection() -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            while loop.time() < deadline:
                if interval:
                    slot = max(schedule["next"], loop.time() - 1.0)
                    schedule["next"] = slot + interval
                    if slot > loop.time():
                        await asyncio.sleep(slot - loop.time())
                    if slot >= deadline:
                        return
                if reader is None or writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                sent = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in {b"\r\n", b""}:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - sent)
                if status_line[9:10] not in {b"2", b"3"}:
                    counts["bad_status"] += 1
                if close:
                    writer.close()
                    reader = writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError):
            counts["errors"] += 1
        finally:
            if writer is not None:
                writer.close()

    await asyncio.gather(*(connection() for _ in range(load.connections)))
    seconds = loop.time() - started
    ordered = sorted(x * 1000 for x in latencies)
    return Result(
        name=load.name,
        requests=len(latencies),
        seconds=seconds,
        p50_ms=_percentile(ordered, 50),
        p90_ms=_percentile(ordered, 90),
        p99_ms=_percentile(ordered, 99),
        max_ms=ordered[-1] if ordered else 0.0,
        errors=counts["errors"],
        bad_status=counts["bad_status"],
        tool="python",
    )


def _python_load_process(load: Load, host: str, port: int) -> Result:
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415 - optional, installed with uvicorn[standard]

        uvloop.install()
    return asyncio.run(_python_load(load, host, port))


class PythonClient:
    """Fallback when wrk is missing: one asyncio client process per load (lower bounds)."""

    tool = "python"

    def run_many(self, loads: list[Load], base_url: str) -> list[Result]:
        parsed = urllib.parse.urlsplit(base_url)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
        with ProcessPoolExecutor(len(loads)) as pool:
            futures = [pool.submit(_python_load_process, load, host, port) for load in loads]
            return [future.result() for future in futures]


# ---------------------------------------------------------------------------------------------
# CPU accounting from /proc (server process group, Redis, PostgreSQL, the load generator).
# ---------------------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class CpuSample:
    server: dict[int, float]  # pid -> CPU seconds, the server's process group
    redis: float
    postgres: float
    children: float  # reaped children of the bench: wrk, client and burner processes
    machine: list[int]  # /proc/stat "cpu" line: user nice system idle iowait irq softirq steal
    postgres_db: float = 0.0  # the backends connected to the bench's own database


def _cpu_sample(server_pgid: int | None, database: str | None = None) -> CpuSample:
    """CPU seconds so far per server process, for redis-server and postgres (and, given
    `database`, its backends alone: other programs' databases share the server), and the
    machine.
    """
    sample = CpuSample(server={}, redis=0.0, postgres=0.0, children=_children_cpu(), machine=[])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        pgrp, seconds = int(fields[2]), (int(fields[11]) + int(fields[12])) / _TICK
        if server_pgid is not None and pgrp == server_pgid:
            sample.server[int(entry.name)] = seconds
        elif comm.startswith("redis-server"):
            sample.redis += seconds
        elif comm.startswith("postgres"):
            sample.postgres += seconds
            if database is not None and _backend_of(entry, database):
                sample.postgres_db += seconds
    with contextlib.suppress(OSError, ValueError):
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        sample.machine = [int(x) for x in first[1:9]]
    return sample


def _backend_of(process: Path, database: str) -> bool:
    """A backend's title is "postgres: <cluster>: <user> <database> <host>(<port>) <state>"."""
    try:
        title = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, UnicodeDecodeError):
        return False
    return f" {database} " in title


def _cpu_usage(before: CpuSample, after: CpuSample, wall: float) -> dict[str, float]:
    """Cores used during a phase, the busiest two server processes, idle and steal shares."""
    per_process = sorted(
        ((after.server[pid] - before.server.get(pid, 0.0)) / wall for pid in after.server),
        reverse=True,
    )
    usage = {
        "server": sum(per_process),
        "worker_a": per_process[0] if per_process else 0.0,
        "worker_b": per_process[1] if len(per_process) > 1 else 0.0,
        "redis": (after.redis - before.redis) / wall,
        "postgres": (after.postgres - before.postgres) / wall,
        "postgres_db": (after.postgres_db - before.postgres_db) / wall,
        "bench": (after.children - before.children) / wall,
    }
    if before.machine and after.machine:
        delta = [a - b for a, b in zip(after.machine, before.machine, strict=True)]
        total = sum(delta) or 1
        usage["idle"] = (delta[3] + delta[4]) / total
        usage["steal"] = delta[7] / total
        cores = os.cpu_count() or 1
        busy = (1 - usage["idle"] - usage["steal"]) * cores
        # Interrupt time is nobody's: mostly loopback TCP for our own requests.
        usage["irq"] = (delta[5] + delta[6]) / total * cores
        # With the bench's own backends known, other databases' work is someone else's.
        pg = "postgres_db" if after.postgres_db else "postgres"
        ours = sum(usage[k] for k in ("server", "redis", pg, "bench", "irq"))
        usage["other"] = max(0.0, busy - ours)
    return usage


def _machine_busy(seconds: float = 1.0) -> float:
    """Cores busy on the machine over `seconds` (anything but idle, iowait and steal)."""
    before = _cpu_sample(None)
    time.sleep(seconds)
    after = _cpu_sample(None)
    usage = _cpu_usage(before, after, seconds)
    return (1 - usage.get("idle", 1.0) - usage.get("steal", 0.0)) * (os.cpu_count() or 1)


def _wait_quiet(limit: float) -> float:
    """Wait (at most `limit` seconds) until other programs leave the CPU; returns cores busy."""
    busy, waited = _machine_busy(), 0.0
    while busy > IDLE_THRESHOLD and waited < limit:
        busy, waited = _machine_busy(2.0), waited + 2.0
    return busy


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------------------------
# Control load: argon2id hashing outside the server, to tell CPU contention from a blocked loop.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Burn:
    processes: int
    seconds: float
    nice: int = 0


def _burn(seconds: float, nice: int) -> int:
    from argon2 import PasswordHasher  # noqa: PLC0415 - only in burner processes

    if nice:
        os.nice(nice)
    hasher = PasswordHasher(
        memory_cost=ARGON2_MEMORY_KIB, time_cost=ARGON2_TIME_COST, parallelism=1
    )
    encoded = hasher.hash("burn")
    deadline, count = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        hasher.verify(encoded, "burn")
        count += 1
    return count


@contextlib.contextmanager
def _burners(burn: Burn | None) -> Iterator[dict[str, int]]:
    """Runs `burn.processes` argon2id hashing loops beside the block; counts their hashes."""
    counted: dict[str, int] = {}
    if burn is None:
        yield counted
        return
    with ProcessPoolExecutor(burn.processes) as pool:
        futures = [pool.submit(_burn, burn.seconds, burn.nice) for _ in range(burn.processes)]
        try:
            yield counted
        finally:
            counted["hashes"] = sum(f.result() for f in futures)


# ---------------------------------------------------------------------------------------------
# The service under test.
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _coagent() -> str:
    found = shutil.which("coagent") or str(Path(sys.executable).with_name("coagent"))
    if not Path(found).exists():
        raise SystemExit("the `coagent` command is missing: run `uv sync` and activate .venv")
    return found


async def _recreate_database(admin_dsn: str, name: str, *, drop_only: bool = False) -> None:
    connection = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _stored_hash_prefix(dsn: str) -> str:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        value = await connection.fetchval(
            "SELECT password_hash FROM user_account WHERE email = $1", EMAIL
        )
    finally:
        await connection.close()
    # "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>": keep only the parameters.
    return "$".join(str(value).split("$")[:4])


async def _server_version(admin_dsn: str) -> str:
    connection = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def _redis_version(url: str) -> str:
    client = redis.Redis.from_url(url)
    try:
        return str(client.info("server").get("redis_version", "unknown"))
    finally:
        client.close()


def _clear_redis(url: str) -> None:
    """Delete this service's keys in the bench's own Redis database (never FLUSHDB/FLUSHALL)."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match="coagent:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


class Server:
    def __init__(
        self,
        env: dict[str, str],
        workers: int,
        logdir: Path,
        label: str,
        executable: str | None = None,  # another checkout's `coagent` (bench/reads_ab.py)
    ) -> None:
        self.executable = executable or _coagent()
        self.env = env
        self.workers = workers
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = logdir / f"server-{label}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own fixed command line
            [
                self.executable,
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--no-migrate",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group (so we stop exactly what we started), but the bench's
            # session: with the kernel's autogroup scheduling a new session would get a fair
            # share of its own against the load generator and the hashing controls.
            process_group=0,
        )
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def pgid(self) -> int | None:
        return self.process.pid if self.process else None

    def _wait_ready(self, timeout: float = 60.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}):\n{self.tail()}")
            started = self.log_path.read_text(errors="replace").count(
                "Application startup complete"
            )
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=2) as answer:  # noqa: S310
                    healthy = answer.status == 200
            except (urllib.error.URLError, OSError):
                healthy = False
            if healthy and started >= self.workers:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the server did not become ready in {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _command(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)  # noqa: S603
    return (done.stdout.splitlines() or ["wrk"])[0].split(" Copyright")[0]


def _log_in(base_url: str, password: str) -> str:
    body = urllib.parse.urlencode({"username": EMAIL, "password": password}).encode()
    request = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 server
        base_url + LOGIN_PATH,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return str(json.loads(answer.read())["access_token"])


def _check_session(base_url: str, token: str) -> None:
    request = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 server
        base_url + SESSION_PATH, headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        if answer.status != 200 or b"session_id" not in answer.read():
            raise RuntimeError("GET /api/v1/login/session did not answer the session")


# ---------------------------------------------------------------------------------------------
# The phases.
# ---------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, client: Wrk | PythonClient, workdir: Path) -> None:
        self.args = args
        self.client = client
        self.workdir = workdir
        self.results: list[Result] = []

    def run(
        self, server: Server, loads: list[Load], *, record: bool = True, burn: Burn | None = None
    ) -> list[Result]:
        """One phase; repeated (up to --retries) when other programs took CPU meanwhile."""
        best: list[Result] = []
        for attempt in range(1 + (self.args.retries if record else 0)):
            if attempt:
                print("  (other programs took CPU meanwhile: repeating)")
                _wait_quiet(min(self.args.wait_idle, 20))
            results = self._measure(server, loads, burn)
            for result in results:
                _print_progress(result)
            if not best or results[0].cpu["other"] < best[0].cpu["other"]:
                best = results
            if best[0].cpu.get("other", 0.0) <= self.args.max_other:
                break
        for result in best:
            result.attempts = attempt + 1
        if record:
            self.results.extend(best)
        return best

    def _measure(self, server: Server, loads: list[Load], burn: Burn | None) -> list[Result]:
        before, started = _cpu_sample(server.pgid), time.monotonic()
        with _burners(burn) as burning:
            results = self.client.run_many(loads, server.base_url)
        wall = time.monotonic() - started
        cpu = _cpu_usage(before, _cpu_sample(server.pgid), wall)
        cpu["burned_hashes"] = burning.get("hashes", 0) / wall
        for load, result in zip(loads, results, strict=True):
            result.cpu, result.connections, result.target_rps = cpu, load.connections, load.rate
        return results

    def session_load(
        self, name: str, token: str, rate: float = 0.0, connections: int = 0, duration: float = 0
    ) -> Load:
        return Load(
            name=name,
            method="GET",
            path=SESSION_PATH,
            headers={"Authorization": f"Bearer {token}"},
            connections=connections or self.args.connections,
            duration=duration or self.args.duration,
            rate=rate,
        )

    def health_load(self, name: str) -> Load:
        return Load(
            name=name,
            method="GET",
            path=HEALTH_PATH,
            headers={},
            connections=self.args.connections,
            duration=self.short,
        )

    def login_load(self, name: str, password: str) -> Load:
        return Load(
            name=name,
            method="POST",
            path=LOGIN_PATH,
            # A new connection per login, as browsers log in: kept-alive connections would stay
            # with the one web process that accepted them.
            headers={"Content-Type": "application/x-www-form-urlencoded", "Connection": "close"},
            body=urllib.parse.urlencode({"username": EMAIL, "password": password}),
            connections=self.args.login_connections,
            duration=self.args.duration,
        )

    @property
    def short(self) -> float:
        return max(3.0, self.args.duration / 2)

    def warm_up(self, server: Server, token: str) -> None:
        load = self.session_load("warm-up", token, duration=self.args.warmup)
        self.run(server, [load], record=False)

    def half_rate(self, max_rps: float) -> float:
        return float(self.args.half_rate or max_rps / 2)


def _print_progress(result: Result) -> None:
    print(
        f"  {result.name:<34} {result.rps:9.1f} rps  p50 {result.p50_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}  non-2xx {result.bad_status}  "
        f"others {result.cpu.get('other', 0):.2f} cores",
        flush=True,
    )


def _server_env(args: argparse.Namespace, datadir: Path, *, access_log: bool) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # Nothing from the caller's environment may change what is measured.
        if not k.startswith(("PASSWORD_HASH_", "LOGIN_", "SUPER_ADMIN", "ACCESS_", "LOG_"))
        and k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ENCRYPTION_KEYS"}
        and not k.startswith("DB_POOL_")  # DB_POOL_SIZE, DB_POOL_TIMEOUT
    }
    env.update(
        DATA_DIR=str(datadir),
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        SECRET_KEY=args.secret_key,
        ENCRYPTION_KEYS=args.encryption_key,
        PASSWORD_HASH_MEMORY_KIB=str(ARGON2_MEMORY_KIB),
        PASSWORD_HASH_TIME_COST=str(ARGON2_TIME_COST),
        PASSWORD_HASH_CONCURRENCY=str(HASH_CONCURRENCY),
        LOGIN_FAILURES_PER_ADDRESS="1000000",
        LOGIN_FAILURES_PER_ACCOUNT="1000000",
        ACCESS_LOG="true" if access_log else "false",
        LOG_LEVEL="INFO",
        LOG_JSON="true",
    )
    return env


def _machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "absent"

    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
    for package in (
        "litestar",
        "uvicorn",
        "uvloop",
        "httptools",
        "msgspec",
        "pyjwt",
        "redis",
        "hiredis",
        "asyncpg",
        "argon2-cffi",
    ):
        info[package] = version(package)
    return info


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def _report(bench: Bench, machine: dict[str, str], extra: dict[str, str]) -> str:
    rows = []
    for r in bench.results:
        cpu = r.cpu
        rows.append(
            [
                r.name,
                str(r.connections),
                f"{r.target_rps:,.0f}" if r.target_rps else "max",
                f"{r.rps:,.1f}",
                f"{r.p50_ms:.2f}",
                f"{r.p90_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.max_ms:.1f}",
                f"{r.errors}/{r.bad_status}",
                f"{cpu.get('server', 0):.2f} ({cpu.get('worker_a', 0):.2f}+"
                f"{cpu.get('worker_b', 0):.2f})",
                f"{cpu.get('bench', 0):.2f}",
                f"{cpu.get('redis', 0):.2f}/{cpu.get('postgres', 0):.2f}/{cpu.get('irq', 0):.2f}",
                f"{cpu.get('other', 0):.2f}",
                f"{100 * cpu.get('idle', 0):.0f}%/{100 * cpu.get('steal', 0):.0f}%",
                str(r.attempts),
            ]
        )
    header = [
        "phase",
        "conns",
        "target rps",
        "rps",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "err/non-2xx",
        "server cores (2 busiest)",
        "bench cores",
        "redis/pg/irq cores",
        "other cores",
        "idle/steal",
        "runs",
    ]
    lines = ["", "Machine and versions:"]
    lines += [f"  {k:<12} {v}" for k, v in {**machine, **extra}.items()]
    lines += ["", _table(rows, header), ""]
    return "\n".join(lines)


def _split(result: Result) -> str:
    """How the load fell on the two busiest web processes (kept-alive connections stay put)."""
    a, b = result.cpu.get("worker_a", 0.0), result.cpu.get("worker_b", 0.0)
    return f"[web processes {a:.2f} + {b:.2f} cores]"


def _summary(bench: Bench) -> str:
    by_name = {r.name: r for r in bench.results}
    lines = ["Against the goals (docs/benchmarks.md):"]
    health, top = by_name.get(PHASE_HEALTH), by_name.get(PHASE_MAX)
    half, mixed = by_name.get(PHASE_HALF), by_name.get(PHASE_MIXED)
    login, burned = by_name.get(PHASE_LOGIN), by_name.get(PHASE_BURN)
    niced, crowd = by_name.get(PHASE_BURN_NICE), by_name.get(PHASE_CROWD)
    logged = by_name.get(PHASE_MAX_LOGGED)
    if top:
        verdict = "meets" if top.rps >= P1_RPS_GOAL else "misses"
        lines.append(
            f"  P1 throughput {top.rps:,.0f} rps vs goal {P1_RPS_GOAL:,}: {verdict} {_split(top)}"
        )
        if health:
            lines.append(
                f"     (GET /health, no auth, same run: {health.rps:,.0f} rps; "
                f"session/health = {top.rps / max(health.rps, 1e-9):.2f})"
            )
        if logged:
            lines.append(
                f"     (with the access log on: {logged.rps:,.0f} rps, "
                f"{logged.rps / max(top.rps, 1e-9):.2f}x)"
            )
    if half:
        verdict = "meets" if half.p99_ms <= P1_P99_GOAL_MS else "misses"
        lines.append(
            f"  P1 p99 at {half.rps:,.0f} rps (half the measured maximum): {half.p99_ms:.2f} ms "
            f"vs goal {P1_P99_GOAL_MS:.0f} ms: {verdict} {_split(half)}"
        )
    if login:
        lines.append(
            f"  login {login.rps:.1f}/s (argon2id m=19 MiB, t=2) vs the original system's "
            f"{ORIGINAL_LOGIN_RPS}/s: {login.rps / ORIGINAL_LOGIN_RPS:.1f}x"
        )
    if half and mixed:
        lines.append(
            f"  P8 no-database p99 {mixed.p99_ms:.2f} ms while logins run vs "
            f"{half.p99_ms:.2f} ms without ({mixed.p99_ms / max(half.p99_ms, 1e-9):.1f}x)"
        )
    if half and burned:
        lines.append(
            f"     control, the same hashing outside the server: p99 {burned.p99_ms:.2f} ms "
            f"({burned.p99_ms / max(half.p99_ms, 1e-9):.1f}x)"
        )
    if half and niced:
        lines.append(
            f"     control, that hashing at nice 10: p99 {niced.p99_ms:.2f} ms "
            f"({niced.p99_ms / max(half.p99_ms, 1e-9):.1f}x)"
        )
    if crowd:
        verdict = "all answered" if not crowd.bad_status + crowd.errors else "FAILED requests"
        lines.append(
            f"  {crowd.connections} connections on the session endpoint: {crowd.bad_status} "
            f"non-2xx, {crowd.errors} socket errors of {crowd.requests:,}: {verdict}"
        )
    return "\n".join(lines)


PHASE_HEALTH = "GET /health max (baseline)"
PHASE_MAX = "P1 max"
PHASE_HALF = "P1 half rate"
PHASE_LOGIN = "login alone"
PHASE_MIXED = "P1 half rate + logins"
PHASE_MIXED_LOGIN = "  logins beside it"
PHASE_BURN = "P1 half rate + hashing outside"
PHASE_BURN_NICE = "P1 half rate + hashing at nice 10"
PHASE_CROWD = "P1 crowd (many connections)"
PHASE_MAX_LOGGED = "P1 max, access log on"
PHASE_HALF_LOGGED = "P1 half rate, access log on"


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per server")
    parser.add_argument("--workers", type=int, default=2, help="web processes")
    parser.add_argument("--connections", type=int, default=64, help="connections, reads")
    parser.add_argument("--login-connections", type=int, default=8, help="connections, logins")
    parser.add_argument("--crowd", type=int, default=400, help="connections, crowd phase")
    parser.add_argument("--half-rate", type=float, default=0.0, help="pace reads at this rps")
    parser.add_argument("--pg-admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="coagent_bench", help="recreated, then dropped")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    parser.add_argument("--skip-access-log", action="store_true", help="skip the logged server")
    parser.add_argument("--skip-controls", action="store_true", help="skip the hashing controls")
    parser.add_argument(
        "--wait-idle", type=int, default=60, help="seconds to wait for a quiet machine first"
    )
    parser.add_argument(
        "--max-other",
        type=float,
        default=0.25,
        help="repeat a phase when other programs used more cores than this meanwhile",
    )
    parser.add_argument("--retries", type=int, default=1, help="repeats per phase at most")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    return parser.parse_args()


def _phases(bench: Bench, args: argparse.Namespace, env: dict[str, str], password: str) -> None:
    hashing_threads = args.workers * HASH_CONCURRENCY
    with Server(env, args.workers, bench.workdir, "quiet") as server:
        token = _log_in(server.base_url, password)
        _check_session(server.base_url, token)
        print(f"server up on {server.base_url} (access log off); warming up", flush=True)
        bench.warm_up(server, token)
        bench.run(server, [bench.health_load(PHASE_HEALTH)])
        top = bench.run(server, [bench.session_load(PHASE_MAX, token)])[0]
        rate = bench.half_rate(top.rps)
        bench.run(server, [bench.session_load(PHASE_HALF, token, rate)])
        bench.run(server, [bench.login_load(PHASE_LOGIN, password)])
        bench.run(
            server,
            [
                bench.session_load(PHASE_MIXED, token, rate),
                bench.login_load(PHASE_MIXED_LOGIN, password),
            ],
        )
        if not args.skip_controls:
            burn = Burn(processes=hashing_threads, seconds=args.duration)
            bench.run(server, [bench.session_load(PHASE_BURN, token, rate)], burn=burn)
            niced = dataclasses.replace(burn, nice=10)
            bench.run(server, [bench.session_load(PHASE_BURN_NICE, token, rate)], burn=niced)
        crowd = bench.session_load(PHASE_CROWD, token, connections=args.crowd, duration=bench.short)
        bench.run(server, [crowd])
    if not args.skip_access_log:
        env = {**env, "ACCESS_LOG": "true"}
        with Server(env, args.workers, bench.workdir, "logged") as server:
            token = _log_in(server.base_url, password)
            print(f"server up on {server.base_url} (access log on); warming up", flush=True)
            bench.warm_up(server, token)
            bench.run(server, [bench.session_load(PHASE_MAX_LOGGED, token)])
            bench.run(server, [bench.session_load(PHASE_HALF_LOGGED, token, rate)])


def main() -> int:
    args = _parse_args()
    wrk = None if args.python_client else shutil.which("wrk")
    # SIGTERM ends the bench like Ctrl-C does, through the finally blocks below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    machine = _machine()
    print(
        f"bench: {machine['nproc']} x {machine['cpu']}, Python {machine['python']}, "
        f"litestar {machine['litestar']}, uvicorn {machine['uvicorn']}",
        flush=True,
    )
    busy = _machine_busy()
    if busy > IDLE_THRESHOLD:
        print(f"{busy:.2f} cores busy: waiting up to {args.wait_idle} s for a quiet machine")
        busy = _wait_quiet(args.wait_idle)
    if busy > IDLE_THRESHOLD:
        print(f"warning: {busy:.2f} cores were busy before the bench started; figures will be low")
    if not wrk:
        print("wrk not found: using the asyncio fallback client (figures are lower bounds)")
    base = args.pg_admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    args.database_url = f"{base}/{args.database}"
    args.secret_key = secrets.token_urlsafe(48)
    args.encryption_key = Fernet.generate_key().decode()
    password = secrets.token_urlsafe(18)

    with tempfile.TemporaryDirectory(prefix="coagent-bench-") as tmp:
        workdir = Path(tmp)
        client: Wrk | PythonClient = Wrk(wrk, workdir) if wrk else PythonClient()
        bench = Bench(args, client, workdir)
        asyncio.run(_recreate_database(args.pg_admin_dsn, args.database))
        _clear_redis(args.redis_url)
        try:
            env = _server_env(args, workdir / "data", access_log=False)
            _command([_coagent(), "db", "upgrade"], env)
            _command(
                [_coagent(), "users", "create-admin", "--email", EMAIL],
                {**env, "COAGENT_ADMIN_PASSWORD": password},
            )
            extra = {
                "argon2": asyncio.run(
                    _stored_hash_prefix(args.database_url.replace("+asyncpg", ""))
                ),
                "hash pool": f"{HASH_CONCURRENCY} threads per web process (the default)",
                "server": f"coagent run --workers {args.workers} (uvicorn), PostgreSQL + Redis",
                "postgres": asyncio.run(_server_version(args.pg_admin_dsn)),
                "redis-server": _redis_version(args.redis_url),
                "load": _wrk_version(wrk) if wrk else "asyncio fallback client",
                "busy before": f"{busy:.2f} cores busy in the second before the bench",
            }
            _phases(bench, args, env, password)
        finally:
            _clear_redis(args.redis_url)
            if not args.keep_database:
                asyncio.run(_recreate_database(args.pg_admin_dsn, args.database, drop_only=True))

    print(_report(bench, machine, extra))
    print(_summary(bench))
    if args.json:
        results = [{**dataclasses.asdict(r), "rps": r.rps} for r in bench.results]
        document = {"machine": {**machine, **extra}, "results": results}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
