#!/usr/bin/env bash
# Run the service. With no configuration: embedded SQLite in ./data, in-process broker and
# fan-out, generated secrets, migrations applied. Pass CLI options through, e.g. --port 9000.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
"${UV[@]}" run --frozen --no-sync coagent db upgrade
exec "${UV[@]}" run --frozen --no-sync coagent run --no-migrate "$@"
