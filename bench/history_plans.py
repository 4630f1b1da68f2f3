"""Issue 20: how PostgreSQL plans the history page statement, and what a generic plan saves.

    source .venv/bin/activate && cd bench && python history_plans.py --database h20c_probe \
        [--keep-database] [--reuse] [--pad-rooms 20000] [--pages 1000] [--json FILE]

Seeds (unless --reuse) 10 rooms of 20,000 messages and one of --big messages (1,000,000);
--pad-rooms first adds that many rooms of 5 messages (skewed room sizes). Then, for the HTTP
history page (`rooms._STANDING_WITH_PAGE`: the standing and the encoded page in one
statement) in every cursor shape (newest page, `before_seq`, `after_seq`), in a 20,000- and
the big room, and in two forms: as the app sends it (page parameters as one-row sub-selects,
ADR 0017: "unplanned") and with the parameters where the planner sees them (the statement
before ADR 0017: "visible"):

- the plan cache's choice under the default `plan_cache_mode` (`auto`): how many custom and
  generic plans `pg_prepared_statements` (PostgreSQL 14+) counts for 20 executions on one
  asyncpg connection, as the app runs it;
- EXPLAIN (ANALYZE, SUMMARY) of a custom and of a generic plan of the same prepared
  statement: estimated cost, planning and execution time, and the plan's nodes and indexes
  (custom and generic must read the same indexes the same way);
- in the 20,000-message room, newest and `before` pages: CPU per page of the PostgreSQL
  backend (/proc/<pid>/stat) and of this client (asyncpg: sending, receiving, decoding) over
  --pages distinct pages, three rounds of: visible with `auto`, visible with
  `force_generic_plan`, unplanned with `auto`, and unplanned with the page as `bytea`
  (`convert_to`) instead of text.

Then the other statements of the read path on the driver (room standing, the course list,
course standing, members, rooms, announcements, agent configurations): their plan cache
choice, and whether a generic plan reads the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from chat_common import add_common_args, bench_env
from coagent.adapters.persistence import agents, announcements, courses
from coagent.adapters.persistence import rooms as rooms_module
from coagent.adapters.persistence.rows import DriverStatement
from db_reads import _fill, _more_courses

_TICK = os.sysconf("SC_CLK_TCK")
DIALECT = asyncpg_dialect()
ROOM_MESSAGES = 20_000


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _nodes(plan: dict[str, Any], depth: int = 0) -> list[str]:
    """A plan's shape: node type, relation and index, by depth (no costs or row counts)."""
    label = plan["Node Type"]
    for key in ("Scan Direction", "Relation Name", "Index Name", "Join Type", "Strategy"):
        if key in plan:
            label += f" {plan[key]}"
    lines = ["  " * depth + label]
    for child in plan.get("Plans", []):
        lines += _nodes(child, depth + 1)
    return lines


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


