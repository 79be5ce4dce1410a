"""routing_engine.arbitrage: sizes against independent optimisers, planted and fair markets, pruning.

The optimisers here are written from the pools' and desks' raw parameters (the floor formula of
a constant-product pool, ``otc_engine.quote``), not from routing_engine: a brute force over every
integer input on small pools, and a zooming grid search over a desk's fillable range.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import otc_engine
from amm.pools import Pool, default_pools
from routing_engine import ArbitrageLeg, Market, Opportunity, find_opportunities
from routing_engine.arbitrage import search_opportunities
from tests.reference_solver import NOW, PRICES
from tokens import get_token

BPS = 10_000
# The exact profit is a floor at every hop, so its integer optimum sits a few units from the
# continuous one; ours must be within this many base units of the brute force's best.
TOLERANCE = 3


def cp_out(pool: Pool, token_in: str, amount: int) -> int:
    """Uniswap v2's floor formula, written out here (not amm's)."""
    if token_in == pool.token_a:
        r_in, r_out = pool.reserve_a, pool.reserve_b
    else:
        r_in, r_out = pool.reserve_b, pool.reserve_a
    a = amount * (BPS - pool.fee_bps)
    return a * r_out // (r_in * BPS + a)


def loop_profit(pools: Sequence[Pool], tokens: Sequence[str], x: int) -> int:
    """Profit of trading x of tokens[0] round the pools (pool i sells tokens[i])."""
    amount = x
    for pool, token in zip(pools, tokens, strict=False):
        amount = cp_out(pool, token, amount)
    return amount - x


def floor_tolerance(pools: Sequence[Pool], tokens: Sequence[str]) -> int:
    """How far the floors can move the integer optimum, in start-token units: each hop's floor
    loses under one unit of its output, worth 1/(product of the marginal prices so far) start units."""
    tolerance, rate = 1.0, 1.0
    for pool, token in zip(pools, tokens, strict=True):
        r_in, r_out = (
            (pool.reserve_a, pool.reserve_b) if token == pool.token_a else (pool.reserve_b, pool.reserve_a)
        )
        rate *= r_out / r_in
        tolerance += 1 / rate
    return max(TOLERANCE, math.ceil(2 * tolerance))


def brute_force(profit: Callable[[int], int | None], hi: int) -> tuple[int, int]:
    """The best integer input in [1, hi] by trying every one."""
    best = (0, 0)
    for x in range(1, hi + 1):
        p = profit(x)
        if p is not None and p > best[1]:
            best = (x, p)
    return best


def execute(market: Market, legs: Sequence[ArbitrageLeg]) -> int:
    """Execute the legs one after another on the venues (pools swap, desks fill): the final output."""
    pools = {p.pool_id: p for p in market.pools}
    desks = {d.desk_id: d for d in market.desks}
    amount = legs[0].amount_in
    for leg in legs:
        assert leg.amount_in == amount
        if leg.venue_id in pools:
            pools[leg.venue_id], amount = pools[leg.venue_id].swap(leg.token_in, amount)
        else:
            desk = desks[leg.venue_id]
            mid = market.mid_price(desk.base, desk.quote)
            assert mid is not None
            q = otc_engine.quote(desk, leg.token_in, leg.token_out, amount, mid, market.now)
            assert q.available, q.message
            amount = q.amount_out
            desks[leg.venue_id] = otc_engine.fill(desk, leg.token_in, leg.amount_in, amount, market.now)
        assert leg.amount_out == amount
    return amount


def check_reported(market: Market, o: Opportunity) -> None:
    """What an opportunity says holds on the venues' exact maths."""
    assert o.profit > 0 and o.profit_usd > 0 and o.profit_bps > 0
    assert o.amount_out == execute(market, o.legs) == o.amount_in + o.profit
    assert o.tokens[0] == o.tokens[-1] == o.start_token
    assert [leg.hop for leg in o.legs] == list(range(1, len(o.legs) + 1))
    assert o.kind == ("cross_venue" if len(o.legs) == 2 else "cycle")
    unit = get_token(o.start_token).unit
    assert o.profit_usd == Decimal(o.profit) / unit * market.usd_prices[o.start_token]


def triangle(
    sol: int, usdc: int, usdc2: int, usdt: int, usdt2: int, sol2: int, fees: Sequence[int]
) -> Market:
    pools = (
        Pool("p-sol-usdc", "Raydium", "SOL", "USDC", sol, usdc, fees[0]),
        Pool("p-usdc-usdt", "Orca", "USDC", "USDT", usdc2, usdt, fees[1]),
        Pool("p-usdt-sol", "Meteora", "USDT", "SOL", usdt2, sol2, fees[2]),
    )
    return Market(pools, (), PRICES, NOW)


