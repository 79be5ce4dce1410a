"""Backtests with the production shape: gunicorn, an RQ worker, PostgreSQL and Redis.

The worker generates the dataset and runs the backtest (``jobs.generate_dataset``,
``jobs.run_backtest``) and, where maintenance runs, records live market history; the web process
only stores and queues. Everything is read back over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.stack import LiveClient, Stack, kill_process_group, query, running_stack, stack_env, wait_workers
from tests.test_workers import seed_database
from tests.waiting import WAIT_S, wait_until


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Stack]:
    runner = running_stack(request, tmp_path / "logs")
    started = next(runner)
    try:
        yield started
    finally:
        next(runner, None)
        for proc in started.procs:
            if proc.popen.poll() is not None:
                kill_process_group(proc)


@pytest.mark.slow
def test_a_worker_generates_data_runs_a_backtest_and_records_live_history(
    stack: Stack, pg_database: str, redis_url: str, redis_namespace: str
) -> None:
    db = seed_database(pg_database, {"other": None})
    env = stack_env(db.url, redis_url, redis_namespace, HISTORY_INTERVAL_S="1", HISTORY_MIN_GAP_S="0.2")
    base = stack.start_server(env)
    worker = stack.start_worker(env)
    wait_workers(redis_url, redis_namespace, [worker])
    key = {"X-API-Key": db.keys["demo"]}
    mine, theirs = LiveClient(base, api_key=db.keys["demo"]), LiveClient(base, api_key=db.keys["other"])

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{base}{path}", headers=key, timeout=WAIT_S, **kwargs)

    body = {"dataset": "workers", "days": 1, "stepS": 300, "seed": 3, "start": "2026-04-01T00:00:00Z"}
    r = call("POST", "/api/backtest/generate-data", json=body)
    assert r.status_code == 202, r.text
    job_id = r.json()["jobId"]
    done = mine.wait_for("dataset_progress", lambda e: e["jobId"] == job_id and e["status"] == "completed")
    assert done["frames"] == done["total"] == 288 and done["rows"] > 0
    wait_until(
        lambda: any(
            d["name"] == "workers" and d["status"] == "ready" and d["frames"] == 288
            for d in call("GET", "/api/backtest/datasets").json()["datasets"]
        ),
        "the worker to generate the dataset",
    )

    plan = {
        "dataset": "workers",
        "planKind": "dca",
        "params": {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "250", "everyS": 3600},
        "initial": {"USDC": "50000"},
    }
    r = call("POST", "/api/backtest/run", json=plan)
    assert r.status_code == 202, r.text
    run_id = r.json()["backtestId"]
    run = wait_until(
        lambda: (
            (d := call("GET", f"/api/backtest/{run_id}").json())["status"] in ("completed", "failed") and d
        ),
        "the worker to run the backtest",
    )
    assert run["status"] == "completed", run["errorMessage"]
    # Its events reached its owner through the worker's Redis message queue, and nobody else.
    final = mine.wait_for(
        "backtest_progress", lambda e: e["backtestId"] == run_id and e["status"] == "completed"
    )
    assert final["progress"] == 1.0 and final["trades"] == 24
    assert mine.received("backtest_progress", lambda e: e["status"] == "running")
    assert theirs.received("backtest_progress") == [] and theirs.received("dataset_progress") == []
    assert run["tradeCount"] == 24 and run["progress"] == 1.0
    trades = call("GET", f"/api/backtest/{run_id}/trades?limit=100").json()
    assert [t["seq"] for t in trades["trades"]] == list(range(1, 25))
    assert query(db.url, "SELECT count(*) FROM backtest_trades WHERE backtest_id = :b", b=run_id)[0][0] == 24

    # The worker runs maintenance, so it records live history too: candles of the live dataset.
    wait_until(
        lambda: (
            query(db.url, "SELECT count(DISTINCT t) FROM pool_snapshots WHERE dataset = 'live'")[0][0] >= 2
        ),
        "two live snapshots from the worker's recorder",
    )
    candles = call("GET", "/api/prices/history?token=SOL&interval=1m").json()
    assert candles["candles"] and candles["candles"][-1]["close"] > 0

    assert call("DELETE", f"/api/backtest/{run_id}").status_code == 200
    assert query(db.url, "SELECT count(*) FROM backtest_trades")[0][0] == 0
    mine.close()
    theirs.close()
