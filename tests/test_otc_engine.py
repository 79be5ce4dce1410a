"""Tests for otc_engine: exact desk pricing, size limits, inventory, refill and the router curve.

Expected figures are worked by hand or recomputed here with integer / Fraction arithmetic
straight from the formulas in the module docstring, never by calling the module's helpers.
"""

from __future__ import annotations

import ast
import math
import random
import sys
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import otc_engine
from errors import InsufficientLiquidityError, PriceUnavailableError, ValidationError
from otc_engine import (
    DEFAULT_DESK_SPECS,
    Desk,
    DeskSpec,
    Rejection,
    SpreadCurve,
    curve,
    default_desks,
    fill,
    jittered_mid,
    make_desk,
    quote,
    refilled,
)

T0 = 1_700_000_000.0
SOL = 10**9  # lamports per SOL
USDC = 10**6  # base units per USDC
MID = Decimal(150)


def make_test_desk(**overrides: Any) -> Desk:
    """SOL/USDC, linear, b=25, c=40, 100-5,000 SOL, full at 20,000 SOL / 3,000,000 USDC at T0."""
    fields: dict[str, Any] = {
        "desk_id": "test-sol-usdc",
        "name": "Test Desk (SOL/USDC)",
        "base": "SOL",
        "quote": "USDC",
        "base_spread_bps": Decimal(25),
        "size_spread_bps": Decimal(40),
        "curve": SpreadCurve.LINEAR,
        "min_size": 100 * SOL,
        "max_size": 5_000 * SOL,
        "inventory_base": 20_000 * SOL,
        "inventory_quote": 3_000_000 * USDC,
        "target_base": 20_000 * SOL,
        "target_quote": 3_000_000 * USDC,
        "refill_base_per_s": 1 * SOL,
        "refill_quote_per_s": 150 * USDC,
        "settlement_delay_s": Decimal(30),
        "updated_at": T0,
    }
    fields.update(overrides)
    return Desk(**fields)


@pytest.fixture
def sol_usdc_desk() -> Desk:
    return make_test_desk()


def reference_out(desk: Desk, sells_base: bool, amount_in: int, mid: Decimal) -> Fraction:
    """The spec's formula in exact rationals: a * R * (1 - (b + c q^p) / 10^4), before the floor."""
    r = Fraction(mid) * USDC / SOL  # SOL/USDC desks only: USDC units per lamport
    size = Fraction(amount_in) if sells_base else amount_in / r
    share = size / desk.max_size
    spread_bps = Fraction(desk.base_spread_bps) + Fraction(desk.size_spread_bps) * share ** (
        1 if desk.curve is SpreadCurve.LINEAR else 2
    )
    gross = amount_in * r if sells_base else size
    return gross * (1 - spread_bps / 10_000)


def curve_value(u: Decimal, v: Decimal, exponent: int, amount_in: int) -> int:
    """floor(u*a - v*a^(p+1)), evaluated exactly."""
    power: int = amount_in ** (exponent + 1)
    return math.floor(Fraction(u) * amount_in - Fraction(v) * power)


# --- exact figures --------------------------------------------------------------------------

HAND_WORKED = [
    # token_in, token_out, amount_in, curve, spread_bps, amount_out
    # sell 1,000 SOL: q = 0.2, spread = 25 + 40*0.2 = 33 bps, 150,000 USDC * 0.9967
    ("SOL", "USDC", 1_000 * SOL, SpreadCurve.LINEAR, Decimal(33), 149_505_000_000),
    # quadratic: 25 + 40*0.04 = 26.6 bps, 150,000 USDC * 0.99734
    ("SOL", "USDC", 1_000 * SOL, SpreadCurve.QUADRATIC, Decimal("26.6"), 149_601_000_000),
    # the maximum: 25 + 40 = 65 bps, 750,000 USDC * 0.9935
    ("SOL", "USDC", 5_000 * SOL, SpreadCurve.LINEAR, Decimal(65), 745_125_000_000),
    # the minimum: q = 0.02, 25.8 bps, 15,000 USDC * 0.99742
    ("SOL", "USDC", 100 * SOL, SpreadCurve.LINEAR, Decimal("25.8"), 14_961_300_000),
    # q = 0.5 quadratic: 25 + 10 = 35 bps, 375,000 USDC * 0.9965
    ("SOL", "USDC", 2_500 * SOL, SpreadCurve.QUADRATIC, Decimal(35), 373_687_500_000),
    # buy with 150,000 USDC: size 1,000 SOL, 33 bps, 1,000 SOL * 0.9967
    ("USDC", "SOL", 150_000 * USDC, SpreadCurve.LINEAR, Decimal(33), 996_700_000_000),
    ("USDC", "SOL", 150_000 * USDC, SpreadCurve.QUADRATIC, Decimal("26.6"), 997_340_000_000),
    # buy with 750,000 USDC: size 5,000 SOL, 65 bps
    ("USDC", "SOL", 750_000 * USDC, SpreadCurve.LINEAR, Decimal(65), 4_967_500_000_000),
    # buy with 15,000 USDC: size 100 SOL, 25.8 bps
    ("USDC", "SOL", 15_000 * USDC, SpreadCurve.LINEAR, Decimal("25.8"), 99_742_000_000),
    # buy with 100,000 USDC: size 2e12/3 lamports, q = 2/15, spread 91/3 bps,
    # out = 2e12/3 * 29909/30000 = 5_981_800_000_000 / 9 = 664,644,444,444.4 -> floor
    ("USDC", "SOL", 100_000 * USDC, SpreadCurve.LINEAR, None, 664_644_444_444),
]