def test_a_planted_triangle_is_found_with_the_brute_forces_profit() -> None:
    # SOL sells for 160 USDC on one pool, USDC/USDT is at par and USDT buys SOL at 150: 6% round trip.
    market = triangle(10_000, 1_600_000, 2_000_000, 2_000_000, 1_500_000, 10_000, (25, 5, 30))
    found = find_opportunities(market)
    assert len(found) == 1
    o = found[0]
    assert o.kind == "cycle"
    check_reported(market, o)
    # The same loop from each start token, brute-forced over every input.
    pools = {leg.venue_id: p for p in market.pools for leg in o.legs if leg.venue_id == p.pool_id}
    ordered = [pools[leg.venue_id] for leg in o.legs]
    tokens = [leg.token_in for leg in o.legs]
    _, best = brute_force(partial(loop_profit, ordered, tokens), 200_000)
    assert best > 0
    assert o.profit >= best - TOLERANCE
    assert o.profit == loop_profit(ordered, tokens, o.amount_in)


def test_a_fairly_priced_market_has_no_opportunity() -> None:
    market = Market(default_pools(PRICES), otc_engine.default_desks(PRICES, NOW), PRICES, NOW)
    search = search_opportunities(market)
    assert search.opportunities == ()
    assert search.sized == 0  # every loop pays fees at zero size: pruned before sizing


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(1_000, 8_000), min_size=6, max_size=6),
    st.lists(st.sampled_from((0, 1, 5, 25, 30, 100)), min_size=3, max_size=3),
)
def test_random_triangles_match_a_brute_force_and_never_report_a_loss(
    reserves: list[int], fees: list[int]
) -> None:
    market = triangle(*reserves, fees=fees)
    found = find_opportunities(market, limit=1_000)
    for o in found:
        check_reported(market, o)
    # Every rotation and orientation of the triangle, brute-forced: ours reaches each one's best.
    pools = market.pools
    orientations = (
        ([pools[0], pools[1], pools[2]], ["SOL", "USDC", "USDT"]),
        ([pools[2], pools[1], pools[0]], ["SOL", "USDT", "USDC"]),
    )
    for ordered, tokens in orientations:
        ours = next((o for o in found if _same_direction(o, ordered, tokens)), None)
        for r in range(3):
            rot_pools, rot_tokens = ordered[r:] + ordered[:r], tokens[r:] + tokens[:r]
            last, token = rot_pools[-1], rot_tokens[-1]
            # A profit needs x below what the loop can pay: the last pool's reserve of its output.
            hi = last.reserve_b if token == last.token_a else last.reserve_a
            _, best = brute_force(partial(loop_profit, rot_pools, rot_tokens), hi)
            tolerance = floor_tolerance(rot_pools, rot_tokens)
            if best > tolerance:
                assert ours is not None, f"missed {rot_tokens} with profit {best}"
            if ours is not None and ours.start_token == rot_tokens[0]:
                assert ours.profit >= best - tolerance


def _same_direction(o: Opportunity, ordered: Sequence[Pool], tokens: Sequence[str]) -> bool:
    pairs = {(p.pool_id, t) for p, t in zip(ordered, tokens, strict=True)}
    return {(leg.venue_id, leg.token_in) for leg in o.legs} == pairs


