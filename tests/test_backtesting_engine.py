"""backtesting.engine: replays through the live router and settlement, deterministically; a split
costs less than any single venue; a strategy pays for its own impact; every plan kind trades as
documented; the series are bounded and the metrics JSON-safe."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import otc_engine
from amm.pools import Pool
from backtesting.engine import MAX_POINTS, compare, run
from backtesting.model import Frame, Plan, PlanKind, Progress, SyntheticConfig
from backtesting.synthetic import generate
from errors import ValidationError
from routing_engine import Market, find_route

START = 1_700_000_000.0
DAY = 86_400
USDC = 10**6
SOL = 10**9
SINGLE_VENUES = ("VENUE:raydium", "VENUE:orca", "VENUE:meteora", "VENUE:otc")


@functools.cache
def market_frames(seed: int, days: float = 2, step_s: int = 60) -> tuple[Frame, ...]:
    steps = int(days * DAY / step_s)
    return tuple(generate(SyntheticConfig(start=START, steps=steps, step_s=step_s, seed=seed)))


def dca(
    amount_usdc: int,
    *,
    every_s: int = 3_600,
    days: float = 2,
    strategy: str = "OPTIMAL_SPLIT",
    cash: int = 10**8,
) -> Plan:
    return Plan(
        PlanKind.DCA,
        {"token_in": "USDC", "token_out": "SOL", "amount_in": amount_usdc * USDC, "every_s": every_s},
        {"USDC": cash * USDC},
        START,
        START + days * DAY,
        strategy,
    )


def test_the_same_plan_on_the_same_frames_gives_the_same_result() -> None:
    frames = market_frames(1)
    assert run(dca(30_000), frames) == run(dca(30_000), iter(frames))


def test_a_trade_pays_exactly_what_the_live_router_quotes_on_that_market() -> None:
    frame = market_frames(2)[0]
    result = run(dca(30_000, days=0), [frame])
    (trade,) = result.trades
    desks = tuple(
        replace(d, inventory_base=s.inventory_base, inventory_quote=s.inventory_quote)
        for d, s in zip(otc_engine.default_desks(frame.prices, frame.t), frame.desks, strict=True)
    )
    pools = tuple(
        Pool(p.pool_id, p.venue, p.token_a, p.token_b, p.reserve_a, p.reserve_b, p.fee_bps)
        for p in frame.pools
    )
    live = find_route(
        Market(pools, desks, frame.prices, frame.t), "USDC", "SOL", 30_000 * USDC, "OPTIMAL_SPLIT", 100
    )
    assert trade.amount_out == live.route.amount_out
    assert sorted((leg["venueId"], leg["amountIn"]) for leg in trade.legs) == sorted(
        (leg.venue_id, leg.amount_in) for leg in live.route.legs
    )
    assert trade.balances == {"USDC": (10**8 - 30_000) * USDC, "SOL": trade.amount_out}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("clip", [20_000, 50_000])
def test_optimal_split_costs_less_than_every_single_venue(seed: int, clip: int) -> None:
    results = compare(dca(clip), lambda: market_frames(seed), ("OPTIMAL_SPLIT", *SINGLE_VENUES))
    split = results["OPTIMAL_SPLIT"].metrics
    assert split["trade_count"] == 48 and split["skipped"] == 0
    for venue in SINGLE_VENUES:
        single = results[venue].metrics
        assert single["trade_count"] == 48, venue
        assert split["total_cost_usd"] < single["total_cost_usd"], venue  # type: ignore[operator]


def test_a_single_venue_strategy_trades_only_on_that_venue() -> None:
    for venue, name in (("VENUE:orca", "Orca"), ("VENUE:otc", "OTC Desk")):
        result = run(dca(30_000, days=0.5, strategy=venue), market_frames(1))
        assert result.trades
        assert all(leg["venue"].startswith(name) for t in result.trades for leg in t.legs)


def test_a_big_dca_costs_more_bps_than_a_small_one_on_the_same_data() -> None:
    frames = market_frames(1)
    small = run(dca(2_000), frames).metrics["average_cost_bps"]
    big = run(dca(400_000), frames).metrics["average_cost_bps"]
    assert small is not None and big is not None and big > small + 10


def test_a_strategy_pays_for_its_own_impact_when_it_trades_faster_than_arbitrage_relaxes() -> None:
    frames = market_frames(1, days=0.25)
    hourly = run(dca(100_000, every_s=3_600, days=0.25, strategy="VENUE:raydium"), frames).metrics
    minutely = run(dca(100_000, every_s=60, days=0.25, strategy="VENUE:raydium"), frames).metrics
    # same clip, same venue: back to back, each trade starts where the last one left the pool
    assert minutely["average_cost_bps"] > hourly["average_cost_bps"] + 10  # type: ignore[operator]


def test_relaxation_hands_a_moved_pool_back_to_the_recorded_one() -> None:
    frames = market_frames(1, days=0.25)
    # with no relaxation the impact stays, so the same minutely plan costs still more
    relaxed = run(dca(100_000, every_s=60, days=0.25, strategy="VENUE:raydium"), frames).metrics
    stuck = run(
        dca(100_000, every_s=60, days=0.25, strategy="VENUE:raydium"), frames, relax_fraction=0.0
    ).metrics
    assert stuck["average_cost_bps"] > relaxed["average_cost_bps"]  # type: ignore[operator]


def test_a_trade_the_balance_cannot_pay_is_skipped_and_counted() -> None:
    result = run(dca(30_000, cash=50_000), market_frames(1))
    assert len(result.trades) == 1
    assert result.skipped == result.metrics["skipped"] == 47


def test_a_trade_that_cannot_route_is_skipped_and_counted() -> None:
    plan = replace(dca(30_000), strategy="VENUE:nowhere")
    result = run(plan, market_frames(1))
    assert not result.trades and result.skipped == 48
    assert result.metrics["trade_count"] == 0 and result.metrics["average_cost_bps"] is None
    json.dumps(result.metrics, allow_nan=False)


def test_equity_is_the_portfolio_at_reference_prices_and_stays_bounded() -> None:
    frames = market_frames(3, days=7)
    result = run(dca(10_000, days=7), frames)
    assert result.steps == len(frames)
    assert len(result.equity) <= MAX_POINTS + 2 and len(result.drawdown) == len(result.equity)
    assert result.equity[0] == (START, pytest.approx(10**8))
    assert result.equity[-1][0] == frames[-1].t
    last = frames[-1]
    balances = result.trades[-1].balances
    expected = balances["USDC"] / USDC + balances["SOL"] / SOL * float(last.prices["SOL"])
    assert result.equity[-1][1] == pytest.approx(expected)
    # the deepest drawdown point is kept, and matches the metric computed at full resolution
    assert min(d for _, d in result.drawdown) == pytest.approx(result.metrics["max_drawdown"])
    assert result.metrics["periods_per_year"] == 525_600
    json.dumps(result.metrics, allow_nan=False)


def test_cost_is_measured_against_the_reference_mid() -> None:
    trade = run(dca(30_000, days=0), market_frames(1)[:1]).trades[0]
    assert trade.reference_price == Decimal(1) / market_frames(1)[0].prices["SOL"]
    expected = (trade.reference_price - trade.execution_price) / trade.reference_price * 10_000
    assert trade.cost_bps == expected.quantize(Decimal("0.0001"))
    assert 0 < trade.cost_bps < 60


def test_progress_is_reported_and_a_stop_request_cancels_the_run() -> None:
    frames = market_frames(1)
    seen: list[Progress] = []
    result = run(dca(30_000), frames, progress=seen.append, progress_every=500)
    assert [p.done for p in seen] == [500, 1000, 1500, 2000, 2500, len(frames)]
    assert all(p.total == len(frames) for p in seen)
    assert seen[-1].trades == len(result.trades)
    stopped = run(dca(30_000), iter(frames), should_stop=lambda: True, progress_every=100)
    assert stopped.cancelled and stopped.steps == 100
    assert len(stopped.trades) == 2  # t = 0 and t = 3,600 s (step 60)


def test_frames_outside_the_plans_range_are_ignored() -> None:
    frames = market_frames(1)
    plan = replace(dca(30_000), start=START + DAY / 2, end=START + DAY)
    result = run(plan, frames)
    assert result.steps == DAY // 2 // 60 + 1
    assert [t.t for t in result.trades][:2] == [START + DAY / 2, START + DAY / 2 + 3_600]


def plan(kind: PlanKind, params: dict[str, Any], initial: dict[str, int], days: float = 2) -> Plan:
    return Plan(kind, params, initial, START, START + days * DAY)


def test_rebalance_keeps_the_weight_within_its_band() -> None:
    frames = market_frames(2, days=7)
    p = plan(
        PlanKind.REBALANCE,
        {
            "token_a": "SOL",
            "token_b": "USDC",
            "target_weight": Decimal("0.5"),
            "band": Decimal("0.02"),
            "check_every_s": 3_600,
        },
        {"SOL": 1_000 * SOL, "USDC": 50_000 * USDC},
        days=7,
    )
    result = run(p, frames)
    assert result.trades  # it starts at 75 % SOL
    first = result.trades[0]
    assert (first.token_in, first.token_out) == ("SOL", "USDC")
    for trade in result.trades:
        frame = next(f for f in frames if f.t == trade.t)
        sol = trade.balances["SOL"] / SOL * float(frame.prices["SOL"])
        usdc = trade.balances["USDC"] / USDC
        assert abs(sol / (sol + usdc) - 0.5) < 0.01


def test_mean_reversion_buys_below_the_average_and_sells_above_closing_round_trips() -> None:
    frames = market_frames(3, days=7)
    p = plan(
        PlanKind.MEAN_REVERSION,
        {
            "token": "SOL",
            "quote_token": "USDC",
            "window_s": 6 * 3_600,
            "threshold": Decimal("0.01"),
            "amount_in": 10_000 * USDC,
        },
        {"USDC": 100_000 * USDC},
        days=7,
    )
    result = run(p, frames)
    assert len(result.trades) >= 2
    sides = [(t.token_in, t.token_out) for t in result.trades]
    assert sides[0] == ("USDC", "SOL")
    assert all(a != b for a, b in itertools.pairwise(sides))  # buy, sell, buy, ...
    assert result.metrics["round_trips"] == len(sides) // 2
    assert result.metrics["win_rate"] is not None


def test_a_limit_ladder_fills_a_rung_only_at_its_price_or_better() -> None:
    frames = market_frames(1, days=7)
    p0 = frames[0].prices["SOL"]
    step = Decimal("0.01")
    p = plan(
        PlanKind.LIMIT_LADDER,
        {"token": "SOL", "quote_token": "USDC", "rungs": 5, "step": step, "amount_in": 5_000 * USDC},
        {"USDC": 100_000 * USDC, "SOL": 200 * SOL},
        days=7,
    )
    result = run(p, frames)
    assert result.trades
    for trade in result.trades:
        if trade.token_in == "USDC":  # a buy: at most its rung's price in USDC per SOL
            rungs = [p0 * (1 - i * step) for i in range(1, 6)]
            assert any(1 / trade.execution_price <= r for r in rungs)
        else:
            rungs = [p0 * (1 + i * step) for i in range(1, 6)]
            assert any(trade.execution_price >= r for r in rungs)
    assert len(result.trades) <= 10


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "CHEAPEST"}, "strategy"),
        ({"end": START - 1}, "end"),
        (
            {"params": {"token_in": "USDC", "token_out": "SOL", "amount_in": 0, "every_s": 60}},
            "params.amount_in",
        ),
        (
            {"params": {"token_in": "USDC", "token_out": "XYZ", "amount_in": 1, "every_s": 60}},
            "params.token_out",
        ),
        ({"params": {"token_in": "USDC", "token_out": "SOL", "amount_in": 1}}, "params.every_s"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        run(replace(dca(1), **change), market_frames(1)[:2])
    assert caught.value.field == field


def _no_frames() -> Sequence[Frame]:
    return ()


def test_a_run_without_frames_gives_nulls() -> None:
    result = run(dca(1), _no_frames())
    assert result.steps == 0 and not result.trades and result.equity == ()
    json.dumps(result.metrics, allow_nan=False)


def test_ratios_may_be_strings_or_floats_and_out_of_range_ones_are_refused() -> None:
    params = {
        "token_a": "SOL",
        "token_b": "USDC",
        "target_weight": 0.5,
        "band": "0.02",
        "check_every_s": 3_600,
    }
    initial = {"SOL": 1_000 * SOL, "USDC": 50_000 * USDC}
    assert run(plan(PlanKind.REBALANCE, params, initial, days=0.5), market_frames(1)).trades
    with pytest.raises(ValidationError) as caught:
        run(plan(PlanKind.REBALANCE, params | {"target_weight": "1.5"}, initial), market_frames(1)[:2])
    assert caught.value.field == "params.target_weight"


def test_frames_missing_a_price_skip_what_they_cannot_value_and_drop_desks_they_cannot_price() -> None:
    frames = market_frames(1)[:120]
    no_usdt = [replace(f, prices={k: v for k, v in f.prices.items() if k != "USDT"}) for f in frames]
    result = run(dca(30_000, days=0.1), no_usdt)
    assert len(result.trades) == 2 and result.skipped == 0  # t = 0 and 3,600 s in 120 frames
    assert not any(leg["venueId"] == "otc-b-sol-usdt" for t in result.trades for leg in t.legs)
    no_sol = [replace(f, prices={k: v for k, v in f.prices.items() if k != "SOL"}) for f in frames]
    skipped = run(dca(30_000, days=0.1), no_sol)
    assert not skipped.trades and skipped.skipped == 2


def test_the_live_apps_router_settings_are_honoured() -> None:
    from routing_engine import RouterConfig

    frames = market_frames(1)[:61]
    direct_only = run(dca(30_000, days=0.05), frames, router_config=RouterConfig(two_hop=False, max_hops=1))
    assert direct_only.trades and all(
        leg["hop"] == 0 and leg["tokenIn"] == "USDC" for t in direct_only.trades for leg in t.legs
    )
    default = run(dca(30_000, days=0.05), frames)
    assert any(leg["hop"] == 1 for t in default.trades for leg in t.legs)  # via USDT by default


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(1, 3),
    clip=st.integers(1, 2_000_000),
    every_s=st.sampled_from([60, 600, 3_600]),
    strategy=st.sampled_from(["OPTIMAL_SPLIT", "BEST_PRICE", "LOWEST_SLIPPAGE", "VENUE:orca", "VENUE:otc"]),
)
def test_every_replay_conserves_the_balances_and_stays_json_safe(
    seed: int, clip: int, every_s: int, strategy: str
) -> None:
    frames = market_frames(seed)[:240]
    result = run(dca(clip, every_s=every_s, days=1, strategy=strategy, cash=5_000_000), frames)
    spent = sum(t.amount_in for t in result.trades)
    bought = sum(t.amount_out for t in result.trades)
    final = result.trades[-1].balances if result.trades else {"USDC": 5_000_000 * USDC}
    assert final["USDC"] == 5_000_000 * USDC - spent and final.get("SOL", 0) == bought
    assert all(t.amount_out > 0 and t.cost_bps > -100 for t in result.trades)
    assert len(result.trades) + result.skipped == -(-240 * 60 // every_s)
    json.dumps(result.metrics, allow_nan=False)
