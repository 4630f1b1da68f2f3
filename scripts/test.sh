#!/usr/bin/env bash
# The whole test suite: lint, types, architecture contracts, migration drift, then pytest
# (unit, integration on PostgreSQL 127.0.0.1:5432 and Redis 127.0.0.1:6379, API, fuzzing).
# With CI set, unreachable PostgreSQL or Redis fail the run instead of skipping tests.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
run() { "${UV[@]}" run --frozen --no-sync "$@"; }

echo "== ruff"; run ruff check .; run ruff format --check .
echo "== mypy (strict)"; run mypy
echo "== import-linter"; run lint-imports --no-cache
echo "== pytest"; run pytest "$@"
