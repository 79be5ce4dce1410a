"""Tests for amm: exact integer constant-product maths, Pool values and the default pool set.

Fee model under test (Uniswap v2 style, module docstring of amm.constant_product): with
B = 10_000, f = B − fee_bps and g = f / B, an exact input a against reserves (x, y) pays

    out(a) = floor(a·g·y / (x + a·g)) = floor(a·f·y / (x·B + a·f))

and the smallest input buying at least b is ceil(x·b·B / ((y − b)·f)). Expected figures are
worked by hand (see the comments next to them) or recomputed here with ``Fraction``, never by
calling the module under test.

Facts asserted below, each derived before being asserted:

* k never decreases: with out* = a·f·y/(x·B + a·f), (x + a)(y − out*) = x·y·B(x + a)/(x·B + a·f)
  ≥ x·y because a·B ≥ a·f; and out ≤ out*, so (x + a)(y − out) ≥ x·y.
* out < y: out* = y·a·f/(x·B + a·f) < y since x·B > 0.
* out(a) ≥ b  ⇔  a·f·y ≥ b(x·B + a·f)  ⇔  a ≥ x·b·B/(f(y − b)); so the ceiling is the
  smallest such integer a.
* Selling the output straight back never returns more than a: need out·f·(x + a) ≤
  a((y − out)·B + out·f), i.e. out·f·x ≤ a(y − out)·B, which follows from out·x·B ≤ a·f·(y − out)
  (the floor bound above) because f ≤ B.
* Splitting a into a₁ then a₂ never pays more than one swap of a₁ + a₂. On the real curve the
  reserve left after the split is y·x/(x + a₁g) · (x + a₁)/(x + a₁ + a₂g), after one swap it is
  y·x/(x + (a₁ + a₂)g); the first is ≥ the second iff (x + a₁)(x + a₁g + a₂g) ≥ (x + a₁g)(x + a₁ + a₂g)
  iff a₂g·a₁ ≥ a₂g·a₁g, true as g ≤ 1 (equality when the fee is 0). In integers each swap leaves
  ceil(real remainder) and the remainder map is increasing, so the split's remaining reserve is
  an integer ≥ the single swap's real remainder, hence ≥ its ceiling: split output ≤ single output.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from itertools import combinations
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amm import (
    BPS,
    DEFAULT_POOL_SPECS,
    Pool,
    PoolSpec,
    amount_in_for_out,
    amount_out_for_in,
    default_pools,
    make_pool,
    marginal_price_after,
    price_impact_bps,
    spot_price,
)
from errors import InsufficientLiquidityError, SolrouteError, ValidationError

# Reference USD prices used to seed the default pools in these tests (the same figures as the
# static price feed's defaults, written out so this file depends on amm only).
REFERENCE_USD_PRICES: dict[str, Decimal] = {
    "SOL": Decimal("150"),
    "USDC": Decimal("1"),
    "USDT": Decimal("1"),
    "RAY": Decimal("2"),
    "JUP": Decimal("0.80"),
    "BONK": Decimal("0.000020"),
}
# A second, awkward price set: seeding must follow whatever prices it is given.
OTHER_USD_PRICES: dict[str, Decimal] = {
    "SOL": Decimal("93.417"),
    "USDC": Decimal("0.9998"),
    "USDT": Decimal("1.0003"),
    "RAY": Decimal("1.3333"),
    "JUP": Decimal("0.4561"),
    "BONK": Decimal("0.00001234"),
}

# Reserves and amounts: tiny (where rounding dominates), anything up to 10^30, and huge.
tiny = st.integers(min_value=1, max_value=1_000)
wide = st.integers(min_value=1, max_value=10**30)
huge = st.integers(min_value=10**20, max_value=10**30)
positive_ints = st.one_of(tiny, wide, huge)
fees = st.integers(min_value=0, max_value=BPS - 1)


def exact_out(reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int) -> Fraction:
    """The real-valued output a·g·y / (x + a·g) with g = (B − fee)/B."""
    g = Fraction(BPS - fee_bps, BPS)
    return amount_in * g * reserve_out / (reserve_in + amount_in * g)


def as_fraction(value: Decimal) -> Fraction:
    return Fraction(value)


def relative_error(actual: Decimal | Fraction, expected: Fraction) -> Fraction:
    return abs(Fraction(actual) - expected) / abs(expected)


@pytest.fixture
def sol_usdc_pool() -> Pool:
    """1_000 SOL against 150_000 USDC: exactly 150 USDC per SOL, 25 bps fee."""
    return Pool("test-sol-usdc", "Test", "SOL", "USDC", 1_000 * 10**9, 150_000 * 10**6, 25)


@pytest.fixture
def pools() -> tuple[Pool, ...]:
    return default_pools(REFERENCE_USD_PRICES)


# --- exact input: worked figures ------------------------------------------------------------

EXACT_IN_CASES = [
    # x = y = 10^6, a = 1_000, 30 bps: a·f = 9_970_000; num = 9_970_000·10^6 = 9_970_000_000_000;
    # den = 10^6·10^4 + 9_970_000 = 10_009_970_000; 996·den = 9_969_930_120_000 ≤ num <
    # 997·den = 9_979_940_090_000, so 996 (the exact value is 996.0069...).
    pytest.param(1_000_000, 1_000_000, 1_000, 30, 996, id="1e6-pool-1000-in-30bps"),
    # Same with no fee: 1_000·10^6 / 1_001_000 = 999.000999..., so 999.
    pytest.param(1_000_000, 1_000_000, 1_000, 0, 999, id="1e6-pool-1000-in-no-fee"),
    # x = 10^6, y = 2·10^6, a = 10_000, 25 bps: a·f = 99_750_000; num = 199_500_000_000_000;
    # den = 10^10 + 99_750_000 = 10_099_750_000; 19_752·den = 199_492_262_000_000 ≤ num <
    # 19_753·den = 199_502_361_750_000, so 19_752.
    pytest.param(1_000_000, 2_000_000, 10_000, 25, 19_752, id="1-to-2-pool-25bps"),
    # Dust: 1 unit into a 10^12-deep input side of a 1_000-unit output side: 9_970_000 /
    # 10_000_000_000_009_970 < 1, so 0.
    pytest.param(10**12, 1_000, 1, 30, 0, id="dust-buys-nothing"),
    # Highest fee (9_999 bps, f = 1): 10^6·1·10^6 / (10^10 + 10^6) = 99.990..., so 99.
    pytest.param(1_000_000, 1_000_000, 1_000_000, 9_999, 99, id="max-fee"),
    # Huge: x = y = 10^30, a = 10^27, no fee: 10^57 / (10^30 + 10^27) = 10^27 / 1.001
    # = 999000999000999000999000999.000999..., so the repeating 999000 block, 27 digits.
    pytest.param(10**30, 10**30, 10**27, 0, 999_000_999_000_999_000_999_000_999, id="1e30-pool"),
    # 1 SOL (10^9) into 1_000 SOL / 150_000 USDC at 25 bps: a·f = 9_975·10^9;
    # num = 9_975·10^9·150_000·10^6 = 1_496_250·10^18; den = 10^12·10^4 + 9_975·10^9
    # = 10_009_975·10^9; quotient 149_475_897.4..., so 149_475_897 USDC units (149.475897 USDC).
    pytest.param(1_000 * 10**9, 150_000 * 10**6, 10**9, 25, 149_475_897, id="1-sol-for-usdc"),
]


@pytest.mark.parametrize(("reserve_in", "reserve_out", "amount_in", "fee_bps", "expected"), EXACT_IN_CASES)
def test_amount_out_for_in_matches_worked_figures(
    reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int, expected: int
) -> None:
    # The hand-worked figure really is the floor of the real value (guards the table itself).
    exact = exact_out(reserve_in, reserve_out, amount_in, fee_bps)
    assert expected <= exact < expected + 1
    assert amount_out_for_in(reserve_in, reserve_out, amount_in, fee_bps) == expected


EXACT_OUT_CASES = [
    # x = y = 10^6, b = 996, 30 bps: num = 10^6·996·10^4 = 9_960_000_000_000;
    # den = 999_004·9_970 = 9_960_069_880; 999·den = 9_950_109_810_120 < num ≤ 1_000·den
    # = 9_960_069_880_000, so 1_000 (consistent with 1_000 in → 996 out above).
    pytest.param(1_000_000, 1_000_000, 996, 30, 1_000, id="1e6-pool-996-out-30bps"),
    # No fee, half the pool: 10^6·500_000 / 500_000 = 10^6 exactly: no rounding up.
    pytest.param(1_000_000, 1_000_000, 500_000, 0, 1_000_000, id="half-the-pool-exact"),
    # x = y = 1_000, b = 1, no fee: 1_000 / 999 = 1.001..., so 2 (1 unit in buys 0).
    pytest.param(1_000, 1_000, 1, 0, 2, id="tiny-pool-rounds-up"),
    # x = 10^6, y = 10^6, b = 99, max fee (f = 1): 10^6·99·10^4 / (999_901·1) = 990_098.01...,
    # so 990_099.
    pytest.param(1_000_000, 1_000_000, 99, 9_999, 990_099, id="max-fee"),
]


@pytest.mark.parametrize(("reserve_in", "reserve_out", "amount_out", "fee_bps", "expected"), EXACT_OUT_CASES)
def test_amount_in_for_out_matches_worked_figures(
    reserve_in: int, reserve_out: int, amount_out: int, fee_bps: int, expected: int
) -> None:
    exact = Fraction(reserve_in * amount_out * BPS, (reserve_out - amount_out) * (BPS - fee_bps))
    assert expected - 1 < exact <= expected
    assert amount_in_for_out(reserve_in, reserve_out, amount_out, fee_bps) == expected


# --- exact input: invariants ----------------------------------------------------------------


@settings(max_examples=300)
@given(reserve_in=positive_ints, reserve_out=positive_ints, amount_in=positive_ints, fee_bps=fees)
def test_a_swap_never_decreases_k(reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int) -> None:
    out = amount_out_for_in(reserve_in, reserve_out, amount_in, fee_bps)
    assert (reserve_in + amount_in) * (reserve_out - out) >= reserve_in * reserve_out


@settings(max_examples=300)
@given(reserve_in=positive_ints, reserve_out=positive_ints, amount_in=positive_ints, fee_bps=fees)
def test_output_is_never_negative_and_always_below_the_output_reserve(
    reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int
) -> None:
    out = amount_out_for_in(reserve_in, reserve_out, amount_in, fee_bps)
    assert isinstance(out, int)
    assert 0 <= out < reserve_out


@settings(max_examples=300)
@given(reserve_in=positive_ints, reserve_out=positive_ints, amount_in=positive_ints, fee_bps=fees)
def test_output_is_the_exact_value_rounded_down(
    reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int
) -> None:
    out = amount_out_for_in(reserve_in, reserve_out, amount_in, fee_bps)
    exact = exact_out(reserve_in, reserve_out, amount_in, fee_bps)
    assert exact - 1 < out <= exact


@settings(max_examples=300)
@given(
    reserve_in=positive_ints,
    reserve_out=positive_ints,
    amounts=st.tuples(positive_ints, positive_ints).map(sorted),
    fee_bps=fees,
)
def test_output_never_falls_as_the_input_grows(
    reserve_in: int, reserve_out: int, amounts: list[int], fee_bps: int
) -> None:
    smaller, larger = amounts
    assert amount_out_for_in(reserve_in, reserve_out, smaller, fee_bps) <= amount_out_for_in(
        reserve_in, reserve_out, larger, fee_bps
    )


@settings(max_examples=300)
@given(
    reserve_in=positive_ints,
    reserve_out=positive_ints,
    amount_in=positive_ints,
    fee_pair=st.tuples(fees, fees).map(sorted),
)
def test_a_higher_fee_never_pays_more(
    reserve_in: int, reserve_out: int, amount_in: int, fee_pair: list[int]
) -> None:
    low_fee, high_fee = fee_pair
    assert amount_out_for_in(reserve_in, reserve_out, amount_in, high_fee) <= amount_out_for_in(
        reserve_in, reserve_out, amount_in, low_fee
    )


@settings(max_examples=300)
@given(
    reserve_in=positive_ints,
    reserve_out=positive_ints,
    first=positive_ints,
    second=positive_ints,
    fee_bps=fees,
)
def test_splitting_a_swap_in_two_never_pays_more_than_one_swap(
    reserve_in: int, reserve_out: int, first: int, second: int, fee_bps: int
) -> None:
    out_first = amount_out_for_in(reserve_in, reserve_out, first, fee_bps)
    out_second = amount_out_for_in(reserve_in + first, reserve_out - out_first, second, fee_bps)
    assert out_first + out_second <= amount_out_for_in(reserve_in, reserve_out, first + second, fee_bps)


def test_splitting_a_swap_pays_strictly_less_when_there_is_a_fee() -> None:
    # Deep pool, sizable halves: the fee kept in the pool after the first half worsens the
    # second half's rate by far more than one unit of rounding (gap ≈ 2.8·10^11 units here).
    x = y = 10**18
    half = 10**16
    out_first = amount_out_for_in(x, y, half, 30)
    out_second = amount_out_for_in(x + half, y - out_first, half, 30)
    assert out_first + out_second < amount_out_for_in(x, y, 2 * half, 30) - 10**11


# --- exact output ---------------------------------------------------------------------------


@st.composite
def exact_out_cases(draw: st.DrawFn) -> tuple[int, int, int, int]:
    reserve_in = draw(positive_ints)
    reserve_out = draw(st.one_of(st.integers(2, 1_000), st.integers(2, 10**30), huge))
    amount_out = draw(
        st.one_of(
            st.integers(1, reserve_out - 1),
            st.integers(max(1, reserve_out - 1_000), reserve_out - 1),
            st.integers(1, min(1_000, reserve_out - 1)),
        )
    )
    return reserve_in, reserve_out, amount_out, draw(fees)


@settings(max_examples=300)
@given(case=exact_out_cases())
def test_amount_in_for_out_is_the_smallest_input_that_buys_the_output(
    case: tuple[int, int, int, int],
) -> None:
    reserve_in, reserve_out, amount_out, fee_bps = case
    needed = amount_in_for_out(reserve_in, reserve_out, amount_out, fee_bps)
    assert needed >= 1
    assert amount_out_for_in(reserve_in, reserve_out, needed, fee_bps) >= amount_out
    if needed > 1:
        assert amount_out_for_in(reserve_in, reserve_out, needed - 1, fee_bps) < amount_out


@settings(max_examples=300)
@given(reserve_in=positive_ints, reserve_out=positive_ints, amount_in=positive_ints, fee_bps=fees)
def test_exact_output_never_charges_more_than_the_exact_input_that_bought_it(
    reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int
) -> None:
    out = amount_out_for_in(reserve_in, reserve_out, amount_in, fee_bps)
    if out > 0:
        assert amount_in_for_out(reserve_in, reserve_out, out, fee_bps) <= amount_in


@settings(max_examples=300)
@given(reserve_in=positive_ints, reserve_out=positive_ints, amount_in=positive_ints, fee_bps=fees)
def test_selling_the_output_straight_back_never_returns_more_than_was_paid(
    reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int
) -> None:
    out = amount_out_for_in(reserve_in, reserve_out, amount_in, fee_bps)
    if out > 0:
        back = amount_out_for_in(reserve_out - out, reserve_in + amount_in, out, fee_bps)
        assert back <= amount_in


# --- Pool swaps: k across sequences ---------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    reserve_a=positive_ints,
    reserve_b=positive_ints,
    fee_bps=fees,
    trades=st.lists(st.tuples(st.booleans(), positive_ints), min_size=1, max_size=25),
)
def test_k_never_decreases_across_a_sequence_of_swaps_in_both_directions(
    reserve_a: int, reserve_b: int, fee_bps: int, trades: list[tuple[bool, int]]
) -> None:
    pool = Pool("seq", "Test", "SOL", "USDC", reserve_a, reserve_b, fee_bps)
    for sells_a, amount_in in trades:
        token_in = "SOL" if sells_a else "USDC"
        k_before = pool.reserve_a * pool.reserve_b
        try:
            new_pool, out = pool.swap(token_in, amount_in)
        except InsufficientLiquidityError:
            # Documented refusal: only dust that buys nothing is refused.
            assert pool.amount_out(token_in, amount_in) == 0
            continue
        assert out == pool.amount_out(token_in, amount_in) > 0
        assert new_pool.reserve_a >= 1 and new_pool.reserve_b >= 1
        assert new_pool.reserve_a * new_pool.reserve_b >= k_before
        pool = new_pool


@settings(max_examples=200)
@given(reserve_a=positive_ints, reserve_b=positive_ints, amount_in=positive_ints, fee_bps=fees)
def test_a_pool_round_trip_never_returns_more_than_was_paid(
    reserve_a: int, reserve_b: int, amount_in: int, fee_bps: int
) -> None:
    pool = Pool("trip", "Test", "SOL", "USDC", reserve_a, reserve_b, fee_bps)
    try:
        pool, out = pool.swap("SOL", amount_in)
        _, back = pool.swap("USDC", out)
    except InsufficientLiquidityError:
        return  # one leg was dust: the trader got nothing back, which is certainly not more
    assert back <= amount_in


# --- prices ---------------------------------------------------------------------------------


@given(reserve_in=positive_ints, reserve_out=positive_ints)
def test_spot_price_is_the_reserve_ratio(reserve_in: int, reserve_out: int) -> None:
    price = spot_price(reserve_in, reserve_out)
    assert isinstance(price, Decimal)
    assert relative_error(price, Fraction(reserve_out, reserve_in)) < Fraction(1, 10**55)


def test_spot_price_worked_figure() -> None:
    assert spot_price(4, 6) == Decimal("1.5")
    assert spot_price(1_000 * 10**9, 150_000 * 10**6) == Decimal("0.15")


@given(reserve_in=positive_ints, reserve_out=positive_ints, fee_bps=fees)
def test_marginal_price_before_any_swap_is_the_spot_price_after_fee(
    reserve_in: int, reserve_out: int, fee_bps: int
) -> None:
    expected = Fraction(BPS - fee_bps, BPS) * Fraction(reserve_out, reserve_in)
    assert relative_error(marginal_price_after(reserve_in, reserve_out, 0, fee_bps), expected) < Fraction(
        1, 10**55
    )


@given(reserve_in=positive_ints, reserve_out=positive_ints, amount_in=positive_ints, fee_bps=fees)
def test_marginal_price_follows_its_formula(
    reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int
) -> None:
    # d(out)/d(a) of a·g·y/(x + a·g) is g·x·y/(x + g·a)².
    g = Fraction(BPS - fee_bps, BPS)
    expected = g * reserve_in * reserve_out / (reserve_in + g * amount_in) ** 2
    actual = marginal_price_after(reserve_in, reserve_out, amount_in, fee_bps)
    assert relative_error(actual, expected) < Fraction(1, 10**55)


@settings(max_examples=200)
@given(
    reserve_in=positive_ints,
    reserve_out=positive_ints,
    amounts=st.tuples(st.integers(0, 10**30), st.integers(0, 10**30))
    .filter(lambda p: p[0] != p[1])
    .map(sorted),
    fee_bps=fees,
)
def test_marginal_price_falls_as_the_swap_grows(
    reserve_in: int, reserve_out: int, amounts: list[int], fee_bps: int
) -> None:
    smaller, larger = amounts
    assert marginal_price_after(reserve_in, reserve_out, larger, fee_bps) < marginal_price_after(
        reserve_in, reserve_out, smaller, fee_bps
    )


@pytest.mark.parametrize("amount_in", [10**12, 10**14, 10**15, 3 * 10**16])
@pytest.mark.parametrize("fee_bps", [0, 30, 100])
def test_marginal_price_matches_a_finite_difference_of_the_output_on_a_deep_pool(
    amount_in: int, fee_bps: int
) -> None:
    # Central difference with step h: rounding moves each output by < 1 unit (relative error
    # ≤ 2/(h·price) = 2·10^-9 here) and curvature by O(h²/x²); 10^-7 leaves a wide margin.
    x, y, h = 10**18, 2 * 10**18, 10**9
    slope = Fraction(
        amount_out_for_in(x, y, amount_in + h, fee_bps) - amount_out_for_in(x, y, amount_in - h, fee_bps),
        2 * h,
    )
    marginal = marginal_price_after(x, y, amount_in, fee_bps)
    assert relative_error(marginal, slope) < Fraction(1, 10**7)


@settings(max_examples=300)
@given(reserve_in=positive_ints, reserve_out=positive_ints, amount_in=positive_ints, fee_bps=fees)
def test_price_impact_lies_between_the_curve_value_and_one_unit_of_rounding_above_it(
    reserve_in: int, reserve_out: int, amount_in: int, fee_bps: int
) -> None:
    # impact = (1 − out·x/(a·g·y))·B. With out* − 1 < out ≤ out* and out*·x/(a·g·y) = x/(x + a·g):
    # a·g/(x + a·g)·B ≤ impact < (a·g/(x + a·g) + x/(a·g·y))·B, and 0 ≤ impact ≤ B as 0 ≤ out.
    g = Fraction(BPS - fee_bps, BPS)
    on_curve = amount_in * g / (reserve_in + amount_in * g) * BPS
    rounding = Fraction(reserve_in, amount_in * reserve_out) / g * BPS
    slack = Fraction(1, 10**40)  # Decimal arithmetic at 60 digits
    impact = as_fraction(price_impact_bps(reserve_in, reserve_out, amount_in, fee_bps))
    assert 0 <= impact <= BPS + slack
    assert on_curve - slack <= impact <= on_curve + rounding + slack


def test_price_impact_grows_with_trade_size_on_a_deep_pool() -> None:
    # On x = y = 10^18 the impact of a is ≈ a·g/x·B while rounding adds at most B/(a·g); for
    # a ≥ 10^10 the gaps between the sizes below dwarf the rounding.
    x = y = 10**18
    sizes = [10**10 * 4**k for k in range(12)]
    impacts = [price_impact_bps(x, y, size, 30) for size in sizes]
    assert all(impact >= 0 for impact in impacts)
    assert impacts == sorted(impacts)
    assert len(set(impacts)) == len(impacts)


@pytest.mark.parametrize(
    ("amount_in", "fee_bps"), [(10**18, 30), (10**20, 30), (10**22, 25), (3 * 10**23, 0), (10**23, 9_000)]
)
def test_price_impact_is_the_curve_value_on_a_deep_pool(amount_in: int, fee_bps: int) -> None:
    x = y = 10**24
    g = Fraction(BPS - fee_bps, BPS)
    expected = amount_in * g / (x + amount_in * g) * BPS
    impact = as_fraction(price_impact_bps(x, y, amount_in, fee_bps))
    assert abs(impact - expected) < Fraction(1, 10**6)


def test_price_impact_worked_figure() -> None:
    # x = y = 10^6, a = 1_000, 30 bps: out = 996 (worked above), a·g·y/x = 997;
    # impact = (1 − 996/997)·10^4 = 10^4/997 = 10.0300902708... bps.
    impact = price_impact_bps(1_000_000, 1_000_000, 1_000, 30)
    assert abs(as_fraction(impact) - Fraction(10_000, 997)) < Fraction(1, 10**50)


# --- rejections -----------------------------------------------------------------------------

BAD_AMOUNTS = [0, -1, -(10**30), True, False, 1.5, 1.0, "5", None, Decimal(5)]


def assert_names_the_value(error: SolrouteError, value: object, field: str) -> None:
    assert error.field == field
    assert field in str(error)
    assert repr(value) in str(error) or str(value) in str(error)


@pytest.mark.parametrize("bad", BAD_AMOUNTS, ids=repr)
def test_amount_out_for_in_refuses_an_amount_that_is_not_a_positive_int(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        amount_out_for_in(10**6, 10**6, bad, 30)  # type: ignore[arg-type]
    assert_names_the_value(caught.value, bad, "amount_in")


@pytest.mark.parametrize("bad", BAD_AMOUNTS, ids=repr)
def test_amount_in_for_out_refuses_an_amount_that_is_not_a_positive_int(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        amount_in_for_out(10**6, 10**6, bad, 30)  # type: ignore[arg-type]
    assert_names_the_value(caught.value, bad, "amount_out")


@pytest.mark.parametrize("bad", [-1, True, 0.0, 1.5, "0"], ids=repr)
def test_marginal_price_after_refuses_an_amount_that_is_not_a_non_negative_int(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        marginal_price_after(10**6, 10**6, bad, 30)  # type: ignore[arg-type]
    assert_names_the_value(caught.value, bad, "amount_in")


BAD_RESERVES = [0, -1, True, 1.5, 10.0**6, "1000", None]


@pytest.mark.parametrize("bad", BAD_RESERVES, ids=repr)
@pytest.mark.parametrize("side", ["reserve_in", "reserve_out"])
@pytest.mark.parametrize(
    "call",
    [
        lambda x, y: amount_out_for_in(x, y, 1_000, 30),
        lambda x, y: amount_in_for_out(x, y, 1, 30),
        lambda x, y: spot_price(x, y),
        lambda x, y: marginal_price_after(x, y, 1_000, 30),
        lambda x, y: price_impact_bps(x, y, 1_000, 30),
    ],
    ids=["amount_out_for_in", "amount_in_for_out", "spot_price", "marginal_price_after", "price_impact_bps"],
)
def test_every_function_refuses_a_reserve_that_is_not_a_positive_int(
    call: Callable[[Any, Any], object], side: str, bad: object
) -> None:
    reserves = {"reserve_in": 10**6, "reserve_out": 10**6, side: bad}
    with pytest.raises(ValidationError) as caught:
        call(reserves["reserve_in"], reserves["reserve_out"])
    assert_names_the_value(caught.value, bad, side)


@pytest.mark.parametrize("bad", [-1, BPS, BPS + 1, 10**9, True, 30.0, "30", None], ids=repr)
@pytest.mark.parametrize(
    "call",
    [amount_out_for_in, amount_in_for_out, marginal_price_after, price_impact_bps],
    ids=lambda f: f.__name__,
)
def test_every_function_refuses_a_fee_outside_0_to_9999_bps(call: Callable[..., object], bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        call(10**6, 10**6, 1_000, bad)
    assert_names_the_value(caught.value, bad, "fee_bps")


@pytest.mark.parametrize(
    ("reserve_out", "amount_out"), [(1_000, 1_000), (1_000, 1_001), (1, 1), (10**30, 10**31)]
)
def test_amount_in_for_out_refuses_to_buy_the_whole_reserve_or_more(
    reserve_out: int, amount_out: int
) -> None:
    with pytest.raises(InsufficientLiquidityError) as caught:
        amount_in_for_out(10**6, reserve_out, amount_out, 30)
    assert caught.value.field == "amount_out"
    assert str(amount_out) in str(caught.value)
    assert str(reserve_out) in str(caught.value)


def test_the_largest_buyable_output_is_one_below_the_reserve() -> None:
    # b = y − 1 on x = y = 1_000 without fee: 1_000·999/1 = 999_000 exactly.
    assert amount_in_for_out(1_000, 1_000, 999, 0) == 999_000
    assert amount_out_for_in(1_000, 1_000, 999_000, 0) == 999


def test_pool_swap_refuses_dust_that_buys_nothing() -> None:
    pool = Pool("dusty", "Test", "SOL", "USDC", 10**12, 1_000, 30)
    with pytest.raises(InsufficientLiquidityError) as caught:
        pool.swap("SOL", 1)
    assert caught.value.field == "amount_in"
    message = str(caught.value)
    assert re.search(r"\b1\b", message) and "SOL" in message and "dusty" in message


@pytest.mark.parametrize("bad", [0, -5, True, 2.5])
def test_pool_swap_refuses_an_amount_that_is_not_a_positive_int(sol_usdc_pool: Pool, bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        sol_usdc_pool.swap("SOL", bad)  # type: ignore[arg-type]
    assert_names_the_value(caught.value, bad, "amount_in")


def test_a_pool_cannot_pair_a_token_with_itself() -> None:
    with pytest.raises(ValidationError, match=r"self-pool.*SOL.*itself"):
        Pool("self-pool", "Test", "SOL", "SOL", 10**9, 10**9, 30)


@pytest.mark.parametrize(
    ("field", "bad"),
    [("reserve_a", 0), ("reserve_a", -1), ("reserve_b", 0), ("reserve_b", True), ("reserve_b", 1.5)],
)
def test_a_pool_refuses_a_reserve_that_is_not_a_positive_int(field: str, bad: object) -> None:
    values = {"reserve_a": 10**9, "reserve_b": 10**9, field: bad}
    with pytest.raises(ValidationError, match=rf"bad-pool.*{field}.*{re.escape(repr(bad))}"):
        Pool("bad-pool", "Test", "SOL", "USDC", values["reserve_a"], values["reserve_b"], 30)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, BPS, 20_000])
def test_a_pool_refuses_a_fee_out_of_range(bad: int) -> None:
    with pytest.raises(ValidationError, match=rf"bad-pool.*fee_bps.*{bad}"):
        Pool("bad-pool", "Test", "SOL", "USDC", 10**9, 10**9, bad)


@pytest.mark.parametrize("bad", [2.5, True, "30", None], ids=repr)
def test_a_pool_refuses_a_fee_that_is_not_an_int(bad: object) -> None:
    with pytest.raises(ValidationError, match="fee_bps"):
        Pool("bad-pool", "Test", "SOL", "USDC", 10**9, 10**9, bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda pool: pool.swap("BONK", 1_000),
        lambda pool: pool.amount_out("BONK", 1_000),
        lambda pool: pool.amount_in("BONK", 1_000),
        lambda pool: pool.reserves("BONK"),
        lambda pool: pool.other("BONK"),
        lambda pool: pool.spot_price("BONK"),
        lambda pool: pool.marginal_price_after("BONK", 0),
        lambda pool: pool.price_impact_bps("BONK", 1_000),
    ],
    ids=[
        "swap",
        "amount_out",
        "amount_in",
        "reserves",
        "other",
        "spot_price",
        "marginal_price_after",
        "impact",
    ],
)
def test_a_pool_refuses_a_token_it_does_not_trade(
    sol_usdc_pool: Pool, call: Callable[[Pool], object]
) -> None:
    with pytest.raises(ValidationError) as caught:
        call(sol_usdc_pool)
    assert caught.value.field == "token_in"
    assert "BONK" in str(caught.value) and sol_usdc_pool.pool_id in str(caught.value)


def test_the_error_types_are_the_idiomatic_python_ones() -> None:
    assert issubclass(ValidationError, ValueError)
    assert issubclass(InsufficientLiquidityError, ValueError)
    assert issubclass(InsufficientLiquidityError, SolrouteError)


# --- Pool values ----------------------------------------------------------------------------


def test_a_pool_is_frozen(sol_usdc_pool: Pool) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        sol_usdc_pool.reserve_a = 1  # type: ignore[misc]


def test_swapping_sol_returns_a_new_pool_and_leaves_the_old_one_unchanged(sol_usdc_pool: Pool) -> None:
    before = dataclasses.replace(sol_usdc_pool)
    new_pool, out = sol_usdc_pool.swap("SOL", 10**9)
    assert out == 149_475_897  # worked above: 1 SOL into 1_000 SOL / 150_000 USDC at 25 bps
    assert sol_usdc_pool == before
    assert new_pool is not sol_usdc_pool
    assert new_pool.reserve_a == sol_usdc_pool.reserve_a + 10**9
    assert new_pool.reserve_b == sol_usdc_pool.reserve_b - out
    assert (new_pool.pool_id, new_pool.venue, new_pool.token_a, new_pool.token_b, new_pool.fee_bps) == (
        before.pool_id,
        before.venue,
        before.token_a,
        before.token_b,
        before.fee_bps,
    )


def test_swapping_usdc_moves_the_reserves_the_other_way(sol_usdc_pool: Pool) -> None:
    amount_in = 150 * 10**6
    new_pool, out = sol_usdc_pool.swap("USDC", amount_in)
    assert out == amount_out_for_in(150_000 * 10**6, 1_000 * 10**9, amount_in, 25)
    assert 0 < out < 10**9  # less than 1 SOL for 150 USDC once the fee and impact are paid
    assert new_pool.reserve_b == sol_usdc_pool.reserve_b + amount_in
    assert new_pool.reserve_a == sol_usdc_pool.reserve_a - out


def test_pool_quotes_orient_the_reserves_by_the_token_sold(sol_usdc_pool: Pool) -> None:
    assert sol_usdc_pool.reserves("SOL") == (1_000 * 10**9, 150_000 * 10**6)
    assert sol_usdc_pool.reserves("USDC") == (150_000 * 10**6, 1_000 * 10**9)
    assert sol_usdc_pool.other("SOL") == "USDC" and sol_usdc_pool.other("USDC") == "SOL"
    assert sol_usdc_pool.has("SOL") and sol_usdc_pool.has("USDC") and not sol_usdc_pool.has("USDT")
    assert sol_usdc_pool.pair == "SOL/USDC"
    needed = sol_usdc_pool.amount_in("USDC", 10**9)
    assert sol_usdc_pool.amount_out("USDC", needed) >= 10**9 > sol_usdc_pool.amount_out("USDC", needed - 1)


def test_pool_spot_price_is_in_human_units(sol_usdc_pool: Pool) -> None:
    assert sol_usdc_pool.spot_price("SOL") == 150
    assert relative_error(sol_usdc_pool.spot_price("USDC"), Fraction(1, 150)) < Fraction(1, 10**50)


def test_a_pool_seeded_at_150_usdc_per_sol_shows_that_price() -> None:
    spec = PoolSpec("Test", "SOL", "USDC", Decimal(1_000_000), 25)
    pool = make_pool(spec, {"SOL": Decimal(150), "USDC": Decimal(1)})
    # Each side holds $1M: 10^6/150 SOL floored to lamports, 10^6 USDC.
    assert pool.reserve_a == 6_666_666_666_666 and pool.reserve_b == 10**12
    assert pool.pool_id == "test-sol-usdc" and pool.fee_bps == 25
    assert relative_error(pool.spot_price("SOL"), Fraction(150)) < Fraction(1, 10**9)
    assert relative_error(pool.spot_price("USDC"), Fraction(1, 150)) < Fraction(1, 10**9)


def test_pool_marginal_price_starts_at_the_spot_price_after_fee_and_falls(sol_usdc_pool: Pool) -> None:
    g = Fraction(BPS - 25, BPS)
    assert relative_error(sol_usdc_pool.marginal_price_after("SOL", 0), 150 * g) < Fraction(1, 10**50)
    assert sol_usdc_pool.marginal_price_after("SOL", 10 * 10**9) < sol_usdc_pool.marginal_price_after(
        "SOL", 0
    )


def test_pool_price_impact_matches_the_function(sol_usdc_pool: Pool) -> None:
    assert sol_usdc_pool.price_impact_bps("USDC", 10**9) == price_impact_bps(
        150_000 * 10**6, 1_000 * 10**9, 10**9, 25
    )


def test_make_pool_refuses_a_token_without_a_positive_price() -> None:
    spec = PoolSpec("Test", "SOL", "USDC", Decimal(1_000_000), 25)
    with pytest.raises(ValidationError, match="USDC"):
        make_pool(spec, {"SOL": Decimal(150)})
    with pytest.raises(ValidationError, match="SOL"):
        make_pool(spec, {"SOL": Decimal(0), "USDC": Decimal(1)})


# --- default pools --------------------------------------------------------------------------

EXPECTED_PAIRS = {
    "Raydium": {
        frozenset({"SOL", "USDC"}),
        frozenset({"SOL", "USDT"}),
        frozenset({"USDC", "USDT"}),
        frozenset({"RAY", "SOL"}),
    },
    "Orca": {
        frozenset({"SOL", "USDC"}),
        frozenset({"SOL", "USDT"}),
        frozenset({"USDC", "USDT"}),
        frozenset({"JUP", "USDC"}),
    },
    "Meteora": {
        frozenset({"SOL", "USDC"}),
        frozenset({"SOL", "USDT"}),
        frozenset({"USDC", "USDT"}),
        frozenset({"BONK", "SOL"}),
    },
}


def by_pair(pools: tuple[Pool, ...]) -> dict[frozenset[str], list[Pool]]:
    grouped: dict[frozenset[str], list[Pool]] = defaultdict(list)
    for pool in pools:
        grouped[frozenset({pool.token_a, pool.token_b})].append(pool)
    return grouped


def test_there_are_twelve_default_pools_with_unique_ids(pools: tuple[Pool, ...]) -> None:
    assert len(pools) == len(DEFAULT_POOL_SPECS) == 12
    assert len({pool.pool_id for pool in pools}) == 12


def test_each_venue_has_the_three_majors_and_one_long_tail_pair(pools: tuple[Pool, ...]) -> None:
    actual: dict[str, set[frozenset[str]]] = defaultdict(set)
    for pool in pools:
        actual[pool.venue].add(frozenset({pool.token_a, pool.token_b}))
    assert dict(actual) == EXPECTED_PAIRS


@pytest.mark.parametrize(("token", "venue"), [("RAY", "Raydium"), ("JUP", "Orca"), ("BONK", "Meteora")])
def test_long_tail_tokens_trade_on_one_venue_only(pools: tuple[Pool, ...], token: str, venue: str) -> None:
    assert {pool.venue for pool in pools if pool.has(token)} == {venue}


@pytest.mark.parametrize("token", ["RAY", "BONK"])
def test_ray_and_bonk_reach_usdc_only_through_a_second_hop(pools: tuple[Pool, ...], token: str) -> None:
    assert not [pool for pool in pools if pool.has(token) and pool.has("USDC")]
    via = {pool.other(token) for pool in pools if pool.has(token)}
    assert via == {"SOL"}
    assert any(pool.has("SOL") and pool.has("USDC") for pool in pools)


def test_fees_differ_between_venues_on_every_shared_pair(pools: tuple[Pool, ...]) -> None:
    for pair, group in by_pair(pools).items():
        assert len({pool.fee_bps for pool in group}) == len(group), (
            pair,
            [(p.venue, p.fee_bps) for p in group],
        )


def test_meteora_is_deepest_on_usdc_usdt(pools: tuple[Pool, ...]) -> None:
    group = by_pair(pools)[frozenset({"USDC", "USDT"})]
    deepest = max(group, key=lambda pool: pool.reserve_a)
    assert deepest.venue == "Meteora"
    others = [pool for pool in group if pool is not deepest]
    assert all(pool.reserve_a < deepest.reserve_a and pool.reserve_b < deepest.reserve_b for pool in others)


@pytest.mark.parametrize("prices", [REFERENCE_USD_PRICES, OTHER_USD_PRICES], ids=["reference", "other"])
def test_every_default_pool_quotes_the_seeding_prices_within_1_bp(prices: dict[str, Decimal]) -> None:
    for pool in default_pools(prices):
        for token_in in (pool.token_a, pool.token_b):
            expected = Fraction(prices[token_in]) / Fraction(prices[pool.other(token_in)])
            assert relative_error(pool.spot_price(token_in), expected) < Fraction(1, BPS), (
                pool.pool_id,
                token_in,
            )


@pytest.mark.parametrize("prices", [REFERENCE_USD_PRICES, OTHER_USD_PRICES], ids=["reference", "other"])
def test_pools_of_one_pair_agree_within_their_fees(prices: dict[str, Decimal]) -> None:
    # No free round trip at the margin: buying B with A on one pool and selling it back on
    # another returns at most what was paid: spot_P(A)·g_P · spot_Q(B)·g_Q ≤ 1.
    for group in by_pair(default_pools(prices)).values():
        for first, second in combinations(group, 2):
            for p, q in ((first, second), (second, first)):
                token = p.token_a
                rate = (
                    Fraction(p.spot_price(token))
                    * Fraction(BPS - p.fee_bps, BPS)
                    * Fraction(q.spot_price(p.other(token)))
                    * Fraction(BPS - q.fee_bps, BPS)
                )
                assert rate <= 1, (p.pool_id, q.pool_id, float(rate))


def test_default_pools_follow_the_specs(pools: tuple[Pool, ...]) -> None:
    for spec, pool in zip(DEFAULT_POOL_SPECS, pools, strict=True):
        assert (pool.venue, pool.token_a, pool.token_b, pool.fee_bps) == (
            spec.venue,
            spec.token_a,
            spec.token_b,
            spec.fee_bps,
        )
        # Each side holds depth_usd of value, floored to base units.
        for token, reserve in ((pool.token_a, pool.reserve_a), (pool.token_b, pool.reserve_b)):
            decimals = {"SOL": 9, "USDC": 6, "USDT": 6, "RAY": 6, "JUP": 6, "BONK": 5}[token]
            exact = Fraction(spec.depth_usd) / Fraction(REFERENCE_USD_PRICES[token]) * 10**decimals
            assert reserve == int(exact), (pool.pool_id, token)
