#!/usr/bin/env bash
# Set up (virtualenv, dependencies) and run Solroute. At this stage: a command-line
# quote. Usage: ./run.sh [TOKEN_IN TOKEN_OUT AMOUNT [--strategy NAME] [--slippage-bps N]]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bash scripts/bootstrap.sh requirements.txt
if [ "$#" -eq 0 ]; then set -- SOL USDC 1000; fi
exec .venv/bin/python -m cli quote "$@"
