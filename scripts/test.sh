#!/usr/bin/env bash
# The whole test suite: lint, types, architecture contracts, migration drift, then pytest
# (unit, integration on PostgreSQL 127.0.0.1:5432 and Redis 127.0.0.1:6379, API, fuzzing).
# With CI set, unreachable PostgreSQL or Redis fail the run instead of skipping tests.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
run() { "${UV[@]}" run --frozen --no-sync "$@"; }

echo "== ruff"; run ruff check .; run ruff format --check .
echo "== mypy (strict)"; run mypy
echo "== import-linter"; run lint-imports --no-cache --no-logo
echo "== pytest"
if [ "$#" -gt 0 ]; then run pytest "$@"; exit; fi

# The whole suite, in two streams on the two cores CI gives us. The main stream runs most
# tests; beside it, a side stream runs the OpenAPI fuzz run (on one core: its server and the
# fuzzer share a GIL), then the tests that start processes (`-m slow`: servers, workers, the
# scheduler, the CLI, a clean-HOME bootstrap; mostly waiting on those processes). Each
# pytest process has its own PostgreSQL database (named by pid), Redis database and
# temporary directory; the side stream's reports follow the main one's. The tests of how
# fast processes stop (a budget measured in seconds) run last, alone on the box: beside the
# other streams on a slow 2-core machine a stop's interpreter teardown overran its budget.
FUZZ=tests/api/test_fuzz.py::test_openapi_fuzz_finds_nothing
STOPS=(tests/integration/test_stopping.py tests/integration/test_scripts.py)
side_dir=$(mktemp -d)
side() {
  local rc=0
  TEST_REDIS_URL="${TEST_FUZZ_REDIS_URL:-redis://127.0.0.1:6379/12}" \
    COAGENT_FUZZ_PROGRESS="$side_dir/progress" \
    run pytest "$FUZZ" --basetemp "$side_dir/fuzz" >"$side_dir/fuzz.log" 2>&1 || rc=$?
  echo "$rc" >"$side_dir/fuzz.rc"
  echo "the fuzz run is over; now the process tests" >>"$side_dir/progress"
  rc=0
  TEST_REDIS_URL="${TEST_SLOW_REDIS_URL:-redis://127.0.0.1:6379/14}" \
    run pytest -m slow --deselect "$FUZZ" "${STOPS[@]/#/--deselect=}" --durations=10 \
    --basetemp "$side_dir/slow" \
    >"$side_dir/slow.log" 2>&1 || rc=$?
  echo "$rc" >"$side_dir/slow.rc"
}
side &
side_pid=$!
side_started=$SECONDS
trap 'kill "$side_pid" 2>/dev/null || true; pkill -P "$side_pid" 2>/dev/null || true; rm -rf "$side_dir"' EXIT
status=0
run pytest --deselect "$FUZZ" "${STOPS[@]/#/--deselect=}" -m "not slow" --durations=15 \
  || status=$?
# While the side stream goes on, its progress every 30 s (the fuzz test writes a line every 10 s).
while kill -0 "$side_pid" 2>/dev/null; do
  for _ in $(seq 30); do kill -0 "$side_pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$side_pid" 2>/dev/null; then
    echo "== pytest: the side stream is still working ($((SECONDS - side_started)) s):" \
      "$(tail -n 1 "$side_dir/progress" 2>/dev/null || echo "starting")"
  fi
done
wait "$side_pid" || true
for part in fuzz slow; do
  echo "== pytest: the side stream's $part run"
  cat "$side_dir/$part.log" 2>/dev/null || echo "(no output)"
  part_status=$(cat "$side_dir/$part.rc" 2>/dev/null || echo 1)
  if [ "$status" -eq 0 ]; then status=$part_status; fi
done
echo "== pytest: how processes stop, alone on the box"
stops_status=0
run pytest "${STOPS[@]}" --durations=5 || stops_status=$?
if [ "$status" -eq 0 ]; then status=$stops_status; fi
exit "$status"