@pytest.mark.parametrize(
    ("token_in", "token_out", "amount_in", "spread_curve", "spread_bps", "amount_out"),
    HAND_WORKED,
)
def test_quote_matches_hand_worked_figures(
    token_in: str,
    token_out: str,
    amount_in: int,
    spread_curve: SpreadCurve,
    spread_bps: Decimal | None,
    amount_out: int,
) -> None:
    desk = make_test_desk(curve=spread_curve)
    result = quote(desk, token_in, token_out, amount_in, MID, T0)
    assert result.available
    assert result.reason is None and result.message is None
    assert result.amount_out == amount_out
    if spread_bps is not None:
        assert result.spread_bps == spread_bps
    assert result.token_in == token_in and result.token_out == token_out
    assert result.venue == desk.name and result.desk_id == desk.desk_id
    assert result.settlement_delay_s == Decimal(30)


def test_selling_an_odd_amount_matches_integer_arithmetic(sol_usdc_desk: Desk) -> None:
    a = 1_234_567_891_234
    # out = a * 0.15 * (1 - 25/1e4 - 40 * (a / 5e12) / 1e4), all over one integer denominator
    max_size = 5_000 * SOL
    numerator = a * 15 * (10_000 * max_size - 25 * max_size - 40 * a)
    denominator = 100 * 10_000 * max_size
    result = quote(sol_usdc_desk, "SOL", "USDC", a, MID, T0)
    assert result.amount_out == numerator // denominator
    assert result.size_base == a


def test_buying_with_an_odd_amount_matches_integer_arithmetic(sol_usdc_desk: Desk) -> None:
    a = 123_456_789_123
    # size s = a / 0.15 = 20a/3 lamports; out = s * (1 - 25/1e4 - 40 * (s / 5e12) / 1e4)
    # = 20a * (3 * 1e4 * M - 3 * 25 * M - 40 * 20a) / (9 * 1e4 * M) with M = 5e12
    max_size = 5_000 * SOL
    numerator = 20 * a * (3 * 10_000 * max_size - 3 * 25 * max_size - 40 * 20 * a)
    denominator = 9 * 10_000 * max_size
    result = quote(sol_usdc_desk, "USDC", "SOL", a, MID, T0)
    assert result.amount_out == numerator // denominator
    assert result.size_base == (20 * a) // 3


def test_price_is_human_token_out_per_token_in(sol_usdc_desk: Desk) -> None:
    sell = quote(sol_usdc_desk, "SOL", "USDC", 1_000 * SOL, MID, T0)
    assert sell.price == Decimal("149.505")
    buy = quote(sol_usdc_desk, "USDC", "SOL", 150_000 * USDC, MID, T0)
    # 996.7 SOL for 150,000 USDC = 9,967 / 1,500,000 SOL per USDC, to 50 digits
    assert abs(Fraction(buy.price) - Fraction(9_967, 1_500_000)) < Fraction(1, 10**50)


def test_symbols_match_case_insensitively(sol_usdc_desk: Desk) -> None:
    result = quote(sol_usdc_desk, "sol", "usdc", 1_000 * SOL, MID, T0)
    assert result.available and (result.token_in, result.token_out) == ("SOL", "USDC")