class Probe:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self.db = connection
        self.pid = connection.get_server_pid()
        self.prepared = 0

    async def prepare_sql(self, sql: str) -> tuple[str, str]:
        """SQL-level PREPARE of `sql` with its parameter types as asyncpg infers them."""
        statement = await self.db.prepare(sql)
        types = [
            (f"{t.schema}.{t.name}" if t.schema not in ("pg_catalog", "") else t.name)
            for t in statement.get_parameters()
        ]
        self.prepared += 1
        name = f"probe_{self.prepared}"
        await self.db.execute(f"PREPARE {name}({', '.join(types)}) AS {sql}")
        return name, ", ".join(types)

    async def explain(self, name: str, args: list[Any], mode: str) -> dict[str, Any]:
        await self.db.execute(f"SET plan_cache_mode = {mode}")
        call = f"EXECUTE {name}({', '.join(_literal(a) for a in args)})"
        try:
            for _ in range(2):  # the second: a generic plan is then cached, not planned
                rows = await self.db.fetch(f"EXPLAIN (ANALYZE, SUMMARY, FORMAT JSON) {call}")
        finally:
            await self.db.execute("RESET plan_cache_mode")
        found = json.loads(rows[0][0])[0]
        return {
            "cost": found["Plan"]["Total Cost"],
            "planning_ms": found["Planning Time"],
            "execution_ms": found["Execution Time"],
            "shape": _nodes(found["Plan"]),
        }

    async def _counters(self, sql: str) -> tuple[int, int]:
        # Summed: asyncpg's own prepare() (parameter types, never executed) adds a row.
        row = await self.db.fetchrow(
            "SELECT coalesce(sum(custom_plans), 0), coalesce(sum(generic_plans), 0)"
            " FROM pg_prepared_statements WHERE statement = $1",
            sql,
        )
        return int(row[0]), int(row[1])

    async def choice(self, sql: str, args: list[Any], runs: int = 20) -> tuple[int, int]:
        """(custom plans, generic plans) made for `runs` more executions of `sql` on this
        connection (asyncpg's prepared statement), mode `auto`.
        """
        custom, generic = await self._counters(sql)
        for _ in range(runs):
            await self.db.fetch(sql, *args)
        custom_after, generic_after = await self._counters(sql)
        return custom_after - custom, generic_after - generic

    async def cpu(self, sql: str, arguments: list[list[Any]], mode: str) -> tuple[float, float]:
        """(backend, client) CPU ms per execution over `arguments`, in `mode`."""
        await self.db.execute(f"SET plan_cache_mode = {mode}")
        try:
            await self.db.fetch(sql, *arguments[0])
            server, client = _backend_cpu(self.pid), time.process_time()
            for args in arguments:
                await self.db.fetch(sql, *args)
            client = time.process_time() - client
            server = _backend_cpu(self.pid) - server
        finally:
            await self.db.execute("RESET plan_cache_mode")
        return 1000 * server / len(arguments), 1000 * client / len(arguments)


def _page_args(
    statement: DriverStatement, user: str, room: str, limit: int, before: Any, after: Any
) -> tuple[str, list[Any]]:
    params = {
        "user_id": user,
        "room_id": room,
        "seen": -1,
        "limit": limit,
        "before": before,
        "after": after,
    }
    return statement.arguments(DIALECT, params)


def _visible(sql: str) -> str:
    """The statement as it was before ADR 0017: its page parameters where the planner sees
    them (`$4::BIGINT` for `(SELECT CAST($4::BIGINT AS BIGINT) AS anon_4)`).
    """
    return re.sub(r"\(SELECT CAST\((\$\d+::\w+) AS \w+\) AS anon_\d+\)", r"\1", sql)


def _as_bytea(sql: str) -> str:
    """The same statement with the page's JSON as bytea (`convert_to`) instead of text."""
    start = sql.index("'[' || coalesce(string_agg(")
    end = sql.index(" AS page_json")
    return sql[:start] + "convert_to(" + sql[start:end] + ", 'UTF8')" + sql[end:]


async def _rooms(dsn: str) -> tuple[str, str, str, int]:
    db = await asyncpg.connect(dsn)
    try:
        user = await db.fetchval(
            "SELECT id::text FROM user_account WHERE email = 'student1@example.com'"
        )
        small = await db.fetchval(
            "SELECT id::text FROM room WHERE last_seq = $1 ORDER BY name LIMIT 1", ROOM_MESSAGES
        )
        big, big_messages = await db.fetchrow(
            "SELECT id::text, last_seq FROM room ORDER BY last_seq DESC LIMIT 1"
        )
        return user, small, big, int(big_messages)
    finally:
        await db.close()


async def _big_room(dsn: str, room: str, messages: int) -> None:
    db = await asyncpg.connect(dsn)
    try:
        sender = await db.fetchval(
            "SELECT id FROM user_account WHERE email = 'student1@example.com'"
        )
        await db.execute("SET synchronous_commit = off")
        await db.execute(
            """INSERT INTO message (id, room_id, seq, sender_id, content, created_at,
                   updated_at)
               SELECT gen_random_uuid(), $1::uuid, i, $2::uuid,
                      rpad('message ' || i || ' ', 120, 'lorem ipsum '),
                      now() - make_interval(secs => $3 - i), now() - make_interval(secs => $3 - i)
               FROM generate_series(1, $3) AS i""",
            room,
            sender,
            messages,
        )
        await db.execute("UPDATE room SET last_seq = $2 WHERE id = $1::uuid", room, messages)
        await db.execute("VACUUM ANALYZE")
    finally:
        await db.close()


