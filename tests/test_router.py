"""The router: OPTIMAL_SPLIT against an independent SLSQP solver, strategies, limits, errors."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import otc_engine
from amm.constant_product import amount_out_for_in
from amm.pools import Pool, default_pools
from errors import NoRouteError, SolrouteError, UnknownTokenError, ValidationError
from routing_engine import (
    AggregatorQuote,
    Market,
    RouterConfig,
    RouteResult,
    Strategy,
    VenueKind,
    VenueQuote,
    direct_venues,
    find_route,
    optimal_split,
)
from routing_engine.curves import CPCurve, SeriesCurve, virtual_cp_of_two_hops
from routing_engine.paths import two_hop_paths
from routing_engine.splitting import _build_branches, solve
from routing_engine.venues import AggregatorVenue, OtcVenue
from tests.reference_solver import NOW, PRICES, random_market, reference_optimum
from tokens import get_token

ONE_SOL = 10**9
GAP_TARGET_BPS = Decimal("0.01")


@pytest.fixture(scope="module")
def default_market() -> Market:
    """The default pools and desks at reference prices, with a Jupiter quote for 1,000 SOL."""
    return Market(
        default_pools(PRICES),
        otc_engine.default_desks(PRICES, NOW),
        PRICES,
        NOW,
        aggregator=AggregatorQuote(
            "SOL", "USDC", 1_000 * ONE_SOL, 149_500 * 10**6, Decimal("0.004"), ("Raydium", "Orca")
        ),
    )


# Every leg that adds anything kept (no minimum gain per leg): the split the certificate measures.
EXACT = RouterConfig(min_gain_bps_per_leg=Decimal(0))


def assert_route_is_sound(result: RouteResult, market: Market) -> None:
    """Legs conserve amounts exactly, respect every venue's limits, and the bound holds."""
    route = result.route
    first = [leg for leg in route.legs if leg.hop == 0]
    assert sum(leg.amount_in for leg in first) == result.amount_in
    # Every intermediate token a hop produces is spent exactly by the later hops (two or three hops).
    by_token: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for leg in route.legs:
        assert leg.amount_in > 0 and leg.amount_out > 0
        assert leg.path[leg.hop : leg.hop + 2] == (leg.token_in, leg.token_out), leg
        assert leg.path[0] == result.token_in and leg.path[-1] == result.token_out
        if leg.token_out != result.token_out:
            by_token[leg.token_out][0] += leg.amount_out
        if leg.hop > 0:
            by_token[leg.token_in][1] += leg.amount_in
        if leg.kind is VenueKind.OTC:
            desk = next(d for d in market.desks if d.desk_id == leg.venue_id)
            mid = market.mid_price(desk.base, desk.quote)
            assert mid is not None
            q = otc_engine.quote(desk, leg.token_in, leg.token_out, leg.amount_in, mid, market.now)
            assert q.available, q.message
            assert q.amount_out == leg.amount_out
        if leg.kind is VenueKind.AGGREGATOR:
            assert market.aggregator is not None
            assert leg.amount_in <= market.aggregator.in_amount
        if leg.kind is VenueKind.AMM:
            pool = next(p for p in market.pools if p.pool_id == leg.venue_id)
            r_in, r_out = pool.reserves(leg.token_in)
            assert leg.amount_out == amount_out_for_in(r_in, r_out, leg.amount_in, pool.fee_bps)
    for token, (paid, taken) in by_token.items():
        assert paid == taken, f"earlier hops paid {paid} {token} but later hops took {taken}"
    assert route.amount_out == sum(leg.amount_out for leg in route.legs if leg.token_out == result.token_out)
    assert route.upper_bound_out is not None and route.upper_bound_out >= route.amount_out
    assert route.min_amount_out == route.amount_out * (10_000 - result.slippage_bps) // 10_000


