"""TEMPORARY stub of the backtest engine (helper A writes the real one; the lead drops this file
at merge). DCA only: every ``every_s`` the plan's amount is routed with routing_engine.find_route
on the frame's pools; other plan kinds trade nothing. Metrics are the documented keys, mostly None."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal

from amm import Pool
from backtesting.model import BacktestResult, Frame, Plan, PlanKind, Progress, SimTrade
from errors import SolrouteError
from routing_engine import Market, find_route
from tokens import from_base_units, get_token

METRIC_KEYS = (
    "total_return", "sharpe_ratio", "sortino_ratio", "max_drawdown", "max_drawdown_from_initial",
    "win_rate", "profit_factor", "average_win", "average_loss", "total_cost_bps", "average_cost_bps",
    "turnover", "trade_count", "round_trips", "periods_per_year",
)  # fmt: skip


def _value(balances: Mapping[str, int], prices: Mapping[str, Decimal]) -> float:
    return float(
        sum(from_base_units(get_token(s), a) * prices.get(s, Decimal(0)) for s, a in balances.items())
    )


def run(
    plan: Plan,
    frames: Iterable[Frame],
    *,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress_every: int = 1000,
) -> BacktestResult:
    """Replay ``plan`` over ``frames`` (stub: DCA only)."""
    balances = dict(plan.initial)
    trades: list[SimTrade] = []
    equity: list[tuple[float, float]] = []
    next_at = plan.start
    steps = 0
    cancelled = False
    strategy = plan.strategy if not plan.strategy.startswith("VENUE:") else "BEST_PRICE"
    for frame in frames:
        if frame.t < plan.start or frame.t > plan.end:
            continue
        steps += 1
        if should_stop is not None and steps % 50 == 0 and should_stop():
            cancelled = True
            break
        p = plan.params
        if plan.kind == PlanKind.DCA and frame.t >= next_at:
            next_at = frame.t + float(p["every_s"])
            token_in, token_out, amount = str(p["token_in"]), str(p["token_out"]), int(p["amount_in"])
            if balances.get(token_in, 0) >= amount:
                pools = tuple(Pool(*(getattr(s, f) for f in Pool.__slots__)) for s in frame.pools)
                try:
                    result = find_route(
                        Market(pools=pools, usd_prices=frame.prices, now=frame.t),
                        token_in,
                        token_out,
                        amount,
                        strategy,
                        plan.slippage_bps,
                    )
                except SolrouteError:
                    result = None
                if result is not None:
                    out = result.route.amount_out
                    balances[token_in] -= amount
                    balances[token_out] = balances.get(token_out, 0) + out
                    human_in = from_base_units(get_token(token_in), amount)
                    execution = from_base_units(get_token(token_out), out) / human_in
                    reference = frame.prices[token_in] / frame.prices[token_out]
                    trades.append(
                        SimTrade(
                            seq=len(trades) + 1, t=frame.t, token_in=token_in, token_out=token_out,
                            amount_in=amount, amount_out=out, execution_price=execution,
                            reference_price=reference,
                            cost_bps=((reference - execution) / reference * 10_000).quantize(Decimal("0.01")),
                            legs=tuple(
                                {"venue": leg.venue, "tokenIn": leg.token_in, "tokenOut": leg.token_out,
                                 "amountIn": leg.amount_in, "amountOut": leg.amount_out, "hop": leg.hop}
                                for leg in result.route.legs
                            ),
                            balances=dict(balances), value_usd=_value(balances, frame.prices),
                        )
                    )  # fmt: skip
        equity.append((frame.t, _value(balances, frame.prices)))
        if progress is not None and steps % progress_every == 0:
            progress(Progress(done=steps, total=steps, trades=len(trades)))
    stride = max(1, len(equity) // 2000)
    equity = equity[::stride]
    peak = 0.0
    drawdown = []
    for t, v in equity:
        peak = max(peak, v)
        drawdown.append((t, (v / peak - 1.0) if peak > 0 else 0.0))
    metrics: dict[str, float | int | None] = dict.fromkeys(METRIC_KEYS)
    metrics["trade_count"] = len(trades)
    if len(equity) > 1 and equity[0][1] > 0:
        metrics["total_return"] = equity[-1][1] / equity[0][1] - 1.0
        metrics["max_drawdown"] = min(d for _, d in drawdown)
    if trades:
        metrics["total_cost_bps"] = float(sum(t.cost_bps for t in trades))
        metrics["average_cost_bps"] = float(sum(t.cost_bps for t in trades)) / len(trades)
    return BacktestResult(tuple(trades), tuple(equity), tuple(drawdown), metrics, steps, cancelled)


def compare(
    plan: Plan, frames_factory: Callable[[], Iterable[Frame]], strategies: Sequence[str]
) -> dict[str, BacktestResult]:
    """The same plan and frames through each strategy."""
    import dataclasses

    return {s: run(dataclasses.replace(plan, strategy=s), frames_factory()) for s in strategies}
