#!/usr/bin/env bash
# Run the service. With no configuration: embedded SQLite in ./data, in-process broker and
# fan-out, generated secrets, migrations applied. Pass CLI options through, e.g. --port 9000
# (or `make run ARGS="--port 9000"`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
"${UV[@]}" run --frozen --no-sync coagent db upgrade
# Ctrl-C is how one stops it: the server shuts down gracefully and this script ends with 0
# (not 130, which `make run` would report as an error). The trap runs no command, so the
# server still gets the signal, as it does from the terminal.
trap ':' INT
status=0
"${UV[@]}" run --frozen --no-sync coagent run --no-migrate "$@" || status=$?
if [ "$status" -eq 130 ]; then status=0; fi
exit "$status"