def _instances() -> list[tuple[int, int, float, bool]]:
    rng = random.Random(20261121)
    cases = []
    for seed in range(200):
        n = rng.randint(2, 50)
        share = 10 ** rng.uniform(-4, math.log10(0.2))  # 0.01% .. 20% of depth
        cases.append((seed, n, share, seed % 4 == 0))
    return cases


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "n_venues", "share", "two_hop"), _instances())
def test_optimal_split_matches_the_reference_solver(
    seed: int, n_venues: int, share: float, two_hop: bool
) -> None:
    market, depth = random_market(random.Random(seed), n_venues, two_hop=two_hop)
    amount = max(1, int(depth * share))
    result = find_route(market, "SOL", "USDC", amount, Strategy.OPTIMAL_SPLIT, 50, EXACT)
    reference = reference_optimum(market, "SOL", "USDC", amount, via=("USDT",) if two_hop else ())
    out = result.route.amount_out
    # Within 0.01 bps of the reference (or better: SLSQP is not always at the optimum) ...
    assert out >= reference * (1 - 1e-6), f"split {out} vs reference {reference:.0f}"
    # ... and the certificate is valid (the reference cannot beat the bound) and tight.
    assert result.route.upper_bound_out is not None
    assert reference <= result.route.upper_bound_out * (1 + 1e-9)
    assert result.route.optimality_gap_bps is not None and result.route.optimality_gap_bps <= GAP_TARGET_BPS
    assert_route_is_sound(result, market)
    best_price = find_route(market, "SOL", "USDC", amount, Strategy.BEST_PRICE, 50)
    assert out >= best_price.route.amount_out


@pytest.mark.parametrize(
    ("token_in", "token_out", "amount"),
    [
        ("SOL", "USDC", 1_000 * ONE_SOL),
        ("SOL", "USDC", 10 * ONE_SOL),
        ("USDC", "SOL", 150_000 * 10**6),
        ("SOL", "USDT", 2_000 * ONE_SOL),
        ("USDC", "USDT", 1_000_000 * 10**6),
        ("RAY", "USDC", 5_000 * 10**6),
        ("BONK", "USDC", 10**9 * 10**5),
        ("USDC", "BONK", 500 * 10**6),
        ("JUP", "SOL", 10_000 * 10**6),
    ],
)
def test_default_venues_route_within_the_gap_target(
    default_market: Market, token_in: str, token_out: str, amount: int
) -> None:
    market = (
        default_market
        if (token_in, token_out) == ("SOL", "USDC")
        else Market(default_market.pools, default_market.desks, PRICES, NOW)
    )
    result = find_route(market, token_in, token_out, amount, config=EXACT)
    assert result.route.optimality_gap_bps is not None
    assert result.route.optimality_gap_bps <= GAP_TARGET_BPS
    assert_route_is_sound(result, market)
    assert result.route.savings_vs_best_single_bps is not None
    assert result.route.savings_vs_best_single_bps >= 0


def test_ray_and_bonk_to_usdc_need_two_hops(default_market: Market) -> None:
    # RAY and BONK trade only against SOL: every path starts RAY→SOL (BONK→SOL), then reaches USDC
    # directly or through USDT (a three-hop path); with max_hops=2 only the two-hop paths remain.
    for token, amount in (("RAY", 1_000 * 10**6), ("BONK", 10**8 * 10**5)):
        result = find_route(default_market, token, "USDC", amount)
        assert {len(leg.path) for leg in result.route.legs} <= {3, 4}
        assert {leg.path[1] for leg in result.route.legs} == {"SOL"}
        assert all(len(q.path) in (3, 4) and q.path[1] == "SOL" for q in result.quotes)
        two_hops = find_route(default_market, token, "USDC", amount, config=RouterConfig(max_hops=2))
        assert {len(leg.path) for leg in two_hops.route.legs} == {3}
        assert all(len(q.path) == 3 for q in two_hops.quotes)
        assert result.route.amount_out >= two_hops.route.amount_out


