"""backtesting.metrics: each formula against hand-computed cases, the degenerate runs give None,
and no input ever puts NaN or infinity in the JSON."""

from __future__ import annotations

import json
import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backtesting.metrics import EquityStats, compute_from_series

MINUTES_PER_YEAR = 525_600


def test_total_return_and_drawdowns_from_the_running_peak_and_from_the_initial_capital() -> None:
    m = compute_from_series([100.0, 110.0, 99.0, 121.0, 88.0], periods_per_year=MINUTES_PER_YEAR)
    assert m["total_return"] == pytest.approx(88 / 100 - 1)
    assert m["max_drawdown"] == pytest.approx(88 / 121 - 1)  # the peak of 121, not the first 110
    assert m["max_drawdown_from_initial"] == pytest.approx(88 / 100 - 1)


def test_a_run_that_never_falls_below_its_start_has_no_drawdown_from_initial() -> None:
    m = compute_from_series([100.0, 120.0, 105.0], periods_per_year=12)
    assert m["max_drawdown"] == pytest.approx(105 / 120 - 1)
    assert m["max_drawdown_from_initial"] == 0.0


def test_sharpe_and_sortino_are_annualised_with_the_stated_periods_per_year() -> None:
    values = [100.0, 110.0, 99.0, 121.0]
    returns = [0.1, -0.1, 121 / 99 - 1]
    m = compute_from_series(values, periods_per_year=252)
    mean = statistics.mean(returns)
    assert m["sharpe_ratio"] == pytest.approx(mean / statistics.stdev(returns) * math.sqrt(252))
    downside = math.sqrt(0.1**2 / 3)  # √(Σ min(r, 0)² / n)
    assert m["sortino_ratio"] == pytest.approx(mean / downside * math.sqrt(252))
    assert m["periods_per_year"] == 252


def test_round_trips_give_win_rate_profit_factor_and_average_win_and_loss() -> None:
    m = compute_from_series([1.0, 1.0], periods_per_year=1, round_trips=[10.0, -5.0, 20.0, -15.0])
    assert m["win_rate"] == 0.5
    assert m["profit_factor"] == pytest.approx(30 / 20)
    assert m["average_win"] == 15.0
    assert m["average_loss"] == -10.0
    assert m["round_trips"] == 4


def test_no_losing_round_trip_gives_a_null_profit_factor_not_infinity() -> None:
    m = compute_from_series([1.0, 2.0], periods_per_year=1, round_trips=[3.0, 1.0])
    assert m["profit_factor"] is None
    assert m["win_rate"] == 1.0
    assert m["average_loss"] is None


def test_execution_costs_are_weighted_by_notional_and_turnover_is_volume_over_mean_equity() -> None:
    m = compute_from_series(
        [1000.0, 1000.0, 1000.0], periods_per_year=1, trade_costs=[(1_000.0, 10.0), (3_000.0, 30.0)]
    )
    assert m["total_cost_usd"] == pytest.approx(1.0 + 9.0)
    assert m["total_cost_bps"] == pytest.approx(10 / 1000 * 10_000)
    assert m["average_cost_bps"] == pytest.approx(10 / 4000 * 10_000)
    assert m["turnover"] == pytest.approx(4.0)
    assert m["trade_count"] == 2


def test_a_run_without_trades_or_movement_gives_nulls_not_errors() -> None:
    m = compute_from_series([100.0, 100.0, 100.0], periods_per_year=MINUTES_PER_YEAR)
    assert m["total_return"] == 0.0
    assert m["sharpe_ratio"] is None  # zero variance
    assert m["sortino_ratio"] is None  # no downside
    assert m["max_drawdown"] == 0.0
    assert m["trade_count"] == 0
    for key in (
        "win_rate",
        "profit_factor",
        "average_win",
        "average_loss",
        "total_cost_bps",
        "average_cost_bps",
    ):
        assert m[key] is None, key


@pytest.mark.parametrize("values", [[], [100.0]])
def test_an_empty_or_one_point_run_gives_nulls(values: list[float]) -> None:
    m = compute_from_series(values, periods_per_year=float("nan"))
    assert m["sharpe_ratio"] is None and m["sortino_ratio"] is None
    assert m["periods_per_year"] is None
    assert m["total_return"] == (0.0 if values else None)
    json.dumps(m, allow_nan=False)


def test_the_running_statistics_report_each_steps_drawdown() -> None:
    stats = EquityStats()
    assert [stats.add(v) for v in (10.0, 12.0, 9.0, 13.0)] == pytest.approx([0.0, 0.0, 9 / 12 - 1, 0.0])


values = st.floats(min_value=0.0, max_value=1e300, allow_nan=False, allow_infinity=False)
pnl = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False)


@given(
    st.lists(values, max_size=30),
    st.lists(pnl, max_size=10),
    st.lists(st.tuples(values, pnl), max_size=10),
    st.floats(min_value=-1.0, max_value=1e12) | st.just(float("nan")),
)
def test_no_input_puts_nan_or_infinity_in_the_metrics(
    series: list[float], trips: list[float], costs: list[tuple[float, float]], periods: float
) -> None:
    m = compute_from_series(series, periods_per_year=periods, round_trips=trips, trade_costs=costs)
    json.dumps(m, allow_nan=False)
    assert all(v is None or math.isfinite(v) for v in m.values())
