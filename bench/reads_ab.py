"""Issue 20 on a noisy host: the same reads against two checkouts, in alternating slices.

    source .venv/bin/activate && python bench/reads_ab.py --base ../base [--slices 10]

Seeds two databases as bench/db_reads.py does (same rooms, messages and students; history
page cache off), each migrated by its own checkout, so a change to the schema is measured
against the schema it replaces. Then starts `coagent run --workers 2` from this checkout
and from --base (another checkout with its own `.venv`, e.g. a `git worktree` of main),
each on its own database, and drives them in turn with wrk (one thread, --connections
connections): per endpoint, --slices pairs of --slice-seconds slices, one per server, the
order swapped every pair, only one server under load at a time. History slices read pages no
slice read before.

Why: on a shared virtual machine the host's speed drifts by 20-40 % within minutes (the
no-database endpoint measured 8,900 and 13,900 rps in one `db_reads.py` run), more than the
changes it should judge. Both sides of a pair see the same host; the median of the per-pair
ratios (this checkout / base) is the figure, with its range. Also prints, per side, the
median rps and the web and PostgreSQL CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from chat_common import Server, add_common_args, bench_env, login
from db_reads import RotatingWrk, Rotation, _fill
from http_load import Load, _cpu_sample, _cpu_usage


class _Side:
    """One checkout's server on its own database, with its students' tokens."""

    def __init__(self, server: Server, seeded: Any, database: str) -> None:
        self.server, self.seeded, self.database = server, seeded, database
        self.tokens = tuple(login(server.base_url, email) for email in seeded.emails)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--base", type=Path, required=True, help="the other checkout")
    parser.add_argument("--slices", type=int, default=10, help="pairs per endpoint")
    parser.add_argument("--slice-seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--messages", type=int, default=20_000, help="per room")
    add_common_args(parser)
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    base_coagent = args.base.resolve() / ".venv" / "bin" / "coagent"
    # Not `coagent` on PATH: an activated virtualenv of the other checkout would answer.
    this_coagent = Path(sys.executable).with_name("coagent")
    if not wrk or not base_coagent.exists():
        print("needs wrk and the base checkout's .venv (uv sync there)", file=sys.stderr)
        return 2
    base_args = argparse.Namespace(**{**vars(args), "database": f"{args.database}_base"})
    with (
        bench_env(args, users=20, rooms=args.rooms) as seeded,
        bench_env(base_args, users=20, rooms=args.rooms, coagent=str(base_coagent)) as seeded_base,
    ):
        for each in (seeded, seeded_base):
            asyncio.run(_fill(each, each.rooms, args.messages, 120))
        client = RotatingWrk(wrk, seeded.workdir)

        def server(each: Any, label: str, coagent: Path) -> Server:
            """`coagent run` of one checkout on its own database, history page cache off."""
            env = dict(each.env, CHAT_HISTORY_CACHE_MB="0")
            return Server(env, args.workers, each.workdir, label, str(coagent))

        with (
            server(seeded_base, "base", base_coagent) as base,
            server(seeded, "this", this_coagent) as this,
        ):
            sides = {
                "base": _Side(base, seeded_base, base_args.database),
                "this": _Side(this, seeded, args.database),
            }
            # Each history slice starts where no slice started before, 600 pages a room on.
            step = 600

            def plain(side: _Side, _: int) -> Rotation:
                return Rotation(tokens=side.tokens)

            def pages(side: _Side, slice_number: int) -> Rotation:
                first = args.messages - (slice_number * step) % (args.messages - 100 - step)
                return Rotation(
                    tokens=side.tokens,
                    rooms=tuple(side.seeded.rooms),
                    first_seq=first,
                    last_seq=101,
                )

            endpoints = (
                ("session", lambda _: "/api/v1/login/session", plain),
                ("courses", lambda _: "/api/v1/courses/", plain),
                (
                    "history 100",
                    lambda side: f"/api/v1/chat/messages/{side.seeded.rooms[0]}?limit=100",
                    pages,
                ),
            )
            slices = 0

            def run(side: _Side, name: str, path_of: Any, rotation_of: Any) -> tuple[float, ...]:
                nonlocal slices
                slices += 1
                label = f"{name} {slices}"
                client.rotations[label] = rotation_of(side, slices)
                server, path = side.server, path_of(side)
                load = Load(
                    name=label,
                    method="GET",
                    path=path,
                    headers={},
                    connections=args.connections,
                    duration=args.slice_seconds,
                )
                before, started = _cpu_sample(server.pgid, side.database), time.monotonic()
                result = client.run_many([load], server.base_url)[0]
                cpu = _cpu_usage(
                    before, _cpu_sample(server.pgid, side.database), time.monotonic() - started
                )
                if result.errors or result.bad_status:
                    raise SystemExit(f"{label}: {result.errors} errors, {result.bad_status} bad")
                rps = max(result.rps, 1e-9)
                return rps, 1000 * cpu["server"] / rps, 1000 * cpu["postgres_db"] / rps

            print(
                f"base: {args.base.resolve()}; this: {Path.cwd()}; {args.slices} pairs of "
                f"{args.slice_seconds:g} s per endpoint",
                flush=True,
            )
            for name, path_of, rotation_of in endpoints:
                for side in sides.values():  # warm-up, not counted
                    run(side, name, path_of, rotation_of)
                measured: dict[str, list[tuple[float, ...]]] = {"base": [], "this": []}
                for pair in range(args.slices):
                    order = ["base", "this"] if pair % 2 == 0 else ["this", "base"]
                    for label in order:
                        measured[label].append(run(sides[label], name, path_of, rotation_of))
                ratios = [
                    t[0] / b[0] for b, t in zip(measured["base"], measured["this"], strict=True)
                ]
                for label, figures in measured.items():
                    rps, web, pg = (statistics.median(f[i] for f in figures) for i in range(3))
                    print(
                        f"  {name:<12} {label:<5} rps median {rps:8,.0f}"
                        f"  web CPU/request {web:.3f} ms  pg {pg:.3f} ms",
                        flush=True,
                    )
                print(
                    f"  {name:<12} this/base rps, paired: median {statistics.median(ratios):.3f}"
                    f" (range {min(ratios):.3f}-{max(ratios):.3f})",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
