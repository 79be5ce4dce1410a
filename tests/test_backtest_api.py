"""Backtests through the API, black-box, on SQLite and PostgreSQL: generate a small synthetic
dataset, run plans over it, read the run, its trades and a comparison, cancel and delete, and
every bad input answered with a 4xx naming its field. Jobs run in the in-process executor."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from models import Backtest, BacktestTrade, PoolSnapshot, PriceHistory, db
from payloads import (
    BacktestAccepted,
    BacktestDetail,
    BacktestsPage,
    BacktestSummary,
    BacktestTradesPage,
    CompareResponse,
    DatasetsResponse,
    DeletedResponse,
    GenerateAccepted,
)
from tests.test_api import assert_error, auth, check, other_account_key
from tests.waiting import wait_until

START = datetime(2026, 1, 1, tzinfo=UTC)
DCA = {
    "dataset": "small",
    "planKind": "dca",
    "params": {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "100", "everyS": 3600},
    "initial": {"USDC": "10000"},
}


def generate(
    client: Any, key: str, dataset: str = "small", hours: float = 12, step_s: int = 300
) -> dict[str, Any]:
    """Generate a dataset through the API and wait until the datasets list shows all its frames."""
    body = {"dataset": dataset, "days": hours / 24, "stepS": step_s, "seed": 7, "start": START.isoformat()}
    r = client.post("/api/backtest/generate-data", json=body, headers=auth(key))
    assert r.status_code == 202, r.get_json()
    accepted = check(GenerateAccepted, r)

    def listed() -> dict[str, Any] | None:
        r = client.get("/api/backtest/datasets", headers=auth(key))
        found = {d["name"]: d for d in check(DatasetsResponse, r)["datasets"]}
        d = found.get(dataset)
        return d if d is not None and d["status"] == "ready" and d["frames"] == accepted["frames"] else None

    return wait_until(listed, f"dataset {dataset} to hold {accepted['frames']} frames")


def start_run(client: Any, key: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/backtest/run", json=body, headers=auth(key))
    assert r.status_code == 202, r.get_json()
    return check(BacktestAccepted, r)


def detail(client: Any, key: str, backtest_id: str) -> dict[str, Any]:
    r = client.get(f"/api/backtest/{backtest_id}", headers=auth(key))
    assert r.status_code == 200, r.get_json()
    return check(BacktestDetail, r)


def wait_done(client: Any, key: str, backtest_id: str) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (d := detail(client, key, backtest_id))["status"] in ("completed", "failed", "cancelled") and d
        ),
        f"backtest {backtest_id} to end",
    )


def test_a_dca_backtest_runs_over_a_generated_dataset_and_reports_its_trades(
    app: Flask, client: Any, api_key: str
) -> None:
    dataset = generate(client, api_key)
    assert dataset["start"] == "2026-01-01T00:00:00Z" and dataset["frames"] == 144
    accepted = start_run(client, api_key, {**DCA, "name": "hourly"})
    assert accepted["status"] == "pending"
    done = wait_done(client, api_key, accepted["backtestId"])
    assert done["status"] == "completed", done["errorMessage"]
    assert done["progress"] == 1.0 and done["steps"] == 144
    assert done["config"]["params"]["amountIn"] == "100"
    # one buy an hour over 12 hours of frames (first at the start): 12 trades
    assert done["tradeCount"] == 12
    assert done["equity"] and all(len(p) == 2 and math.isfinite(p[1]) for p in done["equity"])
    assert all(p[1] <= 0 for p in done["drawdown"])
    assert set(done["allMetrics"]) >= {"total_return", "max_drawdown", "trade_count"}

    r = client.get(f"/api/backtest/{accepted['backtestId']}/trades?limit=5&offset=10", headers=auth(api_key))
    page = check(BacktestTradesPage, r)
    assert page["total"] == 12 and [t["seq"] for t in page["trades"]] == [11, 12]
    trade = page["trades"][0]
    assert (trade["tokenIn"], trade["tokenOut"], trade["amountIn"]) == ("USDC", "SOL", "100")
    # Fees and impact against the frame's mid: the generated pools drift around the reference (the
    # arbitrage pulls them back only when the gap passes the fee), so a trade may beat the mid.
    execution, reference = Decimal(trade["executionPrice"]), Decimal(trade["referencePrice"])
    assert abs(Decimal(trade["costBps"]) - (reference - execution) / reference * 10_000) < Decimal("0.01")
    assert abs(Decimal(trade["costBps"])) < 100
    assert trade["legs"] and trade["balances"]["USDC"] == str(10000 - 100 * 11)
    # legs in token units, as every amount of the API: the first hop's inputs add up to the trade's
    assert sum(Decimal(leg["amountIn"]) for leg in trade["legs"] if leg["hop"] == 0) == Decimal("100")

    # the same rows in the database, written in batches with their exact columns
    with app.app_context():
        stored = db.session.execute(
            sa.select(sa.func.count())
            .select_from(BacktestTrade)
            .where(BacktestTrade.backtest_id == accepted["backtestId"])
        ).scalar_one()
        assert stored == 12


def test_runs_are_listed_newest_first_with_a_cursor_and_filtered(client: Any, api_key: str) -> None:
    generate(client, api_key)
    ids = []
    for strategy in ("OPTIMAL_SPLIT", "BEST_PRICE", "OPTIMAL_SPLIT"):
        ids.append(start_run(client, api_key, {**DCA, "strategy": strategy})["backtestId"])
    for i in ids:
        wait_done(client, api_key, i)
    first = check(BacktestsPage, client.get("/api/backtest?limit=2", headers=auth(api_key)))
    assert [b["backtestId"] for b in first["backtests"]] == ids[::-1][:2]
    assert first["nextCursor"]
    rest = check(
        BacktestsPage,
        client.get(f"/api/backtest?limit=2&cursor={first['nextCursor']}", headers=auth(api_key)),
    )
    assert [b["backtestId"] for b in rest["backtests"]] == [ids[0]] and rest["nextCursor"] is None
    best = check(BacktestsPage, client.get("/api/backtest?strategy=best_price", headers=auth(api_key)))
    assert [b["backtestId"] for b in best["backtests"]] == [ids[1]]
    done = check(BacktestsPage, client.get("/api/backtest?status=completed", headers=auth(api_key)))
    assert len(done["backtests"]) == 3
    assert_error(
        client.get("/api/backtest?cursor=%%%", headers=auth(api_key)), 400, "invalid_input", "cursor"
    )
    assert_error(
        client.get("/api/backtest?status=done", headers=auth(api_key)), 400, "invalid_input", "status"
    )


def test_compare_sets_runs_side_by_side_in_the_order_asked(client: Any, api_key: str) -> None:
    generate(client, api_key)
    a = start_run(client, api_key, {**DCA, "strategy": "OPTIMAL_SPLIT"})["backtestId"]
    b = start_run(client, api_key, {**DCA, "strategy": "VENUE:raydium"})["backtestId"]
    wait_done(client, api_key, a)
    wait_done(client, api_key, b)
    r = client.post("/api/backtest/compare", json={"ids": [b, a]}, headers=auth(api_key))
    body = check(CompareResponse, r)
    assert [run["backtestId"] for run in body["runs"]] == [b, a]
    assert [run["strategy"] for run in body["runs"]] == ["VENUE:Raydium", "OPTIMAL_SPLIT"]
    assert "total_cost_bps" in body["metricNames"]
    missing = client.post("/api/backtest/compare", json={"ids": [a, "0" * 24]}, headers=auth(api_key))
    assert_error(missing, 404, "not_found", "ids.1")
    assert_error(
        client.post("/api/backtest/compare", json={"ids": []}, headers=auth(api_key)),
        400,
        "invalid_input",
        "ids",
    )


def test_runs_belong_to_their_account(app: Flask, client: Any, api_key: str) -> None:
    generate(client, api_key)
    mine = start_run(client, api_key, DCA)["backtestId"]
    wait_done(client, api_key, mine)
    other = other_account_key(app)
    for method, url in (
        ("get", f"/api/backtest/{mine}"),
        ("get", f"/api/backtest/{mine}/trades"),
        ("post", f"/api/backtest/{mine}/cancel"),
        ("delete", f"/api/backtest/{mine}"),
    ):
        assert_error(
            client.open(url, method=method.upper(), headers=auth(other)), 404, "not_found", "backtestId"
        )
    assert check(BacktestsPage, client.get("/api/backtest", headers=auth(other)))["backtests"] == []
    assert_error(
        client.post("/api/backtest/compare", json={"ids": [mine]}, headers=auth(other)),
        404,
        "not_found",
        "ids.0",
    )
    assert_error(client.get("/api/backtest"), 401, "unauthorized", "X-API-Key")
    assert_error(client.post("/api/backtest/run", json=DCA), 401, "unauthorized", "X-API-Key")
    assert detail(client, api_key, mine)["status"] == "completed"  # untouched by the other account


def test_delete_removes_the_run_and_its_trades(app: Flask, client: Any, api_key: str) -> None:
    generate(client, api_key)
    run = start_run(client, api_key, DCA)["backtestId"]
    wait_done(client, api_key, run)
    r = client.delete(f"/api/backtest/{run}", headers=auth(api_key))
    assert check(DeletedResponse, r) == {"backtestId": run, "deleted": True}
    assert_error(client.get(f"/api/backtest/{run}", headers=auth(api_key)), 404, "not_found", "backtestId")
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(BacktestTrade)).scalar_one() == 0
        assert db.session.execute(sa.select(sa.func.count()).select_from(Backtest)).scalar_one() == 0


def test_cancel_stops_a_pending_run_and_an_ended_one_is_a_conflict(
    app: Flask, client: Any, api_key: str
) -> None:
    generate(client, api_key)
    # A pending run (stored, its job not started): cancelled at once.
    with app.app_context():
        import backtest_runs

        pending = backtest_runs.create(db.session, _demo_id(app), backtest_runs.request_of_config(_config()))
        db.session.commit()
        pending_id = pending.id
    r = client.post(f"/api/backtest/{pending_id}/cancel", headers=auth(api_key))
    assert check(BacktestSummary, r)["status"] == "cancelled"
    assert detail(client, api_key, pending_id)["status"] == "cancelled"
    again = client.post(f"/api/backtest/{pending_id}/cancel", headers=auth(api_key))
    assert_error(again, 409, "backtest_final", "backtestId")
    # Its job, if it ran now, leaves it alone.
    import jobs

    with app.app_context():
        assert jobs.run_backtest(pending_id) == "skipped"


def test_a_running_job_stops_when_cancelled(app: Flask, client: Any, api_key: str) -> None:
    """The job's should_stop reads the flag: set before the job runs, the replay stops at once."""
    generate(client, api_key)
    import backtest_runs
    import jobs
    from models import BacktestStatus

    with app.app_context():
        run = backtest_runs.create(db.session, _demo_id(app), backtest_runs.request_of_config(_config()))
        run.status = BacktestStatus.PENDING
        db.session.commit()
        run_id = run.id
        db.session.execute(sa.update(Backtest).where(Backtest.id == run_id).values(cancel_requested=True))
        db.session.commit()
        assert jobs.run_backtest(run_id) == "cancelled"
    done = detail(client, api_key, run_id)
    assert done["status"] == "cancelled" and done["steps"] < 144


