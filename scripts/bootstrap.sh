#!/usr/bin/env bash
# Shared set-up for scripts/run.sh, scripts/test.sh and scripts/coagent: uv from PyPI if
# missing, then the locked environment. Source it; it defines UV (the uv command to use).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# pip installs with --user put uv here, which a fresh login's PATH may not hold yet (Debian).
user_uv="${PYTHONUSERBASE:-$HOME/.local}/bin/uv"
if command -v uv >/dev/null 2>&1; then
  UV=(uv)
elif [ -x "$user_uv" ]; then
  UV=("$user_uv")
elif python3 -m uv --version >/dev/null 2>&1; then
  UV=(python3 -m uv)
else
  echo "bootstrap: installing uv from PyPI" >&2
  # As root, pip warns that it may break the system's packages: we install one tool, and
  # the project itself goes into its own environment (.venv).
  export PIP_ROOT_USER_ACTION=ignore
  pip_install=(python3 -m pip install --quiet --disable-pip-version-check)
  # A plain install, else into the user's site (Debian's system Python refuses the first).
  "${pip_install[@]}" uv 2>/dev/null \
    || "${pip_install[@]}" --user uv 2>/dev/null \
    || "${pip_install[@]}" --user --break-system-packages uv
  if [ -x "$user_uv" ] && ! command -v uv >/dev/null 2>&1; then
    UV=("$user_uv")
    echo "bootstrap: uv is in ${user_uv%/uv}, which is not on your PATH; the scripts find" \
      "it there (use ./scripts/coagent for the command line), or add it:" \
      "export PATH=\"${user_uv%/uv}:\$PATH\"" >&2
  else
    UV=(python3 -m uv)
  fi
fi
export UV_PYTHON_DOWNLOADS=never  # use the machine's Python 3.11+; no downloads offline
"${UV[@]}" sync --frozen --quiet