@settings(max_examples=200)
@given(
    sells_base=st.booleans(),
    share=st.fractions(min_value=Fraction(1, 50), max_value=1),
    spread_curve=st.sampled_from(SpreadCurve),
    # up to 500 USDC per SOL so the largest sale still fits the desk's 3,000,000 USDC
    mid=st.integers(min_value=1, max_value=500 * 10**6).map(lambda n: Decimal(n).scaleb(-6)),
)
def test_rounding_always_favours_the_desk(
    sells_base: bool, share: Fraction, spread_curve: SpreadCurve, mid: Decimal
) -> None:
    desk = make_test_desk(curve=spread_curve)
    r = Fraction(mid) * USDC / SOL
    size = share * desk.max_size
    amount_in = math.ceil(size if sells_base else size * r)
    assume(amount_in > 0)
    token_in, token_out = ("SOL", "USDC") if sells_base else ("USDC", "SOL")
    result = quote(desk, token_in, token_out, amount_in, mid, T0)
    assume(result.available)
    exact = reference_out(desk, sells_base, amount_in, mid)
    assert result.amount_out <= exact < result.amount_out + 1


# --- rejections -----------------------------------------------------------------------------


def test_each_rejection_has_a_lowercase_value_and_a_message() -> None:
    for reason in Rejection:
        assert reason.value == reason.name.lower()
        assert reason.message and reason.message[0].islower()


@pytest.mark.parametrize(
    ("token_in", "token_out", "amount_in", "reason", "message_part"),
    [
        ("SOL", "USDT", 1_000 * SOL, Rejection.PAIR_UNSUPPORTED, "trades only SOL/USDC"),
        ("USDT", "SOL", 1_000 * USDC, Rejection.PAIR_UNSUPPORTED, "trades only SOL/USDC"),
        ("SOL", "SOL", 1_000 * SOL, Rejection.PAIR_UNSUPPORTED, "trades only SOL/USDC"),
        ("USDC", "USDC", 1_000 * USDC, Rejection.PAIR_UNSUPPORTED, "trades only SOL/USDC"),
        ("NOT-A-TOKEN", "SOL", 1_000, Rejection.PAIR_UNSUPPORTED, "NOT-A-TOKEN"),
        (
            "SOL",
            "USDC",
            100 * SOL - 1,
            Rejection.BELOW_MINIMUM,
            "below the desk minimum of 100 SOL",
        ),
        ("USDC", "SOL", 15_000 * USDC - 1, Rejection.BELOW_MINIMUM, "minimum of 100 SOL"),
        (
            "SOL",
            "USDC",
            5_000 * SOL + 1,
            Rejection.ABOVE_MAXIMUM,
            "above the desk maximum of 5,000",
        ),
        ("USDC", "SOL", 750_000 * USDC + 1, Rejection.ABOVE_MAXIMUM, "maximum of 5,000 SOL"),
    ],
)
def test_each_rejection_reason_is_returned_not_raised(
    sol_usdc_desk: Desk,
    token_in: str,
    token_out: str,
    amount_in: int,
    reason: Rejection,
    message_part: str,
) -> None:
    result = quote(sol_usdc_desk, token_in, token_out, amount_in, MID, T0)
    assert not result.available
    assert result.reason is reason
    assert result.message is not None and message_part in result.message
    assert result.amount_out == 0
    assert result.price == 0


@pytest.mark.parametrize(
    ("token_in", "token_out", "amount_in", "overrides", "message_part"),
    [
        # 100 SOL pays out 14,961.3 USDC; the desk holds 1,000
        ("SOL", "USDC", 100 * SOL, {"inventory_quote": 1_000 * USDC}, "holds only 1,000 USDC"),
        # 15,000 USDC buys 99.742 SOL; the desk holds 50
        ("USDC", "SOL", 15_000 * USDC, {"inventory_base": 50 * SOL}, "holds only 50 SOL"),
    ],
)
def test_inventory_short_is_a_rejection(
    token_in: str,
    token_out: str,
    amount_in: int,
    overrides: dict[str, int],
    message_part: str,
) -> None:
    desk = make_test_desk(**overrides)
    result = quote(desk, token_in, token_out, amount_in, MID, T0)
    assert result.reason is Rejection.INVENTORY_SHORT and not result.available
    assert result.message is not None and message_part in result.message
    assert result.amount_out == 0


def test_exactly_the_inventory_is_still_quoted() -> None:
    desk = make_test_desk(inventory_quote=14_961_300_000)  # exactly what 100 SOL pays out
    assert quote(desk, "SOL", "USDC", 100 * SOL, MID, T0).available
    short = make_test_desk(inventory_quote=14_961_300_000 - 1)
    assert quote(short, "SOL", "USDC", 100 * SOL, MID, T0).reason is Rejection.INVENTORY_SHORT


