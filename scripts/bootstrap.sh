#!/usr/bin/env bash
# Creates .venv and installs the pinned dependencies when requirements change.
# Sourced by run.sh and test.sh so either works first on a fresh clone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
req_file="${1:-requirements.txt}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat requirements.txt "$req_file" | sha256sum | cut -c1-16)-$(basename "$req_file")"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r "$req_file"
    touch "$stamp"
fi
