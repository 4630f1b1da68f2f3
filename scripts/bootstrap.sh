#!/usr/bin/env bash
# Shared set-up for scripts/run.sh and scripts/test.sh: uv from PyPI if missing, then the
# locked environment. Source it; it defines UV (the uv command to use).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if command -v uv >/dev/null 2>&1; then
  UV=(uv)
elif python3 -m uv --version >/dev/null 2>&1; then
  UV=(python3 -m uv)
else
  echo "bootstrap: installing uv from PyPI" >&2
  pip_install=(python3 -m pip install --quiet --disable-pip-version-check)
  "${pip_install[@]}" uv 2>/dev/null \
    || "${pip_install[@]}" --user uv 2>/dev/null \
    || "${pip_install[@]}" --user --break-system-packages uv
  UV=(python3 -m uv)
fi
export UV_PYTHON_DOWNLOADS=never  # use the machine's Python 3.11+; no downloads offline
"${UV[@]}" sync --frozen --quiet