def _plans_line(plans: dict[str, dict[str, Any]]) -> str:
    custom, generic = plans["force_custom_plan"], plans["force_generic_plan"]
    return (
        f"custom plan {custom['planning_ms']:.3f} ms planning + {custom['execution_ms']:.3f} ms "
        f"(cost {custom['cost']:.0f}), generic {generic['planning_ms']:.3f} + "
        f"{generic['execution_ms']:.3f} ms (cost {generic['cost']:.0f}), same shape: "
        f"{custom['shape'] == generic['shape']}"
    )


async def _pad_rooms(dsn: str, rooms: int) -> None:
    """`rooms` more rooms of 5 messages each in the first room's course, then ANALYZE: the
    planner's average room shrinks far below the big room.
    """
    db = await asyncpg.connect(dsn)
    try:
        await db.execute("SET synchronous_commit = off")
        await db.execute(
            """WITH first AS (SELECT course_id FROM room ORDER BY name LIMIT 1),
                    added AS (
                        INSERT INTO room (id, course_id, name, ai_mode, ai_frequency,
                            is_ai_active, is_analytics_active, created_at, updated_at, last_seq)
                        SELECT gen_random_uuid(), first.course_id, 'pad ' || i, 'off', 0, false,
                               false, now(), now(), 5
                        FROM first, generate_series(1, $1) AS i RETURNING id)
               INSERT INTO message (id, room_id, seq, sender_id, content, created_at, updated_at)
               SELECT gen_random_uuid(), added.id, s, NULL, 'short', now(), now()
               FROM added, generate_series(1, 5) AS s""",
            rooms,
        )
        await db.execute("VACUUM ANALYZE")
    finally:
        await db.close()


async def _page_report(dsn: str, pages: int) -> dict[str, Any]:
    user, small, big, big_messages = await _rooms(dsn)
    report: dict[str, Any] = {}
    db = await asyncpg.connect(dsn)
    try:
        probe = Probe(db)
        report["server_version"] = await db.fetchval("SHOW server_version")
        report["rooms"] = await db.fetchval("SELECT count(*) FROM room")
        report["messages"] = await db.fetchval("SELECT count(*) FROM message")
        print(
            f"PostgreSQL {report['server_version']}, {report['rooms']} rooms, "
            f"{report['messages']:,} messages",
            flush=True,
        )
        for room_label, room, messages in (
            ("20k", small, ROOM_MESSAGES),
            ("1M", big, big_messages),
        ):
            middle = messages // 2
            for shape_label, before, after in (
                ("newest", None, None),
                ("before", middle, None),
                ("after", None, middle),
            ):
                shape = (before is not None, after is not None)
                statement = rooms_module._STANDING_WITH_PAGE[shape]
                sql, args = _page_args(statement, user, room, 100, before, after)
                label = f"{shape_label} page, {room_label} room"
                entry: dict[str, Any] = {}
                for variant, text in (("visible", _visible(sql)), ("unplanned", sql)):
                    custom, generic = await probe.choice(text, args)
                    name, _types = await probe.prepare_sql(text)
                    plans = {
                        mode: await probe.explain(name, args, mode)
                        for mode in ("force_custom_plan", "force_generic_plan")
                    }
                    entry[variant] = {"auto": [custom, generic], "plans": plans}
                    print(
                        f"{label}, parameters {variant}: auto, 20 runs: {custom} custom plans, "
                        f"{generic} generic; {_plans_line(plans)}",
                        flush=True,
                    )
                for variant, found in entry.items():
                    custom = found["plans"]["force_custom_plan"]["shape"]
                    generic = found["plans"]["force_generic_plan"]["shape"]
                    if custom != generic:
                        print(f"  {variant}, custom plan:\n    " + "\n    ".join(custom))
                        print(f"  {variant}, generic plan:\n    " + "\n    ".join(generic))
                    else:
                        scans = [line.strip() for line in custom if " message " in line]
                        print(f"  {variant}: both plans read {' / '.join(scans)}")
                if room_label == "20k" and shape_label in ("newest", "before"):
                    # Distinct pages, as bench/db_reads.py asks for them.
                    moving = [
                        _page_args(
                            statement,
                            user,
                            room,
                            100,
                            None if before is None else messages - i % (messages - 101),
                            None,
                        )[1]
                        for i in range(pages)
                    ]
                    variants = {
                        "visible, auto": (_visible(sql), "auto"),
                        "visible, force_generic_plan": (_visible(sql), "force_generic_plan"),
                        "unplanned, auto": (sql, "auto"),
                        "unplanned as bytea, auto": (_as_bytea(sql), "auto"),
                    }
                    cpu: dict[str, list[tuple[float, float]]] = {}
                    for _round in range(3):
                        for key, (text, mode) in variants.items():
                            cpu.setdefault(key, []).append(await probe.cpu(text, moving, mode))
                    entry["cpu_ms_per_page"] = cpu
                    for key, values in cpu.items():
                        shown = ", ".join(f"{s:.3f}/{c:.3f}" for s, c in values)
                        print(f"  CPU per page (postgres/client ms), {key}: {shown}", flush=True)
                report[label] = entry
        report["read_path"] = await _read_path(probe, user, small)
    finally:
        await db.close()
    return report


