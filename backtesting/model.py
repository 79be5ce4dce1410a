"""Backtesting's plain values: the market frames it replays, the plan, and what a run returns.

PURE: no Flask, SQLAlchemy, Redis or HTTP. This module is the contract between the pure engine
(``backtesting.engine``, ``backtesting.synthetic``, ``backtesting.metrics``) and the edges that
store frames and runs (market history recording, the backtest API and jobs).

Amounts are integer base units; prices are ``Decimal`` USD per whole token (the reference price,
``Market.usd_prices``); times are epoch seconds (float, UTC).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = [
    "BacktestResult",
    "DeskState",
    "Frame",
    "Plan",
    "PlanKind",
    "PoolState",
    "Progress",
    "SimTrade",
    "SyntheticConfig",
]


@dataclass(frozen=True, slots=True)
class PoolState:
    """One AMM pool's reserves at a frame (the pool's id, venue, pair and fee as in ``amm.Pool``)."""

    pool_id: str
    venue: str
    token_a: str
    token_b: str
    reserve_a: int
    reserve_b: int
    fee_bps: int


@dataclass(frozen=True, slots=True)
class DeskState:
    """One OTC desk at a frame: its mid (quote per base, human units) and inventories.

    The desk's fixed terms (spreads, sizes, settlement delay) are ``otc_engine.default_desks``'s
    for ``desk_id``; only what moves is recorded."""

    desk_id: str
    base: str
    quote: str
    mid: Decimal
    inventory_base: int
    inventory_quote: int


@dataclass(frozen=True, slots=True)
class Frame:
    """The market at one instant: reference prices (USD per token), pools and desks."""

    t: float
    prices: Mapping[str, Decimal]
    pools: tuple[PoolState, ...] = ()
    desks: tuple[DeskState, ...] = ()


@dataclass(frozen=True, slots=True)
class SyntheticConfig:
    """Geometric Brownian motion per token's USD price (stablecoins stay at 1 unless listed).

    ``volatility`` and ``drift`` are annualised (0.8 = 80 %/year); ``pool_noise_bps`` is how far a
    pool drifts from the reference per step before arbitrage pulls it back by ``arb_fraction`` of
    the gap (1.0: all the way, closed-form constant-product arbitrage trade)."""

    start: float
    steps: int
    step_s: int = 60
    seed: int = 1
    tokens: tuple[str, ...] = ("SOL", "JUP", "RAY", "BONK")
    volatility: Mapping[str, float] = field(default_factory=dict)  # default 0.8 for each token
    drift: Mapping[str, float] = field(default_factory=dict)  # default 0.0
    pool_noise_bps: float = 20.0
    arb_fraction: float = 0.5
    # USD price of each token at ``start`` (missing ones: ``backtesting.synthetic.DEFAULT_PRICES``,
    # the live static seed prices); tokens not in ``tokens`` keep theirs for the whole run.
    initial_prices: Mapping[str, Decimal] = field(default_factory=dict)
    desk_flow_probability: float = 0.02  # chance per step that another client trades with a desk


class PlanKind(enum.StrEnum):
    DCA = "dca"  # buy or sell a fixed amount every ``every_s``
    REBALANCE = "rebalance"  # keep ``target_weight`` of value in token_a, trade when off by ``band``
    MEAN_REVERSION = "mean_reversion"  # buy below the moving average by ``threshold``, sell above
    LIMIT_LADDER = "limit_ladder"  # resting limit orders at ``rungs`` prices below/above the start


@dataclass(frozen=True)
class Plan:
    """What to replay: a plan kind and its parameters, initial balances, the range and a router
    strategy (``OPTIMAL_SPLIT``, ``BEST_PRICE``, ... or a single venue as ``VENUE:<venue>``).

    ``params`` keys per kind (all amounts in base units, prices Decimal USD):
    dca: token_in, token_out, amount_in, every_s;
    rebalance: token_a, token_b, target_weight (Decimal 0..1), band (Decimal), check_every_s;
    mean_reversion: token, quote_token, window_s, threshold (Decimal, e.g. 0.02), amount_in;
    limit_ladder: token, quote_token, rungs (int), step (Decimal fraction), amount_in per rung.
    (Details in ``backtesting.engine``: mean_reversion's amount_in is quote_token spent per buy, the
    lot bought is sold whole; limit_ladder's buy rungs each spend amount_in of quote_token below the
    first frame's price, its sell rungs each sell what amount_in bought at that price, above it.
    Ratios may be Decimal, str, int or float (read through its repr).)
    """

    kind: PlanKind
    params: Mapping[str, Any]
    initial: Mapping[str, int]
    start: float
    end: float
    strategy: str = "OPTIMAL_SPLIT"
    slippage_bps: int = 100


@dataclass(frozen=True, slots=True)
class SimTrade:
    """One simulated trade: what went in and out, the legs, and its cost against the mid."""

    seq: int
    t: float
    token_in: str
    token_out: str
    amount_in: int
    amount_out: int
    execution_price: Decimal  # token_out per token_in, human units
    reference_price: Decimal  # the mid at the frame, same units
    cost_bps: Decimal  # (reference − execution) / reference × 10,000: fees and impact
    legs: tuple[Mapping[str, Any], ...]  # {"venue", "tokenIn", "tokenOut", "amountIn", "amountOut", "hop"}
    balances: Mapping[str, int]  # the portfolio after the trade
    value_usd: float  # the portfolio's value after it, at the reference prices


@dataclass(frozen=True)
class Progress:
    """Reported every so often during a run: ``done`` of ``total`` steps, trades so far."""

    done: int
    total: int
    trades: int


@dataclass(frozen=True)
class BacktestResult:
    """A finished run: its trades, the equity and drawdown series, and the metrics.

    ``metrics`` keys (None where undefined, never NaN or inf): total_return, sharpe_ratio,
    sortino_ratio, max_drawdown, max_drawdown_from_initial, win_rate, profit_factor, average_win,
    average_loss, total_cost_bps, average_cost_bps, turnover, trade_count, round_trips,
    periods_per_year, skipped (decisions that could not trade: no route, balance short),
    total_cost_usd (see ``backtesting.metrics.compute``)."""

    trades: tuple[SimTrade, ...]
    equity: tuple[tuple[float, float], ...]  # (t, value_usd), at most ~2,000 points (downsampled)
    drawdown: tuple[tuple[float, float], ...]  # (t, fraction below the running peak, ≤ 0)
    metrics: Mapping[str, float | int | None]
    steps: int
    cancelled: bool = False
    skipped: int = 0  # decisions that could not trade (no route, insufficient balance)