def test_every_venue_is_quoted_side_by_side(default_market: Market) -> None:
    result = find_route(default_market, "SOL", "USDC", 1_000 * ONE_SOL)
    direct = {q.venue for q in result.quotes if len(q.path) == 2}
    assert direct == {"Raydium", "Orca", "Meteora", "OTC Desk A (SOL/USDC)", "Jupiter"}
    kinds = {q.kind for q in result.quotes}
    assert kinds == {VenueKind.AMM, VenueKind.OTC, VenueKind.AGGREGATOR}
    jupiter = next(q for q in result.quotes if q.kind is VenueKind.AGGREGATOR)
    assert jupiter.amount_out == 149_500 * 10**6  # the fitted curve passes through the quote itself
    assert jupiter.is_estimate


def test_strategies_pick_by_their_own_criterion(default_market: Market) -> None:
    amount = 1_000 * ONE_SOL
    results = {s: find_route(default_market, "SOL", "USDC", amount, s) for s in Strategy}
    quotes = [q for q in results[Strategy.BEST_PRICE].quotes if q.available]

    def chosen(strategy: Strategy) -> str:
        legs = results[strategy].route.legs
        return ">".join(leg.venue_id for leg in legs)

    assert chosen(Strategy.BEST_PRICE) == max(quotes, key=lambda q: q.amount_out).venue_id
    impacts = [q.price_impact_bps for q in quotes if q.price_impact_bps is not None]
    lowest = next(q for q in quotes if q.venue_id == chosen(Strategy.LOWEST_SLIPPAGE))
    assert lowest.price_impact_bps == min(impacts)
    deepest = next(q for q in quotes if q.venue_id == chosen(Strategy.HIGHEST_LIQUIDITY))
    assert deepest.depth_out == max(q.depth_out for q in quotes)
    fastest = results[Strategy.FASTEST_EXECUTION].route.legs
    assert [leg.kind for leg in fastest] == [VenueKind.AMM]  # AMM before aggregator before OTC
    assert results[Strategy.FASTEST_EXECUTION].route.expected_latency_ms == min(q.latency_ms for q in quotes)
    split = results[Strategy.OPTIMAL_SPLIT].route.amount_out
    assert all(split >= r.route.amount_out for r in results.values())
    assert split > results[Strategy.BEST_PRICE].route.amount_out


def test_fastest_prefers_the_aggregator_over_an_otc_desk() -> None:
    market = Market(
        (),
        otc_engine.default_desks(PRICES, NOW),
        PRICES,
        NOW,
        aggregator=AggregatorQuote("SOL", "USDC", 1_000 * ONE_SOL, 149_000 * 10**6, Decimal("0.01")),
    )
    result = find_route(market, "SOL", "USDC", 1_000 * ONE_SOL, Strategy.FASTEST_EXECUTION)
    assert [leg.kind for leg in result.route.legs] == [VenueKind.AGGREGATOR]


def test_offline_jupiter_is_reported_and_routing_goes_on(default_market: Market) -> None:
    market = Market(default_market.pools, default_market.desks, PRICES, NOW, aggregator_unavailable="offline")
    result = find_route(market, "SOL", "USDC", 100 * ONE_SOL)
    jupiter = next(q for q in result.quotes if q.venue == "Jupiter")
    assert (jupiter.available, jupiter.reason, jupiter.amount_out) == (False, "offline", 0)
    assert result.route.amount_out > 0
    assert all(leg.kind is not VenueKind.AGGREGATOR for leg in result.route.legs)


def test_unavailable_desk_never_breaks_a_quote(default_market: Market) -> None:
    # 10 SOL is below desk A's 100 SOL minimum; 6,000 SOL is above its 5,000 SOL maximum.
    for amount in (10 * ONE_SOL, 6_000 * ONE_SOL):
        result = find_route(default_market, "SOL", "USDC", amount)
        desk = next(q for q in result.quotes if q.venue_id == "otc-sol-usdc" or q.kind is VenueKind.OTC)
        assert not desk.available and desk.reason
        assert result.route.amount_out > 0


