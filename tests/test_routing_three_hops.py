"""Three-hop routes against the reference flow solver: the split is optimal, the bound is a true bound.

``tests.reference_solver.reference_flow_optimum`` solves the true problem over every path of up to
three hops, a pool shared by several paths being one variable (written from the venues' raw
parameters, solved by SLSQP): our certificate must bound it whatever grouping the router chose,
and where the router's paths share no pool (no ``bound_note``) the route must reach it.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import otc_engine
from amm.pools import Pool, default_pools
from routing_engine import Market, RouterConfig, find_route
from routing_engine.curves import CPCurve, SeriesCurve, Stage
from routing_engine.paths import route_paths
from tests.reference_solver import NOW, PRICES, is_acyclic, random_three_hop_market, reference_flow_optimum
from tests.test_router import EXACT, assert_route_is_sound

PAIRS = (("RAY", "JUP"), ("JUP", "RAY"), ("SOL", "JUP"), ("RAY", "USDC"), ("USDC", "RAY"), ("USDT", "JUP"))


@pytest.fixture(scope="module")
def default_market() -> Market:
    return Market(default_pools(PRICES), otc_engine.default_desks(PRICES, NOW), PRICES, NOW)


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    pair=st.sampled_from(PAIRS),
    usd=st.sampled_from((50, 5_000, 100_000, 1_000_000)),
)
def test_three_hop_routes_reach_the_true_optimum_and_the_bound_holds(
    seed: int, pair: tuple[str, str], usd: int
) -> None:
    market = random_three_hop_market(random.Random(seed))
    token_in, token_out = pair
    assume(is_acyclic(market, token_in, token_out))  # the flow reference needs one direction per pair
    amount = int(Decimal(usd) / PRICES[token_in] * 10 ** (9 if token_in == "SOL" else 6))
    result = find_route(market, token_in, token_out, amount, config=EXACT)
    assert_route_is_sound(result, market)
    reference = reference_flow_optimum(market, token_in, token_out, amount)
    route = result.route
    assert route.upper_bound_out is not None
    # The certificate is a true upper bound on every split over every path of up to three hops.
    assert reference <= route.upper_bound_out * (1 + 1e-9), (reference, route.upper_bound_out)
    if route.bound_note is None:
        # No path was left out for sharing a pool: the route reaches the optimum (within 0.01 bps).
        assert route.amount_out >= reference * (1 - 1e-6), (route.amount_out, reference)


@pytest.mark.parametrize(("token_in", "token_out"), [("RAY", "JUP"), ("BONK", "JUP"), ("SOL", "JUP")])
@pytest.mark.parametrize("usd", [100, 20_000, 500_000])
def test_default_three_hop_pairs_match_the_flow_reference(
    default_market: Market, token_in: str, token_out: str, usd: int
) -> None:
    decimals = {"RAY": 6, "BONK": 5, "SOL": 9}[token_in]
    amount = int(Decimal(usd) / PRICES[token_in] * 10**decimals)
    result = find_route(default_market, token_in, token_out, amount, config=EXACT)
    assert_route_is_sound(result, default_market)
    reference = reference_flow_optimum(default_market, token_in, token_out, amount)
    assert reference <= result.route.upper_bound_out * (1 + 1e-9)  # type: ignore[operator]
    assert result.route.amount_out >= reference * (1 - 1e-6)
    assert result.route.bound_note is None


def test_paths_that_share_a_pool_are_grouped_by_their_last_intermediate(default_market: Market) -> None:
    # SOL→USDC→JUP and SOL→USDT→USDC→JUP share Orca's JUP/USDC pool: grouped under their first
    # intermediate they would be two branches on one pool; under their last (USDC) they are one.
    search = route_paths(default_market, "SOL", "JUP", 10**9)
    assert search.by_last and not search.shared
    (usdc,) = search.paths
    assert usdc.via == "USDC" and [p.via for p in usdc.before] == ["USDT"]
    # RAY→JUP has one path family only: grouped under its first intermediate, nothing shared.
    search = route_paths(default_market, "RAY", "JUP", 10**9)
    assert not search.by_last and not search.shared
    assert [(p.via, [o.via for o in p.onward]) for p in search.paths] == [("SOL", ["USDC"])]


def test_a_shared_pool_path_relaxes_the_bound_and_says_so() -> None:
    # SOL→USDT→USDC, SOL→JUP→USDC and SOL→USDT→JUP→USDC: grouped by first intermediate, the
    # three-hop path shares JUP/USDC with the JUP branch; by last, SOL/USDT with the USDT branch.
    # Either way one path is left out of the route, and the bound (relaxed) must still cover it.
    def pool(pool_id: str, a: str, b: str, usd: int) -> Pool:
        units = {"SOL": 10**9, "USDT": 10**6, "USDC": 10**6, "JUP": 10**6}
        return Pool(
            pool_id, "Orca", a, b, int(usd / PRICES[a] * units[a]), int(usd / PRICES[b] * units[b]), 30
        )

    pools = (
        pool("sol-usdt", "SOL", "USDT", 2_000_000),
        pool("usdt-usdc", "USDT", "USDC", 5_000_000),
        pool("sol-jup", "SOL", "JUP", 1_000_000),
        pool("jup-usdc", "JUP", "USDC", 1_000_000),
        pool("usdt-jup", "USDT", "JUP", 3_000_000),
    )
    market = Market(pools, (), PRICES, NOW)
    amount = 2_000 * 10**9  # 300,000 USD of SOL: deep into every pool
    search = route_paths(market, "SOL", "USDC", amount)
    assert search.shared
    result = find_route(market, "SOL", "USDC", amount, config=EXACT)
    assert_route_is_sound(result, market)
    assert result.route.bound_note is not None and "relaxed" in result.route.bound_note
    reference = reference_flow_optimum(market, "SOL", "USDC", amount, both_ways=True)
    assert result.route.upper_bound_out is not None
    assert reference <= result.route.upper_bound_out * (1 + 1e-9)
    # Every pool is traded once: the legs never put a pool in two places.
    assert len({leg.venue_id for leg in result.route.legs}) == len(result.route.legs)


def test_max_hops_two_leaves_three_hop_pairs_without_a_route(default_market: Market) -> None:
    from errors import NoRouteError

    with pytest.raises(NoRouteError, match="1000 RAY"):
        find_route(default_market, "RAY", "JUP", 1_000 * 10**6, config=RouterConfig(max_hops=2))


def test_a_series_bound_term_is_a_true_bound_at_any_inner_price() -> None:
    # S₂(s) + s·S₁(λ/s) ≥ max_x f₂(f₁(x)) − λx for every s, with equality at the inner root.
    f1, f2 = CPCurve(1e12, 1.5e11, 0.9975), CPCurve(1.5e11, 1.9e11, 0.997)
    first, second = Stage([f1]), Stage([f2])
    series = SeriesCurve(first, second)
    lam = series.marginal0 * 0.97
    # The true surplus, by ternary search on the concave f₂(f₁(x)) − λx.
    lo, hi = 0.0, 1e12
    for _ in range(300):
        a, b = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        if f2.value(f1.value(a)) - lam * a < f2.value(f1.value(b)) - lam * b:
            lo = a
        else:
            hi = b
    true = f2.value(f1.value(lo)) - lam * lo
    assert true > 0
    assert true * (1 - 1e-9) <= series.surplus_at(lam) <= true * (1 + 1e-9)
    t_root = series.inner_price(lam)
    for factor in (0.5, 0.9, 0.99, 1.01, 1.1, 2.0):
        t = t_root * factor
        s = lam / t
        assert second.surplus_at(s) + s * first.surplus_at(t) >= true * (1 - 1e-12)
