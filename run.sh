#!/usr/bin/env bash
# Set up and start Solroute on this machine: virtualenv and pinned requirements, database
# migrations, the default pools, desks and a funded demo account, then the web server.
#   ./run.sh                              start the app (SOLROUTE_BIND, default 127.0.0.1:5000)
#   ./run.sh quote SOL USDC 1000 [...]    a one-off quote on the command line (see README)
# With no DATABASE_URL it uses SQLite in instance/; with no REDIS_URL it runs order jobs in the
# web process. Set both for the production shape (README: "Production shape").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bash scripts/bootstrap.sh requirements.txt
if [ "${1:-}" = "quote" ]; then
    shift
    exec .venv/bin/python -m cli quote "$@"
fi
export FLASK_APP=app
bash scripts/vendor.sh  # the pages' libraries into static/vendor/ (needs Node.js once)
.venv/bin/flask db upgrade
.venv/bin/flask seed
# Demo bots (a flow bot and an arbitrage bot) when SOLROUTE_DEMO=1, the default in development;
# the command does nothing in production, whatever SOLROUTE_DEMO says.
.venv/bin/flask bots demo
bind="${SOLROUTE_BIND:-127.0.0.1:5000}"
echo
echo "  Solroute is starting at http://${bind}"
echo "  JSON API: http://${bind}/api/quote?tokenIn=SOL&tokenOut=USDC&amountIn=10  (spec: /api/openapi.json)"
if [ -f instance/demo_api_key ]; then
    echo "  Demo account API key (X-API-Key): $(cat instance/demo_api_key)"
fi
if [ -f instance/operator_api_key ]; then
    echo "  Demo operator API key (the /bots page): $(cat instance/operator_api_key)"
fi
echo
exec .venv/bin/gunicorn -c gunicorn.conf.py --no-control-socket --bind "${bind}" wsgi:app