@settings(max_examples=200)
@given(
    sells_base=st.booleans(),
    inventory_base=st.integers(min_value=0, max_value=20_000 * SOL),
    inventory_quote=st.integers(min_value=0, max_value=3_000_000 * USDC),
    amount_in=st.integers(min_value=1, max_value=6_000 * SOL),
    elapsed_s=st.integers(min_value=0, max_value=10_000),
)
def test_a_desk_never_quotes_more_than_it_holds(
    sells_base: bool, inventory_base: int, inventory_quote: int, amount_in: int, elapsed_s: int
) -> None:
    desk = make_test_desk(inventory_base=inventory_base, inventory_quote=inventory_quote)
    now = T0 + elapsed_s
    token_in, token_out = ("SOL", "USDC") if sells_base else ("USDC", "SOL")
    result = quote(desk, token_in, token_out, amount_in, MID, now)
    held = refilled(desk, now)
    if result.available:
        assert result.amount_out <= (held.inventory_quote if sells_base else held.inventory_base)
    else:
        assert result.amount_out == 0


# --- refill ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inventory", "target", "rate", "elapsed_s", "expected"),
    [
        (0, 1_000, 10, 5.0, 50),  # partway
        (0, 1_000, 10, 1_000.0, 1_000),  # capped at the target
        (990, 1_000, 10, 5.0, 1_000),  # capped at the target
        (1_000, 1_000, 10, 5.0, 1_000),  # already full
        (1_500, 1_000, 10, 100.0, 1_500),  # above target: kept, never drained
        (0, 1_000, 3, 0.5, 1),  # 1.5 units: floor
        (100, 1_000, 10, 0.0, 100),  # no time, no refill
        (100, 1_000, 10, -50.0, 100),  # clock behind updated_at: elapsed counts as 0
    ],
)
@pytest.mark.parametrize("side", ["base", "quote"])
def test_refill_moves_toward_the_target_and_never_past_it(
    side: str, inventory: int, target: int, rate: int, elapsed_s: float, expected: int
) -> None:
    desk = make_test_desk(
        min_size=1,
        max_size=10**12,
        **{f"inventory_{side}": inventory, f"target_{side}": target, f"refill_{side}_per_s": rate},
    )
    after = refilled(desk, T0 + elapsed_s)
    assert getattr(after, f"inventory_{side}") == expected
    assert after.updated_at == max(T0, T0 + elapsed_s)


def test_refill_leaves_the_other_side_alone_when_full(sol_usdc_desk: Desk) -> None:
    desk = replace(sol_usdc_desk, inventory_base=0)
    after = refilled(desk, T0 + 60)
    assert after.inventory_base == 60 * SOL
    assert after.inventory_quote == sol_usdc_desk.target_quote


@given(
    inventory=st.integers(min_value=0, max_value=10**13),
    target=st.integers(min_value=1, max_value=10**13),
    rate=st.integers(min_value=1, max_value=10**10),
    first_s=st.integers(min_value=0, max_value=10**5),
    second_s=st.integers(min_value=0, max_value=10**5),
)
def test_refill_is_monotone_and_bounded(
    inventory: int, target: int, rate: int, first_s: int, second_s: int
) -> None:
    desk = make_test_desk(
        min_size=1,
        max_size=1,
        inventory_base=inventory,
        target_base=target,
        refill_base_per_s=rate,
    )
    early = refilled(desk, T0 + first_s).inventory_base
    late = refilled(desk, T0 + first_s + second_s).inventory_base
    assert inventory <= early <= late
    assert late <= max(inventory, target)
    if inventory < target:
        assert early == min(target, inventory + rate * first_s)


# --- fill -----------------------------------------------------------------------------------


def test_selling_base_fills_base_in_and_quote_out(sol_usdc_desk: Desk) -> None:
    after = fill(sol_usdc_desk, "SOL", 1_000 * SOL, 149_505_000_000, T0)
    assert after.inventory_base == sol_usdc_desk.inventory_base + 1_000 * SOL
    assert after.inventory_quote == sol_usdc_desk.inventory_quote - 149_505_000_000


def test_buying_base_fills_quote_in_and_base_out(sol_usdc_desk: Desk) -> None:
    after = fill(sol_usdc_desk, "USDC", 150_000 * USDC, 996_700_000_000, T0)
    assert after.inventory_quote == sol_usdc_desk.inventory_quote + 150_000 * USDC
    assert after.inventory_base == sol_usdc_desk.inventory_base - 996_700_000_000