def zoom_search(profit: Callable[[int], int | None], lo: int, hi: int) -> tuple[int, int]:
    """An independent optimiser over [lo, hi]: a 2,001-point grid, then zoom around the best point."""
    best = (lo, profit(lo) or -(2**100))
    while True:
        step = max(1, (hi - lo) // 2_000)
        for x in range(lo, hi + 1, step):
            p = profit(x)
            if p is not None and p > best[1]:
                best = (x, p)
        if step == 1:
            return best
        lo, hi = max(lo, best[0] - 2 * step), min(hi, best[0] + 2 * step)


@pytest.mark.parametrize(
    ("desk_index", "pool_price", "pool_sol"),
    [(0, 156, 50_000), (0, 143, 50_000), (1, 158, 20_000), (1, 147, 200_000), (0, 151, 1_000_000)],
)
def test_a_pool_against_a_desk_is_a_cross_venue_opportunity_sized_like_the_optimiser(
    desk_index: int, pool_price: int, pool_sol: int
) -> None:
    desk = otc_engine.default_desks(PRICES, NOW)[desk_index]  # SOL/USDC or SOL/USDT around 150
    # One pool pricing SOL off the desk's mid: buy SOL where it is cheap, sell it where it is dear.
    pool = Pool("p", "Raydium", "SOL", desk.quote, pool_sol * 10**9, pool_sol * pool_price * 10**6, 25)
    market = Market((pool,), (desk,), PRICES, NOW)
    found = find_opportunities(market)
    assert found, "the desk/pool spread was not found"
    o = found[0]
    assert o.kind == "cross_venue"
    assert {leg.venue_id for leg in o.legs} == {"p", desk.desk_id}
    check_reported(market, o)
    mid = market.mid_price(desk.base, desk.quote)
    assert mid is not None
    desk_leg = next(leg for leg in o.legs if leg.venue_id == desk.desk_id)
    params = otc_engine.curve(desk, desk_leg.token_in, desk_leg.token_out, mid, NOW)
    assert params is not None and params.min_in <= desk_leg.amount_in <= params.max_in

    def profit(x: int) -> int | None:
        amount = x
        for leg in o.legs:
            if leg.venue_id == "p":
                amount = cp_out(pool, leg.token_in, amount)
                continue
            q = otc_engine.quote(desk, leg.token_in, leg.token_out, amount, mid, NOW)
            if not q.available:
                return None
            amount = q.amount_out
        return amount - x

    if o.legs[0].venue_id == desk.desk_id:
        lo, hi = params.min_in, params.max_in
    else:  # the pool first: search every input the pool could take up to its reserve
        lo, hi = 1, pool.reserves(o.legs[0].token_in)[0]
    _, best = zoom_search(profit, lo, hi)
    assert best > 0 and o.profit >= best - TOLERANCE
    assert o.profit == profit(o.amount_in)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(PRICES)),
            st.sampled_from(sorted(PRICES)),
            st.integers(10_000, 50_000_000),
            st.sampled_from((1, 4, 5, 20, 25, 30, 100)),
        ).filter(lambda t: t[0] != t[1]),
        min_size=1,
        max_size=25,
    )
)
def test_pools_at_the_reference_prices_with_the_desks_offer_no_opportunity(
    specs: list[tuple[str, str, int, int]],
) -> None:
    pools = []
    for i, (a, b, depth_usd, fee) in enumerate(specs):
        reserve_a = int(Decimal(depth_usd) / PRICES[a] * get_token(a).unit)
        reserve_b = int(Decimal(depth_usd) / PRICES[b] * get_token(b).unit)
        pools.append(Pool(f"p{i}", "Raydium", a, b, reserve_a, reserve_b, fee))
    market = Market(tuple(pools), otc_engine.default_desks(PRICES, NOW), PRICES, NOW)
    assert find_opportunities(market) == ()


def random_market(rng: random.Random, n_pools: int, *, mispriced: float) -> Market:
    """Pools over the six tokens at the reference prices, a share of them moved by up to 8 %."""
    symbols = sorted(PRICES)
    pools = []
    for i in range(n_pools):
        a, b = rng.sample(symbols, 2)
        depth_usd = rng.choice((50_000, 500_000, 5_000_000))
        skew = 1 + rng.uniform(-0.08, 0.08) if rng.random() < mispriced else 1.0
        reserve_a = int(Decimal(depth_usd) / PRICES[a] * get_token(a).unit)
        reserve_b = int(Decimal(depth_usd * skew) / PRICES[b] * get_token(b).unit)
        pools.append(Pool(f"pool{i}", "Raydium", a, b, reserve_a, reserve_b, rng.choice((1, 5, 25, 30))))
    return Market(tuple(pools), otc_engine.default_desks(PRICES, NOW), PRICES, NOW)


@pytest.mark.parametrize("seed", range(4))
def test_pruning_by_marginal_prices_loses_no_opportunity(seed: int) -> None:
    market = random_market(random.Random(seed), 40, mispriced=0.3)
    pruned = search_opportunities(market, limit=10_000)
    naive = search_opportunities(market, limit=10_000, prune=False)
    assert pruned.opportunities == naive.opportunities
    assert pruned.sized < naive.sized
    for o in pruned.opportunities:
        check_reported(market, o)


def test_opportunities_are_ranked_by_usd_profit_and_filtered_by_minimum_and_limit() -> None:
    pools = list(default_pools(PRICES))
    pools[0] = replace(pools[0], reserve_b=pools[0].reserve_b * 160 // 150)  # Raydium SOL at 160
    market = Market(tuple(pools), otc_engine.default_desks(PRICES, NOW), PRICES, NOW)
    found = find_opportunities(market, limit=1_000)
    assert len(found) >= 5
    assert [o.profit_usd for o in found] == sorted((o.profit_usd for o in found), reverse=True)
    assert {o.kind for o in found} == {"cross_venue", "cycle"}
    assert any(leg.kind == "otc" for o in found for leg in o.legs)
    for o in found:
        check_reported(market, o)
    assert find_opportunities(market, limit=2) == found[:2]
    threshold = found[2].profit_usd
    assert find_opportunities(market, min_profit_usd=threshold, limit=1_000) == found[:3]
    assert find_opportunities(market, limit=0) == ()