def test_dust_legs_are_dropped(default_market: Market) -> None:
    config = RouterConfig(min_leg_fraction=Decimal("0.01"))
    result = find_route(default_market, "SOL", "USDC", 1_000 * ONE_SOL, config=config)
    for leg in result.route.legs:
        if leg.hop == 0:
            assert leg.amount_in >= 10 * ONE_SOL
    assert_route_is_sound(result, default_market)


def test_price_impact_and_savings_are_against_the_reference_mid(default_market: Market) -> None:
    result = find_route(default_market, "SOL", "USDC", 1_000 * ONE_SOL)
    expected = Decimal(1_000 * 150 * 10**6)
    impact = (expected - result.route.amount_out) / expected * 10_000
    assert result.route.price_impact_bps == impact.quantize(Decimal("0.01"))
    assert result.reference_price == Decimal(150)
    assert result.best_single is not None
    savings = Decimal(result.route.amount_out - result.best_single.amount_out) / result.best_single.amount_out
    assert result.route.savings_vs_best_single_bps == (savings * 10_000).quantize(Decimal("0.01"))


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"token_in": "SOL", "token_out": "SOL"}, ValidationError, "tokenOut"),
        ({"amount_in": 0}, ValidationError, "amountIn"),
        ({"amount_in": -5}, ValidationError, "amountIn"),
        ({"slippage_bps": -1}, ValidationError, "slippageBps"),
        ({"slippage_bps": 5_001}, ValidationError, "slippageBps"),
        ({"strategy": "CHEAPEST"}, ValidationError, "routingStrategy"),
        ({"token_in": "DOGE"}, UnknownTokenError, None),
    ],
)
def test_bad_requests_name_the_field(
    default_market: Market, kwargs: dict[str, object], error: type, field: str | None
) -> None:
    args: dict[str, object] = {
        "token_in": "SOL",
        "token_out": "USDC",
        "amount_in": ONE_SOL,
        "strategy": "BEST_PRICE",
        "slippage_bps": 50,
    }
    args.update(kwargs)
    with pytest.raises(error) as info:
        find_route(default_market, **args)  # type: ignore[arg-type]
    assert getattr(info.value, "field", None) == field


def test_no_venue_for_the_pair_is_a_no_route_error(default_market: Market) -> None:
    empty = Market((), (), PRICES, NOW)
    with pytest.raises(NoRouteError):
        find_route(empty, "SOL", "USDC", ONE_SOL)


def test_strategy_names_are_case_insensitive(default_market: Market) -> None:
    assert (
        find_route(default_market, "SOL", "USDC", ONE_SOL, "best_price").route.strategy is Strategy.BEST_PRICE
    )


@given(
    r1=st.floats(1e3, 1e15),
    r2=st.floats(1e3, 1e15),
    r3=st.floats(1e3, 1e15),
    r4=st.floats(1e3, 1e15),
    f1=st.integers(0, 300),
    f2=st.integers(0, 300),
    share=st.floats(1e-6, 10.0),
)
def test_two_constant_product_hops_are_one_virtual_pool(
    r1: float, r2: float, r3: float, r4: float, f1: int, f2: int, share: float
) -> None:
    first = CPCurve(r1, r2, 1 - f1 / 10_000)
    second = CPCurve(r3, r4, 1 - f2 / 10_000)
    virtual = virtual_cp_of_two_hops(first, second)
    x = r1 * share
    assert math.isclose(virtual.value(x), second.value(first.value(x)), rel_tol=1e-9)


def test_optimal_split_alone_gives_the_same_legs_as_find_route(default_market: Market) -> None:
    amount = 1_000 * ONE_SOL
    plan = optimal_split(default_market, "SOL", "USDC", amount)
    route = find_route(default_market, "SOL", "USDC", amount).route
    assert plan.legs == route.legs
    assert (plan.amount_out, plan.upper_bound_out) == (route.amount_out, route.upper_bound_out)
    with pytest.raises(NoRouteError):
        optimal_split(Market((), (), PRICES, NOW), "SOL", "USDC", amount)