@pytest.mark.parametrize(
    ("token_in", "overrides", "amount_out"),
    [
        ("SOL", {"inventory_quote": 1_000 * USDC}, 1_000 * USDC + 1),
        ("USDC", {"inventory_base": 50 * SOL}, 50 * SOL + 1),
    ],
)
def test_fill_raises_when_the_desk_is_short(
    token_in: str, overrides: dict[str, int], amount_out: int
) -> None:
    desk = make_test_desk(**overrides)
    with pytest.raises(InsufficientLiquidityError):
        fill(desk, token_in, 1, amount_out, T0)


def test_fill_refills_first() -> None:
    desk = make_test_desk(inventory_quote=0)
    # 10 s at 150 USDC/s: 1,500 USDC on hand
    after = fill(desk, "SOL", 10 * SOL, 1_500 * USDC, T0 + 10)
    assert after.inventory_quote == 0 and after.updated_at == T0 + 10
    with pytest.raises(InsufficientLiquidityError):
        fill(desk, "SOL", 10 * SOL, 1_500 * USDC + 1, T0 + 10)


def test_fill_rejects_a_token_the_desk_does_not_trade(sol_usdc_desk: Desk) -> None:
    with pytest.raises(ValidationError):
        fill(sol_usdc_desk, "USDT", 1_000, 1_000, T0)


def test_quoting_then_filling_spends_exactly_the_quote(sol_usdc_desk: Desk) -> None:
    result = quote(sol_usdc_desk, "USDC", "SOL", 200_000 * USDC, MID, T0)
    after = fill(sol_usdc_desk, "USDC", result.amount_in, result.amount_out, T0)
    assert sol_usdc_desk.inventory_base - after.inventory_base == result.amount_out


@pytest.mark.parametrize(("token_in", "token_out"), [("SOL", "USDC"), ("USDC", "SOL")])
def test_an_emptied_desk_quotes_again_later(token_in: str, token_out: str) -> None:
    desk = make_test_desk()
    amount_in = 5_000 * SOL if token_in == "SOL" else 750_000 * USDC
    now = T0
    while (result := quote(desk, token_in, token_out, amount_in, MID, now)).available:
        desk = fill(desk, token_in, amount_in, result.amount_out, now)
    assert result.reason is Rejection.INVENTORY_SHORT
    later = now + 3_600 * 24
    assert quote(desk, token_in, token_out, amount_in, MID, later).available


