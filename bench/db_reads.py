"""Issue 20: reads that touch the database, beside the no-database endpoint, in one run.

    source .venv/bin/activate && python bench/db_reads.py [--duration 10] [--profile DIR]

Recreates the PostgreSQL database `coagent_bench_chat`, migrates it, seeds --users students
enrolled in --courses courses (one of them with --rooms rooms of --messages messages each,
bulk-inserted by SQL), starts `coagent run --workers 2` on PostgreSQL + Redis (DB 11) with the
history page cache OFF (`CHAT_HISTORY_CACHE_MB=0`) and the access log off, logs every student
in, and drives it with wrk (one thread, --connections keep-alive connections). Every request
takes the next student's token in turn, and every history request a page nobody asked for
before in this run (`before_seq` moves on by one per request, over every room in turn), so
neither a per-user nor a per-page cache can answer it.

Phases, in this order (the ratios compare phases of the same run):
- `GET /api/v1/login/session` max (the no-database endpoint, P1)
- `GET /api/v1/courses/` max (5 courses), then paced at half the goal (1,250 rps)
- `GET /api/v1/chat/messages/{room}?limit=100&before_seq=N` max, then paced at 1,000 rps
- the same history with `Accept-Encoding: gzip, deflate, br` (what axios sends) max
- members, rooms and announcements of the course, its agent configurations, and the first
  room's agent turns and the peer agent's proposals (pages of 50 of --agent-rows each; as
  the admin): max each, half --duration

Then one request of each kind without and with Accept-Encoding, for the bytes on the wire
(status line, headers and body as received). With --profile DIR, py-spy records each worker
during the course-list and history max phases (speedscope and raw stack files in DIR).
Goals (issue 20): course list >= 2,500 rps and >= 0.15x the session endpoint, history >=
2,000 rps and >= 0.13x, p99 <= 50 ms at half the goal rate, no failures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import http.client
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from chat_common import (
    ADMIN_EMAIL,
    Server,
    add_common_args,
    bench_env,
    group_pids,
    login,
    machine_block,
    print_machine,
)
from http_load import Load, Result, Wrk, _cpu_sample, _cpu_usage, _lua_script, _lua_string

COURSES_GOAL, HISTORY_GOAL = 2500, 2000
COURSES_RATIO, HISTORY_RATIO = 0.15, 0.13
P99_GOAL_MS = 50.0
AXIOS_ACCEPT = "gzip, deflate, br"


@dataclasses.dataclass(frozen=True)
class Rotation:
    """Per request: the next token, and for history the next (room, before_seq)."""

    tokens: tuple[str, ...]
    rooms: tuple[str, ...] = ()
    first_seq: int = 0  # before_seq of the first page of every room
    last_seq: int = 0  # before_seq of the last page (pages go down, then start again)
    limit: int = 100


def _rotation_lua(rotation: Rotation, base_path: str) -> str:
    tokens = ", ".join(_lua_string(t) for t in rotation.tokens)
    rooms = ", ".join(_lua_string(r) for r in rotation.rooms)
    return f"""
