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

# The whole suite: the OpenAPI fuzz run (a third of the time, on one core: its server and the
# fuzzer share a GIL) runs beside the rest, in its own pytest process with its own PostgreSQL
# database (named by pid), Redis database and temporary directory; its report follows.
FUZZ=tests/api/test_fuzz.py::test_openapi_fuzz_finds_nothing
fuzz_dir=$(mktemp -d)
TEST_REDIS_URL="${TEST_FUZZ_REDIS_URL:-redis://127.0.0.1:6379/12}" \
  COAGENT_FUZZ_PROGRESS="$fuzz_dir/progress" \
  run pytest "$FUZZ" --basetemp "$fuzz_dir/tmp" >"$fuzz_dir/log" 2>&1 &
fuzz=$!
fuzz_started=$SECONDS
trap 'kill "$fuzz" 2>/dev/null || true; rm -rf "$fuzz_dir"' EXIT
status=0
run pytest --deselect "$FUZZ" || status=$?
# While the fuzz run goes on, its progress every 30 s (the test writes a line every 10 s).
while kill -0 "$fuzz" 2>/dev/null; do
  for _ in $(seq 30); do kill -0 "$fuzz" 2>/dev/null || break; sleep 1; done
  if kill -0 "$fuzz" 2>/dev/null; then
    echo "== pytest: the fuzz run is still working ($((SECONDS - fuzz_started)) s):" \
      "$(tail -n 1 "$fuzz_dir/progress" 2>/dev/null || echo "starting")"
  fi
done
fuzz_status=0
wait "$fuzz" || fuzz_status=$?
echo "== pytest: the fuzz run"
cat "$fuzz_dir/log"
if [ "$status" -eq 0 ]; then status=$fuzz_status; fi
exit "$status"