def test_desk_legs_at_the_edges_of_its_range_are_exact(default_market: Market) -> None:
    """Amounts at exactly the desk minimum and maximum price the same as otc_engine.quote."""
    venue = next(v for v in direct_venues(default_market, "SOL", "USDC") if v.kind is VenueKind.OTC)
    desk = default_market.desks[0]
    for amount in (venue.min_in, venue.min_in + 1, venue.max_in - 1, venue.max_in):
        q = otc_engine.quote(desk, "SOL", "USDC", amount, Decimal(150), NOW)
        assert q.available and venue.quote(amount) == q.amount_out
    assert venue.check(venue.min_in - 1) is not None
    assert venue.check(venue.max_in + 1) is not None


@st.composite
def markets(draw: st.DrawFn) -> tuple[Market, int]:
    """Small SOL→USDC markets: 1–6 pools of any depth and fee, maybe a USDT two-hop, desks, Jupiter."""
    pools = []
    for i in range(draw(st.integers(1, 6))):
        sol = draw(st.integers(10**6, 10**16))
        price = draw(st.decimals(Decimal("100"), Decimal("200"), places=2))
        usdc = max(1, int(sol * price / 1000))
        pools.append(
            Pool(f"p{i}", "Raydium", "SOL", "USDC", sol, usdc, draw(st.sampled_from((0, 1, 25, 30, 100))))
        )
    if draw(st.booleans()):  # a two-hop branch through USDT, with desk B possibly in its first stage
        for i in range(draw(st.integers(1, 3))):
            sol = draw(st.integers(10**6, 10**16))
            pools.append(Pool(f"h1-{i}", "Orca", "SOL", "USDT", sol, max(1, sol * 150 // 1000), 25))
        usd = draw(st.integers(10**6, 10**14))
        pools.append(Pool("h2", "Meteora", "USDT", "USDC", usd, usd, draw(st.sampled_from((1, 4)))))
    desks = otc_engine.default_desks(PRICES, NOW)[: draw(st.integers(0, 2))]
    aggregator = None
    if draw(st.booleans()):
        a = draw(st.integers(10**9, 10**14))
        impact = draw(st.decimals(Decimal("0"), Decimal("0.05"), places=4))
        aggregator = AggregatorQuote("SOL", "USDC", a, max(1, int(a * (1 - impact) * 149 // 1000)), impact)
    amount = draw(st.integers(1, 10**14))
    return Market(tuple(pools), desks, PRICES, NOW, aggregator=aggregator), amount


@settings(max_examples=150, deadline=None)
@given(case=markets())
def test_optimal_split_invariants_hold_on_any_market(case: tuple[Market, int]) -> None:
    market, amount = case
    try:
        result = find_route(market, "SOL", "USDC", amount)
    except NoRouteError:
        # Only dust can be unroutable here: every single venue must refuse it too.
        assert all(not q.available for q in find_route_quotes_or_empty(market, amount))
        return
    assert_route_is_sound(result, market)
    if result.best_single is not None:
        assert result.route.amount_out >= result.best_single.amount_out


def find_route_quotes_or_empty(market: Market, amount: int) -> tuple[VenueQuote, ...]:
    try:
        return find_route(market, "SOL", "USDC", amount, Strategy.BEST_PRICE).quotes
    except NoRouteError:
        return ()


TOKEN_SYMBOLS = ("SOL", "USDC", "USDT", "RAY", "JUP", "BONK")


@pytest.mark.parametrize("token_in", TOKEN_SYMBOLS)
@pytest.mark.parametrize("token_out", TOKEN_SYMBOLS)
def test_every_pair_and_size_routes_soundly_or_refuses_cleanly(
    default_market: Market, token_in: str, token_out: str
) -> None:
    market = Market(default_market.pools, default_market.desks, PRICES, NOW)
    unit = get_token(token_in).unit
    for human in (
        Decimal("0.000001"),
        Decimal("0.01"),
        Decimal(1),
        Decimal(1_000),
        Decimal(1_000_000),
        Decimal(10**9),
    ):
        amount = int(human * unit)
        if amount <= 0:
            continue
        for strategy in Strategy:
            try:
                result = find_route(market, token_in, token_out, amount, strategy)
            except SolrouteError as exc:
                assert token_in == token_out or isinstance(exc, NoRouteError), (human, strategy, exc)
                continue
            assert token_in != token_out
            assert_route_is_sound(result, market)


def test_the_solver_converges_where_a_deep_pool_switches_on_next_to_shallow_ones() -> None:
    """S(μ) is flat, then nearly vertical: plain regula falsi stalled here (found by sampling)."""
    pools = (
        Pool("deep", "Raydium", "SOL", "USDC", 531_722_989_171_286, 56_536_974_295_373, 30),
        Pool("tiny", "Raydium", "SOL", "USDC", 11_072_794, 1_555_634, 100),
        Pool("shallow", "Raydium", "SOL", "USDC", 8_782_752_745, 1_686_947_793, 1),
    )
    market = Market(pools, (), PRICES, NOW)
    amount = 12_412_825_441
    # The pools sit 29% below and 28% above the reference mid: outlier rejection off, this is
    # about the solver.
    config = RouterConfig(min_leg_usd=Decimal(0), outlier_bps=Decimal(0), min_gain_bps_per_leg=Decimal(0))
    result = find_route(market, "SOL", "USDC", amount, config=config)
    reference = reference_optimum(market, "SOL", "USDC", amount)
    assert result.route.amount_out >= reference * (1 - 1e-6)
    assert {leg.venue_id for leg in result.route.legs} >= {"deep", "shallow"}
    assert result.route.optimality_gap_bps is not None and result.route.optimality_gap_bps <= GAP_TARGET_BPS


def test_a_stage_of_dust_legs_is_consolidated_not_dropped() -> None:
    """A $1.6 two-hop branch split over three first-hop pools keeps one leg instead of vanishing."""
    pools = (
        Pool("direct", "Raydium", "SOL", "USDC", 113_206_673_721, 14_195_626_084, 100),
        Pool("h1-0", "Orca", "SOL", "USDT", 318_028_654_381, 47_704_298_157, 25),
        Pool("h1-1", "Orca", "SOL", "USDT", 532_309_346_813, 79_846_402_021, 25),
        Pool("h1-2", "Orca", "SOL", "USDT", 955_109_696_128, 143_266_454_419, 25),
        Pool("h2", "Meteora", "USDT", "USDC", 13_186_494, 13_186_494, 1),
    )
    market = Market(pools, (), PRICES, NOW)
    result = find_route(market, "SOL", "USDC", 2_648_333_834, config=EXACT)
    two_hop = [leg for leg in result.route.legs if len(leg.path) == 3]
    assert [leg.venue_id for leg in two_hop] == ["h1-2", "h2"]
    one_dollar_of_sol = math.ceil(ONE_SOL / 150)
    assert two_hop[0].amount_in >= one_dollar_of_sol  # the kept leg is no longer dust
    assert result.best_single is not None
    assert result.route.amount_out > result.best_single.amount_out
    assert_route_is_sound(result, market)


@given(
    quoted_in=st.integers(1, 10**16),
    quoted_out=st.integers(1, 10**16),
    impact=st.decimals(Decimal("0"), Decimal("0.6"), places=8),
    share=st.fractions(Fraction(0), Fraction(1)),
)
def test_the_jupiter_fit_pays_the_exact_floor_and_its_own_quote(
    quoted_in: int, quoted_out: int, impact: Decimal, share: Fraction
) -> None:
    """out(x) = floor(o·x / (a(1 − i) + i·x)) exactly (rounding for the venue); out(a) = o."""
    venue = AggregatorVenue(AggregatorQuote("SOL", "USDC", quoted_in, quoted_out, impact), 1_500)
    i = Fraction(min(max(impact, Decimal("1e-7")), Decimal("0.5")))  # the fit's documented clamp
    x = max(1, math.floor(quoted_in * share))
    assert venue.quote_unchecked(x) == math.floor(Fraction(quoted_out) * x / (quoted_in * (1 - i) + i * x))
    assert venue.quote_unchecked(quoted_in) == quoted_out


@pytest.mark.parametrize("amount_sol", [Decimal("0.05"), Decimal(10), Decimal(300), Decimal(5_000)])
def test_a_two_hop_branch_is_solved_at_its_inner_root(default_market: Market, amount_sol: Decimal) -> None:
    """Stage 1's output equals stage 2's input at t, to ~1e-13 in t, at λ around the optimum
    (SOL→USDT→USDC: a desk switches on inside stage 1, and pools bend φ at their own prices)."""
    paths = two_hop_paths(default_market, "SOL", "USDC")
    branches = _build_branches(direct_venues(default_market, "SOL", "USDC"), paths, frozenset(), frozenset())
    series = [b.curve for b in branches if isinstance(b.curve, SeriesCurve)]
    assert series
    amount = float(amount_sol * ONE_SOL)
    solution = solve([b.curve for b in branches], amount)
    lams = [solution.lam * (1 + k * 1e-4) for k in range(-20, 21)] + [solution.lam]
    for curve in series:
        for lam in lams:
            if lam >= curve.marginal0:
                continue
            t = curve.inner_price(lam)

            def phi(t: float, curve: SeriesCurve = curve, lam: float = lam) -> float:
                return curve.first.value_at(t) - curve.second.x_at(lam / t)

            # φ falls through zero at t: it is ≥ 0 just below t and ≤ 0 just above.
            assert phi(t * (1 - 1e-13)) >= 0.0 >= phi(t * (1 + 1e-13)), (lam, t)


def test_a_desks_depth_is_its_own_quote_at_its_largest_size(default_market: Market) -> None:
    """depth_out comes from the exact integer polynomial: it must equal otc_engine's own quote."""
    for token_in, token_out in [("SOL", "USDC"), ("USDC", "SOL"), ("SOL", "USDT"), ("USDT", "SOL")]:
        for venue in direct_venues(default_market, token_in, token_out):
            if not isinstance(venue, OtcVenue):
                continue
            q = otc_engine.quote(
                venue.desk, token_in, token_out, venue.max_in, venue.mid_price, default_market.now
            )
            assert q.available
            assert venue.depth_out() == q.amount_out


# --- fast paths agree with the plain forms they replace -----------------------------------------


def _apportion_reference(total: int, weights: list[float], caps: list[int | None]) -> list[int]:
    """Largest-remainder rounding written plainly (math.floor, one loop for capped and uncapped)."""
    from errors import InsufficientLiquidityError

    if len(weights) == 1 and weights[0] > 0.0 and total >= 0:
        if caps[0] is not None and total > caps[0]:
            raise InsufficientLiquidityError("over the cap")
        return [total]
    weight_sum = math.fsum(weights)
    shares = [w * total / weight_sum for w in weights]
    amounts = [
        max(0, math.floor(s) if c is None else min(math.floor(s), c))
        for s, c in zip(shares, caps, strict=True)
    ]
    leftover = total - sum(amounts)
    order = sorted(range(len(shares)), key=lambda i: shares[i] - amounts[i], reverse=True)
    for one_each in (True, False):
        for i in order:
            if leftover <= 0:
                break
            cap = caps[i]
            room = leftover if cap is None else cap - amounts[i]
            step = min(room, leftover, 1 if one_each else leftover)
            if step > 0 and weights[i] > 0.0:
                amounts[i] += step
                leftover -= step
    if leftover > 0:
        raise InsufficientLiquidityError("over the caps")
    while leftover < 0:
        i = max(range(len(amounts)), key=amounts.__getitem__)
        amounts[i] -= 1
        leftover += 1
    return amounts


@settings(max_examples=300, deadline=None)
@given(
    total=st.integers(0, 10**15),
    rows=st.lists(
        st.tuples(
            st.one_of(st.just(0.0), st.floats(1e-6, 1e13)),
            st.one_of(st.none(), st.integers(0, 10**14)),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_apportion_matches_plain_largest_remainder_rounding(
    total: int, rows: list[tuple[float, int | None]]
) -> None:
    from routing_engine.splitting import apportion

    weights = [w for w, _ in rows]
    caps = [c for _, c in rows]
    if math.fsum(weights) <= 0.0:
        return
    try:
        expected: list[int] | type[SolrouteError] = _apportion_reference(total, weights, caps)
    except SolrouteError as exc:
        expected = type(exc)
    if isinstance(expected, list):
        assert apportion(total, weights, caps) == expected
        assert sum(expected) == total
    else:
        with pytest.raises(expected):
            apportion(total, weights, caps)


def test_new_leg_is_the_same_frozen_leg_as_the_constructor() -> None:
    import dataclasses

    from routing_engine import Leg
    from routing_engine.routes import new_leg

    path = ("SOL", "USDC")
    args = ("p1", "Orca", VenueKind.AMM, "SOL", "USDC", 5 * 10**9, 749 * 10**6, 0, path, False, 400)
    fast, plain = new_leg(*args), Leg(*args)
    assert fast == plain
    assert hash(fast) == hash(plain)
    assert dataclasses.asdict(fast) == dataclasses.asdict(plain)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.amount_in = 1  # type: ignore[misc]


def test_cp_group_bound_terms_and_allocation_equal_each_curves_own() -> None:
    from routing_engine.curves import CPGroup

    rng = random.Random(7)
    curves = [
        CPCurve(
            rng.uniform(1e12, 1e15),
            rng.uniform(1e11, 1e14),
            rng.choice((0.997, 0.9999, 1.0)),
            cap=rng.choice((math.inf, rng.uniform(1e9, 1e13))),
        )
        for _ in range(40)
    ]
    group = CPGroup(curves)
    for lam in (1e-4, 0.05, 0.1, 0.2, 1.0):
        assert group.allocation(lam) == [c.x_at(lam) for c in curves]
        assert group.surplus_at(lam) == math.fsum(c.surplus_at(lam) for c in curves)


@pytest.mark.parametrize(
    ("token_in", "token_out", "amount"),
    [("SOL", "USDC", 10 * ONE_SOL), ("SOL", "USDC", 1_000 * ONE_SOL), ("USDC", "SOL", 150_000 * 10**6)],
)
def test_an_extra_leg_is_kept_only_if_it_adds_the_minimum_gain(
    default_market: Market, token_in: str, token_out: str, amount: int
) -> None:
    market = Market(default_market.pools, default_market.desks, PRICES, NOW)
    exact = find_route(market, token_in, token_out, amount, config=EXACT)
    lean = find_route(market, token_in, token_out, amount)  # min_gain_bps_per_leg = 0.5
    assert_route_is_sound(lean, market)
    assert len({(leg.hop, leg.venue_id) for leg in lean.route.legs}) < len(
        {(leg.hop, leg.venue_id) for leg in exact.route.legs}
    )
    # What the dropped legs added together is under the minimum, so each one's was too ...
    given_up = Decimal(exact.route.amount_out - lean.route.amount_out) / lean.route.amount_out * 10_000
    assert 0 <= given_up < Decimal("0.5")
    # ... and the certificate still measures against the true bound: the gap shows what was given up.
    assert lean.route.upper_bound_out == exact.route.upper_bound_out
    assert lean.route.optimality_gap_bps is not None and exact.route.optimality_gap_bps is not None
    assert lean.route.optimality_gap_bps >= given_up - Decimal("0.01")
    # A leg worth keeping stays: with a minimum of 0.001 bps the exact split is unchanged.
    keen = find_route(
        market, token_in, token_out, amount, config=RouterConfig(min_gain_bps_per_leg=Decimal("0.001"))
    )
    assert keen.route.amount_out == exact.route.amount_out