local TOKENS = {{{tokens}}}
local ROOMS = {{{rooms}}}
local BASE = {_lua_string(base_path)}
local FIRST, LAST, LIMIT = {rotation.first_seq}, {rotation.last_seq}, {rotation.limit}
local n = 0
function request()
  n = n + 1
  local headers = {{}}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Authorization"] = "Bearer " .. TOKENS[(n % #TOKENS) + 1]
  local path = BASE
  if #ROOMS > 0 then
    local room = ROOMS[(n % #ROOMS) + 1]
    local step = math.floor(n / #ROOMS) % (FIRST - LAST + 1)
    path = "/api/v1/chat/messages/" .. room .. "?limit=" .. LIMIT
      .. "&before_seq=" .. (FIRST - step)
  end
  return wrk.format(nil, path, headers, nil)
end
"""


class RotatingWrk(Wrk):
    """wrk whose every request takes the next token (and history page) of a rotation."""

    def __init__(self, executable: str, workdir: Path) -> None:
        super().__init__(executable, workdir)
        self.rotations: dict[str, Rotation] = {}

    def start(self, load: Load, base_url: str) -> subprocess.Popen[str]:
        rotation = self.rotations.get(load.name)
        if rotation is None:
            return super().start(load, base_url)
        self.scripts += 1
        script = self.workdir / f"load-{self.scripts}.lua"
        script.write_text(_lua_script(load, 1) + _rotation_lua(rotation, load.path))
        command = [
            self.executable,
            "-t1",
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


async def _fill(seeded, rooms: list[str], messages: int, size: int) -> None:
    db = await seeded.connect()
    try:
        sender = await db.fetchval("SELECT id FROM user_account WHERE email = $1", seeded.emails[0])
        await db.execute("SET synchronous_commit = off")
        for room in rooms:
            await db.execute(
                """INSERT INTO message (id, room_id, seq, sender_id, content, created_at,
                       updated_at)
                   SELECT gen_random_uuid(), $1::uuid, i, $2::uuid,
                          rpad('message ' || i || ' ', $4, 'lorem ipsum '),
                          now() - make_interval(secs => $3 - i),
                          now() - make_interval(secs => $3 - i)
                   FROM generate_series(1, $3) AS i""",
                room,
                sender,
                messages,
                size,
            )
            await db.execute("UPDATE room SET last_seq = $2 WHERE id = $1::uuid", room, messages)
        await db.execute("VACUUM ANALYZE")
    finally:
        await db.close()


async def _more_courses(seeded, courses: int) -> list[str]:
    """Courses 2..N owned by the admin, every student enrolled; an announcement in each."""
    db = await seeded.connect()
    try:
        async with db.transaction():
            rows = await db.fetch(
                """INSERT INTO course (id, title, description, owner_id, created_at, updated_at)
                   SELECT gen_random_uuid(), 'Bench course ' || i, 'A course to read', owner_id,
                          now() - make_interval(secs => i), now()
                   FROM course, generate_series(2, $1) AS i WHERE course.id = $2::uuid
                   RETURNING id""",
                courses,
                seeded.course_id,
            )
            ids = [seeded.course_id, *(str(r["id"]) for r in rows)]
            await db.execute(
                """INSERT INTO course_membership (id, course_id, user_id, role, created_at,
                       updated_at)
                   SELECT gen_random_uuid(), c.id, u.id, 'student', now(), now()
                   FROM course c, user_account u
                   WHERE u.role = 'student' AND c.id <> $1::uuid""",
                seeded.course_id,
            )
            await db.execute(
                """INSERT INTO announcement (id, course_id, title, content, author_id,
                       created_at, updated_at)
                   SELECT gen_random_uuid(), c.id, 'Welcome ' || i, 'Read chapter ' || i,
                          c.owner_id, now(), now()
                   FROM course c, generate_series(1, 5) AS i"""
            )
        return ids
    finally:
        await db.close()


async def _agent_rows(seeded, course: str, room: str, rows: int) -> None:
    """`rows` finished teacher turns and `rows` peer proposals (each with its own peer turn,
    agent type `student`) in `room`, with the course's teacher and peer configurations."""
    db = await seeded.connect()
    try:
        async with db.transaction():
            configs = await db.fetch(
                """INSERT INTO agent_config (id, course_id, type, name, provider, system_prompt,
                       context_window, trigger_config, settings, is_active, created_at,
                       updated_at)
                   SELECT gen_random_uuid(), $1::uuid, kind, initcap(kind), 'offline',
                          'Be helpful.', 20, '{}'::jsonb, '{}'::jsonb, true, now(), now()
                   FROM unnest(ARRAY['teacher', 'student']) AS kind RETURNING id, type""",
                course,
            )
            config = {row["type"]: row["id"] for row in configs}
            await db.execute(
                """INSERT INTO agent_turn (id, room_id, agent_type, config_id, config_revision,
                       kind, trigger_key, reason, caused_by_seq, status, attempts, provider,
                       model, tokens_in, tokens_out, latency_ms, first_token_ms, started_at,
                       finished_at, created_at, updated_at)
                   SELECT gen_random_uuid(), $1::uuid, agent,
                          CASE agent WHEN 'teacher' THEN $2::uuid ELSE $3::uuid END, 1, 'mention',
                          'msg:' || i, 'mentioned by Student 1', i, 'succeeded', 1,
                          'offline', 'offline-1', 800, 120, 900, 150,
                          now() - make_interval(secs => $4 - i), now(),
                          now() - make_interval(secs => $4 - i), now()
                   FROM generate_series(1, $4) AS i,
                        unnest(ARRAY['teacher', 'student']) AS agent""",
                room,
                config["teacher"],
                config["student"],
                rows,
            )
            await db.execute(
                """INSERT INTO agent_proposal (id, room_id, turn_id, content, status,
                       expires_at, decided_by_agent, screened_by_agent, sender_name,
                       created_at, updated_at)
                   SELECT gen_random_uuid(), room_id, id, 'A peer answer to ' || trigger_key,
                          'approved', now() + interval '1 hour', true, true, 'Peer',
                          created_at, now()
                   FROM agent_turn WHERE room_id = $1::uuid AND agent_type = 'student'""",
                room,
            )
    finally:
        await db.close()


def _wire(base_url: str, path: str, token: str, accept: str | None) -> tuple[int, int, str]:
    """(bytes on the wire: status line + headers + body, status, Content-Encoding)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        if accept is not None:
            headers["Accept-Encoding"] = accept
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        body = answer.read()
        head = len(f"HTTP/1.1 {answer.status} {answer.reason}\r\n") + sum(
            len(f"{k}: {v}\r\n") for k, v in answer.getheaders()
        )
        return head + 2 + len(body), answer.status, answer.getheader("content-encoding") or "-"
    finally:
        connection.close()


@contextlib.contextmanager
def _profiling(server: Server, directory: Path | None, label: str, seconds: float):
    spy = shutil.which("py-spy")
    if directory is None or server.pgid is None or spy is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    workers = [p for p in group_pids(server.pgid) if p != server.pgid]
    spies = [
        subprocess.Popen(  # noqa: S603 - our own fixed command line
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, int(seconds) - 1)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(directory / f"{label}-{pid}.txt"),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in workers
    ]
    try:
        yield
    finally:
        for spy in spies:
            spy.wait(timeout=60)


def _line(r: Result, cpu: dict[str, float]) -> str:
    return (
        f"  {r.name:<34} {r.rps:9,.1f} rps  p50 {r.p50_ms:6.2f}  p99 {r.p99_ms:6.2f}  "
        f"max {r.max_ms:6.1f} ms  err {r.errors}/{r.bad_status}  "
        f"server {cpu['server']:.2f} ({cpu['worker_a']:.2f}+{cpu['worker_b']:.2f}) "
        f"pg {cpu['postgres']:.2f} (this database {cpu['postgres_db']:.2f}) "
        f"redis {cpu['redis']:.2f} wrk {cpu['bench']:.2f} "
        f"other {cpu.get('other', 0):.2f} idle {cpu.get('idle', 0):.0%}; "
        f"CPU/request web {1000 * cpu['server'] / max(r.rps, 1e-9):.2f} ms, "
        f"pg {1000 * cpu['postgres_db'] / max(r.rps, 1e-9):.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=20, help="students, tokens in rotation")
    parser.add_argument("--courses", type=int, default=5)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--messages", type=int, default=20_000, help="per room")
    parser.add_argument("--content-bytes", type=int, default=120)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", type=Path, help="py-spy each worker into this directory")
    parser.add_argument("--skip-lists", action="store_true", help="no members/rooms/... phases")
    parser.add_argument("--agent-rows", type=int, default=200, help="turns and proposals")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    add_common_args(parser)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = shutil.which("wrk")
    if not wrk:
        print("wrk is required (apt-get install -y wrk)", file=sys.stderr)
        return 2
    info = machine_block(args)
    print_machine(info)
    figures: dict[str, object] = {"machine": info, "phases": [], "wire": []}
    with bench_env(args, users=args.users, rooms=args.rooms) as seeded:
        courses = asyncio.run(_more_courses(seeded, args.courses))
        print(f"inserting {args.rooms} x {args.messages:,} messages ...", flush=True)
        asyncio.run(_fill(seeded, seeded.rooms, args.messages, args.content_bytes))
        asyncio.run(_agent_rows(seeded, seeded.course_id, seeded.rooms[0], args.agent_rows))
        client = RotatingWrk(wrk, seeded.workdir)
        env = dict(seeded.env, CHAT_HISTORY_CACHE_MB="0")
        with Server(env, args.workers, seeded.workdir, "reads") as server:
            tokens = tuple(login(server.base_url, email) for email in seeded.emails)
            room = seeded.rooms[0]
            history_rotation = Rotation(
                tokens=tokens, rooms=tuple(seeded.rooms), first_seq=args.messages, last_seq=101
            )
            plain = Rotation(tokens=tokens)
            course = courses[0]
            results: dict[str, tuple[Result, dict[str, float]]] = {}

            def phase(
                name: str,
                path: str,
                rotation: Rotation,
                *,
                rate: float = 0.0,
                accept: str | None = None,
                profile: str | None = None,
                duration: float | None = None,
            ) -> Result:
                load = Load(
                    name=name,
                    method="GET",
                    path=path,
                    headers={"Accept-Encoding": accept} if accept else {},
                    connections=args.connections,
                    duration=duration or args.duration,
                    rate=rate,
                )
                client.rotations[name] = rotation
                before, started = _cpu_sample(server.pgid, args.database), time.monotonic()
                with _profiling(
                    server, args.profile if profile else None, profile or "", load.duration
                ):
                    result = client.run_many([load], server.base_url)[0]
                after = _cpu_sample(server.pgid, args.database)
                cpu = _cpu_usage(before, after, time.monotonic() - started)
                results[name] = (result, cpu)
                print(_line(result, cpu), flush=True)
                figures["phases"].append(  # type: ignore[union-attr]
                    {"name": name, "result": dataclasses.asdict(result), "cpu": cpu}
                )
                return result

            history = f"/api/v1/chat/messages/{room}?limit=100"
            print(f"server up on {server.base_url}; warming up", flush=True)
            phase("warm-up courses", "/api/v1/courses/", plain, duration=2)
            phase("warm-up history", history, history_rotation, duration=2)
            session = phase("GET /login/session max", "/api/v1/login/session", plain)
            courses_max = phase("GET /courses/ max", "/api/v1/courses/", plain, profile="courses")
            courses_half = phase(
                "GET /courses/ at 1,250 rps", "/api/v1/courses/", plain, rate=COURSES_GOAL / 2
            )
            history_max = phase("GET history 100 max", history, history_rotation, profile="history")
            history_half = phase(
                "GET history 100 at 1,000 rps", history, history_rotation, rate=HISTORY_GOAL / 2
            )
            phase("GET history 100 max, gzip/br", history, history_rotation, accept=AXIOS_ACCEPT)
            phase("GET /courses/ max, gzip/br", "/api/v1/courses/", plain, accept=AXIOS_ACCEPT)
            session_again = phase("GET /login/session max (again)", "/api/v1/login/session", plain)
            if not args.skip_lists:
                admin = Rotation(tokens=(login(server.base_url, ADMIN_EMAIL),))
                for label, path, who in (
                    ("members", f"/api/v1/courses/{course}/members", plain),
                    ("rooms", f"/api/v1/rooms/?course_id={course}", plain),
                    ("announcements", f"/api/v1/announcements/?course_id={course}", plain),
                    ("agent configs (admin)", f"/api/v1/agent-config/{course}", admin),
                    ("turns (admin)", f"/api/v1/rooms/{room}/agents/turns", admin),
                    ("proposals (admin)", f"/api/v1/rooms/{room}/proposals", admin),
                ):
                    phase(f"GET {label} max", path, who, duration=args.duration / 2)

            print("\nbytes on the wire (status line + headers + body):")
            for label, path in (
                ("history 100", f"{history}&before_seq={args.messages // 2}"),
                ("courses (5)", "/api/v1/courses/"),
                ("members", f"/api/v1/courses/{course}/members"),
                ("session", "/api/v1/login/session"),
            ):
                for accept in (None, "gzip", AXIOS_ACCEPT):
                    size, status, encoding = _wire(server.base_url, path, tokens[0], accept)
                    print(
                        f"  {label:<12} Accept-Encoding {accept or '(none)':<18} "
                        f"{size:8,} bytes  {status}  Content-Encoding {encoding}"
                    )
                    figures["wire"].append(  # type: ignore[union-attr]
                        {"what": label, "accept": accept, "bytes": size, "encoding": encoding}
                    )

    base = (session.rps + session_again.rps) / 2
    print(f"\nSummary (session endpoint, mean of the two phases: {base:,.0f} rps):")
    for name, result, goal, ratio, half in (
        ("course list", courses_max, COURSES_GOAL, COURSES_RATIO, courses_half),
        ("history 100", history_max, HISTORY_GOAL, HISTORY_RATIO, history_half),
    ):
        got = result.rps / base if base else 0.0
        print(
            f"  {name:<12} {result.rps:8,.0f} rps (goal {goal:,}: "
            f"{'meets' if result.rps >= goal else 'misses'}); ratio {got:.3f}x "
            f"(goal {ratio}: {'meets' if got >= ratio else 'misses'}); p99 at "
            f"{half.rps:,.0f} rps {half.p99_ms:.1f} ms (goal {P99_GOAL_MS:.0f}: "
            f"{'meets' if half.p99_ms <= P99_GOAL_MS else 'misses'}); failures "
            f"{result.errors + result.bad_status + half.errors + half.bad_status}"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