@given(
    refill_base=st.integers(min_value=1, max_value=10**10),
    refill_quote=st.integers(min_value=1, max_value=10**9),
    sells_base=st.booleans(),
)
def test_a_desk_never_stays_empty(refill_base: int, refill_quote: int, sells_base: bool) -> None:
    desk = make_test_desk(
        inventory_base=0,
        inventory_quote=0,
        refill_base_per_s=refill_base,
        refill_quote_per_s=refill_quote,
    )
    token_in, token_out = ("SOL", "USDC") if sells_base else ("USDC", "SOL")
    assert curve(desk, token_in, token_out, MID, T0) is None
    full_after_s = max(desk.target_base // refill_base, desk.target_quote // refill_quote) + 1
    later = T0 + full_after_s
    fillable = curve(desk, token_in, token_out, MID, later)
    assert fillable is not None
    assert quote(desk, token_in, token_out, fillable.min_in, MID, later).available


# --- the router's curve ---------------------------------------------------------------------


def test_curve_matches_hand_worked_coefficients(sol_usdc_desk: Desk) -> None:
    sell = curve(sol_usdc_desk, "SOL", "USDC", MID, T0)
    assert sell is not None
    # u = 0.15 * 0.9975; v = 0.15 * 0.004 / 5e12
    assert (sell.u, sell.v, sell.exponent) == (Decimal("0.149625"), Decimal("1.2e-16"), 1)
    assert (sell.min_in, sell.max_in) == (100 * SOL, 5_000 * SOL)
    assert sell.settlement_delay_s == Decimal(30)
    buy = curve(sol_usdc_desk, "USDC", "SOL", MID, T0)
    assert buy is not None
    # u = 0.9975 / 0.15 = 6.65; v = (1/0.15) * 0.004 / (5e12 * 0.15) = 3.5555...e-14
    assert buy.u == Decimal("6.65")
    exact_v = Fraction(32, 9 * 10**14)
    assert 0 <= exact_v - Fraction(buy.v) < exact_v / 10**45  # rounded down, ~50 digits kept
    assert (buy.min_in, buy.max_in) == (15_000 * USDC, 750_000 * USDC)


def test_curve_agrees_with_the_quote_where_the_true_value_is_an_integer(
    sol_usdc_desk: Desk,
) -> None:
    # 150,000 USDC buys exactly 996,700,000,000 lamports: rounded coefficients must not lose a unit.
    buy = curve(sol_usdc_desk, "USDC", "SOL", MID, T0)
    assert buy is not None
    assert curve_value(buy.u, buy.v, buy.exponent, 150_000 * USDC) == 996_700_000_000


def test_curve_is_none_for_an_unsupported_pair(sol_usdc_desk: Desk) -> None:
    assert curve(sol_usdc_desk, "SOL", "USDT", MID, T0) is None


def test_curve_is_none_when_inventory_cannot_fill_the_minimum() -> None:
    desk = make_test_desk(inventory_quote=1_000 * USDC)
    assert curve(desk, "SOL", "USDC", MID, T0) is None
    assert curve(desk, "USDC", "SOL", MID, T0) is not None


def test_curve_max_in_stops_at_inventory() -> None:
    desk = make_test_desk(inventory_quote=100_000 * USDC)
    sell = curve(desk, "SOL", "USDC", MID, T0)
    assert sell is not None and sell.max_in < 5_000 * SOL
    assert quote(desk, "SOL", "USDC", sell.max_in, MID, T0).available
    over = quote(desk, "SOL", "USDC", sell.max_in + 1, MID, T0)
    assert over.reason is Rejection.INVENTORY_SHORT


DESK_PARAMETERS = st.fixed_dictionaries(
    {
        "base_spread_bps": st.integers(min_value=0, max_value=20_000).map(lambda n: Decimal(n).scaleb(-2)),
        "size_spread_bps": st.integers(min_value=0, max_value=20_000).map(lambda n: Decimal(n).scaleb(-2)),
        "curve": st.sampled_from(SpreadCurve),
        "min_size": st.integers(min_value=1, max_value=1_000 * SOL),
        "max_extra": st.integers(min_value=0, max_value=10_000 * SOL),
        "inventory_base": st.integers(min_value=0, max_value=20_000 * SOL),
        "inventory_quote": st.integers(min_value=0, max_value=3_000_000 * USDC),
    }
)
# Mids up to 20 decimal places stress the exactness argument (jittered mids have about 14 digits).
MIDS = st.integers(min_value=10**18, max_value=10**24).map(lambda n: Decimal(n).scaleb(-20))


def desk_from(parameters: dict[str, Any]) -> Desk:
    params = dict(parameters)
    max_size = params["min_size"] + params.pop("max_extra")
    return make_test_desk(max_size=max_size, target_base=max(20_000 * SOL, max_size), **params)


@settings(max_examples=150, deadline=None)
@given(parameters=DESK_PARAMETERS, mid=MIDS, sells_base=st.booleans(), data=st.data())
def test_curve_reproduces_every_quote_in_range_and_none_outside(
    parameters: dict[str, Any], mid: Decimal, sells_base: bool, data: st.DataObject
) -> None:
    desk = desk_from(parameters)
    token_in, token_out = ("SOL", "USDC") if sells_base else ("USDC", "SOL")
    fillable = curve(desk, token_in, token_out, mid, T0)
    assume(fillable is not None)
    assert fillable is not None
    assert 1 <= fillable.min_in <= fillable.max_in
    inside = [fillable.min_in, fillable.max_in]
    inside.append(data.draw(st.integers(fillable.min_in, fillable.max_in), label="amount_in"))
    for amount_in in inside:
        result = quote(desk, token_in, token_out, amount_in, mid, T0)
        assert result.available, result.message
        expected = curve_value(fillable.u, fillable.v, fillable.exponent, amount_in)
        assert result.amount_out == expected
        assert result.amount_out == math.floor(reference_out(desk, sells_base, amount_in, mid))
    outside = [fillable.max_in + 1] + ([fillable.min_in - 1] if fillable.min_in > 1 else [])
    for amount_in in outside:
        assert not quote(desk, token_in, token_out, amount_in, mid, T0).available


@settings(deadline=None)
@given(parameters=DESK_PARAMETERS, mid=MIDS, sells_base=st.booleans())
def test_curve_is_none_only_when_the_minimum_cannot_be_filled(
    parameters: dict[str, Any], mid: Decimal, sells_base: bool
) -> None:
    desk = desk_from(parameters)
    token_in, token_out = ("SOL", "USDC") if sells_base else ("USDC", "SOL")
    if curve(desk, token_in, token_out, mid, T0) is not None:
        return
    r = Fraction(mid) * USDC / SOL
    smallest = desk.min_size if sells_base else math.ceil(desk.min_size * r)
    result = quote(desk, token_in, token_out, smallest, mid, T0)
    assert not result.available


# --- jittered mid ---------------------------------------------------------------------------


def test_jittered_mid_is_deterministic_for_a_seed() -> None:
    desk = make_test_desk(noise_bps=Decimal(5))
    first = jittered_mid(desk, MID, random.Random(42))
    assert first == jittered_mid(desk, MID, random.Random(42))
    assert first != MID
    assert isinstance(first, Decimal)
    assert len({jittered_mid(desk, MID, random.Random(seed)) for seed in range(20)}) > 1


def test_jittered_mid_without_rng_or_noise_is_the_mid() -> None:
    assert jittered_mid(make_test_desk(noise_bps=Decimal(5)), MID, None) == MID
    assert jittered_mid(make_test_desk(), MID, random.Random(1)) == MID


@given(
    seed=st.integers(min_value=0, max_value=2**32),
    noise=st.integers(min_value=1, max_value=500).map(Decimal),
    mid=st.integers(min_value=1, max_value=10**8).map(lambda n: Decimal(n).scaleb(-4)),
)
def test_jittered_mid_stays_within_the_noise_band(seed: int, noise: Decimal, mid: Decimal) -> None:
    desk = make_test_desk(noise_bps=noise)
    moved = jittered_mid(desk, mid, random.Random(seed))
    assert abs(Fraction(moved) - Fraction(mid)) <= Fraction(mid) * Fraction(noise) / 10_000
    assert curve(desk, "SOL", "USDC", moved, T0) is not None


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"desk_id": ""},
        {"name": "   "},
        {"base": "NOPE"},
        {"base": "sol"},
        {"quote": "SOL"},
        {"curve": "linear"},
        {"base_spread_bps": Decimal(-1)},
        {"size_spread_bps": Decimal("-0.1")},
        {"base_spread_bps": 25},
        {"size_spread_bps": 40.0},
        {"base_spread_bps": Decimal("NaN")},
        {"base_spread_bps": Decimal(9_000), "size_spread_bps": Decimal(500)},  # linear: 10,000
        {
            "base_spread_bps": Decimal(100),
            "size_spread_bps": Decimal(3_300),
            "curve": SpreadCurve.QUADRATIC,
        },  # 100 + 3 * 3,300 = 10,000
        {"min_size": 0},
        {"max_size": -1},
        {"min_size": 6_000 * SOL},
        {"min_size": 1.5},
        {"max_size": True},
        {"inventory_base": -1},
        {"inventory_quote": -1},
        {"target_base": 99 * SOL},
        {"target_quote": 0},
        {"refill_base_per_s": 0},
        {"refill_quote_per_s": -1},
        {"settlement_delay_s": Decimal(-1)},
        {"updated_at": float("nan")},
        {"updated_at": float("inf")},
        {"noise_bps": Decimal(-1)},
        {"noise_bps": Decimal(10_000)},
    ],
)
def test_bad_desks_are_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_test_desk(**overrides)


