#!/usr/bin/env bash
# Set up (virtualenv, dev dependencies) and run the whole test suite, type checks and lint.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bash scripts/bootstrap.sh requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
