"""HTTP load benchmark for P1 (no-database endpoint) and P8 (hot path while logins hash).

Run on demand, never from the test suite:

    source .venv/bin/activate && python bench/http_load.py

It recreates the PostgreSQL database `coagent_bench`, migrates it, creates one account with the
real argon2id cost (m=19 MiB, t=2, p=1), starts `coagent run --workers 2` on a free port with
PostgreSQL and Redis (DB 15 by default), logs in and measures with `wrk` (Debian package
`wrk`; `apt-get install wrk`). Without wrk it falls back to a small asyncio HTTP/1.1 client in
separate processes, whose figures are lower bounds. Phases (about 10 s each):

1. P1 at maximum throughput: `GET /api/v1/login/session` with a bearer token.
2. P1 at about half that rate (paced client), p99.
3. Login throughput: `POST /api/v1/login/access-token` (form), real argon2id.
4. P8: phase 2 again while phase 3 runs beside it.
5. Phase 1 and 2 again with the access log on (the production default).

The server, the database and the bench are cleaned up on exit, Ctrl-C included.
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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import asyncpg
import redis
from cryptography.fernet import Fernet

SESSION_PATH = "/api/v1/login/session"
LOGIN_PATH = "/api/v1/login/access-token"
EMAIL = "bench@example.com"
# Real argon2id cost: the OWASP minimum the service uses by default.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
# P1 goal from docs/quality-bar.md.
P1_RPS_GOAL = 8000
P1_P99_GOAL_MS = 15.0
ORIGINAL_LOGIN_RPS = 4.3

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

    def start(self, load: Load, base_url: str) -> subprocess.Popen[str]:
        threads = 1  # one wrk thread: on 2 cores every core it takes is taken from the server
        script = self.workdir / f"{load.name}.lua"
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
    """Keep-alive HTTP/1.1 client: enough for fixed small requests and Content-Length answers."""
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

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while loop.time() < deadline:
                if interval:
                    slot = max(schedule["next"], loop.time() - 1.0)
                    schedule["next"] = slot + interval
                    if slot > loop.time():
                        await asyncio.sleep(slot - loop.time())
                    if slot >= deadline:
                        return
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
        except (OSError, asyncio.IncompleteReadError, ValueError):
            counts["errors"] += 1
        finally:
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


def _proc_cpu(server_pgid: int | None) -> dict[str, float]:
    """CPU seconds so far: the server's process group, redis-server, postgres processes."""
    totals = {"server": 0.0, "redis": 0.0, "postgres": 0.0}
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
            totals["server"] += seconds
        elif comm.startswith("redis-server"):
            totals["redis"] += seconds
        elif comm.startswith("postgres"):
            totals["postgres"] += seconds
    return totals


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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
    def __init__(self, env: dict[str, str], workers: int, logdir: Path, label: str) -> None:
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
                _coagent(),
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
            start_new_session=True,  # its own process group: we stop exactly what we started
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
    def __init__(self, args: argparse.Namespace, client: Wrk | PythonClient) -> None:
        self.args = args
        self.client = client
        self.results: list[Result] = []

    def run(self, server: Server, loads: list[Load], record: bool = True) -> list[Result]:
        cpu_before, children_before = _proc_cpu(server.pgid), _children_cpu()
        started = time.monotonic()
        results = self.client.run_many(loads, server.base_url)
        wall = time.monotonic() - started
        cpu_after, children_after = _proc_cpu(server.pgid), _children_cpu()
        cpu = {k: (cpu_after[k] - cpu_before[k]) / wall for k in cpu_before}
        cpu["loadgen"] = (children_after - children_before) / wall
        for load, result in zip(loads, results, strict=True):
            result.cpu, result.connections, result.target_rps = cpu, load.connections, load.rate
        if record:
            self.results.extend(results)
        for result in results:
            _print_progress(result)
        return results

    def session_load(self, name: str, token: str, rate: float = 0.0) -> Load:
        return Load(
            name=name,
            method="GET",
            path=SESSION_PATH,
            headers={"Authorization": f"Bearer {token}"},
            connections=self.args.connections,
            duration=self.args.duration,
            rate=rate,
        )

    def login_load(self, name: str, password: str) -> Load:
        return Load(
            name=name,
            method="POST",
            path=LOGIN_PATH,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urllib.parse.urlencode({"username": EMAIL, "password": password}),
            connections=self.args.login_connections,
            duration=self.args.duration,
        )

    def warm_up(self, server: Server, token: str) -> None:
        load = dataclasses.replace(self.session_load("warm-up", token), duration=self.args.warmup)
        self.run(server, [load], record=False)

    def half_rate(self, max_rps: float) -> float:
        return self.args.half_rate or max_rps / 2


def _print_progress(result: Result) -> None:
    print(
        f"  {result.name:<34} {result.rps:9.1f} rps  p50 {result.p50_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}  non-2xx {result.bad_status}",
        flush=True,
    )


def _server_env(args: argparse.Namespace, datadir: Path, *, access_log: bool) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # Nothing from the caller's environment may change what is measured.
        if not k.startswith(("PASSWORD_HASH_", "LOGIN_", "SUPER_ADMIN", "ACCESS_", "LOG_"))
        and k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ENCRYPTION_KEYS", "DB_POOL_SIZE"}
    }
    env.update(
        DATA_DIR=str(datadir),
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        SECRET_KEY=args.secret_key,
        ENCRYPTION_KEYS=args.encryption_key,
        PASSWORD_HASH_MEMORY_KIB=str(ARGON2_MEMORY_KIB),
        PASSWORD_HASH_TIME_COST=str(ARGON2_TIME_COST),
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
                f"{cpu.get('server', 0):.2f}/{cpu.get('loadgen', 0):.2f}/"
                f"{cpu.get('redis', 0):.2f}/{cpu.get('postgres', 0):.2f}",
            ]
        )
    header = [
        "phase",
        "conns",
        "target",
        "rps",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "err/non-2xx",
        "cores srv/load/redis/pg",
    ]
    lines = ["", "Machine and versions:"]
    lines += [f"  {k:<12} {v}" for k, v in {**machine, **extra}.items()]
    lines += ["", _table(rows, header), ""]
    return "\n".join(lines)