@pytest.mark.parametrize(
    ("spread_curve", "size_spread_bps"),
    [(SpreadCurve.LINEAR, Decimal("4987.49")), (SpreadCurve.QUADRATIC, Decimal("3324.99"))],
)
def test_a_spread_just_inside_the_bound_is_accepted(
    spread_curve: SpreadCurve, size_spread_bps: Decimal
) -> None:
    desk = make_test_desk(curve=spread_curve, size_spread_bps=size_spread_bps)
    assert quote(desk, "SOL", "USDC", 5_000 * SOL, MID, T0).amount_out > 0


@pytest.mark.parametrize("amount_in", [0, -1, 1.5, True, "100", Decimal(100)])
def test_bad_amounts_raise(sol_usdc_desk: Desk, amount_in: Any) -> None:
    with pytest.raises(ValidationError) as excinfo:
        quote(sol_usdc_desk, "SOL", "USDC", amount_in, MID, T0)
    assert excinfo.value.field == "amount_in"
    with pytest.raises(ValidationError):
        fill(sol_usdc_desk, "SOL", amount_in, 0, T0)


@pytest.mark.parametrize("amount_in", [0, -5])
def test_bad_amounts_raise_even_for_an_unsupported_pair(sol_usdc_desk: Desk, amount_in: int) -> None:
    with pytest.raises(ValidationError):
        quote(sol_usdc_desk, "SOL", "USDT", amount_in, MID, T0)


@pytest.mark.parametrize("mid", [Decimal(0), Decimal(-150), Decimal("NaN"), Decimal("Infinity"), 150.0])
def test_bad_mid_prices_raise(sol_usdc_desk: Desk, mid: Any) -> None:
    with pytest.raises(ValidationError):
        quote(sol_usdc_desk, "SOL", "USDC", 1_000 * SOL, mid, T0)
    with pytest.raises(ValidationError):
        curve(sol_usdc_desk, "SOL", "USDC", mid, T0)
    with pytest.raises(ValidationError):
        jittered_mid(sol_usdc_desk, mid, random.Random(0))