def _config() -> dict[str, Any]:
    return {
        "name": "direct",
        "dataset": "small",
        "from": None,
        "to": None,
        "planKind": "dca",
        "params": DCA["params"],
        "initial": DCA["initial"],
        "strategy": "OPTIMAL_SPLIT",
        "slippageBps": 100,
    }


def _demo_id(app: Flask) -> int:
    from models import Account

    return int(db.session.execute(sa.select(Account.id).where(Account.name == "demo")).scalar_one())


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"dataset": "nothing-here"}, 400, "invalid_input", "dataset"),
        ({"dataset": "Bad Name"}, 400, "invalid_input", "dataset"),
        ({"planKind": "martingale"}, 400, "invalid_input", "planKind"),
        ({"strategy": "FASTEST"}, 400, "invalid_input", "strategy"),
        ({"strategy": "VENUE:Uniswap"}, 400, "invalid_input", "strategy"),
        ({"params": {**DCA["params"], "tokenOut": "DOGE"}}, 400, "unknown_token", "params.tokenOut"),
        ({"params": {**DCA["params"], "tokenOut": "USDC"}}, 400, "invalid_input", "params.tokenOut"),
        ({"params": {**DCA["params"], "amountIn": "-1"}}, 400, "invalid_input", "params.amountIn"),
        ({"params": {**DCA["params"], "amountIn": "0.0000001"}}, 400, "too_precise", "params.amountIn"),
        ({"params": {**DCA["params"], "everyS": 0}}, 400, "invalid_input", "params.everyS"),
        ({"params": {**DCA["params"], "colour": "red"}}, 400, "invalid_input", "params.colour"),
        ({"initial": {}}, 400, "invalid_input", "initial"),
        ({"initial": {"USDC": "lots"}}, 400, "invalid_input", "initial.USDC"),
        ({"initial": {"XYZ": "1"}}, 400, "unknown_token", "initial.XYZ"),
        ({"from": "2030-01-01T00:00:00Z"}, 400, "invalid_input", "from"),
        ({"from": "2026-01-01T06:00:00Z", "to": "2026-01-01T05:00:00Z"}, 400, "invalid_input", "to"),
        ({"slippageBps": 9000}, 400, "invalid_input", "slippageBps"),
        ({"extra": 1}, 400, "invalid_input", "extra"),
    ],
)
def test_bad_runs_are_refused_naming_the_field_and_store_nothing(
    app: Flask, client: Any, api_key: str, change: dict[str, Any], status: int, code: str, field: str
) -> None:
    generate(client, api_key, hours=1)
    r = client.post("/api/backtest/run", json={**DCA, **change}, headers=auth(api_key))
    assert_error(r, status, code, field)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Backtest)).scalar_one() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dataset": "live"}, "dataset"),
        ({"dataset": "x", "days": 0}, "days"),
        ({"dataset": "x", "days": 400}, "days"),
        ({"dataset": "x", "days": 365, "stepS": 1}, "days"),
        ({"dataset": "x", "stepS": 0}, "stepS"),
        ({"dataset": "x", "seed": "one"}, "seed"),
        ({"dataset": "x", "volatility": -1}, "volatility"),
    ],
)
def test_bad_generation_requests_are_refused_naming_the_field(
    client: Any, api_key: str, body: dict[str, Any], field: str
) -> None:
    assert_error(
        client.post("/api/backtest/generate-data", json=body, headers=auth(api_key)),
        400,
        "invalid_input",
        field,
    )