def _summary(bench: Bench) -> str:
    by_name = {r.name: r for r in bench.results}
    lines = ["Against the goals:"]
    top = by_name.get("P1 max (no access log)")
    half = by_name.get("P1 half rate (no access log)")
    both = by_name.get("P1 half rate + logins")
    login = by_name.get("login alone")
    if top:
        verdict = "meets" if top.rps >= P1_RPS_GOAL else "misses"
        lines.append(f"  P1 throughput {top.rps:,.0f} rps vs goal {P1_RPS_GOAL:,}: {verdict}")
    if half:
        verdict = "meets" if half.p99_ms <= P1_P99_GOAL_MS else "misses"
        lines.append(
            f"  P1 p99 at {half.rps:,.0f} rps: {half.p99_ms:.2f} ms vs goal "
            f"{P1_P99_GOAL_MS:.0f} ms: {verdict}"
        )
    if login:
        lines.append(
            f"  login {login.rps:.1f}/s vs original system {ORIGINAL_LOGIN_RPS}/s "
            f"({login.rps / ORIGINAL_LOGIN_RPS:.1f}x)"
        )
    if half and both:
        lines.append(
            f"  P8 no-database p99 {both.p99_ms:.2f} ms with logins running vs "
            f"{half.p99_ms:.2f} ms without ({both.p99_ms / max(half.p99_ms, 1e-9):.2f}x)"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per server")
    parser.add_argument("--workers", type=int, default=2, help="web processes")
    parser.add_argument("--connections", type=int, default=64, help="connections, reads")
    parser.add_argument("--login-connections", type=int, default=8, help="connections, logins")
    parser.add_argument("--half-rate", type=float, default=0.0, help="pace reads at this rps")
    parser.add_argument("--pg-admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="coagent_bench", help="recreated, then dropped")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    parser.add_argument("--skip-access-log", action="store_true", help="skip phase 5")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()

    wrk = None if args.python_client else shutil.which("wrk")
    with tempfile.TemporaryDirectory(prefix="coagent-bench-") as tmp:
        workdir = Path(tmp)
        client: Wrk | PythonClient = Wrk(wrk, workdir) if wrk else PythonClient()
        if not wrk:
            print("wrk not found: using the asyncio fallback client (figures are lower bounds)")
        base = args.pg_admin_dsn.rsplit("/", 1)[0]
        args.database_url = (
            f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{args.database}"
        )
        args.secret_key = secrets.token_urlsafe(48)
        args.encryption_key = Fernet.generate_key().decode()
        password = secrets.token_urlsafe(18)
        datadir = workdir / "data"

        # SIGTERM ends the bench like Ctrl-C does, through the finally blocks below.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        machine = _machine()
        print(f"bench: {machine['nproc']} x {machine['cpu']}, Python {machine['python']}, ")
        print(f"       litestar {machine['litestar']}, uvicorn {machine['uvicorn']}, {client.tool}")
        asyncio.run(_recreate_database(args.pg_admin_dsn, args.database))
        _clear_redis(args.redis_url)
        try:
            env = _server_env(args, datadir, access_log=False)
            _command([_coagent(), "db", "upgrade"], env)
            _command(
                [_coagent(), "users", "create-admin", "--email", EMAIL],
                {**env, "COAGENT_ADMIN_PASSWORD": password},
            )
            plain_dsn = args.database_url.replace("+asyncpg", "")
            extra = {
                "argon2": asyncio.run(_stored_hash_prefix(plain_dsn)),
                "hash pool": "PASSWORD_HASH_CONCURRENCY=2 threads per process (default)",
                "server": f"coagent run --workers {args.workers} (uvicorn), PG + Redis",
                "load": _wrk_version(wrk) if wrk else "asyncio fallback client",
            }
            bench = Bench(args, client)
            with Server(env, args.workers, workdir, "quiet") as server:
                token = _log_in(server.base_url, password)
                _check_session(server.base_url, token)
                print(f"server up on {server.base_url} (access log off); warming up")
                bench.warm_up(server, token)
                top = bench.run(server, [bench.session_load("P1 max (no access log)", token)])[0]
                rate = bench.half_rate(top.rps)
                bench.run(server, [bench.session_load("P1 half rate (no access log)", token, rate)])
                bench.run(server, [bench.login_load("login alone", password)])
                bench.run(
                    server,
                    [
                        bench.session_load("P1 half rate + logins", token, rate),
                        bench.login_load("login beside reads", password),
                    ],
                )
            if not args.skip_access_log:
                env = _server_env(args, datadir, access_log=True)
                with Server(env, args.workers, workdir, "logged") as server:
                    token = _log_in(server.base_url, password)
                    print(f"server up on {server.base_url} (access log on); warming up")
                    bench.warm_up(server, token)
                    bench.run(server, [bench.session_load("P1 max (access log)", token)])
                    bench.run(
                        server, [bench.session_load("P1 half rate (access log)", token, rate)]
                    )
        finally:
            _clear_redis(args.redis_url)
            if not args.keep_database:
                asyncio.run(_recreate_database(args.pg_admin_dsn, args.database, drop_only=True))

    print(_report(bench, machine, extra))
    print(_summary(bench))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": {**machine, **extra},
                    "results": [{**dataclasses.asdict(r), "rps": r.rps} for r in bench.results],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