@pytest.mark.parametrize("now", [float("nan"), float("inf"), "now"])
def test_bad_times_raise(sol_usdc_desk: Desk, now: Any) -> None:
    with pytest.raises(ValidationError):
        quote(sol_usdc_desk, "SOL", "USDC", 1_000 * SOL, MID, now)


def test_fill_rejects_a_negative_amount_out(sol_usdc_desk: Desk) -> None:
    with pytest.raises(ValidationError):
        fill(sol_usdc_desk, "SOL", 1_000, -1, T0)


# --- defaults -------------------------------------------------------------------------------

USD_PRICES = {"SOL": Decimal(150), "USDC": Decimal(1), "USDT": Decimal(1)}


@pytest.mark.parametrize(
    ("pair", "base_spread_bps", "min_sol", "max_sol"),
    [(("SOL", "USDC"), Decimal(25), 100, 5_000), (("SOL", "USDT"), Decimal(35), 250, 2_500)],
)
def test_default_desks_match_the_issue(
    pair: tuple[str, str], base_spread_bps: Decimal, min_sol: int, max_sol: int
) -> None:
    desks = {(d.base, d.quote): d for d in default_desks(USD_PRICES, T0)}
    assert len(desks) == len(DEFAULT_DESK_SPECS) == 2
    desk = desks[pair]
    assert desk.base_spread_bps == base_spread_bps
    assert (desk.min_size, desk.max_size) == (min_sol * SOL, max_sol * SOL)
    assert desk.curve is SpreadCurve.QUADRATIC
    assert desk.updated_at == T0
    assert (desk.inventory_base, desk.inventory_quote) == (desk.target_base, desk.target_quote)
    assert quote(desk, pair[0], pair[1], max_sol * SOL, MID, T0).available
    assert quote(desk, pair[1], pair[0], max_sol * 150 * USDC, MID, T0).available


def test_default_desk_settlement_delays_and_names() -> None:
    usdc_desk, usdt_desk = default_desks(USD_PRICES, T0)
    assert (usdc_desk.settlement_delay_s, usdt_desk.settlement_delay_s) == (
        Decimal(30),
        Decimal(45),
    )
    assert usdc_desk.name == "OTC Desk A (SOL/USDC)"
    assert len({usdc_desk.desk_id, usdt_desk.desk_id}) == 2


def test_make_desk_values_quote_inventory_exactly_with_a_floor() -> None:
    spec = DEFAULT_DESK_SPECS[0]
    desk = make_desk(spec, {"SOL": Decimal("151.37"), "USDC": Decimal("0.9999")}, T0)
    assert desk.inventory_base == 20_000 * SOL
    # 20,000 * 151.37 / 0.9999 USDC, in USDC units, floored
    assert desk.inventory_quote == (20_000 * 15_137 * 10_000 * USDC) // (100 * 9_999)
    # half the target per hour
    assert desk.refill_base_per_s == (20_000 * SOL) // (2 * 3_600)
    assert desk.refill_quote_per_s == desk.inventory_quote // (2 * 3_600)


def test_make_desk_needs_both_prices() -> None:
    with pytest.raises(PriceUnavailableError):
        make_desk(DEFAULT_DESK_SPECS[0], {"SOL": Decimal(150)}, T0)
    with pytest.raises(ValidationError):
        make_desk(DEFAULT_DESK_SPECS[0], {"SOL": Decimal(150), "USDC": Decimal(0)}, T0)


def test_make_desk_rejects_a_spec_without_refill() -> None:
    spec = replace(DEFAULT_DESK_SPECS[0], refill_fraction_per_hour=Decimal(0))
    assert isinstance(spec, DeskSpec)
    with pytest.raises(ValidationError):
        make_desk(spec, USD_PRICES, T0)


# --- purity ---------------------------------------------------------------------------------


def test_otc_engine_imports_only_the_standard_library_errors_and_tokens() -> None:
    tree = ast.parse(Path(otc_engine.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"errors", "tokens"}


def test_everything_public_is_exported() -> None:
    tree = ast.parse(Path(otc_engine.__file__).read_text())
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)} | {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    public = {name for name in defined if not name.startswith("_")}
    assert public <= set(otc_engine.__all__)
    assert all(hasattr(otc_engine, name) for name in otc_engine.__all__)
