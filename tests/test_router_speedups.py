"""The router's fast paths give exactly what the plain code they replace gives.

Each fast path (issue 16, section 4) is checked against the straightforward form it stands in
for, written out here: CPGroup's prefix sums (μ-keyed sort with the whole-tuple fallback on
ties), its per-curve surpluses, the inlined exact pool quote in the rounding pass, and the
counting of first-hop legs in the min-gain check; plus whole routes on random markets, whose
legs, output and bound must not depend on which path produced them.
"""

from __future__ import annotations

import random
from itertools import accumulate

from hypothesis import given, settings
from hypothesis import strategies as st

from amm.pools import Pool
from routing_engine import RouterConfig, direct_venues, optimal_split
from routing_engine.curves import CPCurve, CPGroup
from routing_engine.paths import route_paths
from routing_engine.splitting import _fill_stage, _Integerised
from routing_engine.venues import AmmVenue
from tests.reference_solver import random_market

reserves = st.integers(min_value=10**6, max_value=10**18)
fees = st.sampled_from((0, 1, 4, 5, 20, 25, 30, 100))


def plain_prefix_sums(curves: list[CPCurve]) -> tuple[list[float], ...]:
    """CPGroup's breakpoints and prefix sums as first written: a full tuple sort, every sum added."""
    events = sorted(e for c in curves for e in c._events)
    columns = list(zip(*events, strict=True))
    return (
        list(columns[0]),
        [0.0, *accumulate(columns[1])],
        [0.0, *accumulate(columns[2])],
        [0.0, *accumulate(columns[3])],
    )


@st.composite
def cp_curves(draw: st.DrawFn) -> list[CPCurve]:
    """Pools, some capped, some repeated (equal breakpoints: the tie fallback)."""
    curves = []
    for _ in range(draw(st.integers(min_value=1, max_value=40))):
        r_in, r_out = draw(reserves), draw(reserves)
        g = (10_000 - draw(fees)) / 10_000
        cap = draw(st.one_of(st.just(float("inf")), st.floats(min_value=1.0, max_value=1e15)))
        curve = CPCurve(float(r_in), float(r_out), g, cap=cap)
        curves += [curve] * draw(st.integers(min_value=1, max_value=2))
    # Different pools with the same breakpoint μ = R_in/k but different slopes: equal μ, unequal tuples.
    if draw(st.booleans()):
        curves.append(CPCurve(4e12, 1e12, 1.0))
        curves.append(CPCurve(8e12, 2e12, 1.0))
    return curves


@settings(max_examples=200, deadline=None)
@given(cp_curves())
def test_a_cp_group_sums_its_breakpoints_in_the_same_order_as_the_plain_sort(curves: list[CPCurve]) -> None:
    group = CPGroup(curves)
    mu, a, b, c = plain_prefix_sums(curves)
    assert (group._mu, group._a, group._b, group._c) == (mu, a, b, c)
    assert group.cap == sum(c.cap for c in curves)
    assert group.marginal0 == max(c.marginal0 for c in curves)


@settings(max_examples=200, deadline=None)
@given(cp_curves(), st.floats(min_value=1e-6, max_value=1e6))
def test_active_surpluses_equal_each_curves_own_surplus(curves: list[CPCurve], lam: float) -> None:
    group = CPGroup(curves)
    expected = [(c.surplus_at(lam), i) for i, c in enumerate(curves) if c.x_at(lam) > 0.0]
    assert group.active_surpluses(lam) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(reserves, reserves, fees), min_size=1, max_size=8),
    st.integers(min_value=1, max_value=10**15),
    st.integers(min_value=1, max_value=10**9),
)
def test_the_inlined_pool_quote_keeps_checks_dust_and_outputs(
    pool_specs: list[tuple[int, int, int]], amount: int, min_leg: int
) -> None:
    pools = [Pool(f"p{i}", "Raydium", "SOL", "USDC", a, b, fee) for i, (a, b, fee) in enumerate(pool_specs)]
    venues = [AmmVenue(pool, "SOL", 0) for pool in pools]
    weights = [float(i + 1) for i in range(len(venues))]
    result = _Integerised([], 0, set(), set())
    total = _fill_stage(0, venues, weights, amount, ("SOL", "USDC"), min_leg, result)
    # What check() and quote() say about each leg the stage kept or refused.
    for venue, leg_amount, out, hop, path in result.legs:
        assert venue.check(leg_amount) is None and venue.quote(leg_amount) == out
        assert (hop, path) == (0, ("SOL", "USDC"))
    refused = {key[1] for key in result.dust | result.below_min}
    assert not result.below_min  # pools have no minimum size
    for venue in venues:
        if venue.venue_id in refused:
            assert venue.venue_id not in {v.venue_id for v, *_ in result.legs}
    assert total == sum(out for _, _, out, _, _ in result.legs)


def test_a_market_of_the_pair_alone_has_no_paths() -> None:
    market, _ = random_market(random.Random(3), 12)
    search = route_paths(market, "SOL", "USDC", 10**12)
    assert search.paths == () and search.shared == () and search.pruned == 0


def test_routes_with_many_first_hop_legs_skip_the_min_gain_check_whatever_the_limit() -> None:
    """Counting first-hop legs stops one past the limit: the split with no limit check equals it."""
    market, depth = random_market(random.Random(7), 40)
    amount = depth // 10
    assert len(direct_venues(market, "SOL", "USDC")) == 40
    checked = optimal_split(market, "SOL", "USDC", amount, RouterConfig(min_gain_max_legs=2))
    exact = optimal_split(
        random_market(random.Random(7), 40)[0],
        "SOL",
        "USDC",
        amount,
        RouterConfig(min_gain_bps_per_leg=RouterConfig().min_gain_bps_per_leg * 0),
    )
    assert len({leg.venue_id for leg in checked.legs}) > 2
    assert checked == exact
