"""A backtest's figures, from O(1) running statistics of its equity and the list of its trades.

PURE. Statistics are floats (they are statistics, not money). Every figure that is undefined for
a run (one point, zero variance, no trades, no losses) is None, never NaN or ±inf, so the result
passes ``json.dumps(..., allow_nan=False)`` and fits a nullable float column.

Notation: v₀ … v_n the portfolio's USD value at each step (reference prices), r_i = v_i / v_{i−1} − 1
the per-step simple returns (n of them), P the periods per year = 31,536,000 / step_s (a 365-day
year: one-minute steps give P = 525,600).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["EquityStats", "compute", "compute_from_series"]


@dataclass
class EquityStats:
    """Running statistics of the equity series in O(1) memory (``add`` each step's value)."""

    count: int = 0  # values seen
    initial: float = 0.0
    last: float = 0.0
    peak: float = 0.0
    low: float = 0.0  # the lowest value seen
    max_drawdown: float = 0.0  # min over t of v_t / max_{s≤t} v_s − 1 (≤ 0)
    value_sum: float = 0.0  # Σ v_t, for the mean equity (turnover)
    returns: int = 0  # returns counted (steps with a positive previous value)
    downside_sq_sum: float = 0.0  # Σ min(r_i, 0)²
    # Welford's running mean and M2: the sample variance without cancellation on tiny returns.
    mean: float = 0.0
    m2: float = 0.0

    def add(self, value: float) -> float:
        """Take the next value; returns its drawdown from the running peak (≤ 0, 0 at a new peak)."""
        if self.count == 0:
            self.initial = self.peak = self.low = value
        else:
            if self.last > 0:
                r = value / self.last - 1.0
                self.returns += 1
                if r < 0:
                    self.downside_sq_sum += r * r
                delta = r - self.mean
                self.mean += delta / self.returns
                self.m2 += delta * (r - self.mean)
            if value > self.peak:
                self.peak = value
            if value < self.low:
                self.low = value
        self.count += 1
        self.last = value
        self.value_sum += value
        drawdown = value / self.peak - 1.0 if self.peak > 0 else 0.0
        if drawdown < self.max_drawdown:
            self.max_drawdown = drawdown
        return drawdown


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def compute(
    stats: EquityStats,
    *,
    periods_per_year: float,
    round_trips: Sequence[float] = (),
    trade_costs: Sequence[tuple[float, float]] = (),
    skipped: int = 0,
) -> dict[str, float | int | None]:
    """The run's metrics. ``round_trips``: realised P&L in USD of each closed round trip;
    ``trade_costs``: (notional in USD, cost in bps) of each trade.

    Formulas (None where the formula is undefined):

    - total_return = v_n / v₀ − 1
    - sharpe_ratio = mean(r) / stdev(r) · √P (sample stdev, n − 1; risk-free rate 0); needs n ≥ 2
      and stdev > 0
    - sortino_ratio = mean(r) / DD · √P with the downside deviation DD = √(Σ min(r_i, 0)² / n);
      needs n ≥ 1 and DD > 0
    - max_drawdown = min_t (v_t / max_{s≤t} v_s − 1): from the running peak, ≤ 0 (−0.25 = 25 % down)
    - max_drawdown_from_initial = min(0, min_t v_t / v₀ − 1)
    - win_rate = wins / round trips, a win being a round trip with P&L > 0 (round trips are closed
      at average cost: see ``backtesting.engine``)
    - profit_factor = Σ winning P&L / |Σ losing P&L|; None with no losing round trip (not inf)
    - average_win = mean P&L of the winners (USD); average_loss = mean P&L of the losers (≤ 0)
    - total_cost_usd = Σ notional_i · cost_bps_i / 10⁴: what fees and impact took against the
      reference mid (negative when fills beat the mid)
    - total_cost_bps = total_cost_usd / v₀ · 10⁴: that cost as a share of the initial capital
    - average_cost_bps = total_cost_usd / Σ notional_i · 10⁴: the volume-weighted cost per trade
    - turnover = Σ notional_i / mean_t v_t: traded volume per average portfolio value
    - trade_count, round_trips, skipped (decisions that could not trade), periods_per_year
    """
    n = stats.returns
    sqrt_p = math.sqrt(periods_per_year) if periods_per_year > 0 else math.nan
    total_return = stats.last / stats.initial - 1.0 if stats.count >= 1 and stats.initial > 0 else None
    sharpe = sortino = None
    if n >= 2:
        variance = stats.m2 / (n - 1)
        if variance > 0:
            sharpe = stats.mean / math.sqrt(variance) * sqrt_p
    if n >= 1:
        downside = math.sqrt(stats.downside_sq_sum / n)
        if downside > 0:
            sortino = stats.mean / downside * sqrt_p
    wins = [p for p in round_trips if p > 0]
    losses = [p for p in round_trips if p < 0]
    notional = sum(abs(n_usd) for n_usd, _ in trade_costs)
    cost_usd = sum(abs(n_usd) * cost / 10_000 for n_usd, cost in trade_costs)
    mean_value = stats.value_sum / stats.count if stats.count else 0.0
    metrics: dict[str, float | int | None] = {
        "total_return": _finite(total_return),
        "sharpe_ratio": _finite(sharpe),
        "sortino_ratio": _finite(sortino),
        "max_drawdown": _finite(stats.max_drawdown) if stats.count else None,
        "max_drawdown_from_initial": (
            _finite(min(0.0, stats.low / stats.initial - 1.0)) if stats.count and stats.initial > 0 else None
        ),
        "win_rate": len(wins) / len(round_trips) if round_trips else None,
        "profit_factor": _finite(sum(wins) / -sum(losses)) if losses else None,
        "average_win": _finite(sum(wins) / len(wins)) if wins else None,
        "average_loss": _finite(sum(losses) / len(losses)) if losses else None,
        "total_cost_usd": _finite(cost_usd) if trade_costs else None,
        "total_cost_bps": (
            _finite(cost_usd / stats.initial * 10_000) if trade_costs and stats.initial > 0 else None
        ),
        "average_cost_bps": _finite(cost_usd / notional * 10_000) if notional > 0 else None,
        "turnover": _finite(notional / mean_value) if mean_value > 0 else None,
        "trade_count": len(trade_costs),
        "round_trips": len(round_trips),
        "skipped": skipped,
        "periods_per_year": _finite(float(periods_per_year)),
    }
    return metrics


def compute_from_series(
    values: Iterable[float],
    *,
    periods_per_year: float,
    round_trips: Sequence[float] = (),
    trade_costs: Sequence[tuple[float, float]] = (),
    skipped: int = 0,
) -> dict[str, float | int | None]:
    """``compute`` over a whole equity series (tests, small runs)."""
    stats = EquityStats()
    for value in values:
        stats.add(float(value))
    return compute(
        stats,
        periods_per_year=periods_per_year,
        round_trips=round_trips,
        trade_costs=trade_costs,
        skipped=skipped,
    )