async def _read_path(probe: Probe, user: str, room: str) -> dict[str, Any]:
    """The other driver statements of the read path: does `auto` re-plan them too?"""
    db = probe.db
    course = await db.fetchval("SELECT course_id::text FROM room WHERE id = $1::uuid", room)
    values = {
        "user_id": user,
        "actor_id": user,
        "room_id": room,
        "course_id": course,
        "limit": 100,
        "offset": 0,
    }
    statements = {
        "room standing": rooms_module._STANDING,
        "course list (member)": courses._MEMBER_COURSES,
        "course standing": courses._STANDING,
        "members": courses._MEMBERS,
        "rooms of a course (visible)": rooms_module._VISIBLE_ROOMS,
        "announcements": announcements._LIST,
        "agent configurations": agents._COURSE_CONFIGS,
    }
    found: dict[str, Any] = {}
    for label, statement in statements.items():
        sql, args = statement.arguments(DIALECT, values)
        custom, generic = await probe.choice(sql, args)
        name, _types = await probe.prepare_sql(sql)
        plans = {
            mode: await probe.explain(name, args, mode)
            for mode in ("force_custom_plan", "force_generic_plan")
        }
        same = plans["force_custom_plan"]["shape"] == plans["force_generic_plan"]["shape"]
        found[label] = {"custom": custom, "generic": generic, "plans": plans, "same_shape": same}
        print(
            f"{label}: auto after 20 runs {custom} custom / {generic} generic; custom plan "
            f"{plans['force_custom_plan']['planning_ms']:.3f} ms planning + "
            f"{plans['force_custom_plan']['execution_ms']:.3f} ms; generic "
            f"{plans['force_generic_plan']['planning_ms']:.3f} + "
            f"{plans['force_generic_plan']['execution_ms']:.3f} ms; same shape {same}",
            flush=True,
        )
        if not same:
            for mode, plan in plans.items():
                print(f"  {mode}:\n    " + "\n    ".join(plan["shape"]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--big", type=int, default=1_000_000, help="messages in the big room")
    parser.add_argument("--pages", type=int, default=1000, help="executions per CPU sample")
    parser.add_argument("--reuse", action="store_true", help="the database is seeded already")
    parser.add_argument(
        "--pad-rooms",
        type=int,
        default=0,
        help="first add this many rooms of 5 messages each (skews the rooms' sizes)",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    add_common_args(parser)
    args = parser.parse_args()
    base = args.pg_admin_dsn.rsplit("/", 1)[0]
    dsn = f"{base}/{args.database}"
    if args.pad_rooms:
        asyncio.run(_pad_rooms(dsn, args.pad_rooms))
    if args.reuse:
        report = asyncio.run(_page_report(dsn, args.pages))
    else:
        with bench_env(args, users=20, rooms=11) as seeded:
            asyncio.run(_more_courses(seeded, 5))
            print(f"seeding 10 x 20,000 messages and 1 x {args.big:,} ...", flush=True)
            asyncio.run(_fill(seeded, seeded.rooms[:10], ROOM_MESSAGES, 120))
            asyncio.run(_big_room(seeded.dsn, seeded.rooms[10], args.big))
            report = asyncio.run(_page_report(dsn, args.pages))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