def test_generating_again_replaces_the_dataset(app: Flask, client: Any, api_key: str) -> None:
    generate(client, api_key, hours=2)
    with app.app_context():
        before = db.session.execute(sa.select(sa.func.count()).select_from(PoolSnapshot)).scalar_one()
    generate(client, api_key, hours=1)
    with app.app_context():
        after = db.session.execute(sa.select(sa.func.count()).select_from(PoolSnapshot)).scalar_one()
        prices = db.session.execute(sa.select(sa.func.count(sa.distinct(PriceHistory.t)))).scalar_one()
    assert after * 2 == before and prices == 12


def test_the_trades_export_is_a_csv_of_every_trade(app: Flask, client: Any, api_key: str) -> None:
    generate(client, api_key)
    run = start_run(client, api_key, DCA)["backtestId"]
    wait_done(client, api_key, run)
    r = client.get(f"/backtests/{run}/trades.csv", headers=auth(api_key))
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [int(row["seq"]) for row in rows] == list(range(1, 13))
    assert rows[0]["tokenIn"] == "USDC" and rows[0]["amountIn"] == "100"
    other = client.get(f"/backtests/{run}/trades.csv", headers=auth(other_account_key(app)))
    assert other.status_code == 404


def test_the_cli_generates_lists_and_runs_with_a_progress_bar(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "backtest",
            "generate",
            "--dataset",
            "cli",
            "--days",
            "0.5",
            "--step-s",
            "600",
            "--start",
            "2026-02-01",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "dataset cli: 72 frames" in result.stdout and "rows/s" in result.stdout
    assert "72/72 frames" in result.stderr  # the progress bar, on stderr
    listed = runner.invoke(args=["backtest", "datasets"])
    assert "cli" in listed.stdout and "2026-02-01T00:00:00+00:00" in listed.stdout
    ran = runner.invoke(
        args=[
            "backtest",
            "run",
            "--dataset",
            "cli",
            "--strategy",
            "OPTIMAL_SPLIT",
            "--strategy",
            "best_price",
        ]
    )
    assert ran.exit_code == 0, ran.output
    lines = [line for line in ran.stdout.splitlines() if "completed" in line]
    assert len(lines) == 2 and "OPTIMAL_SPLIT" in lines[0] and "BEST_PRICE" in lines[1]
    bad = runner.invoke(args=["backtest", "run", "--dataset", "nowhere"])
    assert bad.exit_code != 0 and "nowhere" in bad.output
    live = runner.invoke(args=["backtest", "generate", "--dataset", "live", "--days", "1"])
    assert live.exit_code != 0 and "recorded history" in live.output
