#!/usr/bin/env bash
# Set up (virtualenv, dev dependencies) and run the whole test suite, type checks and lint.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bash scripts/bootstrap.sh requirements-dev.txt
bash scripts/vendor.sh  # the pages' libraries into static/vendor/ (tests/test_pages.py checks them)
# The reference solver's small SLSQP problems gain nothing from BLAS threads and, on a busy
# 2-core machine, spinning BLAS workers made them ~20x slower.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# The application tests run against this machine's PostgreSQL and Redis as well as SQLite.
bash scripts/services.sh
bash scripts/browser.sh  # Debian's Chromium for tests/test_browser.py (apt-get when missing)
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
